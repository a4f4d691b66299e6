"""Task pipelines on the torch backbone: text in, predictions out.

One function per task, each taking a loaded ``TaskModel`` + ``TaskSpec`` (see
``memgpt.tasks.artifacts``) and returning small dataclasses. The prompt of every task comes from its
spec's template, so a shipped default, a user's adapter and a zero-shot spec run the same code.

* summarize / translate: the prompt (chat template) is decoded by ``memgpt.generate``;
* classify: the formatted text, truncated, through the backbone + pooled classification head;
* qa: ``template.format(question=...)`` then the context, split into overlapping windows when it
  is long; the span head's best legal span inside the context wins across windows, and is mapped
  back to character offsets in the context.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from memgpt.decoding import GenerationConfig
from memgpt.tasks.artifacts import TaskSpec
from memgpt.tasks.heads import TaskModel, best_span, windows

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


def format_input(spec: TaskSpec, tok, fields: dict[str, str]) -> str:
    """The model input for one example: the spec's template filled in (chat-wrapped if asked)."""
    try:
        body = spec.template.format(**fields)
    except KeyError as e:
        raise ValueError(f"the task template needs the field {e.args[0]!r}") from None
    return tok.apply_chat([{"role": "user", "content": body}]) if spec.chat else body


def _fit(tok, text: str, budget: int) -> tuple[str, int, bool]:
    """``text`` cut to ``budget`` tokens (a warning when cut), its token count, whether cut."""
    ids = tok.encode(text)
    if len(ids) <= budget:
        return text, len(ids), False
    log.warning("input is %d tokens; using only the first %d (limit: --max-input-tokens)",
                len(ids), budget)
    return tok.decode(ids[:budget]), len(ids), True


def generate_texts(model: TaskModel, tok, spec: TaskSpec, texts: Sequence[str], *,
                   extra: dict[str, str] | None = None, max_new_tokens: int | None = None,
                   max_input_tokens: int | None = None, batch_size: int = 1,
                   on_text: Callable[[str], None] | None = None) -> list[Generated]:
    """Summaries or translations of ``texts`` (greedy unless the spec says otherwise).

    Args:
        extra: more template fields (translate: ``src``, ``tgt`` language names).
        on_text: streams the first text of each batch as it is generated.
    """
    from memgpt.generate import generate_batch

    gen = {**spec.generation}
    if max_new_tokens is not None:
        gen["max_new_tokens"] = max_new_tokens
    cfg = GenerationConfig(**gen)
    budget = max_input_tokens or spec.max_input_tokens
    room = model.backbone.config.max_seq_len - cfg.max_new_tokens - 64
    budget = min(budget, room)
    if budget < 1:
        raise ValueError("--max-new-tokens leaves no room for the input in the model's context")
    out: list[Generated] = []
    for i in range(0, len(texts), batch_size):
        chunk = [_fit(tok, t, budget) for t in texts[i:i + batch_size]]
        prompts = [format_input(spec, tok, {"text": t, **(extra or {})}) for t, _, _ in chunk]
        start = time.perf_counter()
        with torch.inference_mode():
            new = generate_batch(model.backbone, tok, prompts, settings=cfg, on_text=on_text)
        seconds = (time.perf_counter() - start) / len(chunk)
        out += [Generated(" ".join(n.split()), k, cut, round(seconds, 4))
                for n, (_, k, cut) in zip(new, chunk)]
    return out


def pad_right(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids [B, T] and mask [B, T]."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return ids, mask


def classify_ids(spec: TaskSpec, tok, text: str) -> list[int]:
    """Token ids the classifier sees for ``text`` (template applied, cut to max_input_tokens)."""
    ids = tok.encode(format_input(spec, tok, {"text": text}))
    return ids[: spec.max_input_tokens]


@torch.inference_mode()
def classify(model: TaskModel, tok, spec: TaskSpec, texts: Sequence[str], *,
             batch_size: int = 8) -> list[Label]:
    """Labels of ``texts`` with the spec's classification head."""
    device = next(model.parameters()).device
    out: list[Label] = []
    for i in range(0, len(texts), batch_size):
        rows = [classify_ids(spec, tok, t) for t in texts[i:i + batch_size]]
        ids, mask = pad_right(rows, tok.pad_id)
        probs = model(ids.to(device), attention_mask=mask.to(device)).float().softmax(-1).cpu()
        for p in probs:
            j = int(p.argmax())
            out.append(Label(spec.labels[j], round(float(p[j]), 6),
                             {lab: round(float(v), 6) for lab, v in zip(spec.labels, p)}))
    return out


@dataclass(frozen=True)
class QAWindow:
    """One model input for QA: the question prefix, then context tokens ``[a, b)``."""

    ids: list[int]
    first: int  # index in ``ids`` of the first context token
    a: int
    b: int


def qa_windows(spec: TaskSpec, tok, question: str, context: str, *, stride: int = 64
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
    return [QAWindow(prefix + ctx[a:b], len(prefix), a, b) for a, b in spans], offsets


@torch.inference_mode()
def answer(model: TaskModel, tok, spec: TaskSpec, question: str, context: str, *,
           max_answer_tokens: int = 30, stride: int = 64, batch_size: int = 4) -> Span:
    """The best answer span for ``question`` in ``context`` (character offsets into it)."""
    wins, offsets = qa_windows(spec, tok, question, context, stride=stride)
    device = next(model.parameters()).device
    best = None
    for i in range(0, len(wins), batch_size):
        group = wins[i:i + batch_size]
        ids, mask = pad_right([w.ids for w in group], tok.pad_id)
        start, end = model(ids.to(device), attention_mask=mask.to(device))
        for w, s, e in zip(group, start.float().cpu(), end.float().cpu()):
            allowed = torch.zeros(s.shape[0], dtype=torch.bool)
            allowed[w.first:w.first + (w.b - w.a)] = True
            i0, i1, _ = best_span(s, e, allowed=allowed, max_answer_tokens=max_answer_tokens)
            prob = float(s.masked_fill(~allowed, -1e9).softmax(-1)[i0]
                         * e.masked_fill(~allowed, -1e9).softmax(-1)[i1])
            if best is None or prob > best[0]:
                best = (prob, w.a + i0 - w.first, w.a + i1 - w.first)
    prob, t0, t1 = best
    start_c, end_c = offsets[t0][0], offsets[t1][1]
    while start_c < end_c and context[start_c].isspace():
        start_c += 1
    while end_c > start_c and context[end_c - 1].isspace():
        end_c -= 1
    return Span(context[start_c:end_c], start_c, end_c, round(prob, 6))
