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

import torch

from memgpt.decoding import GenerationConfig
from memgpt.tasks.artifacts import TaskSpec
from memgpt.tasks.heads import TaskModel
from memgpt.tasks.text import (  # noqa: F401  (re-exported)
    LANGUAGES,
    Generated,
    Label,
    QAWindow,
    Span,
    best_span,
    char_span,
    classify_ids,
    fit_text,
    format_input,
    language_fields,
    masked_softmax,
    pick_span,
    qa_windows,
)

log = logging.getLogger(__name__)



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
        chunk = [fit_text(tok, t, budget) for t in texts[i:i + batch_size]]
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
        best = pick_span(best, group, start.float().cpu().numpy(), end.float().cpu().numpy(),
                         max_answer_tokens)
    prob, t0, t1 = best
    start_c, end_c = char_span(context, offsets, t0, t1)
    return Span(context[start_c:end_c], start_c, end_c, round(prob, 6))


class TorchTask:
    """A task folder on the torch backbone, with the same methods as
    ``memgpt.export.runtime.ExportedTask`` (so commands run either runtime the same way)."""

    runtime = "torch"

    def __init__(self, spec: TaskSpec, model: TaskModel, tok) -> None:
        self.settings, self.model, self.tokenizer, self.task = spec, model, tok, spec.task

    def generate(self, texts: Sequence[str], **kw) -> list[Generated]:
        if self.task == "translate" and kw.get("extra") is None:
            kw["extra"] = language_fields(self.settings, None, None)
        return generate_texts(self.model, self.tokenizer, self.settings, texts, **kw)

    def classify(self, texts: Sequence[str], *, batch_size: int = 8) -> list[Label]:
        return classify(self.model, self.tokenizer, self.settings, texts, batch_size=batch_size)

    def answer(self, question: str, context: str, **kw) -> Span:
        return answer(self.model, self.tokenizer, self.settings, question, context, **kw)
