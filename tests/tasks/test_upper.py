"""Upper-layer fine-tuning on cached lower-layer states (memgpt.tasks.upper)."""

from __future__ import annotations

import torch

from memgpt.tasks.artifacts import load_task
from memgpt.tasks.heads import SpanHead, features
from memgpt.tasks.pipelines import answer
from memgpt.tasks.recipes import default_spec, make_examples
from memgpt.tasks.upper import UpperModel, cache_prefix, finetune_upper, run_blocks
from memgpt.training import TrainConfig


def test_cached_prefix_then_upper_blocks_equals_the_full_forward(tiny_model):
    rows = [[5, 6, 7, 8, 9, 10], [11, 12, 13]]  # different lengths: padded in one batch
    cached = cache_prefix(tiny_model, rows, 1, pad_id=0, progress=False)
    head = SpanHead(tiny_model.config.d_model)
    upper = UpperModel(tiny_model, head, 1, "span").eval()
    for row, feat in zip(rows, cached):
        assert feat.shape == (len(row), tiny_model.config.d_model)
        full = features(tiny_model, torch.tensor([row]))[0]
        x = run_blocks(tiny_model, feat.float()[None], 1, tiny_model.config.n_layers)
        # fp16 cache: equal to fp16 precision, not bit for bit
        torch.testing.assert_close(tiny_model.norm(x)[0], full, atol=2e-2, rtol=2e-2)
        start, _ = upper(feat.float()[None], torch.ones(1, len(row), dtype=torch.long))
        torch.testing.assert_close(start[0], head(full[None])[0][0], atol=2e-2, rtol=2e-2)


def _qa_records(n: int) -> list[dict]:
    names = ["Ada", "Bo", "Cy", "Di", "Ed", "Flo"]
    out = []
    for i in range(n):
        who = names[i % len(names)]
        ctx = f"The lamp was lit. {who} opened the gate at dawn. Rain fell later."
        out.append({"id": str(i), "context": ctx, "question": "Who opened the gate?",
                    "answers": [{"text": who, "start": ctx.index(who)}]})
    return out


def test_finetune_upper_learns_and_saves_a_loadable_task_folder(tmp_path, tiny_model,
                                                               tiny_tokenizer):
    torch.manual_seed(0)
    spec = default_spec("qa", d_model=tiny_model.config.d_model)
    records = _qa_records(24)
    examples = make_examples(spec, tiny_tokenizer, records)
    config = TrainConfig(epochs=12, batch_size=8, lr=3e-3, seed=0)
    spec, model, result = finetune_upper(
        tiny_model, tiny_tokenizer, spec, examples, examples[:6], split=1, rank=4,
        config=config, task_dir=tmp_path / "qa", work_dir=tmp_path / "qa.work", progress=False)
    assert result.losses[-1] < result.losses[0]
    assert spec.adapter.layers == (1,) and "down_proj" in spec.adapter.targets
    before = answer(model, tiny_tokenizer, spec, "Who opened the gate?", records[2]["context"])
    loaded_spec, loaded = load_task(tmp_path / "qa", tiny_model)
    after = answer(loaded, tiny_tokenizer, loaded_spec, "Who opened the gate?",
                   records[2]["context"])
    assert after == before
    assert records[2]["context"][after.start:after.end] == after.answer


def test_finetune_upper_trains_a_generation_task_on_its_targets_only(tmp_path, tiny_model,
                                                                     tiny_tokenizer):
    from dataclasses import replace

    from memgpt.tasks.pipelines import TorchTask
    from memgpt.tasks.upper import _collate, _loss

    torch.manual_seed(0)
    spec = default_spec("summarize", d_model=tiny_model.config.d_model, adapter=True)
    spec = replace(spec, adapter=None, generation={"max_new_tokens": 4})
    records = [{"id": str(i), "text": f"the cat sat on mat number {i}.", "summary": "a cat"}
               for i in range(16)]
    examples = make_examples(spec, tiny_tokenizer, records)
    assert all(ex["labels"][0] == -100 and ex["labels"][-1] != -100 for ex in examples)
    config = TrainConfig(epochs=20, batch_size=8, lr=2e-2, seed=0, patience=100)
    spec, model, result = finetune_upper(
        tiny_model, tiny_tokenizer, spec, examples, examples[:4], split=1, rank=4,
        config=config, task_dir=tmp_path / "sum", work_dir=tmp_path / "sum.work",
        progress=False)
    assert result.losses[-1] < result.losses[0] - 1.0
    assert spec.head.kind == "lm" and "up_proj" in spec.adapter.targets
    # the loss covers only the target: changing a prompt-position label changes nothing
    feats = cache_prefix(tiny_model, [examples[0]["ids"]], 1, pad_id=0, progress=False)
    upper = UpperModel(tiny_model, None, 1, "lm")
    batch = _collate([{"feat": feats[0], "labels": examples[0]["labels"]}])
    assert batch["labels"].shape == batch["mask"].shape
    with torch.no_grad():
        loss = float(_loss(upper, batch))
    assert 0 < loss < result.losses[0]
    loaded_spec, loaded = load_task(tmp_path / "sum", tiny_model)
    out = TorchTask(loaded_spec, loaded, tiny_tokenizer).generate([records[3]["text"]])
    assert out[0].text.strip()
