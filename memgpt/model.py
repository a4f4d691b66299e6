"""The MemGPT backbone: a Llama-style decoder whose attention can also read a key/value memory.

The layers (norms, rotary helpers, memory attention, attention, MLP, block) are in
``memgpt.layers``; this module is the model that stacks them.

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

import torch
import torch.nn.functional as F
from torch import nn

from memgpt.config import ModelConfig, scratch_config
from memgpt.layers import (  # noqa: F401  (KVCache, MemoryState, ModelOutput: re-exported)
    Block,
    KVCache,
    MemoryState,
    ModelOutput,
    RMSNorm,
    attention_bias,
    rotary_tables,
)


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
                j = mem_slot[i]
                search = memory.index.searcher(j) if memory.index is not None else None
                bank = (memory.keys[j], memory.values[j], search)
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
