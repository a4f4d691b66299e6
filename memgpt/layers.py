"""The layers of the MemGPT backbone (``memgpt.model``): norms, rotary positions, memory attention,
grouped-query attention, the SwiGLU MLP and the block; the explicit state types (KV cache, memory
bank) and the model's output.

Read top to bottom; the shape legend and the memory design are in ``memgpt.model``'s docstring
(docs/architecture.md#memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from memgpt.config import ModelConfig
from memgpt.retrieval import gather_entries, topk_search

KVCache = tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per layer: (k [B,G,S,E], v [B,G,S,E])


@dataclass(frozen=True)
class MemoryState:
    """An external memory bank as plain tensors (one slice per memory layer, in layer order).

    Attributes:
        keys: [L, N, G, E] pre-rotary keys.
        values: [L, N, G, E].
        index: a ``memgpt.index.BankIndex`` over ``keys`` (approximate search for large banks),
            or None for exact search over every entry.
    """

    keys: torch.Tensor
    values: torch.Tensor
    index: Any = None


@dataclass
class ModelOutput:
    """What ``MemGPT.forward`` returns.

    Attributes:
        logits: [B, T', V] where T' = T, or ``num_logits`` last positions when asked.
        past_key_values: the cache including this call's tokens.
        hidden_states: input of every layer then the final normed output (n_layers + 1 tensors,
            each [B, T, D]) when ``output_hidden_states``; else None.
        memory_indices: per memory layer, bank indices retrieved [B, H, T, K] when a bank was
            given; else None.
    """

    logits: torch.Tensor
    past_key_values: KVCache
    hidden_states: tuple[torch.Tensor, ...] | None = None
    memory_indices: tuple[torch.Tensor, ...] | None = None


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rotary_tables(inv_freq: torch.Tensor, positions: torch.Tensor, dtype: torch.dtype):
    """cos/sin tables [B, 1, T, E] for positions [B, T]."""
    freqs = positions.float().unsqueeze(-1) * inv_freq  # [B, T, E/2]
    emb = torch.cat([freqs, freqs], dim=-1)  # [B, T, E] half-split layout
    return emb.cos().to(dtype).unsqueeze(1), emb.sin().to(dtype).unsqueeze(1)


def rotate_half_matrix(e: int) -> torch.Tensor:
    """[E, E] with ``x @ R == cat(-x[E/2:], x[:E/2])``: one ±1 per column, an exact product."""
    r, half = torch.zeros(e, e), e // 2
    idx = torch.arange(half)
    r[idx + half, idx] = -1.0
    r[idx, idx + half] = 1.0
    return r


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                 rot: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate [B, heads, T, E] by position (RoFormer, Su et al. 2021), half-split layout.

    ``rot`` (``rotate_half_matrix``) does the half swap as one small matmul: in an exported graph
    that is one node instead of slices, a negation and a concat per call.
    """
    if rot is None:
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    else:
        rotated = x @ rot.to(x.dtype)
    return x * cos + rotated * sin


class MemoryAttention(nn.Module):
    """Reads learned slots and retrieved bank entries; its output enters through a closed gate."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c, m = config, config.memory
        self.n_groups, self.top_k = c.n_groups, m.top_k
        self.similarity, self.chunk_size = m.similarity, m.chunk_size
        self.scale = 1.0 / math.sqrt(c.head_dim)
        self.slot_keys = nn.Parameter(torch.randn(c.n_kv_heads, m.num_slots, c.head_dim) * 0.02)
        self.slot_values = nn.Parameter(torch.randn(c.n_kv_heads, m.num_slots, c.head_dim) * 0.02)
        # tanh(0) = 0: closed by default (exact pretrained parity); open for from-scratch models
        self.gate = nn.Parameter(torch.full((c.n_heads,), float(m.gate_init)))
        # With every gate closed the read adds exactly 0, so it is skipped when no gradient can
        # reach the gate (inference): a closed memory costs nothing. An export with bank inputs
        # keeps the read (its graph returns the retrieved indices): it sets this False.
        self.skip_when_closed = True

    def forward(
        self, q: torch.Tensor, bank: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Memory read for pre-rotary queries.

        Args:
            q: [B, H, T, E] pre-rotary queries.
            bank: (keys [N, G, E], values [N, G, E]) or None; a third element, when given and
                not None, is ``search(queries [G, Q, E], k) -> (scores, indices)`` used instead
                of exact search (a ``memgpt.index`` vector index).

        Returns:
            (gated output [B, H, T, E] or None when there is nothing to read,
             retrieved indices [B, H, T, K] or None when no bank was given).
        """
        b, h, t, e = q.shape
        if self.skip_when_closed and not (torch.is_grad_enabled() and self.gate.requires_grad) \
                and not bool(self.gate.detach().abs().any()):
            return None, None
        logits, values, indices = [], [], None
        if self.slot_keys.shape[1]:
            sk = self.slot_keys.repeat_interleave(self.n_groups, 0)  # [H, M, E]
            sv = self.slot_values.repeat_interleave(self.n_groups, 0)
            logits.append(torch.einsum("bhte,hme->bhtm", q, sk.to(q.dtype)) * self.scale)
            values.append(sv.to(q.dtype).view(1, h, 1, -1, e).expand(b, h, t, -1, e))
        if bank is not None and bank[0].shape[0]:
            g = h // self.n_groups
            qg = q.view(b, g, self.n_groups, t, e).transpose(0, 1).reshape(g, -1, e)  # [G, Q, E]
            if len(bank) > 2 and bank[2] is not None:
                _, idx = bank[2](qg, self.top_k)
            else:
                _, idx = topk_search(qg, bank[0].transpose(0, 1), self.top_k,
                                     similarity=self.similarity, chunk_size=self.chunk_size)
            k = idx.shape[-1]
            # gathered from the stored [N, G, E] layout: no per-step copy of the whole bank
            rk = gather_entries(bank[0], idx).to(q.dtype)  # [G, Q, K, E]
            rv = gather_entries(bank[1], idx).to(q.dtype)
            to_bhtk = (lambda x: x.view(g, b, self.n_groups, t, k, *x.shape[3:])
                       .transpose(0, 1).reshape(b, h, t, k, *x.shape[3:]))
            rk, rv, indices = to_bhtk(rk), to_bhtk(rv), to_bhtk(idx)
            logits.append((q.unsqueeze(3) * rk).sum(-1) * self.scale)  # [B, H, T, K]
            values.append(rv)
        if not logits:
            return None, indices
        probs = torch.cat(logits, -1).float().softmax(-1).to(q.dtype)  # [B, H, T, M+K]
        out = (probs.unsqueeze(-1) * torch.cat(values, 3)).sum(3)  # [B, H, T, E]
        return torch.tanh(self.gate).to(q.dtype).view(1, h, 1, 1) * out, indices


def attention_bias(mask: torch.Tensor | None, *, groups: int, t: int, s: int,
                   dtype: torch.dtype, device) -> torch.Tensor | None:
    """The additive attention mask that ``grouped_attention`` takes, built once per forward.

    Args:
        mask: bool [B, 1, T, S] (True = may attend) or None (causal over the new tokens).
        groups: R = H // G query heads per KV head; rows are repeated R times, row j*T + i being
            query i of head j in the group.

    Returns:
        [B or 1, 1, R*T, S] with 0 where attention is allowed and -inf elsewhere, or None when
        nothing is masked (a single new token without padding).
    """
    if mask is None:
        if t == 1:
            return None
        mask = torch.ones(t, s, dtype=torch.bool, device=device).tril(s - t).view(1, 1, t, s)
    bias = torch.zeros(mask.shape, dtype=dtype, device=device).masked_fill(~mask, float("-inf"))
    return bias.repeat(1, 1, groups, 1) if groups > 1 else bias


def _weight(linear: nn.Module) -> torch.Tensor:
    """The weight of a linear layer, or of the base of a (merged) adapter wrapping one."""
    while not isinstance(linear, nn.Linear):
        if getattr(linear, "merged", True) is False:
            raise ValueError("merge adapters before fusing projections")
        linear = linear.base
    return linear.weight


def grouped_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      bias: torch.Tensor | None, scale: float | None = None) -> torch.Tensor:
    """Grouped-query attention without copying keys/values per query head.

    The R = H // G query heads that share a KV head are folded into the query axis
    ([B, H, T, E] -> [B, G, R*T, E]), so every step reads the cache once instead of expanding it
    R times (fewer, cheaper nodes in an exported graph too).

    Args:
        q: [B, H, T, E]; k, v: [B, G, S, E].
        bias: from ``attention_bias`` ([B, 1, R*T, S], 0 / -inf) or None (attend to everything).
        scale: softmax scale (default 1 / sqrt(E)); a constant keeps it out of exported graphs.
    """
    b, h, t, e = q.shape
    g = k.shape[1]
    o = F.scaled_dot_product_attention(q.reshape(b, g, (h // g) * t, e), k, v, attn_mask=bias,
                                       scale=scale)
    return o.reshape(b, h, t, e)


class Attention(nn.Module):
    def __init__(self, config: ModelConfig, *, has_memory: bool) -> None:
        super().__init__()
        c = config
        self.n_heads, self.n_kv_heads, self.head_dim = c.n_heads, c.n_kv_heads, c.head_dim
        self.scale = 1.0 / math.sqrt(c.head_dim)
        self.q_proj = nn.Linear(c.d_model, c.n_heads * c.head_dim, bias=False)
        self.k_proj = nn.Linear(c.d_model, c.n_kv_heads * c.head_dim, bias=False)
        self.v_proj = nn.Linear(c.d_model, c.n_kv_heads * c.head_dim, bias=False)
        self.o_proj = nn.Linear(c.n_heads * c.head_dim, c.d_model, bias=False)
        self.memory = MemoryAttention(c) if has_memory else None
        self.qkv: nn.Linear | None = None  # set by fuse_projections (exported graphs)
        self.register_buffer("rot", rotate_half_matrix(c.head_dim), persistent=False)

    @torch.no_grad()
    def fuse_projections(self) -> None:
        """One [D, (H+2G)E] matmul instead of three (same products; for exported graphs, where
        every matmul node costs a kernel launch per token). q/k/v_proj stay for training."""
        w = torch.cat([_weight(self.q_proj), _weight(self.k_proj), _weight(self.v_proj)], 0)
        self.qkv = nn.Linear(w.shape[1], w.shape[0], bias=False)
        self.qkv.weight = nn.Parameter(w.clone(), requires_grad=False)

    def project(self, x: torch.Tensor):
        if self.qkv is None:
            return self.q_proj(x), self.k_proj(x), self.v_proj(x)
        kv = self.n_kv_heads * self.head_dim
        return self.qkv(x).split([self.n_heads * self.head_dim, kv, kv], -1)

    def forward(self, x, cos, sin, mask, past, bank):
        """x [B, T, D]; mask: additive bias from ``attention_bias`` or None; past (k, v) or None.

        Returns (out [B, T, D], (k, v) [B, G, S, E], memory indices or None).
        """
        b, t, _ = x.shape
        q, k, v = self.project(x)
        q = q.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)  # [B,H,T,E]
        k = k.view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)  # [B,G,T,E]
        v = v.view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q_raw = q
        q, k = apply_rotary(q, cos, sin, self.rot), apply_rotary(k, cos, sin, self.rot)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)  # [B, G, S, E]
        o = grouped_attention(q, k, v, mask, self.scale)
        indices = None
        if self.memory is not None:
            mem, indices = self.memory(q_raw, bank)
            if mem is not None:
                o = o + mem
        out = self.o_proj(o.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim))
        return out, (k, v), indices


class MLP(nn.Module):
    """SwiGLU (Shazeer 2020): down(silu(gate(x)) * up(x))."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.d_model, config.ffn_dim, bias=False)
        self.up_proj = nn.Linear(config.d_model, config.ffn_dim, bias=False)
        self.down_proj = nn.Linear(config.ffn_dim, config.d_model, bias=False)
        self.gate_up: nn.Linear | None = None  # set by fuse_projections (exported graphs)

    @torch.no_grad()
    def fuse_projections(self) -> None:
        """One [D, 2F] matmul for gate and up (see ``Attention.fuse_projections``)."""
        w = torch.cat([_weight(self.gate_proj), _weight(self.up_proj)], 0)
        self.gate_up = nn.Linear(w.shape[1], w.shape[0], bias=False)
        self.gate_up.weight = nn.Parameter(w.clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate_up is not None:
            gate, up = self.gate_up(x).chunk(2, -1)
            return self.down_proj(F.silu(gate) * up)
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, config: ModelConfig, *, has_memory: bool) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(config.d_model, config.norm_eps)
        self.attn = Attention(config, has_memory=has_memory)
        self.mlp_norm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = MLP(config)

    def forward(self, x, cos, sin, mask, past, bank):
        a, kv, indices = self.attn(self.attn_norm(x), cos, sin, mask, past, bank)
        x = x + a
        return x + self.mlp(self.mlp_norm(x)), kv, indices
