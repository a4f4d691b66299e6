"""Export → validate → run: torch and onnxruntime give the same outputs and the same results."""

from __future__ import annotations

import concurrent.futures
import json

import numpy as np
import pytest
import torch

from memgpt.export import specs
from memgpt.export.exporter import ExportError, export_task, prepare_backbone
from memgpt.export.runtime import ExportedTask, OnnxStepper, check_folder
from memgpt.tasks.adapters import AdapterSpec, adapter_parameters, add_adapters
from memgpt.tasks.artifacts import load_task
from memgpt.tasks.pipelines import TorchTask
from memgpt.tasks.registry import task_folder_hash

pytest.importorskip("onnxruntime")
TEXTS = ["the cat sat on the mat", "a much longer sentence about dogs, cats and birds here", "hi"]
CONTEXT = (
    "Ada Lovelace wrote the first program in 1843. She worked with Charles Babbage on "
    "the Analytical Engine, a mechanical computer that was never finished."
)


def run_both(folder, export, model, tok, task):
    spec, tm = load_task(folder, model)
    ref, got = TorchTask(spec, tm, tok), ExportedTask(export)
    if task in ("summarize", "translate"):
        kw = {"max_new_tokens": 12, "batch_size": 3}
        return (
            [g.text for g in ref.generate(TEXTS, **kw)],
            [g.text for g in got.generate(TEXTS, **kw)],
        )
    if task == "classify":
        return (
            [(r.label, r.scores) for r in ref.classify(TEXTS)],
            [(r.label, r.scores) for r in got.classify(TEXTS)],
        )
    q = "Who wrote the first program?"
    a, b = ref.answer(q, CONTEXT * 4, stride=8), got.answer(q, CONTEXT * 4, stride=8)
    return (a.start, a.end, a.answer), (b.start, b.end, b.answer)


@pytest.mark.parametrize("task", ["translate", "summarize", "classify", "qa"])
def test_fp32_export_validates_and_matches_torch(
    make_task_folder, tmp_path, tiny_model, tiny_tokenizer, task
):
    folder = make_task_folder(tmp_path, tiny_model, task)
    out = tmp_path / "export"
    report = export_task(folder, out, backbone=tiny_model, tokenizer=tiny_tokenizer)
    assert report["passed"], report["failures"]
    diffs = [o["max_abs_diff"] for o in report["outputs"].values()]
    assert diffs and max(diffs) <= specs.TOLERANCE["fp32"]
    assert report.get("tokens_equal", report.get("labels_equal", report.get("spans_equal")))
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [specs.GRAPH_FILE, specs.MANIFEST_FILE, specs.SETTINGS_FILE, specs.TOKENIZER_FILE]
    )
    settings = json.loads((out / specs.SETTINGS_FILE).read_text())
    assert settings["task"] == task and settings["validation"]["passed"]
    # The source's backbone hash is task.json's (taken without the adapter), and the folder's
    # own hash is recorded beside it.
    task_json = json.loads((folder / "task.json").read_text())
    assert settings["source"]["backbone_hash"] == task_json["backbone_hash"]
    assert settings["source"]["task_hash"] == task_folder_hash(folder)
    ref, got = run_both(folder, out, tiny_model, tiny_tokenizer, task)
    if task == "classify":  # probabilities agree to float rounding, labels exactly
        assert [r[0] for r in ref] == [g[0] for g in got]
        for (_, a), (_, b) in zip(ref, got):
            assert max(abs(a[k] - b[k]) for k in a) < 1e-5
    else:
        assert ref == got


def test_adapter_is_merged_and_memory_with_closed_gates_is_dropped(tiny_model):
    lora = AdapterSpec(rank=4, alpha=8, targets=("q_proj",))
    add_adapters(tiny_model, lora)
    with torch.no_grad():
        for p in adapter_parameters(tiny_model):
            p.normal_(0, 0.1)
    ids = torch.tensor([[3, 4, 5, 6]])
    before = tiny_model(ids).logits
    prepare_backbone(tiny_model, bank=False)
    torch.testing.assert_close(tiny_model(ids).logits, before, rtol=0, atol=1e-5)
    assert all(b.attn.memory is None for b in tiny_model.layers)
    assert tiny_model.lm_head is not None  # untied: quantizable separately from the embedding


def test_open_memory_gate_and_bank_export_retrieve_the_same_indices(
    make_task_folder, tmp_path, tiny_model, tiny_tokenizer
):
    with torch.no_grad():
        for b in tiny_model.layers:
            if b.attn.memory is not None:
                b.attn.memory.gate.fill_(0.7)
    folder = make_task_folder(tmp_path, tiny_model, "translate", adapter=False)
    out = tmp_path / "bank-export"
    report = export_task(
        folder, out, backbone=tiny_model, tokenizer=tiny_tokenizer, bank_entries=12
    )
    assert report["passed"], report["failures"]
    assert report["indices_equal"] is True and report["tokens_equal"] is True
    assert "memory_keys" in json.loads((out / specs.SETTINGS_FILE).read_text())["graph"]["inputs"]
    # The runtime refuses a bank smaller than top_k (the graph was traced with top_k entries).
    task = ExportedTask(out)
    small = np.zeros((1, 2, 2, 16), np.float32)
    with pytest.raises(ValueError, match="at least"):
        OnnxStepper(task.graph, 0, bank=(small, small))


@pytest.mark.parametrize("bad_step", [0, 1, 2])  # 0: the prompt pass, then decode steps
def test_bank_validation_catches_an_index_mismatch_at_any_step(
    make_task_folder, tmp_path, tiny_model, tiny_tokenizer, monkeypatch, bad_step
):
    """One graph call of validation's comparison loop (step ``bad_step``) reports other bank
    indices than onnxruntime computed: the export must fail and name that step."""
    from memgpt.export.runtime import OnnxGraph

    with torch.no_grad():
        for b in tiny_model.layers:
            if b.attn.memory is not None:
                b.attn.memory.gate.fill_(0.7)
    folder = make_task_folder(tmp_path, tiny_model, "translate", adapter=False)
    run, calls = OnnxGraph.run, []

    def run_with_wrong_indices(self, feeds):
        out = run(self, feeds)
        if len(calls) == bad_step:
            out = {k: (v + 1) % 12 if k.startswith("memory_indices") else v
                   for k, v in out.items()}
        calls.append(feeds["input_ids"].shape[1])
        return out

    monkeypatch.setattr(OnnxGraph, "run", run_with_wrong_indices)
    with pytest.raises(ExportError, match=rf"retrieved indices differ from torch at step "
                                          rf"{bad_step} "):
        export_task(folder, tmp_path / "never", backbone=tiny_model, tokenizer=tiny_tokenizer,
                    bank_entries=12)
    assert calls[0] > 1 and calls[1:] == [1, 1]  # the prompt pass, then one token per step
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("precision", ["int8", "int8w", "int4"])
def test_quantized_exports_validate_and_are_smaller(
    make_task_folder, tmp_path, tiny_model, tiny_tokenizer, precision
):
    folder = make_task_folder(tmp_path, tiny_model, "translate")
    fp32 = tmp_path / "fp32"
    export_task(folder, fp32, backbone=tiny_model, tokenizer=tiny_tokenizer)
    out = tmp_path / precision
    report = export_task(
        folder, out, backbone=tiny_model, tokenizer=tiny_tokenizer, precision=precision
    )
    assert report["passed"] and report["tolerance"] is None
    assert all(o["finite"] and o["shape_ok"] for o in report["outputs"].values())
    size = (out / specs.GRAPH_FILE).stat().st_size
    assert size < (fp32 / specs.GRAPH_FILE).stat().st_size
    assert ExportedTask(out).generate(["hello"], max_new_tokens=4)[0].input_tokens > 0


def test_failed_validation_writes_nothing(
    make_task_folder, tmp_path, tiny_model, tiny_tokenizer, monkeypatch
):
    import memgpt.export.specs as s

    folder = make_task_folder(tmp_path, tiny_model, "classify")
    monkeypatch.setitem(s.TOLERANCE, "fp32", 0.0)  # nothing is bit-exact: validation fails
    out = tmp_path / "never"
    with pytest.raises(ExportError, match="validation failed"):
        export_task(folder, out, backbone=tiny_model, tokenizer=tiny_tokenizer)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_one_session_serves_many_threads(make_task_folder, tmp_path, tiny_model, tiny_tokenizer):
    folder = make_task_folder(tmp_path, tiny_model, "classify")
    export_task(folder, tmp_path / "e", backbone=tiny_model, tokenizer=tiny_tokenizer)
    task = ExportedTask(tmp_path / "e")
    inputs = [f"text number {i} " * (1 + i % 5) for i in range(24)]
    serial = [task.classify([t])[0] for t in inputs]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(lambda t: task.classify([t])[0], inputs))
    assert threaded == serial


def test_check_folder_returns_the_verified_graph_bytes(
    make_task_folder, tmp_path, tiny_model, tiny_tokenizer
):
    folder = make_task_folder(tmp_path, tiny_model, "qa")
    export_task(folder, tmp_path / "e", backbone=tiny_model, tokenizer=tiny_tokenizer)
    settings, data = check_folder(tmp_path / "e")
    assert settings["task"] == "qa" and data == (tmp_path / "e" / specs.GRAPH_FILE).read_bytes()


def test_bottleneck_adapter_exports_with_fused_projections(tmp_path, tiny_model, tiny_tokenizer):
    """Fusing q/k/v and gate/up reaches through a bottleneck adapter around the sub-layer."""
    from memgpt.checkpoint import backbone_hash
    from memgpt.tasks.artifacts import TaskSpec, save_task
    from memgpt.tasks.heads import TaskModel
    from memgpt.tasks.recipes import default_spec

    spec = AdapterSpec(kind="bottleneck", rank=4, targets=("attn", "mlp"))
    task_spec = default_spec("translate", d_model=tiny_model.config.d_model, adapter=spec)
    task_spec = TaskSpec(**{**task_spec.__dict__, "backbone_hash": backbone_hash(tiny_model)})
    add_adapters(tiny_model, spec)
    with torch.no_grad():
        for p in adapter_parameters(tiny_model):
            p.normal_(0, 0.05)
    folder = save_task(tmp_path / "bn", task_spec, TaskModel(tiny_model, task_spec.head))
    report = export_task(folder, tmp_path / "e", backbone=tiny_model, tokenizer=tiny_tokenizer)
    assert report["passed"] and report["tokens_equal"], report["failures"]


def test_quantized_agreement_is_measured_and_enforced(make_task_folder, tmp_path, tiny_model,
                                                      tiny_tokenizer, monkeypatch):
    import memgpt.export.validate as V

    folder = make_task_folder(tmp_path, tiny_model, "classify")
    report = export_task(folder, tmp_path / "q", backbone=tiny_model, tokenizer=tiny_tokenizer,
                         precision="int8")
    a = report["agreement"]
    assert a["what"] == "labels" and a["n"] == specs.AGREEMENT_SAMPLE and 0 <= a["value"] <= 1
    assert report["passed"] == (a["value"] >= specs.MIN_AGREEMENT)
    # an export that disagrees with torch too often is not written, and says why
    monkeypatch.setattr(V, "_agreement", lambda *args: {"what": "labels", "value": 0.375, "n": 8})
    with pytest.raises(ExportError, match="labels agree with torch on 38% of 8 sample inputs"):
        export_task(folder, tmp_path / "never", backbone=tiny_model, tokenizer=tiny_tokenizer,
                    precision="int8")
    assert not (tmp_path / "never").exists()
    report = export_task(folder, tmp_path / "anyway", backbone=tiny_model,
                         tokenizer=tiny_tokenizer, precision="int8", min_agreement=0.0)
    assert report["passed"] and (tmp_path / "anyway" / specs.GRAPH_FILE).is_file()
    # fp32 is held to its logit tolerance instead
    assert "agreement" not in export_task(folder, tmp_path / "fp32", backbone=tiny_model,
                                          tokenizer=tiny_tokenizer)
