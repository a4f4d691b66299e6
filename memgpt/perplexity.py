"""Perplexity of a text with a bounded context window, with or without a memory of what left it.

The model reads the text in windows of ``window`` tokens moved by ``window // 2``: each token is
scored once, with at least half a window of context (the first half-window of the text with
less). That is the model without memory: everything before its window is forgotten.

**Memory** is a neural cache over the document (Grave et al. 2017; the kNN-LM of Khandelwal et
al. 2020 over the text being read): every token that has left the window stays in a bank as a
pair (the model's hidden state where it was predicted → the token), and each new token's
probability becomes ``(1 - λ) p_model + λ p_memory``, where ``p_memory`` puts on each token the
softmax weight, over the bank, of the bank's states by cosine similarity × ``θ`` to the current
state. Nothing is trained; ``λ`` and ``θ`` (:data:`DEFAULT_CACHE`) were chosen on WikiText-2
*valid* (``scripts/perplexity_memory.sh``) and the test split is only scored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class CacheSettings:
    """The memory of :func:`perplexity`.

    Attributes:
        lam: interpolation weight of the memory (0 < lam < 1).
        theta: scale of the cosine similarities before the softmax over the bank.
        max_entries: keep only the newest entries (None: all that left the window).
    """

    lam: float = 0.1
    theta: float = 20.0
    max_entries: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.lam < 1:
            raise ValueError(f"lam must be in (0, 1), got {self.lam}")
        if self.theta <= 0:
            raise ValueError(f"theta must be > 0, got {self.theta}")
        if self.max_entries is not None and self.max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {self.max_entries}")

    def to_dict(self) -> dict:
        return asdict(self)


# lam and theta chosen on WikiText-2 valid with a 256-token window
# (benchmarks/results/perplexity/); at most 8,192 entries, the newest, so that the cost per
# token stays bounded on long texts (a WikiText-2 article rarely has more).
DEFAULT_CACHE = CacheSettings(lam=0.15, theta=40.0, max_entries=8192)


@dataclass
class Scored:
    """What one pass of the model gives for a token sequence ``ids`` of length N:
    ``logp[i]``: log p_model(ids[i + 1]); ``keys[i]``: the unit-norm hidden state that
    predicted it; ``window_start[i]``: the first token of the window it was scored in."""

    ids: np.ndarray  # [N]
    logp: np.ndarray  # [N - 1] float64
    keys: np.ndarray  # [N - 1, D] float32, unit norm
    window_start: np.ndarray  # [N - 1] int64


def _windows(n: int, window: int) -> list[tuple[int, int, int]]:
    """(start, end, first) per pass: the pass reads ``ids[start:end]`` and scores the tokens
    ``first + 1 .. end - 1`` (predicted from positions ``first .. end - 2``)."""
    stride, out, done, start = max(1, window // 2), [], 0, 0
    while done < n - 1:
        end = min(n, start + window)
        out.append((start, end, done))
        done = end - 1
        start += stride
    return out


def score_tokens(model, ids: list[int], window: int, *, batch_size: int = 8,
                 on_window: Callable[[], None] | None = None) -> Scored:
    """Run the model over ``ids`` in windows of ``window`` tokens, stride ``window // 2``
    (``batch_size`` full windows per forward pass)."""
    import torch

    if window < 2:
        raise ValueError("--window must be at least 2 tokens")
    if window > model.config.max_seq_len:
        raise ValueError(f"--window {window} exceeds the model's {model.config.max_seq_len} "
                         "positions")
    n = len(ids)
    if n < 2:
        raise ValueError("the text is too short: at least two tokens are needed")
    device = next(model.parameters()).device
    logp = np.zeros(n - 1, dtype=np.float64)
    keys = np.zeros((n - 1, model.config.d_model), dtype=np.float32)
    start_of = np.zeros(n - 1, dtype=np.int64)
    plan = _windows(n, window)
    full = [w for w in plan if w[1] - w[0] == window]
    groups = [full[i:i + batch_size] for i in range(0, len(full), batch_size)]
    groups += [[w] for w in plan if w[1] - w[0] != window]
    ids_t = torch.tensor(ids, device=device)
    with torch.inference_mode():
        for group in groups:
            x = torch.stack([ids_t[s:e] for s, e, _ in group])
            out = model(x, output_hidden_states=True)
            for row, (s, e, first) in enumerate(group):
                lo = first - s
                lsm = torch.log_softmax(out.logits[row, lo:e - s - 1].float(), -1)
                tgt = x[row, lo + 1:e - s]
                logp[first:e - 1] = lsm.gather(-1, tgt[:, None])[:, 0].double().cpu().numpy()
                h = out.hidden_states[-1][row, lo:e - s - 1].float()
                keys[first:e - 1] = torch.nn.functional.normalize(h, dim=-1).cpu().numpy()
                start_of[first:e - 1] = s
                if on_window is not None:
                    on_window()
    return Scored(np.asarray(ids), logp, keys, start_of)


def memory_logp(scored: Scored, cache: CacheSettings, *, chunk: int = 256) -> np.ndarray:
    """log p of every scored token with the memory mixed in (the model's own where the bank is
    still empty). Entry ``j`` (state ``keys[j]`` → token ``ids[j + 1]``) is in the bank of
    token ``i`` once token ``j + 1`` has left ``i``'s window: ``j + 1 < window_start[i]``."""
    n = len(scored.logp)
    out = scored.logp.copy()
    targets = scored.ids[1:]
    log_lam, log_1m = math.log(cache.lam), math.log1p(-cache.lam)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for a in range(0, n, chunk):
            _mix_chunk(scored, cache, out, targets, a, min(n, a + chunk), log_lam, log_1m)
    return out


def _mix_chunk(scored: Scored, cache: CacheSettings, out: np.ndarray, targets: np.ndarray,
               a: int, b: int, log_lam: float, log_1m: float) -> None:
    """Mix the memory into ``out[a:b]`` in place."""
    limit = int(scored.window_start[b - 1]) - 1  # entries j < limit for the chunk's last row
    if limit <= 0:
        return
    lo = 0 if cache.max_entries is None else max(0, int(scored.window_start[a]) - 1
                                                 - cache.max_entries)
    js = np.arange(lo, limit)
    rows_limit = scored.window_start[a:b] - 1  # per row: entries j < rows_limit
    valid = js[None, :] < rows_limit[:, None]
    if cache.max_entries is not None:
        valid &= js[None, :] >= (rows_limit - cache.max_entries)[:, None]
    has = valid.any(1)
    if not has.any():
        return
    sims = np.where(valid, scored.keys[a:b] @ scored.keys[lo:limit].T * cache.theta, -np.inf)
    top = np.where(has, sims.max(axis=1), 0.0)[:, None]
    w = np.where(valid, np.exp(sims - top), 0.0)
    same = targets[js][None, :] == targets[a:b][:, None]
    p_mem = (w * same).sum(1) / np.maximum(w.sum(1), 1e-300)
    mixed = np.logaddexp(log_1m + out[a:b], log_lam + np.log(np.maximum(p_mem, 1e-300)))
    out[a:b] = np.where(has, mixed, out[a:b])


def perplexity_of(logp: Iterable[float]) -> float:
    v = np.asarray(list(logp) if not isinstance(logp, np.ndarray) else logp, dtype=np.float64)
    return float(math.exp(-v.mean()))


def perplexity(model, tokenizer, text: str | list[int], *, window: int = 256,
               cache: CacheSettings | None = DEFAULT_CACHE, batch_size: int = 8,
               on_window: Callable[[], None] | None = None,
               scorer: Callable[..., Scored] | None = None) -> dict:
    """Perplexity of ``text`` (or its token ids) read with a ``window``-token context;
    ``cache`` None: no memory. ``scorer(model, ids, window, batch_size=, on_window=)`` reads the
    windows (default :func:`score_tokens`; ``memgpt.memory_layers.score_through_memory`` reads
    them through the trained memory layers).

    Returns:
        ``{"perplexity", "tokens", "window", "memory", "perplexity_without_memory"}`` —
        ``tokens`` is the number of scored tokens (all but the first).
    """
    ids = tokenizer.encode(text) if isinstance(text, str) else list(text)
    scored = (scorer or score_tokens)(model, ids, window, batch_size=batch_size,
                                      on_window=on_window)
    base = perplexity_of(scored.logp)
    result = {"perplexity": base, "tokens": int(len(scored.logp)), "window": window,
              "memory": cache is not None}
    if cache is not None:
        result["perplexity"] = perplexity_of(memory_logp(scored, cache))
        result["perplexity_without_memory"] = base
        result["cache"] = cache.to_dict()
    return result


def windows_needed(n_tokens: int, window: int) -> int:
    """How many windows :func:`score_tokens` reads over ``n_tokens`` tokens."""
    return len(_windows(n_tokens, window)) if n_tokens >= 2 else 0
