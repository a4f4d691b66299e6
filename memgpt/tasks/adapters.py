"""Adapters: small trainable modules that wrap frozen backbone layers (docs/architecture.md#tasks).

* ``LoRALinear`` — low-rank update of a linear layer, W + (α/r)·B·A (Hu et al. 2021,
  https://arxiv.org/abs/2106.09685). B starts at zero, so the wrapped layer is exactly the base.
* ``BottleneckAdapter`` — a residual down/up projection after a sub-layer (Houlsby et al. 2019,
  https://arxiv.org/abs/1902.00751). The up projection starts at zero: identity at init.

Adapters wrap, start as the identity, merge explicitly (``merge_adapters``) for export, and are
removed again (``remove_adapters``) so one backbone in memory can serve many tasks.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

ADAPTER_KINDS = ("lora", "bottleneck")


@dataclass(frozen=True)
class AdapterSpec:
    """What to wrap and how.

    Attributes:
        kind: ``lora`` or ``bottleneck``.
        rank: LoRA rank r, or the bottleneck width.
        alpha: LoRA scale numerator (update scaled by alpha / rank).
        dropout: dropout on the adapter input while training.
        targets: LoRA: names of linear layers to wrap (``q_proj``, ``k_proj``, ``v_proj``,
            ``o_proj``, ``gate_proj``, ``up_proj``, ``down_proj``). Bottleneck: ``attn``/``mlp``.
        layers: block indices to adapt; empty means every block.
    """

    kind: str = "lora"
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("q_proj", "v_proj")
    layers: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", tuple(self.targets))
        object.__setattr__(self, "layers", tuple(int(i) for i in self.layers))
        if self.kind not in ADAPTER_KINDS:
            raise ValueError(f"adapter kind must be one of {ADAPTER_KINDS}, got {self.kind!r}")
        if self.rank < 1:
            raise ValueError(f"adapter rank must be >= 1, got {self.rank}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"adapter dropout must be in [0, 1), got {self.dropout}")
        allowed = LORA_TARGETS if self.kind == "lora" else BOTTLENECK_TARGETS
        bad = sorted(set(self.targets) - set(allowed))
        if bad or not self.targets:
            raise ValueError(f"{self.kind} targets must be a non-empty subset of {allowed}, "
                             f"got {self.targets}")

    def to_dict(self) -> dict:
        return {**asdict(self), "targets": list(self.targets), "layers": list(self.layers)}


LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
BOTTLENECK_TARGETS = ("attn", "mlp")
ATTN_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj")


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update.

    Shapes: x [..., in] -> [..., out]; lora_a [r, in], lora_b [out, r].
    """

    def __init__(self, base: nn.Linear, *, rank: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # as in the LoRA reference code
        self.dropout = nn.Dropout(dropout)
        self.merged = False
        self.off = False  # ``adapters_off``: the base layer alone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.merged or self.off:
            return y
        return y + F.linear(F.linear(self.dropout(x), self.lora_a), self.lora_b) * self.scale

    def delta(self) -> torch.Tensor:
        """The [out, in] weight update this adapter represents."""
        return (self.lora_b @ self.lora_a) * self.scale

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.base.weight += self.delta().to(self.base.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.base.weight -= self.delta().to(self.base.weight.dtype)
            self.merged = False


class BottleneckAdapter(nn.Module):
    """``y = f(x) + up(gelu(down(f(x))))`` around a frozen sub-layer ``f``."""

    def __init__(self, base: nn.Module, d_model: int, *, rank: int, dropout: float) -> None:
        super().__init__()
        self.base = base
        self.down = nn.Linear(d_model, rank)
        self.up = nn.Linear(rank, d_model)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        self.dropout = nn.Dropout(dropout)
        self.off = False  # ``adapters_off``: the base sub-layer alone

    def forward(self, *args, **kwargs):
        out = self.base(*args, **kwargs)
        if self.off:
            return out
        if isinstance(out, tuple):  # attention returns (output, cache, indices)
            return (self._adapt(out[0]), *out[1:])
        return self._adapt(out)

    def _adapt(self, y: torch.Tensor) -> torch.Tensor:
        return y + self.up(F.gelu(self.down(self.dropout(y))))


@contextlib.contextmanager
def adapters_off(model: nn.Module) -> Iterator[None]:
    """Within the block, ``model`` computes as its plain backbone: every (unmerged) adapter
    passes its base layer's output through unchanged. Merged adapters are refused."""
    mods = [m for m in model.modules() if isinstance(m, (LoRALinear, BottleneckAdapter))]
    if any(getattr(m, "merged", False) for m in mods):
        raise ValueError("unmerge adapters before turning them off")
    for m in mods:
        m.off = True
    try:
        yield
    finally:
        for m in mods:
            m.off = False


def _targets(model: nn.Module, spec: AdapterSpec):
    """(parent module, attribute name, module) for every place the spec adapts."""
    layers = spec.layers or tuple(range(len(model.layers)))
    for i in layers:
        if not 0 <= i < len(model.layers):
            raise ValueError(f"adapter layer {i} does not exist ({len(model.layers)} layers)")
        block = model.layers[i]
        for name in spec.targets:
            if spec.kind == "bottleneck":
                yield block, name, getattr(block, name)
            else:
                parent = block.attn if name in ATTN_LINEARS else block.mlp
                yield parent, name, getattr(parent, name)


def add_adapters(model: nn.Module, spec: AdapterSpec) -> int:
    """Wrap the spec's layers in place; freeze everything else. Returns trainable param count."""
    if any(isinstance(m, (LoRALinear, BottleneckAdapter)) for m in model.modules()):
        raise ValueError("model already has adapters; call remove_adapters first")
    for p in model.parameters():
        p.requires_grad_(False)
    d_model = model.config.d_model
    for parent, name, module in list(_targets(model, spec)):
        if spec.kind == "lora":
            wrapped = LoRALinear(module, rank=spec.rank, alpha=spec.alpha, dropout=spec.dropout)
        else:
            wrapped = BottleneckAdapter(module, d_model, rank=spec.rank, dropout=spec.dropout)
        ref = module.weight if hasattr(module, "weight") else next(module.parameters())
        setattr(parent, name, wrapped.to(device=ref.device, dtype=ref.dtype))
    return sum(p.numel() for p in adapter_parameters(model))


def adapter_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (LoRALinear, BottleneckAdapter))]


def adapter_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters that belong to adapters (not the wrapped base layers)."""
    params = []
    for m in adapter_modules(model):
        params += [p for n, p in m.named_parameters() if not n.startswith("base.")]
    return params


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapter weights, keyed by their full names in the model."""
    ids = {id(p) for p in adapter_parameters(model)}
    return {n: p.detach().clone() for n, p in model.named_parameters() if id(p) in ids}


def merge_adapters(model: nn.Module) -> None:
    """Fold every LoRA update into its base weight (bottleneck adapters cannot be folded)."""
    for m in adapter_modules(model):
        if not isinstance(m, LoRALinear):
            raise ValueError("bottleneck adapters add a non-linear path and cannot be merged")
        m.merge()


def unmerge_adapters(model: nn.Module) -> None:
    for m in adapter_modules(model):
        if isinstance(m, LoRALinear):
            m.unmerge()


def remove_adapters(model: nn.Module) -> None:
    """Put the base layers back (unmerging first), leaving the plain backbone."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (LoRALinear, BottleneckAdapter)):
                if isinstance(child, LoRALinear):
                    child.unmerge()
                setattr(parent, name, child.base)


def plain_backbone_hash(backbone) -> str:
    """``memgpt.checkpoint.backbone_hash`` of ``backbone`` without its task adapters: each
    adapter wrapper is swapped for the base layer it wraps while hashing, then put back."""
    from memgpt.checkpoint import backbone_hash

    wrapped = [(parent, name, child) for parent in list(backbone.modules())
               for name, child in parent.named_children()
               if isinstance(child, (LoRALinear, BottleneckAdapter))]
    if any(getattr(child, "merged", False) for _, _, child in wrapped):
        raise ValueError("merged LoRA adapters: the backbone's own weights are not in the model")
    try:
        for parent, name, child in wrapped:
            setattr(parent, name, child.base)
        return backbone_hash(backbone)
    finally:
        for parent, name, child in reversed(wrapped):
            setattr(parent, name, child)
