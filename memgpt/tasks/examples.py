"""Example memory for classification: a few labelled texts label new ones, without training.

``memgpt-task classify --examples FILE`` reads ``{"text", "label"}`` records (.jsonl, .csv or
.tsv) and keeps each example as the backbone's mean-pooled hidden state at one layer
(:data:`FEATURE_LAYER`, chosen on ``bbc-topic:valid`` by ``benchmarks/example_memory.py``). A new
text is compared with each label's prototype — the mean of its examples after centring every
feature on the examples' own mean (language-model features share a large common direction) and
normalising — by cosine similarity; a softmax at :data:`TEMPERATURE` turns the similarities into
probabilities. When the examples' labels are all labels of the task folder's own head, the two
are averaged (the head renormalised over those labels); otherwise the labels are the examples'
alone, so a user can classify by any labels they give examples of.

No torch here: the features come from the task pipeline's ``embed`` (the torch backend).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

# The hidden state read for the examples: the input of block FEATURE_LAYER (of 30 in SmolLM2;
# the final normed state is layer 30), and the softmax temperature. Both chosen on
# bbc-topic:valid, 5 examples per label, by benchmarks/example_memory.py (its results.json
# records the grid; a test keeps these equal to its choice).
FEATURE_LAYER = 25
TEMPERATURE = 0.02
MAX_EXAMPLES = 10_000


def layer_choice(n_layers: int) -> list[int]:
    """Candidate feature layers of an ``n_layers`` model: the middle to the final state."""
    return sorted({n_layers // 2, (2 * n_layers) // 3, (5 * n_layers) // 6, n_layers})


def feature_layer(n_layers: int) -> int:
    """:data:`FEATURE_LAYER` scaled to a model of ``n_layers`` blocks (5/6 of the depth)."""
    return max(1, min(n_layers, round(FEATURE_LAYER * n_layers / 30)))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class ExampleMemory:
    """Labelled features; :meth:`probs` gives label probabilities of new features."""

    def __init__(self, features: np.ndarray, labels: Sequence[str], *,
                 temperature: float = TEMPERATURE) -> None:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or len(features) != len(labels):
            raise ValueError(f"{len(labels)} labels for features of shape {features.shape}")
        if len(labels) == 0:
            raise ValueError("no examples")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.labels = sorted(set(labels))
        if len(self.labels) < 2:
            raise ValueError(f"the examples have one label ({self.labels[0]!r}); give examples "
                             "of at least two labels")
        self.temperature = temperature
        self.center = features.mean(0)
        x = _unit(features - self.center)
        self.examples = x
        self.prototypes = _unit(np.stack([x[[lab == name for lab in labels]].mean(0)
                                          for name in self.labels]))
        self.counts = {name: sum(lab == name for lab in labels) for name in self.labels}

    def probs(self, features: np.ndarray) -> np.ndarray:
        """[N, L] probabilities over :attr:`labels`."""
        sims = _unit(np.asarray(features, dtype=np.float64) - self.center) @ self.prototypes.T
        z = sims / self.temperature
        z = np.exp(z - z.max(-1, keepdims=True))
        return z / z.sum(-1, keepdims=True)

    def nearest(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index and cosine similarity of each feature's nearest example."""
        sims = _unit(np.asarray(features, dtype=np.float64) - self.center) @ self.examples.T
        idx = sims.argmax(-1)
        return idx, sims[np.arange(len(idx)), idx]

    def predict(self, features: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.probs(features).argmax(-1)]


def read_examples(path: str | Path) -> tuple[list[str], list[str]]:
    """Texts and labels of an examples file (``text`` and ``label`` per record)."""
    from memgpt.tasks.readers import read_records

    records = read_records(path, task="classify", need_targets=True)
    if not records:
        raise ValueError(f"{path}: no examples")
    if len(records) > MAX_EXAMPLES:
        raise ValueError(f"{path}: {len(records)} examples; at most {MAX_EXAMPLES} are read")
    return [r["text"] for r in records], [str(r["label"]) for r in records]


def combine(memory_probs: np.ndarray, memory_labels: Sequence[str], head_probs: np.ndarray,
            head_labels: Sequence[str]) -> tuple[np.ndarray, bool]:
    """The probabilities to report over ``memory_labels``, and whether the head took part: the
    mean of memory and head when every memory label is a head label, else the memory's."""
    if not set(memory_labels) <= set(head_labels):
        return memory_probs, False
    cols = [list(head_labels).index(lab) for lab in memory_labels]
    head = head_probs[:, cols]
    head = head / np.maximum(head.sum(-1, keepdims=True), 1e-12)
    return (memory_probs + head) / 2, True
