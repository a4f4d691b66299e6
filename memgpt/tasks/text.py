"""Torch-free text plumbing shared by the torch pipelines and the ONNX runtime.

Prompt formatting, input cutting, QA windows, best-span decoding and span → character offsets.
Only numpy and the tokenizer wrapper are used here, so ``memgpt.export.runtime`` works without
torch. ``spec`` arguments need only ``template``, ``chat`` and ``max_input_tokens`` attributes
(a ``TaskSpec`` or the runtime's settings object).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
LANGUAGES = {"en": "English", "es": "Spanish", "uk": "Ukrainian", "fr": "French",
             "de": "German", "it": "Italian", "pt": "Portuguese"}


@dataclass(frozen=True)
class Generated:
    """A summary or translation."""

    text: str
    input_tokens: int
    truncated: bool
    seconds: float


@dataclass(frozen=True)
class Label:
    """A classification: the best label, its probability, and every label's probability."""

    label: str
    score: float
    scores: dict[str, float]


@dataclass(frozen=True)
class Span:
    """An extractive answer: ``context[start:end] == answer``; score is the head's probability."""

    answer: str
    start: int
    end: int
    score: float



def format_input(spec: Any, tok, fields: dict[str, str]) -> str:
    """The model input for one example: the spec's template filled in (chat-wrapped if asked)."""
    try:
        body = spec.template.format(**fields)
    except KeyError as e:
        raise ValueError(f"the task template needs the field {e.args[0]!r}") from None
    return tok.apply_chat([{"role": "user", "content": body}]) if spec.chat else body


def language_fields(spec: Any, src: str | None, tgt: str | None) -> dict[str, str]:
    """Template fields ``src``/``tgt`` (language names) for translation; defaults from the spec."""
    src, tgt = src or spec.info.get("src", "en"), tgt or spec.info.get("tgt", "es")
    return {"src": LANGUAGES.get(src, src), "tgt": LANGUAGES.get(tgt, tgt)}


def fit_text(tok, text: str, budget: int, *, warn: bool = True) -> tuple[str, int, bool]:
    """``text`` cut to its first ``budget`` tokens (warning when cut), its token count, if cut."""
    ids = tok.encode(text)
    if len(ids) <= budget:
        return text, len(ids), False
    if warn:
        log.warning("input is %d tokens; using only the first %d (limit: --max-input-tokens)",
                    len(ids), budget)
    return tok.decode(ids[:budget]), len(ids), True


def classify_ids(spec: Any, tok, text: str) -> list[int]:
    """Token ids the classifier sees for ``text`` (template applied, cut to max_input_tokens)."""
    ids = tok.encode(format_input(spec, tok, {"text": text}))
    return ids[: spec.max_input_tokens]


def windows(n_tokens: int, *, max_len: int, stride: int) -> list[tuple[int, int]]:
    """Half-open windows [a, b) over a context of ``n_tokens`` tokens.

    Consecutive windows overlap by exactly ``stride`` tokens (so an answer near a cut is seen
    whole in the next window), together they cover every token, and the last one ends at
    ``n_tokens`` (it may be shorter than ``max_len``). ``n_tokens <= max_len``: one window.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    if not 0 <= stride < max_len:
        raise ValueError(f"stride must be in [0, max_len={max_len}), got {stride}")
    if n_tokens < 0:
        raise ValueError(f"n_tokens must be >= 0, got {n_tokens}")
    out, a = [], 0
    while True:
        b = min(a + max_len, n_tokens)
        out.append((a, b))
        if b == n_tokens:
            return out
        a = b - stride


@dataclass(frozen=True)
class QAWindow:
    """One model input for QA: the question prefix, then context tokens ``[a, b)``."""

    ids: list[int]
    first: int  # index in ``ids`` of the first context token
    a: int
    b: int
    # [b - a] bool per context token: may begin / end an answer (whole words only); None: any.
    starts: np.ndarray | None = None
    ends: np.ndarray | None = None
    # [b - a] bool per context token: holds a non-space character (the fallback's positions).
    solid: np.ndarray | None = None

    def allowed(self, width: int, which: str = "any") -> np.ndarray:
        """[width] bool: True on this window's context tokens (``which``: ``"start"`` /
        ``"end"`` keeps only tokens that may begin / end a whole-word answer, ``"solid"`` those
        that are not whitespace alone)."""
        ok = np.zeros(width, dtype=bool)
        mask = {"start": self.starts, "end": self.ends, "solid": self.solid}.get(which)
        n = self.b - self.a
        ok[self.first:self.first + n] = True if mask is None else mask
        return ok


def word_bounds(context: str, offsets: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Which context tokens may start / end an answer so that answers are whole words.

    A byte-level BPE token can be a piece of a word ("Harb" + "or"): a token may start an
    answer only if the character before its first non-space character is not a letter or
    digit, and end one only if the character after it is not a letter or digit. A token of
    whitespace alone may do neither.
    """
    n = len(offsets)
    starts, ends = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for i, (a, b) in enumerate(offsets):
        while a < b and context[a].isspace():
            a += 1
        if a >= b:
            continue
        starts[i] = a == 0 or not context[a - 1].isalnum() or not context[a].isalnum()
        ends[i] = b >= len(context) or not context[b].isalnum() or not context[b - 1].isalnum()
    return starts, ends


def qa_windows(spec: Any, tok, question: str, context: str, *, stride: int = 64
               ) -> tuple[list[QAWindow], list[tuple[int, int]]]:
    """The windows of a (question, context) pair and the context's token character offsets."""
    if not question.strip():
        raise ValueError("the question is empty")
    if not context.strip():
        raise ValueError("the context is empty")
    prefix = tok.encode(format_input(spec, tok, {"question": question}))
    ctx, offsets = tok.encode_with_offsets(context)
    room = spec.max_input_tokens - len(prefix)
    if room < 16:
        raise ValueError(f"the question is too long ({len(prefix)} tokens) for the "
                         f"{spec.max_input_tokens}-token input")
    spans = windows(len(ctx), max_len=room, stride=min(stride, room // 2))
    starts, ends = word_bounds(context, offsets)
    solid = np.array([bool(context[a:b].strip()) for a, b in offsets], dtype=bool)
    return [QAWindow(prefix + ctx[a:b], len(prefix), a, b, starts[a:b], ends[a:b], solid[a:b])
            for a, b in spans], offsets


def best_span(start_logits: Any, end_logits: Any, *, allowed: Any,
              max_answer_tokens: int = 30, allowed_end: Any = None) -> tuple[int, int, float]:
    """The legal span with the highest ``start_logits[s] + end_logits[e]``.

    Legal: ``s <= e``, ``e - s < max_answer_tokens``, and both ``allowed`` (inside the context).
    The score is that raw logit sum (not a probability), so scores from different windows of
    one context are comparable as in the usual SQuAD post-processing. Ties go to the earliest
    start, then the earliest end. Cost O(T * max_answer_tokens), vectorised over a band.

    Args:
        start_logits, end_logits: [T] (array, list, or anything ``np.asarray`` takes).
        allowed: [T] bool (where a span may start; also where it may end unless
            ``allowed_end`` is given).
        max_answer_tokens: longest answer in tokens (>= 1).
        allowed_end: [T] bool where a span may end, or None (same as ``allowed``).

    Returns:
        (start, end, score) with ``end`` inclusive; ``(0, 0, -inf)`` when no span is legal
        (possible only with ``allowed_end``).
    """
    s = np.asarray(start_logits, dtype=np.float32)
    e = np.asarray(end_logits, dtype=np.float32)
    ok = np.asarray(allowed).astype(bool)
    ok_end = ok if allowed_end is None else np.asarray(allowed_end).astype(bool)
    if s.ndim != 1 or s.shape != e.shape or s.shape != ok.shape or ok_end.shape != ok.shape:
        raise ValueError(f"need 1-D logits and mask of one length, got {s.shape}, "
                         f"{e.shape}, {ok.shape}")
    if max_answer_tokens < 1:
        raise ValueError(f"max_answer_tokens must be >= 1, got {max_answer_tokens}")
    if not ok.any() or not ok_end.any():
        raise ValueError("no allowed position: the window holds no context token")
    t = s.shape[0]
    w = min(max_answer_tokens, t)
    # Row i, column d scores span (i, i + d): a [T, W] band instead of a [T, T] matrix.
    cols = np.arange(t)[:, None] + np.arange(w)[None, :]  # [T, W]
    inside = cols < t
    cols = np.minimum(cols, t - 1)
    legal = ok[:, None] & ok_end[cols] & inside
    if not legal.any():  # only with allowed_end: no end within max_answer_tokens of a start
        return 0, 0, float("-inf")
    scores = np.where(legal, s[:, None] + e[cols], -np.inf)
    top = scores.max()
    # First legal cell reaching the max in row-major order = earliest start, then earliest end
    # (also right when every legal score is -inf).
    flat = int(np.argmax((legal & (scores == top)).ravel()))
    start, d = divmod(flat, w)
    return start, start + d, float(s[start] + e[start + d])


def masked_softmax(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Softmax of ``x`` over the positions where ``ok`` (others get probability 0)."""
    z = np.where(ok, x.astype(np.float64), -1e9)
    z = np.exp(z - z.max())
    return z / z.sum()


def char_span(context: str, offsets: list[tuple[int, int]], t0: int, t1: int) -> tuple[int, int]:
    """Character offsets [start, end) of context tokens t0..t1, outer whitespace trimmed."""
    start_c, end_c = offsets[t0][0], offsets[t1][1]
    while start_c < end_c and context[start_c].isspace():
        start_c += 1
    while end_c > start_c and context[end_c - 1].isspace():
        end_c -= 1
    return start_c, end_c


def pick_span(best: tuple[float, int, int] | None, group: list[QAWindow], start: np.ndarray,
              end: np.ndarray, max_answer_tokens: int) -> tuple[float, int, int] | None:
    """Update ``best`` = (probability, first token, last token in the context) with a batch of
    windows' start/end logits [B, T]; the most probable legal span across windows wins.

    Spans are whole words (``QAWindow.starts``/``ends``); a window with no whole-word span
    falls back to any span of its context tokens that starts and ends on a token that is not
    whitespace alone (a window of whitespace only gives no candidate while ``best`` has one).
    The probability is the product of the start and end softmaxes over the positions allowed
    to start / end an answer.
    """
    for w, s, e in zip(group, start, end):
        ok_s, ok_e = w.allowed(s.shape[0], "start"), w.allowed(s.shape[0], "end")
        i0, i1, score = (best_span(s, e, allowed=ok_s, allowed_end=ok_e,
                                   max_answer_tokens=max_answer_tokens)
                         if ok_s.any() and ok_e.any() else (0, 0, -np.inf))
        if not np.isfinite(score):
            ok_s = ok_e = w.allowed(s.shape[0], "solid")
            if not ok_s.any():  # whitespace only: an empty answer, the last resort
                if best is not None:
                    continue
                ok_s = ok_e = w.allowed(s.shape[0])
            i0, i1, _ = best_span(s, e, allowed=ok_s, max_answer_tokens=max_answer_tokens)
        prob = float(masked_softmax(s, ok_s)[i0] * masked_softmax(e, ok_e)[i1])
        if best is None or prob > best[0]:
            best = (prob, w.a + i0 - w.first, w.a + i1 - w.first)
    return best
