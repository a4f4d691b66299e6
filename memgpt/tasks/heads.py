"""Task heads on the shared backbone and their losses (docs/architecture.md#tasks); span decoding
is torch-free, in ``memgpt.tasks.text``.

* LM head — none of its own: the backbone's tied output weight (summarize, translate).
* ``ClassificationHead`` — pools the final hidden state (last real token or mean) -> labels.
* ``SpanHead`` — start/end logits per token for extractive QA (BERT-style, Devlin et al. 2019,
  https://arxiv.org/abs/1810.04805).

Heads are tiny and losses live apart from ``forward``. A ``HeadSpec`` is plain data, so a head is
rebuilt from the JSON saved beside its weights.

Shape legend: B batch, T tokens, D d_model, C classes, V vocab.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from memgpt.model import MemGPT, MemoryState
from memgpt.tasks.text import best_span, windows  # noqa: F401  (re-exported)

HEAD_KINDS = ("lm", "classify", "span")
POOLINGS = ("last", "mean")
IGNORE_INDEX = -100


@dataclass(frozen=True)
class HeadSpec:
    """What head sits on the backbone.

    Attributes:
        kind: ``lm`` (tied output weight, no parameters), ``classify`` or ``span``.
        d_model: backbone width the head reads.
        labels: class names, in logit order (``classify`` only; at least two, unique).
        pooling: ``last`` (hidden state of the last real token) or ``mean`` (over real tokens);
            used by ``classify``.
        dropout: dropout on the pooled/hidden state while training (``classify``/``span``).
    """

    kind: str
    d_model: int
    labels: tuple[str, ...] = ()
    pooling: str = "last"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"head kind must be one of {HEAD_KINDS}, got {self.kind!r}")
        if not isinstance(self.d_model, int) or self.d_model < 1:
            raise ValueError(f"d_model must be a positive int, got {self.d_model!r}")
        if any(not isinstance(x, str) or not x for x in self.labels):
            raise ValueError(f"labels must be non-empty strings, got {self.labels}")
        if self.kind == "classify":
            if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
                raise ValueError(f"classify needs >= 2 unique labels, got {self.labels}")
        elif self.labels:
            raise ValueError(f"labels are only for kind 'classify', not {self.kind!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadSpec:
        if not isinstance(d, dict):
            raise ValueError(f"HeadSpec must be a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown HeadSpec keys: {', '.join(unknown)}")
        return cls(**d)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None, how: str) -> torch.Tensor:
    """Pool [B, T, D] -> [B, D] over real tokens (mask 1), whatever side the padding is on."""
    if attention_mask is None:
        return hidden[:, -1] if how == "last" else hidden.mean(1)
    real = attention_mask.to(hidden.device).bool()  # [B, T]
    if how == "last":
        pos = torch.arange(real.shape[1], device=hidden.device).expand_as(real)
        last = torch.where(real, pos, -1).amax(-1).clamp(min=0)  # [B] last real index
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    w = real.to(hidden.dtype).unsqueeze(-1)  # [B, T, 1]
    return (hidden * w).sum(1) / w.sum(1).clamp(min=1)


class ClassificationHead(nn.Module):
    """Pooled hidden state -> dropout -> Linear(D, C); small init: training starts near uniform."""

    def __init__(self, d_model: int, num_labels: int, *, pooling: str = "last",
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(d_model, num_labels)
        nn.init.normal_(self.proj.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)

    def forward(self, hidden: torch.Tensor,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """hidden [B, T, D], attention_mask [B, T] or None -> logits [B, C]."""
        return self.proj(self.dropout(pool(hidden, attention_mask, self.pooling)))


class SpanHead(nn.Module):
    """Per-token start/end logits: one Linear(D, 2)."""

    def __init__(self, d_model: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(d_model, 2)
        nn.init.normal_(self.proj.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """hidden [B, T, D] -> (start_logits [B, T], end_logits [B, T])."""
        start, end = self.proj(self.dropout(hidden)).unbind(-1)  # [B, T, 2] -> 2 x [B, T]
        return start, end


def build_head(spec: HeadSpec) -> nn.Module | None:
    """A fresh head for ``spec``; None for ``lm`` (the tied output weight is the LM head)."""
    if spec.kind == "classify":
        return ClassificationHead(spec.d_model, spec.num_labels, pooling=spec.pooling,
                                  dropout=spec.dropout)
    if spec.kind == "span":
        return SpanHead(spec.d_model, dropout=spec.dropout)
    return None


def features(model: MemGPT, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
             *, memory: MemoryState | None = None) -> torch.Tensor:
    """The backbone's final normed hidden state [B, T, D].

    ``num_logits=1`` keeps the [B, T, V] vocabulary projection from being computed for every
    position; heads only need the hidden states.
    """
    out = model(input_ids, attention_mask=attention_mask, memory=memory,
                output_hidden_states=True, num_logits=1)
    return out.hidden_states[-1]


class TaskModel(nn.Module):
    """A backbone (possibly with adapters) plus the head named by ``spec``.

    ``forward`` returns classify: logits [B, C]; span: (start [B, T], end [B, T]);
    lm: the backbone's logits [B, T, V].
    """

    def __init__(self, backbone: MemGPT, spec: HeadSpec, head: nn.Module | None = None) -> None:
        super().__init__()
        if spec.d_model != backbone.config.d_model:
            raise ValueError(f"head d_model {spec.d_model} != backbone d_model "
                             f"{backbone.config.d_model}")
        self.backbone = backbone
        self.spec = spec
        self.head = head if head is not None else build_head(spec)
        ref = next(backbone.parameters())
        if self.head is not None:
            self.head.to(device=ref.device, dtype=ref.dtype)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                *, memory: MemoryState | None = None):
        if self.spec.kind == "lm":
            return self.backbone(input_ids, attention_mask=attention_mask, memory=memory).logits
        hidden = features(self.backbone, input_ids, attention_mask, memory=memory)
        if self.spec.kind == "classify":
            return self.head(hidden, attention_mask)
        return self.head(hidden)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]


# --- losses (kept apart from forward) ---------------------------------------------------------


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits [B, C] against label ids [B] (-100 = ignore)."""
    return F.cross_entropy(logits.float(), labels.to(logits.device), ignore_index=IGNORE_INDEX)


def span_loss(start_logits: torch.Tensor, end_logits: torch.Tensor,
              start_positions: torch.Tensor, end_positions: torch.Tensor) -> torch.Tensor:
    """Mean of the start and end cross-entropies; logits [B, T], positions [B] (-100 = ignore)."""
    dev = start_logits.device
    s = F.cross_entropy(start_logits.float(), start_positions.to(dev), ignore_index=IGNORE_INDEX)
    e = F.cross_entropy(end_logits.float(), end_positions.to(dev), ignore_index=IGNORE_INDEX)
    return (s + e) / 2
