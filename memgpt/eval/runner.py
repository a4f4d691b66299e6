"""Evaluate a task on records: predictions, metrics, baselines, confidence intervals, timings.

``evaluate(task_runner, task, records)`` works with either runtime (a
``memgpt.tasks.pipelines.TorchTask`` or a ``memgpt.export.runtime.ExportedTask``: same methods).
Per task:

* summarize: ROUGE-1/2/L/Lsum (rouge-score, stemmed); baselines the lead sentence and the
  lead three sentences.
* translate: BLEU and chrF (sacrebleu, every reference of an item); baselines copy-the-input and,
  when training pairs are given, a word-by-word dictionary learned from them.
* classify: accuracy + macro-F1; baseline TF-IDF + logistic regression trained on the given
  training records, else 5-fold cross-validated on the evaluation records themselves.
* qa: SQuAD EM/F1 (official normalisation); baseline lexical sliding window.

Every score carries its metric signature and a seeded bootstrap 95% interval. Results are
deterministic for the same inputs; timings are kept apart (``timing``) so that two runs differ
only there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from memgpt.eval import baselines, metrics
from memgpt.tasks.registry import task_def

log = logging.getLogger(__name__)
BOOTSTRAP = 1000


def references(task: str, records: Sequence[dict]) -> list[Any]:
    """The reference(s) of each record (strings; translate/qa: lists of strings)."""
    key = task_def(task).target
    missing = [i + 1 for i, r in enumerate(records) if r.get(key) in (None, "", [])]
    if missing:
        raise ValueError(f"record {missing[0]}: no {key!r} reference to score against "
                         f"({len(missing)} records lack one)")
    if task == "translate":
        return [list(r.get("references") or [r["translation"]]) for r in records]
    if task == "qa":
        return [[a["text"] for a in r["answers"]] for r in records]
    return [str(r[key]) for r in records]


def predict(runner, task: str, records: Sequence[dict], *, batch_size: int = 8,
            progress: bool = True) -> tuple[list[str], float]:
    """Predictions (one string per record) and seconds per record."""
    bar = tqdm(total=len(records), desc=f"{task} ({getattr(runner, 'runtime', '?')})",
               unit="item", disable=not progress)
    out: list[str] = []
    start = time.perf_counter()
    step = 1 if task == "qa" else batch_size
    shards = getattr(runner, "workers", 0)  # a memgpt.scale.ShardedTask: feed every worker
    if shards:
        step = getattr(runner, "shard_size", batch_size) * shards * 2
    cut = 0
    text_log = logging.getLogger("memgpt.tasks.text")  # one summary line, not one per input
    level = text_log.level
    text_log.setLevel(logging.ERROR)
    try:
        for i in range(0, len(records), step):
            cut += _predict_chunk(runner, task, records[i:i + step], out)
            bar.update(min(step, len(records) - i))
    finally:
        text_log.setLevel(level)
    bar.close()
    if cut:
        log.warning("%d of %d inputs were longer than the model's max_input_tokens and were cut",
                    cut, len(records))
    return out, (time.perf_counter() - start) / max(1, len(records))


def _predict_chunk(runner, task: str, chunk: Sequence[dict], out: list[str]) -> int:
    """Append the predictions of ``chunk`` to ``out``; return how many inputs were cut."""
    if task in ("summarize", "translate"):
        gen = runner.generate([r["text"] for r in chunk], batch_size=len(chunk))
        out += [g.text for g in gen]
        return sum(g.truncated for g in gen)
    if task == "classify":
        out += [g.label for g in runner.classify([r["text"] for r in chunk],
                                                 batch_size=len(chunk))]
    elif hasattr(runner, "answer_many"):
        out += [a.answer for a in runner.answer_many([(r["question"], r["context"])
                                                      for r in chunk])]
    else:
        out += [runner.answer(r["question"], r["context"]).answer for r in chunk]
    return 0


def score(task: str, predictions: Sequence[str], refs: Sequence[Any], *,
          ci: bool = True) -> dict[str, Any]:
    """Metric values (0-100), signatures and a bootstrap interval of the main metric.

    The task's ``TaskDef.metrics`` are computed; each of its ``values`` is a metric's ``score``
    (named as the metric) or a key of a metric's ``details``.
    """
    d = task_def(task)
    results = [metrics.METRICS[m](predictions=predictions, references=refs) for m in d.metrics]
    values = {}
    for name in d.values:
        r = next(r for r in results if r.name == name or name in r.details)
        values[name] = r.score if r.name == name else r.details[name]
    out: dict[str, Any] = {"values": values, "signature": {r.name: r.signature for r in results}}
    fn = metrics.METRICS[d.metrics[0]]
    out["values"] = {k: round(float(v), 4) for k, v in out["values"].items()}
    if ci:
        lo, hi = metrics.bootstrap_ci(fn, predictions=predictions, references=refs,
                                      n=BOOTSTRAP, seed=0)
        out["ci95"] = {d.main_metric: [round(float(lo), 4), round(float(hi), 4)],
                       "method": f"percentile bootstrap, n={BOOTSTRAP}, seed=0"}
    return out


def baseline_predictions(task: str, records: Sequence[dict],
                         train: Sequence[dict] | None = None) -> dict[str, list[str]]:
    """Each baseline's predictions on ``records`` (see the module docstring)."""
    texts = [r.get("text", "") for r in records]
    if task == "summarize":
        # lead-1 is the baseline for one-line summaries, lead-3 for multi-sentence ones
        return {"lead-1": baselines.lead_baseline(texts),
                "lead-3": baselines.lead_baseline(texts, n_sentences=3)}
    if task == "translate":
        out = {"copy input": baselines.copy_baseline(texts)}
        if train:
            d = baselines.dictionary_baseline([(r["text"], r["translation"]) for r in train])
            out["word-by-word dictionary"] = d(texts)
        return out
    if task == "classify":
        if train:
            model = baselines.TfidfLogReg().fit([r["text"] for r in train],
                                                [r["label"] for r in train])
            return {"TF-IDF + logistic regression": model.predict(texts)}
        return {"TF-IDF + logistic regression (5-fold CV)": _cross_validated(records)}
    return {"lexical sliding window": [baselines.sliding_window_qa(r["question"],
                                                                   r["context"])[0]
                                       for r in records]}


def _cross_validated(records: Sequence[dict], folds: int = 5) -> list[str]:
    preds: list[str] = [""] * len(records)
    for f in range(folds):
        test = [i for i in range(len(records)) if i % folds == f]
        train = [records[i] for i in range(len(records)) if i % folds != f]
        if not test:
            continue
        labels = {r["label"] for r in train}
        if len(labels) < 2:  # too few examples for a classifier: predict the majority label
            guess = [next(iter(labels), "")] * len(test)
        else:
            guess = baselines.TfidfLogReg().fit([r["text"] for r in train],
                                                [r["label"] for r in train]).predict(
                [records[i]["text"] for i in test])
        for i, g in zip(test, guess):
            preds[i] = g
    return preds


def evaluate(runner, task: str, records: Sequence[dict], *, train: Sequence[dict] | None = None,
             batch_size: int = 8, progress: bool = True, with_baselines: bool = True
             ) -> dict[str, Any]:
    """Score ``runner`` on ``records``; returns model + baseline scores and per-item rows."""
    if not records:
        raise ValueError("no records to evaluate")
    refs = references(task, records)
    preds, seconds = predict(runner, task, records, batch_size=batch_size, progress=progress)
    main = task_def(task).main_metric
    result: dict[str, Any] = {"task": task, "n": len(records), "main_metric": main,
                              "model": score(task, preds, refs), "baselines": {}}
    base = baseline_predictions(task, records, train) if with_baselines else {}
    for name, bpreds in base.items():
        result["baselines"][name] = score(task, bpreds, refs, ci=False)
    result["model_minus_baseline"] = {
        name: round(result["model"]["values"][main] - b["values"][main], 4)
        for name, b in result["baselines"].items()}
    result["rows"] = [
        {"id": r.get("id", i), "prediction": p, "reference": ref,
         **{f"baseline:{k}": v[i] for k, v in base.items()}}
        for i, (r, p, ref) in enumerate(zip(records, preds, refs))]
    result["timing"] = {"seconds_per_item": round(seconds, 4)}
    return result
