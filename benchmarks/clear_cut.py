"""The shipped sentiment and spam classifiers on hand-written text unlike their training data.

    python benchmarks/clear_cut.py --out benchmarks/results/clear-cut \
        [--sentiment classify-sentiment,DIR] [--spam classify-spam,DIR]

``benchmarks/data/clear-cut-sentiment.jsonl`` (240 clear-cut reviews and comments, positive /
negative, written for this project) and ``benchmarks/data/sms-style-spam.jsonl`` (200 SMS-style
messages, spam / ham, many of them short) are scored with each task folder given (a shipped name
or a folder; the first is the shipped default) through ``memgpt.eval.runner.evaluate``, next to
TF-IDF + logistic regression trained on the same built-in training split as the classifier
(tweets; the UCI SMS spam collection). Neither file was used to train or select anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import run_meta, write_results

DATA = Path(__file__).resolve().parent / "data"
SETS = {"sentiment": ("clear-cut-sentiment.jsonl", "classify-sentiment", "sentiment"),
        "spam": ("sms-style-spam.jsonl", "classify-spam", "sms-spam")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sentiment", default="classify-sentiment", help="task folders, commas")
    ap.add_argument("--spam", default="classify-spam", help="task folders, commas")
    ap.add_argument("--out", default="benchmarks/results/clear-cut")
    args = ap.parse_args(argv)
    from memgpt.cli.common import open_task
    from memgpt.eval.runner import evaluate
    from memgpt.tasks.data import load_builtin
    from memgpt.threads import set_threads

    set_threads(args.threads)
    rows, preds = [], {}
    for name, (file, _, builtin) in SETS.items():
        lines = (DATA / file).read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line]
        train = load_builtin(builtin, "train")
        for i, folder in enumerate(getattr(args, name).split(",")):
            runner = open_task("classify", folder, "smollm2-135m", "cpu", "torch", None)
            res = evaluate(runner, "classify", records, train=train if i == 0 else None,
                           with_baselines=i == 0, progress=False)
            m = res["model"]
            row = {"set": file, "folder": folder, "n": res["n"],
                   "accuracy": m["values"]["accuracy"], "macro_f1": m["values"]["macro_f1"],
                   "ci95": m.get("ci95"),
                   "baselines": {k: v["values"]["accuracy"] for k, v in res["baselines"].items()},
                   "errors": [{"text": r["text"], "label": r["label"], "predicted": p["prediction"]}
                              for r, p in zip(records, res["rows"])
                              if p["prediction"] != r["label"]]}
            rows.append(row)
            preds[f"{name}:{folder}"] = [p["prediction"] for p in res["rows"]]
            print({k: v for k, v in row.items() if k != "errors"}, file=sys.stderr, flush=True)
    write_results(args.out, {"meta": run_meta(argv, args.threads), "rows": rows})
    for r in rows:
        base = ", ".join(f"{k} {v:.2f}" for k, v in r["baselines"].items())
        print(f"{r['set']:28s} {r['folder']:28s} accuracy {r['accuracy']:.2f}  {base}")


if __name__ == "__main__":
    main()
