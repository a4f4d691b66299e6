"""Text generation with the torch backbone: a ``Stepper`` over ``MemGPT`` plus the public API.

The decoding loop itself lives in ``memgpt.decoding`` and is shared with the ONNX runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from memgpt.decoding import GenerationConfig, cut_at_stop, decode, right_pad
from memgpt.layers import KVCache, MemoryState

if TYPE_CHECKING:
    from memgpt.model import MemGPT


@dataclass
class TorchState:
    """Decoding state: KV cache, the attention mask over cached tokens, next positions."""

    past: KVCache
    mask: torch.Tensor | None  # [B, S] or None when no row is padded
    next_pos: torch.Tensor  # [B, 1]


class TorchStepper:
    """Drives a ``MemGPT`` for ``memgpt.decoding.decode`` (left-pads batches of prompts)."""

    def __init__(self, model: MemGPT, *, memory: MemoryState | None = None,
                 keep_hidden: bool = False) -> None:
        """``keep_hidden``: keep the final hidden state of each row's last position after every
        call in ``last_hidden`` ([B, D] numpy; a translation memory reads it)."""
        self.model, self.memory, self.keep_hidden = model, memory, keep_hidden
        self.device = next(model.parameters()).device
        self.pad_id = model.config.pad_id

    @torch.inference_mode()
    def prefill(self, prompts: list[list[int]]) -> tuple[np.ndarray, TorchState]:
        ids, mask = (torch.from_numpy(a).to(self.device)
                     for a in right_pad(prompts, self.pad_id, left=True))
        padded = bool((mask == 0).any())
        out = self.model(ids, attention_mask=mask if padded else None, memory=self.memory,
                         num_logits=1, output_hidden_states=self.keep_hidden)
        self._keep(out)
        next_pos = mask.sum(-1, keepdim=True)
        state = TorchState(out.past_key_values, mask if padded else None, next_pos)
        return out.logits[:, -1].float().cpu().numpy(), state

    @torch.inference_mode()
    def step(self, tokens: np.ndarray, state: TorchState) -> tuple[np.ndarray, TorchState]:
        ids = torch.as_tensor(tokens, device=self.device).view(-1, 1)
        mask = state.mask
        if mask is not None:
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        out = self.model(ids, attention_mask=mask, position_ids=state.next_pos,
                         past_key_values=state.past, memory=self.memory,
                         output_hidden_states=self.keep_hidden)
        self._keep(out)
        new = TorchState(out.past_key_values, mask, state.next_pos + 1)
        return out.logits[:, -1].float().cpu().numpy(), new

    def _keep(self, out) -> None:
        if self.keep_hidden:
            self.last_hidden = out.hidden_states[-1][:, -1].float().cpu().numpy()

    def reorder(self, state: TorchState, rows: np.ndarray) -> TorchState:
        idx = torch.as_tensor(rows, device=self.device)
        past = tuple((k.index_select(0, idx), v.index_select(0, idx)) for k, v in state.past)
        mask = None if state.mask is None else state.mask.index_select(0, idx)
        return TorchState(past, mask, state.next_pos.index_select(0, idx))


def _config(tokenizer: Any, settings: GenerationConfig | None, overrides: dict) -> GenerationConfig:
    base = settings or GenerationConfig()
    if overrides:
        base = GenerationConfig(**{**base.__dict__, **overrides})
    if not base.eos_ids:
        eos = {tokenizer.eos_id}
        if getattr(tokenizer, "im_end_id", None) is not None:
            eos.add(tokenizer.im_end_id)
        base = GenerationConfig(**{**base.__dict__, "eos_ids": tuple(sorted(eos))})
    return base


def generate_batch(
    model: MemGPT,
    tokenizer: Any,
    prompts: list[str],
    *,
    settings: GenerationConfig | None = None,
    memory: MemoryState | None = None,
    on_text: Callable[[str], None] | None = None,
    **overrides: Any,
) -> list[str]:
    """Continue each prompt (used exactly as given: no chat template is added).

    Args:
        model: the backbone.
        tokenizer: a ``memgpt.tokenizer.Tokenizer``.
        prompts: texts to continue.
        settings: decoding settings; keyword ``overrides`` (e.g. ``max_new_tokens=20``) win.
        memory: an external memory bank to read, or None.
        on_text: streaming callback for the first prompt's new text.

    Returns:
        Only the new text of each prompt.
    """
    cfg = _config(tokenizer, settings, overrides)
    ids = [tokenizer.encode(p) for p in prompts]
    if any(not i for i in ids):
        raise ValueError("cannot generate from an empty prompt")
    limit = model.config.max_seq_len
    if any(len(i) + cfg.max_new_tokens > limit for i in ids):
        raise ValueError(f"prompt plus max_new_tokens exceeds the model's {limit} positions")
    new = decode(TorchStepper(model, memory=memory), ids, cfg,
                 detokenize=tokenizer.decode, on_text=on_text)
    return [cut_at_stop(tokenizer.decode(n), cfg.stop_strings) for n in new]


def generate(
    model: MemGPT,
    tokenizer: Any,
    prompt: str,
    *,
    settings: GenerationConfig | None = None,
    memory: MemoryState | None = None,
    on_text: Callable[[str], None] | None = None,
    **overrides: Any,
) -> str:
    """Continue one prompt; greedy by default. Returns only the new text.

    Example:
        >>> text = memgpt.generate(model, tok, "Hello", max_new_tokens=20)
    """
    return generate_batch(model, tokenizer, [prompt], settings=settings, memory=memory,
                          on_text=on_text, **overrides)[0]
