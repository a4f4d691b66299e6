"""One decoding loop (greedy, sampling, beam search) for every backend.

The loop sees a backend only through a ``Stepper``: ``prefill`` a batch of prompts, ``step`` one
token per row, ``reorder`` rows (beam search). Logits come back as numpy arrays, so torch and
onnxruntime backends are driven — and compared — by exactly the same code. This module imports
neither torch nor onnxruntime.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

STRATEGIES = ("greedy", "sample", "beam")


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings (validated on creation).

    Attributes:
        max_new_tokens: upper bound on generated tokens.
        strategy: ``greedy``, ``sample`` or ``beam``.
        temperature / top_k / top_p: sampling filters (top_k 0 and top_p 1.0 disable them).
        seed: sampling seed (explicit; the same seed gives the same text).
        num_beams / length_penalty: beam search width and score normalisation exponent.
        repetition_penalty: >1 discourages tokens already in prompt or output (CTRL, Keskar 2019).
        no_repeat_ngram_size: forbid repeating any n-gram of the output (0 disables).
        stop_strings: generation ends when the new text contains one (it is cut off).
        eos_ids: token ids that end a sequence (not included in the output).
    """

    max_new_tokens: int = 64
    strategy: str = "greedy"
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    num_beams: int = 4
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    stop_strings: tuple[str, ...] = ()
    eos_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop_strings", tuple(self.stop_strings))
        object.__setattr__(self, "eos_ids", tuple(int(i) for i in self.eos_ids))
        checks = [
            (self.max_new_tokens >= 0, "max_new_tokens must be >= 0"),
            (self.strategy in STRATEGIES, f"strategy must be one of {STRATEGIES}"),
            (self.temperature > 0, "temperature must be > 0"),
            (self.top_k >= 0, "top_k must be >= 0"),
            (0 < self.top_p <= 1, "top_p must be in (0, 1]"),
            (self.num_beams >= 1, "num_beams must be >= 1"),
            (self.repetition_penalty > 0, "repetition_penalty must be > 0"),
            (self.no_repeat_ngram_size >= 0, "no_repeat_ngram_size must be >= 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)


class Stepper(Protocol):
    """A backend as the decoding loop sees it. ``state`` is opaque to the loop."""

    def prefill(self, prompts: list[list[int]]) -> tuple[np.ndarray, Any]:
        """Run prompts (any lengths); return last-position logits [B, V] and state."""

    def step(self, tokens: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """Feed one token per row [B]; return logits [B, V] and the new state."""

    def reorder(self, state: Any, rows: np.ndarray) -> Any:
        """State whose row i is the old row ``rows[i]`` (rows may repeat)."""


class TextWatcher:
    """Incremental detokenisation for streaming and stop strings.

    Byte-level BPE can split a character across tokens, so text is only released when it does not
    end in a replacement character.
    """

    def __init__(self, decode: Callable[[list[int]], str], stop_strings: tuple[str, ...],
                 on_text: Callable[[str], None] | None) -> None:
        self.decode, self.stop_strings, self.on_text = decode, stop_strings, on_text
        self.sent, self.stopped = 0, False

    def update(self, ids: list[int]) -> int | None:
        """Stream new text; return a token count to cut at when a stop string appeared.

        When the stop string starts inside a token, all ids are kept (their text holds the stop)
        and callers trim the text with ``cut_at_stop``.
        """
        text = self.decode(ids)
        keep = cut_at_stop(text, self.stop_strings)
        if len(keep) < len(text):
            cut = 0
            while cut < len(ids) and len(self.decode(ids[:cut])) < len(keep):
                cut += 1
            if self.decode(ids[:cut]) != keep:  # the stop starts inside a token: keep them all
                cut = len(ids)
            self.stopped = True
            self._emit(keep)
            return cut
        if self.stop_strings:  # hold back a tail that could still become a stop string
            hold = max(len(s) for s in self.stop_strings) - 1
            text = text[: max(self.sent, len(text) - hold)]
        if not text.endswith("\ufffd"):
            self._emit(text)
        return None

    def _emit(self, text: str) -> None:
        if self.on_text is not None and len(text) > self.sent:
            self.on_text(text[self.sent:])
        self.sent = max(self.sent, len(text))

    def flush(self, ids: list[int]) -> None:
        if not self.stopped:
            self._emit(cut_at_stop(self.decode(ids), self.stop_strings))


def cut_at_stop(text: str, stop_strings: tuple[str, ...]) -> str:
    """``text`` up to the earliest occurrence of any stop string (all of it when none occurs)."""
    ends = [text.index(s) for s in stop_strings if s and s in text]
    return text[: min(ends)] if ends else text


def process_logits(logits: np.ndarray, history: list[list[int]], cfg: GenerationConfig,
                   generated: list[list[int]]) -> np.ndarray:
    """Apply repetition penalty and n-gram blocking to [B, V] float logits (a copy)."""
    logits = logits.astype(np.float32, copy=True)
    for row, (hist, gen) in enumerate(zip(history, generated)):
        if cfg.repetition_penalty != 1.0 and hist:
            seen = np.unique(np.asarray(hist + gen))
            vals = logits[row, seen]
            logits[row, seen] = np.where(vals > 0, vals / cfg.repetition_penalty,
                                         vals * cfg.repetition_penalty)
        n = cfg.no_repeat_ngram_size
        if n and len(gen) >= n - 1:
            prefix = tuple(gen[len(gen) - n + 1:]) if n > 1 else ()
            banned = [gen[i + n - 1] for i in range(len(gen) - n + 1)
                      if tuple(gen[i:i + n - 1]) == prefix]
            logits[row, banned] = -np.inf
    return logits


def sample_token(logits: np.ndarray, cfg: GenerationConfig, rng: np.random.Generator) -> int:
    """Draw one token from [V] logits with temperature, top-k and top-p filters."""
    z = logits.astype(np.float64) / cfg.temperature
    if cfg.top_k and cfg.top_k < z.shape[0]:
        kth = np.partition(z, -cfg.top_k)[-cfg.top_k]
        z = np.where(z < kth, -np.inf, z)
    p = np.exp(z - z.max())
    p /= p.sum()
    if cfg.top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        keep = np.cumsum(p[order]) - p[order] < cfg.top_p  # always keeps the first
        mask = np.zeros_like(p, dtype=bool)
        mask[order[keep]] = True
        p = np.where(mask, p, 0.0)
        p /= p.sum()
    return int(rng.choice(p.shape[0], p=p))


def decode(
    stepper: Stepper,
    prompts: list[list[int]],
    cfg: GenerationConfig,
    *,
    detokenize: Callable[[list[int]], str] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> list[list[int]]:
    """Generate continuations of each prompt.

    Args:
        stepper: the backend.
        prompts: token ids per prompt (non-empty).
        cfg: decoding settings.
        detokenize: ids -> text; needed for ``stop_strings`` and ``on_text``.
        on_text: streaming callback, called with new text pieces (first prompt only).

    Returns:
        The new token ids per prompt (eos and stop strings excluded).
    """
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    if (cfg.stop_strings or on_text) and detokenize is None:
        raise ValueError("stop_strings and on_text need a detokenize function")
    if cfg.max_new_tokens == 0:
        return [[] for _ in prompts]
    if cfg.strategy == "beam":
        return [_beam(stepper, p, cfg, detokenize, on_text if i == 0 else None)
                for i, p in enumerate(prompts)]
    return _greedy_or_sample(stepper, prompts, cfg, detokenize, on_text)


def _greedy_or_sample(stepper, prompts, cfg, detokenize, on_text):
    rng = np.random.default_rng(cfg.seed)
    watchers = [TextWatcher(detokenize, cfg.stop_strings, on_text if i == 0 else None)
                if detokenize else None for i in range(len(prompts))]
    out: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    logits, state = stepper.prefill(prompts)
    for step in range(cfg.max_new_tokens):
        logits = process_logits(logits, prompts, cfg, out)
        if cfg.strategy == "greedy":
            tokens = logits.argmax(-1)
        else:
            tokens = np.array([sample_token(row, cfg, rng) for row in logits])
        for i, tok in enumerate(tokens.tolist()):
            if done[i]:
                continue
            if tok in cfg.eos_ids:
                done[i] = True
                continue
            out[i].append(tok)
            if watchers[i] is not None:
                cut = watchers[i].update(out[i])
                if cut is not None:
                    del out[i][cut:]
                    done[i] = True
        if all(done) or step == cfg.max_new_tokens - 1:
            break
        logits, state = stepper.step(tokens.astype(np.int64), state)
    for w, o in zip(watchers, out):
        if w is not None:
            w.flush(o)
    return out


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def _beam(stepper, prompt, cfg, detokenize, on_text):
    """Beam search for one prompt (Graves 2012; normalised by length ** length_penalty)."""
    nb = cfg.num_beams
    logits, state = stepper.prefill([prompt])
    state = stepper.reorder(state, np.zeros(nb, dtype=np.int64))
    logits = np.repeat(logits, nb, 0)
    beams: list[list[int]] = [[] for _ in range(nb)]
    scores = np.full(nb, -np.inf)
    scores[0] = 0.0  # all beams start identical: expand only the first
    finished: list[tuple[float, list[int]]] = []
    for step in range(cfg.max_new_tokens):
        logp = _log_softmax(process_logits(logits, [prompt] * nb, cfg, beams))
        cand = (scores[:, None] + logp).reshape(-1)
        order = np.argsort(-cand, kind="stable")[: 2 * nb]
        new_beams, new_scores, rows = [], [], []
        for flat in order:
            row, tok = divmod(int(flat), logp.shape[1])
            if not math.isfinite(cand[flat]):
                break
            if tok in cfg.eos_ids:
                norm = cand[flat] / max(1, len(beams[row])) ** cfg.length_penalty
                finished.append((norm, beams[row]))
                continue
            new_beams.append(beams[row] + [tok])
            new_scores.append(cand[flat])
            rows.append(row)
            if len(new_beams) == nb:
                break
        best_live = max(new_scores, default=-np.inf) / (step + 1) ** cfg.length_penalty
        if not new_beams or (len(finished) >= nb and max(f[0] for f in finished) >= best_live):
            break
        while len(new_beams) < nb:  # keep the batch shape; dead rows never win
            new_beams.append(new_beams[0])
            new_scores.append(-np.inf)
            rows.append(rows[0])
        beams, scores = new_beams, np.array(new_scores)
        state = stepper.reorder(state, np.array(rows, dtype=np.int64))
        logits, state = stepper.step(np.array([b[-1] for b in beams], dtype=np.int64), state)
    for s, b in zip(scores, beams):
        if math.isfinite(s):
            finished.append((s / max(1, len(b)) ** cfg.length_penalty, b))
    best = max(finished, key=lambda f: f[0])[1] if finished else []
    if detokenize is not None:
        w = TextWatcher(detokenize, cfg.stop_strings, on_text)
        cut = w.update(best) if best else None
        best = best[:cut] if cut is not None else best
        w.flush(best)
    return best


def right_pad(rows: list[list[int]], pad_id: int, *, left: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
    """Padded ids and mask [B, T] (int64); padding on the right, or on the left if asked."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        cols = slice(width - len(r), width) if left else slice(0, len(r))
        ids[i, cols] = r
        mask[i, cols] = 1
    return ids, mask
