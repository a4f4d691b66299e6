"""The one task pipeline: text in, predictions out, over either runtime (no torch here).

``TaskPipeline`` holds everything a task does that is not running the network: the prompt (the
spec's template), input cutting, the decoding loop, padding, the softmax over labels, QA windows
and the best legal span mapped back to character offsets. A backend gives it four things:

* ``settings`` (a task spec: ``memgpt.tasks.artifacts.TaskSpec`` or the export's ``Settings``),
  ``tokenizer`` and ``max_seq_len``;
* ``stepper()``: a ``memgpt.decoding`` stepper over the backbone (summarize, translate);
* ``class_logits(ids, mask)``: classification logits [B, C] for right-padded int64 arrays;
* ``span_logits(ids, mask)``: start and end logits [B, T] of the span head.

The backends are ``memgpt.tasks.pipelines.TorchTask`` (torch) and
``memgpt.export.runtime.ExportedTask`` (onnxruntime); both therefore give the same results on the
same weights (docs/architecture.md#add-a-runtime).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from memgpt.decoding import GenerationConfig, cut_at_stop, decode, right_pad
from memgpt.tasks.text import (
    Generated,
    Label,
    Span,
    char_span,
    classify_ids,
    fit_text,
    format_input,
    language_fields,
    pick_span,
    qa_windows,
)

# Positions kept free besides the input and the new tokens (the chat template's markers).
PROMPT_MARGIN = 64


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


class TaskPipeline:
    """generate / classify / answer for one task folder; subclasses are the runtimes."""

    runtime = ""
    settings: Any
    tokenizer: Any
    task: str

    # ------------------------------------------------------------------ what a backend gives
    @property
    def max_seq_len(self) -> int:
        raise NotImplementedError

    def stepper(self, *, keep_hidden: bool = False) -> Any:
        """A decoding stepper; ``keep_hidden``: one that keeps its last hidden state
        (``last_hidden``), which a translation memory reads."""
        raise NotImplementedError

    def class_logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def span_logits(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray, layers: Sequence[int]
                      ) -> list[np.ndarray]:
        """The backbone's hidden states [B, T, D] at ``layers`` (0: the embeddings, n_layers: the
        final normed state); the example memory of ``classify --examples`` reads them."""
        raise ValueError(f"classify --examples reads the backbone's features, which the "
                         f"{self.runtime} runtime does not give: use --runtime torch")

    def _need(self, *tasks: str) -> None:
        if self.task not in tasks:
            raise ValueError(f"this is a {self.task} task folder, not {' or '.join(tasks)}")

    # ------------------------------------------------------------------ the tasks
    def generation_config(self, max_new_tokens: int | None = None) -> GenerationConfig:
        """The spec's decoding settings; end of text and the chat end marker stop by default."""
        gen = dict(self.settings.generation)
        if max_new_tokens is not None:
            gen["max_new_tokens"] = max_new_tokens
        if not gen.get("eos_ids"):
            eos = {self.tokenizer.eos_id}
            if getattr(self.tokenizer, "im_end_id", None) is not None:
                eos.add(self.tokenizer.im_end_id)
            gen["eos_ids"] = tuple(sorted(eos))
        return GenerationConfig(**gen)

    def generate(self, texts: Sequence[str], *, extra: dict[str, str] | None = None,
                 max_new_tokens: int | None = None, max_input_tokens: int | None = None,
                 batch_size: int = 1, on_text: Callable[[str], None] | None = None,
                 memory: Any = None) -> list[Generated]:
        """Summaries or translations of ``texts`` (greedy unless the spec says otherwise).

        Args:
            extra: more template fields (translate: ``src``, ``tgt`` language names; default:
                the folder's languages).
            max_input_tokens: cut each input to this many tokens (default: the spec's).
            on_text: streams the first text of each batch as it is generated.
            memory: a translation memory (``memgpt.tasks.tm.TranslationMemory``) mixed into
                every decoding step (kNN-MT).
        """
        self._need("summarize", "translate")
        tok, cfg = self.tokenizer, self.generation_config(max_new_tokens)
        budget = min(max_input_tokens or self.settings.max_input_tokens,
                     self.max_seq_len - cfg.max_new_tokens - PROMPT_MARGIN)
        if budget < 1:
            raise ValueError("--max-new-tokens leaves no room for the input in the model's context")
        if extra is None and self.task == "translate":
            extra = language_fields(self.settings, None, None)
        stepper = self.stepper() if memory is None else memory.wrap(
            self.stepper(keep_hidden=True))
        out: list[Generated] = []
        for i in range(0, len(texts), batch_size):
            chunk = [fit_text(tok, t, budget) for t in texts[i:i + batch_size]]
            prompts = [tok.encode(format_input(self.settings, tok, {"text": t, **(extra or {})}))
                       for t, _, _ in chunk]
            start = time.perf_counter()
            new = decode(stepper, prompts, cfg, detokenize=tok.decode, on_text=on_text)
            seconds = (time.perf_counter() - start) / len(chunk)
            out += [Generated(" ".join(cut_at_stop(tok.decode(n), cfg.stop_strings).split()), k,
                              cut, round(seconds, 4)) for n, (_, k, cut) in zip(new, chunk)]
        return out

    def classify(self, texts: Sequence[str], *, batch_size: int = 8) -> list[Label]:
        """Labels of ``texts`` with the folder's classification head."""
        self._need("classify")
        labels, out = self.settings.labels, []
        for i in range(0, len(texts), batch_size):
            rows = [classify_ids(self.settings, self.tokenizer, t) for t in texts[i:i + batch_size]]
            probs = softmax(self.class_logits(*right_pad(rows, self.tokenizer.pad_id)))
            for p in probs:
                j = int(p.argmax())
                out.append(Label(labels[j], round(float(p[j]), 6),
                                 {lab: round(float(v), 6) for lab, v in zip(labels, p)}))
        return out

    def embed(self, texts: Sequence[str], *, layers: Sequence[int], batch_size: int = 8
              ) -> list[np.ndarray]:
        """Mean-pooled hidden states of ``texts`` (formatted and cut as ``classify`` does) at
        each of ``layers``: one [N, D] float32 array per layer."""
        self._need("classify")
        out: list[list[np.ndarray]] = [[] for _ in layers]
        for i in range(0, len(texts), batch_size):
            rows = [classify_ids(self.settings, self.tokenizer, t) for t in texts[i:i + batch_size]]
            ids, mask = right_pad(rows, self.tokenizer.pad_id)
            weights = mask[..., None].astype(np.float32)
            for j, h in enumerate(self.hidden_states(ids, mask, layers)):
                out[j].append((h * weights).sum(1) / weights.sum(1))
        return [np.concatenate(o).astype(np.float32) for o in out]

    def answer(self, question: str, context: str, *, max_answer_tokens: int = 30,
               stride: int = 64, batch_size: int = 4) -> Span:
        """The best answer span for ``question`` in ``context`` (character offsets into it);
        a long context is read in overlapping windows and the best span of any window wins."""
        self._need("qa")
        wins, offsets = qa_windows(self.settings, self.tokenizer, question, context, stride=stride)
        best = None
        for i in range(0, len(wins), batch_size):
            group = wins[i:i + batch_size]
            start, end = self.span_logits(*right_pad([w.ids for w in group],
                                                     self.tokenizer.pad_id))
            best = pick_span(best, group, start, end, max_answer_tokens)
        prob, t0, t1 = best
        start_c, end_c = char_span(context, offsets, t0, t1)
        return Span(context[start_c:end_c], start_c, end_c, round(prob, 6))
