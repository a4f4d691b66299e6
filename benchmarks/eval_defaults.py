"""Test-split quality of the shipped default task folders against simple baselines, one run.

    python benchmarks/eval_defaults.py --out benchmarks/results/defaults
    python benchmarks/eval_defaults.py --only topic spam --limit 200

Per default (memgpt/tasks/defaults/*), on the built-in dataset's *test* split (never trained on):

* classify-{topic,sentiment,spam}: accuracy and macro-F1 vs TF-IDF + logistic regression
  trained on the same train split;
* qa (bbc-cloze): SQuAD EM/F1 vs the lexical sliding-window baseline;
* translate-en-es (Tatoeba): BLEU/chrF (sacrebleu, all references of each English sentence) of
  the trained adapter vs the zero-shot prompted backbone vs a word-by-word dictionary learned
  from the train split vs copying the input;
* summarize (bbc-headline: article → headline): ROUGE-L (rouge-score, stemmed) of the shipped
  summarizer vs lead-1.

Writes OUT.json and OUT.md (model − baseline shown) and prints the table. Needs the ``eval`` extra.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import torch

from memgpt.checkpoint import load_model, load_tokenizer
from memgpt.eval import baselines, metrics
from memgpt.tasks.artifacts import DEFAULTS_DIR, load_task
from memgpt.tasks.data import dataset_card, load_builtin
from memgpt.tasks.pipelines import answer, classify, generate_texts
from memgpt.tasks.recipes import default_spec, language_fields

log = logging.getLogger("eval_defaults")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def eval_classify(backbone, tok, name: str, dataset: str, limit: int | None) -> dict:
    train = load_builtin(dataset, "train")
    test = load_builtin(dataset, "test", limit=limit)
    spec, model = load_task(DEFAULTS_DIR / name, backbone)
    refs = [r["label"] for r in test]
    got, secs = timed(lambda: classify(model, tok, spec, [r["text"] for r in test]))
    ours = metrics.accuracy(predictions=[g.label for g in got], references=refs)
    base = baselines.TfidfLogReg().fit([r["text"] for r in train], [r["label"] for r in train])
    theirs = metrics.accuracy(predictions=base.predict([r["text"] for r in test]),
                              references=refs)
    return {"task": name, "data": f"builtin:{dataset}:test", "n": len(test),
            "metric": "accuracy", "model": ours.score,
            "model_macro_f1": ours.details.get("macro_f1"), "baseline": theirs.score,
            "baseline_name": "TF-IDF + logistic regression",
            "baseline_macro_f1": theirs.details.get("macro_f1"),
            "seconds_per_item": secs / len(test), "signature": ours.signature}


def eval_qa(backbone, tok, limit: int | None) -> dict:
    test = load_builtin("bbc-cloze", "test", limit=limit)
    spec, model = load_task(DEFAULTS_DIR / "qa", backbone)
    refs = [[a["text"] for a in r["answers"]] for r in test]
    got, secs = timed(lambda: [answer(model, tok, spec, r["question"], r["context"]).answer
                               for r in test])
    ours = metrics.squad(predictions=got, references=refs)
    base = [baselines.sliding_window_qa(r["question"], r["context"])[0] for r in test]
    theirs = metrics.squad(predictions=base, references=refs)
    return {"task": "qa", "data": "builtin:bbc-cloze:test", "n": len(test), "metric": "F1",
            "model": ours.score, "model_em": ours.details.get("em"), "baseline": theirs.score,
            "baseline_em": theirs.details.get("em"), "baseline_name": "lexical sliding window",
            "seconds_per_item": secs / len(test), "signature": ours.signature}


def eval_translate(backbone, tok, limit: int | None) -> dict:
    test = load_builtin("tatoeba-en-es", "test", limit=limit)
    src = [r["text"] for r in test]
    refs = [r.get("references") or [r["translation"]] for r in test]
    spec, model = load_task(DEFAULTS_DIR / "translate-en-es", backbone)
    fields = language_fields(spec, None, None)
    got, secs = timed(lambda: [g.text for g in generate_texts(model, tok, spec, src, extra=fields,
                                                              batch_size=16)])
    zs_spec = default_spec("translate", d_model=backbone.config.d_model)
    from memgpt.tasks.adapters import remove_adapters
    from memgpt.tasks.heads import TaskModel

    remove_adapters(backbone)
    zero = [g.text for g in generate_texts(TaskModel(backbone, zs_spec.head), tok, zs_spec, src,
                                           extra=fields, batch_size=16)]
    train = load_builtin("tatoeba-en-es", "train")
    dictionary = baselines.dictionary_baseline([(r["text"], r["translation"]) for r in train])
    rows = {"model": got, "zero-shot SmolLM2": zero, "word-by-word dictionary": dictionary(src),
            "copy input": baselines.copy_baseline(src)}
    scores = {k: {"bleu": metrics.bleu(predictions=v, references=refs).score,
                  "chrf": metrics.chrf(predictions=v, references=refs).score}
              for k, v in rows.items()}
    best_base = max((k for k in scores if k != "model"), key=lambda k: scores[k]["bleu"])
    return {"task": "translate-en-es", "data": "builtin:tatoeba-en-es:test", "n": len(test),
            "metric": "BLEU", "model": scores["model"]["bleu"],
            "baseline": scores[best_base]["bleu"], "baseline_name": best_base,
            "all": scores, "seconds_per_item": secs / len(test),
            "signature": metrics.bleu(predictions=got, references=refs).signature,
            "examples": [{"src": s, "model": g, "ref": r[0]} for s, g, r in
                         list(zip(src, got, refs))[:5]]}


def eval_summarize(backbone, tok, limit: int | None) -> dict:
    test = load_builtin("bbc-headline", "test", limit=limit)
    spec, model = load_task(DEFAULTS_DIR / "summarize", backbone)
    refs = [r["summary"] for r in test]
    got, secs = timed(lambda: [g.text for g in generate_texts(
        model, tok, spec, [r["text"] for r in test], max_new_tokens=64)])
    ours = metrics.rouge(predictions=got, references=refs)
    theirs = metrics.rouge(predictions=baselines.lead_baseline([r["text"] for r in test]),
                           references=refs)
    return {"task": "summarize", "data": "builtin:bbc-headline:test", "n": len(test),
            "metric": "ROUGE-L", "model": ours.score, "baseline": theirs.score,
            "baseline_name": "lead-1", "model_details": ours.details,
            "baseline_details": theirs.details, "seconds_per_item": secs / len(test),
            "signature": ours.signature}


RUNS = {
    "topic": lambda b, t, n: eval_classify(b, t, "classify-topic", "bbc-topic", n),
    "sentiment": lambda b, t, n: eval_classify(b, t, "classify-sentiment", "sentiment", n),
    "spam": lambda b, t, n: eval_classify(b, t, "classify-spam", "sms-spam", n),
    "qa": eval_qa,
    "translate": eval_translate,
    "summarize": eval_summarize,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=sorted(RUNS), default=None)
    ap.add_argument("--limit", type=int, default=None, help="test items per task (default all)")
    ap.add_argument("--limit-generation", type=int, default=300,
                    help="test items for translate (summarize uses a tenth of it)")
    ap.add_argument("--weights", default="smollm2-135m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/defaults")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    torch.set_num_threads(args.threads)
    backbone, tok = load_model(args.weights), load_tokenizer(args.weights)
    results = []
    for name in args.only or list(RUNS):
        n = args.limit
        if name == "translate":
            n = args.limit_generation
        elif name == "summarize":
            n = max(1, args.limit_generation // 10)
        log.warning("evaluating %s", name)
        results.append(RUNS[name](backbone, tok, n))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "examples"}),
              file=sys.stderr)
    cards = {r["data"].split(":")[1]: dataset_card(r["data"].split(":")[1]) for r in results}
    out = {"machine": platform.platform(), "torch": torch.__version__, "threads": args.threads,
           "results": results, "datasets": cards}
    md = ["| default | test data | n | metric | model | baseline | model − baseline |",
          "|---|---|---:|---|---:|---|---:|"]
    for r in results:
        md.append(f"| {r['task']} | {r['data']} | {r['n']} | {r['metric']} | {r['model']:.1f} "
                  f"| {r['baseline']:.1f} ({r['baseline_name']}) "
                  f"| {r['model'] - r['baseline']:+.1f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    Path(args.out + ".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
