"""The torch backend of the task pipeline (``memgpt.tasks.pipeline``): ``TorchTask``.

``TorchTask`` runs a loaded task folder (``TaskModel`` + ``TaskSpec``, see
``memgpt.tasks.artifacts``) through the shared pipeline: the prompt, cutting, decoding, padding,
softmax and span decoding are there; this module only runs the backbone and its head. The
functions ``generate_texts``, ``classify`` and ``answer`` are the same tasks for callers that hold
a model, a tokenizer and a spec (recipes, tests, benchmarks).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from memgpt.decoding import right_pad
from memgpt.generate import TorchStepper
from memgpt.tasks.artifacts import TaskSpec
from memgpt.tasks.heads import TaskModel
from memgpt.tasks.pipeline import TaskPipeline
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



class TorchTask(TaskPipeline):
    """A task folder on the torch backbone: the task pipeline (``memgpt.tasks.pipeline``) over
    torch, with the same methods and results as ``memgpt.export.runtime.ExportedTask``."""

    runtime = "torch"

    def __init__(self, spec: TaskSpec, model: TaskModel, tok) -> None:
        self.settings, self.model, self.tokenizer, self.task = spec, model, tok, spec.task
        self.device = next(model.parameters()).device

    @property
    def max_seq_len(self) -> int:
        return self.model.backbone.config.max_seq_len

    def stepper(self, *, keep_hidden: bool = False) -> TorchStepper:
        return TorchStepper(self.model.backbone, keep_hidden=keep_hidden)

    def _run(self, ids: np.ndarray, mask: np.ndarray):
        with torch.inference_mode():
            return self.model(torch.from_numpy(ids).to(self.device),
                              attention_mask=torch.from_numpy(mask).to(self.device))

    def class_logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._run(ids, mask).float().cpu().numpy()

    def span_logits(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        start, end = self._run(ids, mask)
        return start.float().cpu().numpy(), end.float().cpu().numpy()

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray, layers: Sequence[int]
                      ) -> list[np.ndarray]:
        n = self.model.backbone.config.n_layers
        if any(not 0 <= layer <= n for layer in layers):
            raise ValueError(f"feature layers must be in 0..{n}, got {list(layers)}")
        with torch.inference_mode():
            out = self.model.backbone(torch.from_numpy(ids).to(self.device),
                                      attention_mask=torch.from_numpy(mask).to(self.device),
                                      output_hidden_states=True, num_logits=1)
        return [out.hidden_states[layer].float().cpu().numpy() for layer in layers]


# The same tasks as functions of (task model, tokenizer, spec), for recipes, tests and benchmarks.
def generate_texts(model: TaskModel, tok, spec: TaskSpec, texts: Sequence[str],
                   **kw) -> list[Generated]:
    """Summaries or translations of ``texts``: :meth:`TaskPipeline.generate`."""
    return TorchTask(spec, model, tok).generate(texts, **kw)


def classify(model: TaskModel, tok, spec: TaskSpec, texts: Sequence[str], *,
             batch_size: int = 8) -> list[Label]:
    """Labels of ``texts``: :meth:`TaskPipeline.classify`."""
    return TorchTask(spec, model, tok).classify(texts, batch_size=batch_size)


def answer(model: TaskModel, tok, spec: TaskSpec, question: str, context: str, **kw) -> Span:
    """The best answer span for ``question`` in ``context``: :meth:`TaskPipeline.answer`."""
    return TorchTask(spec, model, tok).answer(question, context, **kw)


def pad_right(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids [B, T] and mask [B, T] as torch tensors (``memgpt.decoding.right_pad``)."""
    ids, mask = right_pad(rows, pad_id)
    return torch.from_numpy(ids), torch.from_numpy(mask)
