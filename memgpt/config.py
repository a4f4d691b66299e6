"""Model configuration: frozen, typed, validated on creation, saved with every checkpoint.

Presets are named (``tiny`` for tests, ``smollm2-135m`` for the shipped default backbone). A config
round-trips through plain JSON; unknown keys are rejected so a typo never becomes a default.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

SIMILARITIES = ("cosine", "dot", "l2")


@dataclass(frozen=True)
class MemoryConfig:
    """Where and how attention reads memory.

    Attributes:
        layers: indices of the layers that get memory attention (empty: no memory anywhere).
        num_slots: learned key/value slots per memory layer and KV head (0: none).
        top_k: bank entries each query retrieves from the external bank.
        similarity: how the bank is searched: ``cosine``, ``dot`` or ``l2`` (negative squared
            distance). Attention over what was retrieved is always scaled dot-product.
        chunk_size: bank entries scored per chunk during retrieval (bounds peak memory).
        gate_init: initial value of the per-head gate before tanh. 0 (closed) reproduces a
            pretrained backbone exactly; a from-scratch model starts it open (see
            ``scratch_config``) so that slots and bank get gradient from the first step.
    """

    layers: tuple[int, ...] = ()
    num_slots: int = 0
    top_k: int = 8
    similarity: str = "dot"
    chunk_size: int = 65536
    gate_init: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(i) for i in self.layers))
        if len(set(self.layers)) != len(self.layers) or any(i < 0 for i in self.layers):
            raise ValueError(f"memory layers must be distinct and >= 0, got {self.layers}")
        if self.num_slots < 0:
            raise ValueError(f"num_slots must be >= 0, got {self.num_slots}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")


@dataclass(frozen=True)
class ModelConfig:
    """Llama-style decoder hyper-parameters plus where memory attention sits.

    Attributes:
        vocab_size: tokenizer vocabulary size.
        d_model: residual stream width.
        n_layers: number of transformer blocks.
        n_heads: query heads.
        n_kv_heads: key/value heads (grouped-query attention; divides ``n_heads``).
        head_dim: per-head width.
        ffn_dim: SwiGLU hidden width.
        max_seq_len: longest position the model was trained for.
        rope_theta: rotary base.
        norm_eps: RMSNorm epsilon.
        tie_embeddings: LM head shares the token embedding matrix.
        bos_id / eos_id / pad_id: special token ids.
        memory: memory attention settings.
    """

    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_dim: int
    max_seq_len: int = 2048
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = 2
    memory: MemoryConfig = field(default_factory=MemoryConfig)

    def __post_init__(self) -> None:
        if isinstance(self.memory, dict):
            object.__setattr__(self, "memory", _from_dict(MemoryConfig, self.memory))
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "n_kv_heads", "head_dim",
                     "ffn_dim", "max_seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads "
                             f"({self.n_kv_heads})")
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for rotary embeddings, got {self.head_dim}")
        for i in (self.bos_id, self.eos_id, self.pad_id):
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"special token id {i} outside vocab of {self.vocab_size}")
        bad = [i for i in self.memory.layers if i >= self.n_layers]
        if bad:
            raise ValueError(f"memory layers {bad} do not exist in a {self.n_layers}-layer model")

    @property
    def n_groups(self) -> int:
        """Query heads per KV head."""
        return self.n_heads // self.n_kv_heads

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with ``changes`` applied (validated again). ``memory`` may be a dict."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["memory"]["layers"] = list(self.memory.layers)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, d)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))


def _from_dict(cls: type, d: dict[str, Any]) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f"{cls.__name__} must be a JSON object, got {type(d).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    d = dict(d)
    if cls is ModelConfig and "memory" in d:
        d["memory"] = _from_dict(MemoryConfig, d["memory"])
    if cls is MemoryConfig and "layers" in d:
        d["layers"] = tuple(d["layers"])
    return cls(**d)


PRESETS: dict[str, ModelConfig] = {
    # Seconds on CPU; used by the tests. Vocab matches the tiny byte-level test tokenizer.
    "tiny": ModelConfig(
        vocab_size=512, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=16,
        ffn_dim=128, max_seq_len=256, rope_theta=10000.0, norm_eps=1e-5,
        memory=MemoryConfig(layers=(1,), num_slots=4, top_k=4),
    ),
    # SmolLM2-135M-Instruct (facts from its GGUF metadata). Memory sits in the upper layers; its
    # gates start closed so the pretrained model is reproduced exactly until memory is trained.
    "smollm2-135m": ModelConfig(
        vocab_size=49152, d_model=576, n_layers=30, n_heads=9, n_kv_heads=3, head_dim=64,
        ffn_dim=1536, max_seq_len=8192, rope_theta=100000.0, norm_eps=1e-5,
        bos_id=1, eos_id=2, pad_id=2,
        memory=MemoryConfig(layers=(20, 25), num_slots=16, top_k=8),
    ),
    # A small from-scratch preset for pretraining demos (needs its own tokenizer of 8k tokens).
    "scratch-small": ModelConfig(
        vocab_size=8192, d_model=256, n_layers=6, n_heads=8, n_kv_heads=4, head_dim=32,
        ffn_dim=688, max_seq_len=1024, memory=MemoryConfig(layers=(4,), num_slots=16, top_k=8),
    ),
}


def scratch_config(*, vocab_size: int, d_model: int = 512, nhead: int = 8, num_layers: int = 6,
                   dim_feedforward: int = 2048, num_kv_heads: int | None = None,
                   max_seq_len: int = 2048, memory_layers: tuple[int, ...] | None = None,
                   memory_slots: int = 16, memory_top_k: int = 8, memory_gate_init: float = 0.5,
                   **fields: Any) -> ModelConfig:
    """A from-scratch config in PyTorch ``nn.Transformer`` vocabulary (``MemGPT(vocab_size=...)``).

    ``head_dim = d_model // nhead``; ``num_kv_heads`` defaults to ``nhead`` (no grouping). Memory is
    on: ``memory_layers`` defaults to the last layer (``()`` removes memory), with
    ``memory_slots`` learned slots and an open gate (``tanh(0.5) ≈ 0.46``). Other ModelConfig
    fields (``rope_theta``, ``bos_id``, ...) pass through ``fields``.
    """
    if d_model % nhead:
        raise ValueError(f"d_model ({d_model}) must be a multiple of nhead ({nhead})")
    layers = (num_layers - 1,) if memory_layers is None else tuple(memory_layers)
    memory = MemoryConfig(layers=layers, num_slots=memory_slots if layers else 0,
                          top_k=memory_top_k, gate_init=memory_gate_init)
    fields.setdefault("bos_id", min(1, vocab_size - 1))
    fields.setdefault("eos_id", min(2, vocab_size - 1))
    fields.setdefault("pad_id", fields["eos_id"])
    return ModelConfig(vocab_size=vocab_size, d_model=d_model, n_layers=num_layers,
                       n_heads=nhead, n_kv_heads=num_kv_heads or nhead, head_dim=d_model // nhead,
                       ffn_dim=dim_feedforward, max_seq_len=max_seq_len, memory=memory, **fields)


def get_preset(name: str) -> ModelConfig:
    """The named preset, or a ``KeyError`` listing the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
