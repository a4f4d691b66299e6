"""Evaluation metrics: thin, signed wrappers around sacrebleu, rouge-score and scikit-learn.

Every metric takes keyword-only ``predictions=`` / ``references=`` and returns a
:class:`MetricResult`. Convention: **every score is on a 0-100 scale** (BLEU, chrF, ROUGE F1,
accuracy, macro-F1, SQuAD EM and F1), as sacrebleu reports BLEU. ``signature`` says exactly how a
number was computed: sacrebleu's own signature for BLEU/chrF; for the others the same
``key:value|...`` layout (ROUGE: types, stemmer, rougeLsum sentence splitting, tokenizer).

Multi-reference metrics take one reference string or a list of reference strings per item; items
may have different numbers of references. Nothing here downloads anything: the rougeLsum
sentence splitter is :func:`split_sentences` (a regex), never nltk's punkt.
"""

from __future__ import annotations

import importlib
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import numpy as np

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
References = Sequence[str | Sequence[str]]


@dataclass(frozen=True)
class MetricResult:
    """One corpus-level score (0-100), its breakdown and how it was computed."""

    name: str
    score: float
    details: dict[str, Any] = field(default_factory=dict)
    signature: str = ""


def import_optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(f"{module} is needed for evaluation: pip install "
                                  "'memgpt[eval]'", name=e.name) from None


# ---------------------------------------------------------------------------- sentence splitting
# Abbreviations whose period does not end a sentence (lower-cased, without the period).
_ABBREV = frozenset("mr mrs ms dr prof st jr sr mt vs etc inc ltd co corp no gen col lt sgt "
                    "capt rev gov sen rep fig approx dept est e.g i.e u.s u.k".split())
_END = re.compile(r"""[.!?]+["'”’)\]]*(?=\s+["'“‘(\[]?[A-Z0-9])""")
_LAST_WORD = re.compile(r"([\w.]+)$")

SPLITTER_SIGNATURE = "regex-v1"


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences with a simple, download-free rule (``regex-v1``).

    A sentence ends at a line break, or after ``.``, ``!`` or ``?`` (plus any closing quotes or
    brackets) that is followed by whitespace and then an upper-case letter, a digit or an opening
    quote/bracket -- unless the word before a ``.`` is a known abbreviation (Mr., Dr., etc.) or a
    single upper-case letter (initials: "J. K. Rowling"). Sentences are stripped; empty ones
    are dropped.
    """
    out: list[str] = []
    for line in text.splitlines():
        start = 0
        for m in _END.finditer(line):
            if line[m.start()] == "." and not line[m.start():m.end()].startswith(".."):
                w = _LAST_WORD.search(line, max(start, m.start() - 30), m.start())
                word = w.group(1) if w else ""
                if word.lower() in _ABBREV or (len(word) == 1 and word.isupper()):
                    continue
            out.append(line[start:m.end()])
            start = m.end()
        out.append(line[start:])
    return [s.strip() for s in out if s.strip()]


# ---------------------------------------------------------------------------- input checks
def _check(predictions: Sequence[str], references: Sequence[Any]) -> None:
    if isinstance(predictions, str) or isinstance(references, str):
        raise ValueError("predictions and references must be lists, not single strings")
    if len(predictions) != len(references):
        raise ValueError(f"predictions and references differ in length: {len(predictions)} "
                         f"!= {len(references)}")
    if not predictions:
        raise ValueError("nothing to score: predictions and references are empty")
    for i, p in enumerate(predictions):
        if not isinstance(p, str):
            raise ValueError(f"predictions[{i}] is {type(p).__name__}, not str")


def _ref_lists(references: References) -> list[list[str]]:
    """One list of reference strings per item (a bare string is one reference)."""
    out = []
    for i, r in enumerate(references):
        refs = [r] if isinstance(r, str) else list(r)
        if not refs or not all(isinstance(x, str) for x in refs):
            raise ValueError(f"references[{i}] must be a string or a non-empty list of strings")
        out.append(refs)
    return out


# ---------------------------------------------------------------------------- BLEU / chrF
def _ref_streams(refs: list[list[str]]) -> list[list[str | None]]:
    """Per-item references -> sacrebleu's reference streams (one stream per reference index).

    Items with fewer references are padded with ``None``, which sacrebleu (>= 2.0) drops per
    segment (``_cache_references``) and reports as ``nrefs:var``. An empty string would instead
    count as a real, empty reference.
    """
    k = max(len(r) for r in refs)
    return [[r[j] if j < len(r) else None for r in refs] for j in range(k)]


def bleu(*, predictions: Sequence[str], references: References) -> MetricResult:
    """Corpus BLEU (Papineni et al., 2002) with sacrebleu's defaults (13a, exp smoothing)."""
    _check(predictions, references)
    metric = import_optional("sacrebleu.metrics").BLEU()
    s = metric.corpus_score(list(predictions), _ref_streams(_ref_lists(references)))
    details = {"precisions": list(s.precisions), "bp": s.bp, "ratio": s.ratio,
               "sys_len": s.sys_len, "ref_len": s.ref_len}
    return MetricResult("bleu", float(s.score), details, str(metric.get_signature()))


def chrf(*, predictions: Sequence[str], references: References) -> MetricResult:
    """Corpus chrF2 (Popović, 2015) with sacrebleu's defaults (6 char n-grams, beta 2)."""
    _check(predictions, references)
    metric = import_optional("sacrebleu.metrics").CHRF()
    s = metric.corpus_score(list(predictions), _ref_streams(_ref_lists(references)))
    details = {"char_order": s.char_order, "word_order": s.word_order, "beta": s.beta}
    return MetricResult("chrf", float(s.score), details, str(metric.get_signature()))


# ---------------------------------------------------------------------------- ROUGE
def _rouge_items(predictions: Sequence[str], references: References) -> dict[str, np.ndarray]:
    """Per-item ROUGE F-measures (0-100); several references -> the max, per type."""
    _check(predictions, references)
    scorer = import_optional("rouge_score.rouge_scorer").RougeScorer(list(ROUGE_TYPES),
                                                              use_stemmer=True)
    # rougeLsum reads sentences as lines; the other types ignore line breaks.
    lines = lambda t: "\n".join(split_sentences(t))
    out = {t: np.zeros(len(predictions)) for t in ROUGE_TYPES}
    for i, (p, refs) in enumerate(zip(predictions, _ref_lists(references))):
        scores = scorer.score_multi([lines(r) for r in refs], lines(p))
        for t in ROUGE_TYPES:
            out[t][i] = 100.0 * scores[t].fmeasure
    return out


def rouge(*, predictions: Sequence[str], references: References) -> MetricResult:
    """ROUGE-1/2/L/Lsum F-measure (Lin, 2004) via rouge-score, Porter stemming on.

    Each item scores against its best reference (max F per type, as ``score_multi``); the corpus
    score is the mean over items. ``score`` is ROUGE-L; ``details`` holds all four types.
    """
    items = _rouge_items(predictions, references)
    details = {t: float(v.mean()) for t, v in items.items()}
    sig = (f"rouge:{'+'.join(t[5:] for t in ROUGE_TYPES)}|f:mean|refs:max|stem:porter|"
           f"lsum-split:{SPLITTER_SIGNATURE}|tok:default(lower,[a-z0-9]+)|"
           f"version:{version('rouge-score')}")
    return MetricResult("rouge", details["rougeL"], details, sig)


# ---------------------------------------------------------------------------- classification
def _accuracy_items(predictions: Sequence[str], references: Sequence[str]) -> np.ndarray:
    _check(predictions, references)
    return 100.0 * np.array([str(p) == str(r) for p, r in zip(predictions, references)], float)


def accuracy(*, predictions: Sequence[str], references: Sequence[str]) -> MetricResult:
    """Accuracy, plus macro-F1 over the labels seen in either list, and per-label counts."""
    f1_score = import_optional("sklearn.metrics").f1_score
    acc = float(_accuracy_items(predictions, references).mean())
    preds, refs = [str(p) for p in predictions], [str(r) for r in references]
    macro = 100.0 * float(f1_score(refs, preds, average="macro", zero_division=0))
    labels = sorted(set(refs) | set(preds))
    gold, guess = Counter(refs), Counter(preds)
    right = Counter(r for p, r in zip(preds, refs) if p == r)
    per_label = {lab: {"support": gold[lab], "predicted": guess[lab], "correct": right[lab]}
                 for lab in labels}
    details = {"accuracy": acc, "macro_f1": macro, "n": len(refs), "labels": per_label}
    sig = (f"accuracy|f1:macro(labels=ref+pred,zero_division=0)|"
           f"sklearn:{version('scikit-learn')}")
    return MetricResult("accuracy", acc, details, sig)


# ---------------------------------------------------------------------------- SQuAD EM / F1
_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """The official SQuAD v1.1 normalisation: lower, drop punctuation and articles, fix spaces."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def squad_f1(prediction: str, truth: str) -> float:
    """SQuAD v1.1 token F1 (0-1) of one prediction against one reference answer."""
    pred, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:  # as the v1.1 script: two empty answers give F1 0 (but EM 1)
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def _squad_items(predictions: Sequence[str], references: References
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per-item (EM, F1) on 0-100, each the max over the item's references."""
    _check(predictions, references)
    em, f1 = np.zeros(len(predictions)), np.zeros(len(predictions))
    for i, (p, refs) in enumerate(zip(predictions, _ref_lists(references))):
        em[i] = 100.0 * max(float(normalize_answer(p) == normalize_answer(r)) for r in refs)
        f1[i] = 100.0 * max(squad_f1(p, r) for r in refs)
    return em, f1


def squad(*, predictions: Sequence[str], references: References) -> MetricResult:
    """SQuAD v1.1 exact match and token F1 (Rajpurkar et al., 2016); ``score`` is F1."""
    em, f1 = _squad_items(predictions, references)
    details = {"em": float(em.mean()), "f1": float(f1.mean()), "n": len(em)}
    return MetricResult("squad", details["f1"], details, "squad-v1.1|norm:official|refs:max")


# ---------------------------------------------------------------------------- bootstrap
# Metrics whose corpus score is the mean of per-item scores: resampling averages those
# (identical numbers, no re-scoring). Corpus metrics (BLEU, chrF) are recomputed per sample.
_ITEM_SCORES: dict[Callable[..., MetricResult], Callable[..., np.ndarray]] = {
    rouge: lambda p, r: _rouge_items(p, r)["rougeL"],
    squad: lambda p, r: _squad_items(p, r)[1],
    accuracy: _accuracy_items,
}


def bootstrap_ci(metric_fn: Callable[..., MetricResult], *, predictions: Sequence[str],
                 references: Sequence[Any], n: int = 1000, seed: int = 0, alpha: float = 0.05
                 ) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``metric_fn(...).score`` (Koehn, 2004).

    Items are resampled with replacement, predictions and references together (paired), with
    ``numpy.random.default_rng(seed)``: the same inputs and seed give the same interval.

    Returns:
        ``(low, high)``: the ``alpha/2`` and ``1 - alpha/2`` percentiles of ``n`` resampled scores.
    """
    if n < 1 or not 0 < alpha < 1:
        raise ValueError(f"bootstrap needs n >= 1 and 0 < alpha < 1, got n={n}, alpha={alpha}")
    _check(predictions, references)
    rng, size = np.random.default_rng(seed), len(predictions)
    item_fn = _ITEM_SCORES.get(metric_fn)
    items = item_fn(predictions, references) if item_fn is not None else None
    stats = np.empty(n)
    for b in range(n):
        idx = rng.integers(0, size, size)
        if items is not None:
            stats[b] = items[idx].mean()
        else:
            stats[b] = metric_fn(predictions=[predictions[i] for i in idx],
                                 references=[references[i] for i in idx]).score
    low, high = np.percentile(stats, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


# ---------------------------------------------------------------------------- registry
# By name; a task's metrics are its ``memgpt.tasks.registry.TaskDef.metrics``.
METRICS: dict[str, Callable[..., MetricResult]] = {
    "bleu": bleu, "chrf": chrf, "rouge": rouge, "accuracy": accuracy, "squad": squad,
}
