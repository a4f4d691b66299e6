"""Trained memory layers: their weights, and reading a long text through them.

The memory layers (``config.memory.layers``; 20 and 25 on SmolLM2-135M) add to their attention a
gated read of learned slots and of an external bank of keys/values (``layers.MemoryAttention``).
A pretrained backbone comes with every gate closed; ``memgpt.training.memory`` trains the memory
parameters alone (gates, slots: a few thousand numbers) on long documents, as in Memorizing
Transformers (Wu et al. 2022): the text that has left the context window goes into the bank, and
the next window reads it. This module holds what training and inference share:

* :func:`memory_parameters`, :func:`save_memory`, :func:`load_memory` — the memory weights as a
  small safetensors file with the backbone hash it was trained on (a file for other backbone
  weights is refused). The shipped file is :data:`DEFAULT_MEMORY` (SmolLM2-135M).
* :func:`read_windows` — a text read in ``window``-token windows moved by half a window (each
  token scored once, as ``memgpt.perplexity`` does), each window reading the bank of every
  token before it, its own scored tokens then added to the bank.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

DEFAULT_MEMORY = Path(__file__).parent / "defaults" / "memory" / "smollm2-135m.safetensors"
_FORMAT = "memgpt-memory-weights"


def memory_parameters(model) -> dict[str, Any]:
    """The memory parameters of ``model`` by state-dict name (gates and slots of every memory
    layer)."""
    return {n: p for n, p in model.named_parameters() if ".attn.memory." in n}


def save_memory(model, path: str | os.PathLike, info: dict | None = None) -> Path:
    """Write the memory parameters (fp32) with the backbone hash, atomically."""
    from safetensors.torch import save

    from memgpt.checkpoint import backbone_hash
    from memgpt.paths import atomic_write_bytes

    tensors = {n: p.detach().float().contiguous().cpu()
               for n, p in memory_parameters(model).items()}
    if not tensors:
        raise ValueError("the model has no memory layers")
    meta = {"format": _FORMAT, "backbone_hash": backbone_hash(model),
            "layers": json.dumps(list(model.config.memory.layers)),
            "info": json.dumps(info or {}, sort_keys=True)}
    path = Path(path)
    atomic_write_bytes(path, save(tensors, metadata=meta))
    return path


def memory_info(path: str | os.PathLike) -> dict:
    """The metadata of a memory-weights file (``backbone_hash``, ``layers``, ``info``)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001  # malformed header, not safetensors at all
        raise ValueError(f"{path}: not a memory-weights file ({e})") from None
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a memory-weights file")
    try:
        return {"backbone_hash": meta["backbone_hash"], "layers": json.loads(meta["layers"]),
                "info": json.loads(meta.get("info", "{}"))}
    except (KeyError, ValueError):
        raise ValueError(f"{path}: damaged memory-weights metadata") from None


def load_memory(model, path: str | os.PathLike = DEFAULT_MEMORY) -> dict:
    """Load memory weights into ``model`` in place; returns the file's metadata.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a memory-weights file, trained on other backbone weights or memory
            layers, or tensors of the wrong name, shape or dtype.
    """
    import torch
    from safetensors import safe_open

    from memgpt.checkpoint import backbone_hash

    meta = memory_info(path)
    if meta["backbone_hash"] != backbone_hash(model):
        raise ValueError(f"{path}: memory weights trained on other backbone weights")
    if tuple(meta["layers"]) != tuple(model.config.memory.layers):
        raise ValueError(f"{path}: memory weights for layers {meta['layers']}, the model's memory "
                         f"layers are {list(model.config.memory.layers)}")
    params = memory_parameters(model)
    with safe_open(str(path), "pt") as f:
        names = set(f.keys())
        if names != set(params):
            raise ValueError(f"{path}: memory tensors {sorted(names ^ set(params))[:3]} do not "
                             "match the model")
        loaded = {n: f.get_tensor(n) for n in names}
    for n, t in loaded.items():
        p = params[n]
        if t.shape != p.shape or not t.dtype.is_floating_point or not torch.isfinite(t).all():
            raise ValueError(f"{path}: tensor {n} has shape {tuple(t.shape)} / {t.dtype}, "
                             f"the model wants {tuple(p.shape)} floats")
    with torch.no_grad():
        for n, t in loaded.items():
            params[n].copy_(t.to(params[n].dtype))
    return meta


def gates_open(model) -> bool:
    """True when some memory gate is open (the memory layers read something)."""
    return any(bool(p.detach().abs().any()) for n, p in memory_parameters(model).items()
               if n.endswith(".gate"))


def read_windows(model, ids: list[int], window: int, *, max_entries: int | None = 8192,
                 on_window: Callable[[], None] | None = None) -> Iterator[dict]:
    """Read ``ids`` window by window through the memory layers; yields per window
    ``{"start", "end", "first", "logits" [T', V] for positions first..end-2, "hidden" [T', D]
    final states there, "bank": entries read}``.

    The bank of a window holds the keys/values (at every memory layer) of the tokens before the
    window's start (the newest ``max_entries``), computed in the window where each token was
    scored. Gradients flow into the memory parameters when enabled (training); the bank itself is
    detached.
    """
    import torch

    from memgpt.layers import MemoryState
    from memgpt.perplexity import _windows

    layers = tuple(model.config.memory.layers)
    if not layers:
        raise ValueError("the model has no memory layers")
    c = model.config
    device = next(model.parameters()).device
    ids_t = torch.tensor(ids, device=device)
    keys: list[torch.Tensor] = []  # per window: [L, n, G, E]
    values: list[torch.Tensor] = []
    owned = 0  # tokens 0..owned-1 have bank entries
    bank_k = bank_v = None
    for start, end, first in _windows(len(ids), window):
        if keys and start:
            bank_k, bank_v = torch.cat(keys, 1)[:, :start], torch.cat(values, 1)[:, :start]
            if max_entries is not None:  # the newest max_entries (0: none)
                keep = bank_k.shape[1] - min(max_entries, bank_k.shape[1])
                bank_k, bank_v = bank_k[:, keep:], bank_v[:, keep:]
        state = None
        if bank_k is not None and bank_k.shape[1]:
            state = MemoryState(bank_k, bank_v)
        lo = first - start
        out = model(ids_t[start:end][None], memory=state, output_hidden_states=True,
                    num_logits=end - start - lo)
        new_k, new_v = [], []
        with torch.no_grad():
            for layer in layers:
                block = model.layers[layer]
                x = block.attn_norm(out.hidden_states[layer][0, owned - start:])
                t = x.shape[0]
                new_k.append(block.attn.k_proj(x).view(t, c.n_kv_heads, c.head_dim).detach())
                new_v.append(block.attn.v_proj(x).view(t, c.n_kv_heads, c.head_dim).detach())
        keys.append(torch.stack(new_k))
        values.append(torch.stack(new_v))
        owned = end
        yield {"start": start, "end": end, "first": first,
               "logits": out.logits[0, :-1],
               "hidden": out.hidden_states[-1][0, lo:end - start - 1],
               "bank": 0 if state is None else int(state.keys.shape[1])}
        if on_window is not None:
            on_window()


def score_through_memory(model, ids: list[int], window: int, *, max_entries: int | None = 8192,
                         batch_size: int = 1, on_window: Callable[[], None] | None = None):
    """``memgpt.perplexity.score_tokens``'s result (same windows, same scored tokens), read
    through the memory layers by :func:`read_windows`: each window also reads the bank of the
    text before it. With every gate closed it equals ``score_tokens``. Windows run one at a time
    (each reads what the earlier ones put in the bank): ``batch_size`` is not used."""
    import numpy as np
    import torch

    from memgpt.perplexity import Scored

    if len(ids) < 2:
        raise ValueError("the text is too short: at least two tokens are needed")
    if window > model.config.max_seq_len:
        raise ValueError(f"--window {window} exceeds the model's {model.config.max_seq_len} "
                         "positions")
    n = len(ids)
    logp = np.zeros(n - 1, dtype=np.float64)
    keys = np.zeros((n - 1, model.config.d_model), dtype=np.float32)
    start_of = np.zeros(n - 1, dtype=np.int64)
    tgt_all = torch.tensor(ids)
    with torch.inference_mode():
        for w in read_windows(model, ids, window, max_entries=max_entries, on_window=on_window):
            first, end = w["first"], w["end"]
            lsm = torch.log_softmax(w["logits"].float(), -1)
            tgt = tgt_all[first + 1:end].to(lsm.device)
            logp[first:end - 1] = lsm.gather(-1, tgt[:, None])[:, 0].double().cpu().numpy()
            keys[first:end - 1] = torch.nn.functional.normalize(
                w["hidden"].float(), dim=-1).cpu().numpy()
            start_of[first:end - 1] = w["start"]
    return Scored(np.asarray(ids), logp, keys, start_of)
