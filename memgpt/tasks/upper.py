"""Fine-tuning the upper layers on cached lower-layer states: the CPU-sized training recipe.

Back-propagating through all 30 blocks of the backbone for every example is what makes
fine-tuning slow on a CPU. When the adapter touches only blocks ``split..n_layers-1``, the
lower blocks are frozen and see no adapter, so their output for an example never changes: it
is computed once (``cache_prefix``, fp16 [T, D] per example) and every epoch runs only the
upper blocks, forward and backward (``UpperModel``). The result is an ordinary task folder:
the LoRA weights of the upper blocks plus the head, loaded and exported like any other.

Padding is on the right and attention is causal, so a real token never sees a padding token and
a cached state does not depend on the batch it was computed in.

Shape legend: B batch, T tokens, D d_model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from memgpt.layers import attention_bias, rotary_tables
from memgpt.model import MemGPT
from memgpt.tasks.adapters import AdapterSpec, add_adapters, remove_adapters
from memgpt.tasks.artifacts import TaskSpec, save_task
from memgpt.tasks.heads import TaskModel, best_span, build_head, classification_loss, span_loss
from memgpt.training import TrainConfig, TrainResult, train

log = logging.getLogger(__name__)


def run_blocks(model: MemGPT, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Blocks ``start..stop-1`` of ``model`` on hidden states x [B, T, D] (causal, no cache,
    no memory bank); positions 0..T-1."""
    b, t, _ = x.shape
    c = model.config
    pos = torch.arange(t, device=x.device).expand(b, t)
    cos, sin = rotary_tables(model.inv_freq, pos, x.dtype)
    bias = attention_bias(None, groups=c.n_heads // c.n_kv_heads, t=t, s=t, dtype=x.dtype,
                          device=x.device)
    for block in model.layers[start:stop]:
        x, _, _ = block(x, cos, sin, bias, None, None)
    return x


@torch.inference_mode()
def cache_prefix(model: MemGPT, rows: Sequence[list[int]], split: int, *, pad_id: int,
                 batch_tokens: int = 2048, progress: bool = True) -> list[torch.Tensor]:
    """The input of block ``split`` for every row of token ids: fp16 [T_i, D] tensors.

    Rows are sorted by length and batched up to ``batch_tokens`` padded tokens, so short texts
    run many to a batch (per-call overhead dominates small batches on a CPU).
    """
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out: list[torch.Tensor | None] = [None] * len(rows)
    batches, cur = [], []
    for j in order:
        if cur and len(rows[j]) * (len(cur) + 1) > batch_tokens:
            batches.append(cur)
            cur = []
        cur.append(j)
    batches += [cur] if cur else []
    for idx in tqdm(batches, desc="caching lower layers", unit="batch", disable=not progress):
        width = max(len(rows[j]) for j in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        for r, j in enumerate(idx):
            ids[r, :len(rows[j])] = torch.tensor(rows[j])
        h = run_blocks(model, model.embed(ids), 0, split)
        for r, j in enumerate(idx):
            out[j] = h[r, :len(rows[j])].to(torch.float16).clone()
    return out  # type: ignore[return-value]


class UpperModel(nn.Module):
    """The upper blocks (with their adapters), the final norm and a task head."""

    def __init__(self, backbone: MemGPT, head: nn.Module, split: int, kind: str) -> None:
        super().__init__()
        self.backbone, self.head, self.split, self.kind = backbone, head, split, kind

    def forward(self, feat: torch.Tensor, mask: torch.Tensor):
        """feat [B, T, D] cached states, mask [B, T] -> span (start, end) [B, T], class logits
        [B, L], or (lm) the final hidden states [B, T, D]."""
        x = run_blocks(self.backbone, feat, self.split, self.backbone.config.n_layers)
        x = self.backbone.norm(x)
        if self.kind == "lm":
            return x
        if self.kind == "classify":
            return self.head(x, mask)
        start, end = self.head(x)
        pad = mask == 0
        return start.masked_fill(pad, -1e4), end.masked_fill(pad, -1e4)


def _collate(batch: list[dict]) -> dict:
    width = max(b["feat"].shape[0] for b in batch)
    feat = torch.zeros(len(batch), width, batch[0]["feat"].shape[1])
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for i, b in enumerate(batch):
        n = b["feat"].shape[0]
        feat[i, :n], mask[i, :n] = b["feat"].float(), 1
    out = {"feat": feat, "mask": mask}
    if "labels" in batch[0]:
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for i, b in enumerate(batch):
            labels[i, :len(b["labels"])] = torch.tensor(b["labels"])
        out["labels"] = labels
    for key in ("label", "start", "end"):
        if key in batch[0]:
            out[key] = torch.tensor([b[key] for b in batch])
    return out


def _loss(model: UpperModel, batch: dict) -> torch.Tensor:
    out = model(batch["feat"], batch["mask"])
    if model.kind == "lm":
        # next-token loss on the target positions only; the [V, D] projection runs only there
        target = batch["labels"][:, 1:]
        keep = target != -100
        logits = F.linear(out[:, :-1][keep], model.backbone.output_weight())
        return F.cross_entropy(logits.float(), target[keep])
    if model.kind == "classify":
        return classification_loss(out, batch["label"])
    return span_loss(out[0], out[1], batch["start"], batch["end"])


@torch.no_grad()
def _metric(model: UpperModel, data: list[dict], batch_size: int = 16) -> float:
    """Accuracy (classify), mean token-overlap F1 of the best span in the context (qa), or
    minus the mean target-token loss (lm)."""
    total = 0.0
    for i in range(0, len(data), batch_size):
        chunk = data[i:i + batch_size]
        batch = _collate(chunk)
        if model.kind == "lm":
            total -= float(_loss(model, batch)) * len(chunk)
            continue
        out = model(batch["feat"], batch["mask"])
        if model.kind == "classify":
            total += float((out.argmax(-1) == batch["label"]).sum())
            continue
        for r, b in enumerate(chunk):
            n = b["feat"].shape[0]
            allowed = torch.arange(n) >= b["first"]
            s, e, _ = best_span(out[0][r, :n], out[1][r, :n], allowed=allowed)
            overlap = max(0, min(e, b["end"]) - max(s, b["start"]) + 1)
            if overlap:
                p, q = overlap / (e - s + 1), overlap / (b["end"] - b["start"] + 1)
                total += 2 * p * q / (p + q)
    return total / len(data)


def finetune_upper(backbone: MemGPT, tok, spec: TaskSpec, examples: list[dict],
                   valid_examples: list[dict], *, split: int, rank: int, config: TrainConfig,
                   task_dir: str | Path, work_dir: str | Path, progress: bool = True,
                   info: dict | None = None) -> tuple[TaskSpec, TaskModel, TrainResult]:
    """Train LoRA on every projection of blocks ``split..`` plus the head; save the folder.

    Args:
        examples, valid_examples: from ``recipes.make_examples`` (qa, classify, or summarize /
            translate: prompt + target ids with ``labels``; the head is the tied LM output).
        split: first adapted block; blocks below it run once per example (``cache_prefix``).
        rank: LoRA rank (alpha = 2 * rank).
    """
    from memgpt.checkpoint import backbone_hash
    from memgpt.tasks.adapters import LORA_TARGETS
    from memgpt.tasks.recipes import _load_best

    n = backbone.config.n_layers
    if not 0 < split < n:
        raise ValueError(f"split must be in 1..{n - 1}, got {split}")
    remove_adapters(backbone)
    for p in backbone.parameters():
        p.requires_grad_(False)
    adapter = AdapterSpec(kind="lora", rank=rank, alpha=2.0 * rank, targets=LORA_TARGETS,
                          layers=tuple(range(split, n)))
    spec = replace(spec, adapter=adapter, backbone_hash=backbone_hash(backbone),
                   info={**spec.info, **(info or {})})
    data = []
    for name, exs in (("train", examples), ("valid", valid_examples)):
        feats = cache_prefix(backbone, [e["ids"] for e in exs], split, pad_id=tok.pad_id,
                             progress=progress)
        data.append([{**{k: v for k, v in e.items() if k != "ids"}, "feat": f}
                     for e, f in zip(exs, feats)])
        log.info("cached %d %s examples", len(exs), name)
    add_adapters(backbone, adapter)
    head = build_head(spec.head)
    model = UpperModel(backbone, head, split, spec.head.kind)
    result = train(model, loss_fn=_loss, train_data=data[0], collate=_collate, config=config,
                   out_dir=work_dir, eval_fn=lambda m: _metric(m, data[1]), progress=progress)
    _load_best(model, Path(work_dir))
    task_model = TaskModel(backbone, spec.head, head).eval()
    spec = replace(spec, info={**spec.info, "valid_score": result.best_metric,
                               "train_steps": result.steps, "train_epochs": result.epochs_run})
    save_task(task_dir, spec, task_model)
    return spec, task_model, result
