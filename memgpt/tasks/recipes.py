"""The project's fine-tuning recipe: records → examples → ``memgpt.training.train`` → a task folder.

Examples by task (token ids of ``format_input(spec, ...)``):

* summarize / translate: prompt ids + target ids + ``<|im_end|>``; the loss covers only the target
  and the end marker (``-100`` elsewhere).
* classify: the input ids and the label index.
* qa: question prefix + the context window that holds the answer, with the answer's first and
  last token positions (examples whose answer is not inside one window are counted and skipped).

Two ways to train, chosen by the spec: with an adapter (LoRA/bottleneck on the frozen backbone,
back-propagating through it), or head-only (``adapter=None``: a probe on the frozen backbone —
the backbone runs once per example to cache its features, then only the head trains, which takes
minutes on a CPU).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from memgpt.tasks.adapters import add_adapters, remove_adapters
from memgpt.tasks.artifacts import TaskSpec, save_task
from memgpt.tasks.heads import (
    HeadSpec,
    TaskModel,
    best_span,
    build_head,
    classification_loss,
    features,
    pool,
    span_loss,
)
from memgpt.tasks.pipelines import pad_right
from memgpt.tasks.registry import task_def
from memgpt.tasks.text import (  # noqa: F401  (language_fields is re-exported)
    classify_ids,
    fit_text,
    format_input,
    language_fields,
    qa_windows,
)
from memgpt.training import TrainConfig, TrainResult, train

log = logging.getLogger(__name__)



def default_spec(task: str, *, d_model: int, labels: Sequence[str] = (), adapter=None,
                 src: str = "en", tgt: str = "es") -> TaskSpec:
    """The project's prompt and settings for ``task`` (zero-shot when no weights are added).

    Zero-shot prompts and head kinds are the task's ``TaskDef``'s; a trained adapter gets a
    short plain prompt of its own.
    """
    d = task_def(task)
    if task == "summarize" and adapter is not None:
        # A trained summarizer (bbc-headline: article -> one-line summary) needs no instruction;
        # the lead of an article carries its gist, so the input is its first 192 tokens.
        return TaskSpec("summarize", HeadSpec(d.head, d_model), adapter,
                        template="Article: {text}\nSummary:", chat=False, max_input_tokens=192,
                        generation={"max_new_tokens": 48, "stop_strings": ["\n"],
                                    "no_repeat_ngram_size": 3})
    if task == "summarize":
        return TaskSpec("summarize", HeadSpec(d.head, d_model), adapter,
                        template=d.prompt, chat=True, max_input_tokens=1536,
                        generation={"max_new_tokens": 128, "repetition_penalty": 1.1,
                                    "no_repeat_ngram_size": 4})
    if task == "translate" and adapter is not None:
        # A trained adapter needs no instruction: a short plain prompt trains and runs faster.
        return TaskSpec("translate", HeadSpec(d.head, d_model), adapter,
                        template="{src}: {text}\n{tgt}:", chat=False, max_input_tokens=256,
                        generation={"max_new_tokens": 96, "stop_strings": ["\n"]},
                        info={"src": src, "tgt": tgt})
    if task == "translate":
        return TaskSpec("translate", HeadSpec(d.head, d_model), adapter,
                        template=d.prompt, chat=True, max_input_tokens=256,
                        generation={"max_new_tokens": 96, "repetition_penalty": 1.0},
                        info={"src": src, "tgt": tgt})
    if task == "classify":
        return TaskSpec("classify", HeadSpec(d.head, d_model, tuple(labels), pooling="mean"),
                        adapter, template=d.prompt, max_input_tokens=256)
    if task == "qa":
        return TaskSpec("qa", HeadSpec(d.head, d_model), adapter, template=d.prompt,
                        max_input_tokens=384)
    raise ValueError(f"unknown task {task!r}")


def make_examples(spec: TaskSpec, tok, records: Sequence[dict]) -> list[dict]:
    """Training examples (token ids + targets) of ``records``; see the module docstring."""
    out, skipped = [], 0
    end = tok.im_end_id if tok.im_end_id is not None else tok.eos_id
    for r in records:
        if spec.task in ("summarize", "translate"):
            target = r["summary"] if spec.task == "summarize" else r["translation"]
            # The input is cut to its first max_input_tokens tokens, as generate_texts does.
            body, _, _ = fit_text(tok, r["text"], spec.max_input_tokens, warn=False)
            text = format_input(spec, tok, {"text": body, **language_fields(spec, None, None)})
            prompt = tok.encode(text)
            sep = "" if text[-1:].isspace() else " "  # "Spanish:" is followed by " Hola"
            tgt = tok.encode(sep + target)[:256] + [end]
            out.append({"ids": prompt + tgt, "labels": [-100] * len(prompt) + tgt})
        elif spec.task == "classify":
            out.append({"ids": classify_ids(spec, tok, r["text"]),
                        "label": spec.labels.index(r["label"])})
        else:
            ex = _qa_example(spec, tok, r)
            if ex is None:
                skipped += 1
            else:
                out.append(ex)
    if skipped:
        log.warning("%d of %d QA records skipped: the answer is not inside one window",
                    skipped, len(records))
    return out


def _qa_example(spec: TaskSpec, tok, r: dict) -> dict | None:
    ans = r["answers"][0]
    wins, offsets = qa_windows(spec, tok, r["question"], r["context"])
    a_char, b_char = ans["start"], ans["start"] + len(ans["text"])
    toks = [i for i, (s, e) in enumerate(offsets) if s < b_char and e > a_char]
    if not toks:
        return None
    for w in wins:
        if w.a <= toks[0] and toks[-1] < w.b:
            return {"ids": w.ids, "first": w.first, "start": w.first + toks[0] - w.a,
                    "end": w.first + toks[-1] - w.a}
    return None


def collate(batch: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    ids, mask = pad_right([b["ids"] for b in batch], pad_id)
    out = {"ids": ids, "mask": mask}
    if "labels" in batch[0]:
        out["labels"], _ = pad_right([b["labels"] for b in batch], -100)
    for key in ("label", "start", "end"):
        if key in batch[0]:
            out[key] = torch.tensor([b[key] for b in batch])
    return out


def task_loss(task: str):
    """loss_fn(model, batch) for ``memgpt.training.train``."""
    def loss_fn(model: TaskModel, batch: dict) -> torch.Tensor:
        if task in ("summarize", "translate"):
            # The next-token loss over every position, but the [V, D] output projection runs
            # only where a target token is predicted, not on every prompt position.
            hidden = features(model.backbone, batch["ids"], attention_mask=batch["mask"])
            target = batch["labels"][:, 1:]
            keep = target != -100
            logits = F.linear(hidden[:, :-1][keep], model.backbone.output_weight())
            return F.cross_entropy(logits.float(), target[keep])
        out = model(batch["ids"], attention_mask=batch["mask"])
        if task == "classify":
            return classification_loss(out, batch["label"])
        return span_loss(out[0], out[1], batch["start"], batch["end"])
    return loss_fn


@torch.inference_mode()
def cache_features(backbone, tok, spec: TaskSpec, examples: list[dict], *, batch_size: int = 8,
                   progress: bool = True) -> list[dict]:
    """Head-only training data: the frozen backbone's features of each example, computed once.

    classify keeps the pooled vector [1, D]; qa keeps every position [T, D] (fp16 to save RAM).
    """
    out = []
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["ids"]))
    feats: dict[int, torch.Tensor] = {}
    for i in tqdm(range(0, len(order), batch_size), desc="features", unit="batch",
                  disable=not progress):
        idx = order[i:i + batch_size]
        ids, mask = pad_right([examples[j]["ids"] for j in idx], tok.pad_id)
        h = features(backbone, ids, attention_mask=mask)
        for row, j in enumerate(idx):
            n = len(examples[j]["ids"])
            if spec.task == "classify":
                feats[j] = pool(h[row:row + 1, :n], None, spec.head.pooling).clone()  # [1, D]
            else:
                feats[j] = h[row, :n].to(torch.float16).clone()
    for j, ex in enumerate(examples):
        out.append({**{k: v for k, v in ex.items() if k != "ids"}, "feat": feats[j]})
    return out


class HeadOnly(torch.nn.Module):
    """The head alone, trained on cached features (``cache_features``)."""

    def __init__(self, head: torch.nn.Module, task: str) -> None:
        super().__init__()
        self.head, self.task = head, task

    def loss(self, batch: dict) -> torch.Tensor:
        if self.task == "classify":
            feat = torch.stack([b["feat"] for b in batch])  # [B, 1, D]
            return classification_loss(self.head(feat, None), torch.tensor([b["label"]
                                                                              for b in batch]))
        width = max(b["feat"].shape[0] for b in batch)
        feat = torch.zeros(len(batch), width, batch[0]["feat"].shape[1])
        for i, b in enumerate(batch):
            feat[i, :b["feat"].shape[0]] = b["feat"].float()
        start, end = self.head(feat)
        n = torch.tensor([b["feat"].shape[0] for b in batch])
        pad = torch.arange(width)[None] >= n[:, None]
        start, end = start.masked_fill(pad, -1e4), end.masked_fill(pad, -1e4)
        return span_loss(start, end, torch.tensor([b["start"] for b in batch]),
                         torch.tensor([b["end"] for b in batch]))

    @torch.no_grad()
    def metric(self, data: list[dict]) -> float:
        """Accuracy (classify) or mean token-position F1 of the best legal span (qa)."""
        if self.task == "classify":
            feat = torch.stack([b["feat"] for b in data])
            pred = self.head(feat, None).argmax(-1)
            return float((pred == torch.tensor([b["label"] for b in data])).float().mean())
        total = 0.0
        for b in data:
            start, end = self.head(b["feat"].float()[None])
            allowed = torch.arange(start.shape[1]) >= b["first"]
            i, j, _ = best_span(start[0], end[0], allowed=allowed)
            overlap = max(0, min(j, b["end"]) - max(i, b["start"]) + 1)
            if overlap:
                p, r = overlap / (j - i + 1), overlap / (b["end"] - b["start"] + 1)
                total += 2 * p * r / (p + r)
        return total / len(data)


def finetune(backbone, tok, spec: TaskSpec, train_records: Sequence[dict], *,
             config: TrainConfig, task_dir: str | Path, work_dir: str | Path,
             valid_records: Sequence[dict] | None = None, resume: bool = True,
             progress: bool = True, info: dict[str, Any] | None = None
             ) -> tuple[TaskSpec, TaskModel, TrainResult]:
    """Train ``spec``'s adapter/head on records and save the task folder to ``task_dir``.

    After every epoch the model is scored on ``valid_records`` (higher is better: accuracy,
    span F1, or minus the loss for generation); the best epoch's weights are the ones saved.
    Training state (checkpoints for resume, the log, the best weights) goes to ``work_dir``.
    """
    from memgpt.checkpoint import backbone_hash

    out_dir = Path(work_dir)
    remove_adapters(backbone)
    spec = replace(spec, backbone_hash=backbone_hash(backbone), info={**spec.info,
                                                                      **(info or {})})
    examples = make_examples(spec, tok, train_records)
    if not examples:
        raise ValueError("no usable training examples")
    head = build_head(spec.head)
    if spec.adapter is None:
        for p in backbone.parameters():
            p.requires_grad_(False)
        data = cache_features(backbone, tok, spec, examples, progress=progress)
        valid = None
        if valid_records:
            valid = cache_features(backbone, tok, spec, make_examples(spec, tok, valid_records),
                                   progress=progress)
        probe = HeadOnly(head, spec.task)
        model = TaskModel(backbone, spec.head, head)
        result = train(probe, loss_fn=lambda m, b: m.loss(b), train_data=data,
                       collate=lambda b: b, config=config, out_dir=out_dir,
                       eval_fn=(lambda m: m.metric(valid)) if valid else None,
                       resume=resume, progress=progress)
    else:
        add_adapters(backbone, spec.adapter)
        model = TaskModel(backbone, spec.head, head)
        eval_fn = make_eval_fn(spec, tok, valid_records) if valid_records else None
        result = train(model, loss_fn=task_loss(spec.task), train_data=examples,
                       collate=lambda b: collate(b, tok.pad_id), config=config,
                       out_dir=out_dir, eval_fn=eval_fn, resume=resume, progress=progress)
    _load_best(model if spec.adapter is not None else HeadOnly(head, spec.task), out_dir)
    model.eval()
    spec = replace(spec, info={**spec.info, "valid_score": result.best_metric,
                               "train_steps": result.steps, "train_epochs": result.epochs_run})
    save_task(task_dir, spec, model)
    return spec, model, result


def _load_best(module: torch.nn.Module, out_dir: Path) -> None:
    """Load ``best.safetensors`` (the best epoch's trainable weights) when training wrote one."""
    from safetensors.torch import load_file

    best = out_dir / "best.safetensors"
    if not best.is_file():
        return
    params = dict(module.named_parameters())
    with torch.no_grad():
        for k, v in load_file(str(best)).items():
            if k in params:
                params[k].copy_(v)


# ---------------------------------------------------------------------- the finetune command
def make_eval_fn(spec: TaskSpec, tok, records: Sequence[dict], *, limit: int = 200):
    """eval_fn(task_model) -> float for training: accuracy (classify), mean token F1 (qa), or
    minus the mean loss (generation), on the first ``limit`` records."""
    from memgpt.eval.metrics import squad_f1
    from memgpt.tasks.pipelines import answer, classify

    records = list(records)[:limit]

    def fn(model: TaskModel) -> float:
        model.eval()
        if spec.task == "classify":
            got = classify(model, tok, spec, [r["text"] for r in records])
            return sum(g.label == r["label"] for g, r in zip(got, records)) / len(records)
        if spec.task == "qa":
            return sum(max(squad_f1(answer(model, tok, spec, r["question"], r["context"]).answer,
                                    a["text"]) for a in r["answers"]) for r in records
                       ) / len(records)
        examples, loss_fn, total = make_examples(spec, tok, records), task_loss(spec.task), 0.0
        with torch.no_grad():
            for i in range(0, len(examples), 8):
                total += float(loss_fn(model, collate(examples[i:i + 8], tok.pad_id))) * len(
                    examples[i:i + 8])
        return -total / len(examples)
    return fn


def split_valid(records: list[dict], seed: int, fraction: float = 0.1
                ) -> tuple[list[dict], list[dict]]:
    """A seeded (train, valid) split of ``records`` (at least one valid record)."""
    import random

    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n = max(1, int(len(records) * fraction))
    if len(records) < 2:
        raise ValueError("need at least 2 records to hold some out for validation")
    valid = set(order[:n])
    return ([r for i, r in enumerate(records) if i not in valid],
            [r for i, r in enumerate(records) if i in valid])


def run_finetune(backbone, tok, *, task: str, records: list[dict], valid_records, output: str,
                 adapter_kind: str | None = None, rank: int = 8, layers: tuple[int, ...] = (),
                 epochs: int = 3, max_steps: int | None = None, batch_size: int = 8,
                 grad_accum: int = 1, lr: float | None = None, seed: int = 0,
                 resume: bool = True, command: str = "", progress: bool = True,
                 max_input_tokens: int | None = None) -> dict:
    """The ``memgpt-task finetune`` recipe; returns a JSON-able summary."""
    from memgpt.tasks.adapters import AdapterSpec

    if valid_records is None:
        records, valid_records = split_valid(records, seed)
    kind = adapter_kind or ("none" if task in ("classify", "qa") else "lora")
    adapter = None if kind == "none" else AdapterSpec(
        kind=kind, rank=rank, alpha=2.0 * rank, layers=layers,
        targets=("q_proj", "v_proj") if kind == "lora" else ("mlp",))
    labels = sorted({str(r["label"]) for r in records}) if task == "classify" else ()
    if task == "classify":
        if len(labels) < 2:
            raise ValueError("classification needs at least 2 different labels in the data")
        unseen = sorted({str(r["label"]) for r in valid_records} - set(labels))
        if unseen:
            raise ValueError(f"validation labels not in the training data: {unseen[:5]}")
        records = [{**r, "label": str(r["label"])} for r in records]
        valid_records = [{**r, "label": str(r["label"])} for r in valid_records]
    spec = default_spec(task, d_model=backbone.config.d_model, labels=labels, adapter=adapter)
    if max_input_tokens:
        spec = replace(spec, max_input_tokens=max_input_tokens)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, grad_accum=grad_accum,
                         lr=lr or (1e-3 if adapter is None else 2e-4), max_steps=max_steps,
                         seed=seed, patience=2)
    spec, model, result = finetune(
        backbone, tok, spec, records, config=config, task_dir=output,
        work_dir=str(Path(output)) + ".work", valid_records=valid_records, resume=resume,
        progress=progress,
        info={"command": command, "train_records": len(records),
              "valid_records": len(valid_records), "train_config": config.__dict__})
    return {"output": str(output), "task": task, "steps": result.steps,
            "epochs": result.epochs_run, "best_valid": result.best_metric,
            "final_loss": result.losses[-1] if result.losses else None,
            "stopped_early": result.stopped_early}
