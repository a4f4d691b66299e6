"""The MemGPT backbone: a Llama-style decoder whose attention can also read a key/value memory.

Read top to bottom: norms and rotary helpers, memory attention, attention, MLP, block, model.

Architecture (Llama / SmolLM2): RMSNorm pre-norm blocks, rotary positions in the half-split
("rotate_half") layout, grouped-query attention, SwiGLU MLP, tied input/output embeddings.

Memory (docs/architecture.md#memory). In the layers ``config.memory.layers`` every query head also
attends, in a separate softmax, over
  * learned memory slots (a per-layer key/value parameter matrix — ``Y = WX + M·softmax(MᵀX)``),
  * the top-k entries of an external bank retrieved by similarity (Memorizing Transformers,
    Wu et al. 2022, https://arxiv.org/abs/2203.08913),
and adds the result through a per-head zero-initialised tanh gate (as in LLaMA-Adapter,
Zhang et al. 2023, https://arxiv.org/abs/2303.16199). With the gate closed the output is exactly
the pretrained model's. Memory keys and queries are pre-rotary: a memory has no position.

State is explicit: the KV cache and the memory bank go in as tensors and the new cache comes out;
nothing is stored on modules during ``forward``.

Shape legend:
    B batch, T new tokens, P cached tokens, S = P + T, D d_model, V vocab, F ffn width,
    H query heads, G KV heads, R = H // G, E head width, M learned slots, N bank entries,
    K retrieved entries per query, L number of memory layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from memgpt.config import ModelConfig, scratch_config
from memgpt.retrieval import gather_groups, topk_search

KVCache = tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per layer: (k [B,G,S,E], v [B,G,S,E])


@dataclass(frozen=True)
class MemoryState:
    """An external memory bank as plain tensors (one slice per memory layer, in layer order).

    Attributes:
        keys: [L, N, G, E] pre-rotary keys.
        values: [L, N, G, E].
    """

    keys: torch.Tensor
    values: torch.Tensor


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

    def forward(
        self, q: torch.Tensor, bank: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Memory read for pre-rotary queries.

        Args:
            q: [B, H, T, E] pre-rotary queries.
            bank: (keys [N, G, E], values [N, G, E]) or None.

        Returns:
            (gated output [B, H, T, E] or None when there is nothing to read,
             retrieved indices [B, H, T, K] or None when no bank was given).
        """
        b, h, t, e = q.shape
        logits, values, indices = [], [], None
        if self.slot_keys.shape[1]:
            sk = self.slot_keys.repeat_interleave(self.n_groups, 0)  # [H, M, E]
            sv = self.slot_values.repeat_interleave(self.n_groups, 0)
            logits.append(torch.einsum("bhte,hme->bhtm", q, sk.to(q.dtype)) * self.scale)
            values.append(sv.to(q.dtype).view(1, h, 1, -1, e).expand(b, h, t, -1, e))
        if bank is not None and bank[0].shape[0]:
            g = h // self.n_groups
            qg = q.view(b, g, self.n_groups, t, e).transpose(0, 1).reshape(g, -1, e)  # [G, Q, E]
            _, idx = topk_search(qg, bank[0].transpose(0, 1), self.top_k,
                                 similarity=self.similarity, chunk_size=self.chunk_size)
            k = idx.shape[-1]
            rk = gather_groups(bank[0].transpose(0, 1).to(q.dtype), idx)  # [G, Q, K, E]
            rv = gather_groups(bank[1].transpose(0, 1).to(q.dtype), idx)
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


class MemGPT(nn.Module):
    """Decoder-only memory-augmented GPT. See the module docstring.

    ``MemGPT(config)``, or from scratch in ``nn.Transformer`` vocabulary (memory on, see
    ``memgpt.config.scratch_config`` for every option)::

        model = MemGPT(vocab_size=10000, d_model=512, nhead=8, num_layers=2, dim_feedforward=2048)
        out = model(inputs)  # ModelOutput; out.logits [B, T, V]: position t predicts token t + 1
        loss = nn.CrossEntropyLoss()(out.logits[:, :-1].flatten(0, 1), inputs[:, 1:].flatten())

    ``model.tokenizer`` (set by ``memgpt.load`` and ``memgpt-task pretrain`` folders; not part of
    the state dict) lets ``model.generate(text)`` work on text.
    """

    def __init__(self, config: ModelConfig | None = None, **sizes) -> None:
        super().__init__()
        if (config is None) == (not sizes):
            raise TypeError("MemGPT takes a ModelConfig or keyword sizes (vocab_size=..., "
                            "d_model=..., ...), not both or neither")
        config = config if config is not None else scratch_config(**sizes)
        self.config = config
        self.tokenizer = None  # a memgpt.tokenizer.Tokenizer, attached by loaders
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        mem = set(config.memory.layers)
        self.layers = nn.ModuleList(
            Block(config, has_memory=i in mem) for i in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.lm_head = None
        if not config.tie_embeddings:
            self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        e = config.head_dim
        inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, e, 2, dtype=torch.float32) / e))
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def output_weight(self) -> torch.Tensor:
        """The [V, D] matrix that maps the final hidden state to logits."""
        return self.embed.weight if self.lm_head is None else self.lm_head.weight

    def forward(
        self,
        input_ids: torch.Tensor,
        *,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: KVCache | None = None,
        memory: MemoryState | None = None,
        output_hidden_states: bool = False,
        num_logits: int | None = None,
    ) -> ModelOutput:
        """Run the decoder on new tokens.

        Args:
            input_ids: [B, T] token ids.
            attention_mask: [B, S] 1 for real tokens, 0 for (left) padding, covering the cached
                and the new tokens; None means all real.
            position_ids: [B, T]; default: continue from the cache (or from the mask's count of
                real tokens when a mask is given).
            past_key_values: cache from the previous call, or None.
            memory: external memory bank tensors, or None (learned slots are still read).
            output_hidden_states: also return every layer's input and the final hidden state.
            num_logits: compute logits only for the last ``num_logits`` positions (prefill).

        Returns:
            ModelOutput.
        """
        b, t = input_ids.shape
        p = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        if position_ids is None:
            if attention_mask is None:
                position_ids = torch.arange(p, p + t, device=input_ids.device).expand(b, t)
            else:
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, p:]
        mask = self._mask(attention_mask, b, t, p, input_ids.device)
        x = self.embed(input_ids)  # [B, T, D]
        c = self.config
        mask = attention_bias(mask, groups=c.n_heads // c.n_kv_heads, t=t, s=p + t,
                              dtype=x.dtype, device=x.device)
        cos, sin = rotary_tables(self.inv_freq, position_ids, x.dtype)
        hidden, caches, indices = [], [], []
        mem_slot = {layer: j for j, layer in enumerate(self.config.memory.layers)}
        for i, block in enumerate(self.layers):
            if output_hidden_states:
                hidden.append(x)
            past = None if past_key_values is None else past_key_values[i]
            bank = None
            if memory is not None and i in mem_slot:
                bank = (memory.keys[mem_slot[i]], memory.values[mem_slot[i]])
            x, kv, idx = block(x, cos, sin, mask, past, bank)
            caches.append(kv)
            if idx is not None:
                indices.append(idx)
        x = self.norm(x)
        if output_hidden_states:
            hidden.append(x)
        if num_logits is not None:
            x = x[:, -num_logits:]
        logits = F.linear(x, self.output_weight())  # [B, T', V]
        return ModelOutput(
            logits=logits,
            past_key_values=tuple(caches),
            hidden_states=tuple(hidden) if output_hidden_states else None,
            memory_indices=tuple(indices) if memory is not None else None,
        )

    @staticmethod
    def _mask(attention_mask, b: int, t: int, p: int, device) -> torch.Tensor | None:
        """Boolean [B, 1, T, S] mask, or None when plain causal attention is exact."""
        if attention_mask is None:
            if p == 0 or t == 1:
                return None  # is_causal (T>1, no cache) or a single query that sees everything
            keys = torch.ones(b, p + t, dtype=torch.bool, device=device)
        else:
            keys = attention_mask.bool()
        s = keys.shape[1]
        q_pos = torch.arange(s - t, s, device=device).view(t, 1)
        causal = torch.arange(s, device=device).view(1, s) <= q_pos  # [T, S]
        mask = causal & keys.view(b, 1, 1, s)
        # A padding query that sees no real key would give NaN; let every query see itself.
        return mask | (torch.arange(s, device=device).view(1, s) == q_pos)

    def generate(self, text: str, max_new_tokens: int = 64, **settings) -> str:
        """The continuation of ``text`` (greedy unless ``settings`` say otherwise; see
        ``memgpt.generate.generate``), using ``self.tokenizer``."""
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer, so it cannot generate from text: load "
                             "it with memgpt.load(DIR) from a folder with a tokenizer.json, or "
                             "attach one: model.tokenizer = memgpt.load_tokenizer(DIR)")
        from memgpt.generate import generate  # memgpt.generate imports this module

        return generate(self, self.tokenizer, text, max_new_tokens=max_new_tokens, **settings)

    def num_parameters(self, *, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
