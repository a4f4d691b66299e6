"""Translation memory (kNN-MT): BLEU with and without a memory, in and out of its domain.

    python benchmarks/translation_memory.py --out benchmarks/results/translation-memory

The domain is food and drink: Tatoeba en-es pairs whose English side names a meal, a dish, a
drink or eating (:data:`FOOD`). The memory is built from ``--pairs`` such pairs of the *train*
split (``memgpt-task memory build --pairs``' code path: ``TranslationMemory.build`` on the shipped
``translate-en-es`` folder); lam and temperature are chosen on the food pairs of the *valid*
split; BLEU/chrF (sacrebleu, all references) are reported on the *test* split: the food pairs
(in domain) and the first ``--ood`` other pairs (out of domain), with the memory and without.
Writes results.json and results.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision  # noqa: E402

FOOD = re.compile(
    r"\b(eat|eats|ate|eaten|eating|food|dinner|lunch|breakfast|cook|cooks|cooked|cooking|bread|"
    r"meat|fish|fruit|apples?|coffee|tea|milk|wine|beer|soup|rice|eggs?|cake|restaurant|hungry|"
    r"kitchen|meals?|vegetables|cheese|sugar|drink|drinks|drank|drinking)\b", re.I)
LAMS = (0.3, 0.5, 0.7)
TEMPS = (10.0, 30.0, 100.0)


def bleu(task, records, memory) -> dict:
    from memgpt.eval import metrics

    got = [g.text for g in task.generate([r["text"] for r in records], memory=memory,
                                         batch_size=8)]
    refs = [r.get("references") or [r["translation"]] for r in records]
    b = metrics.bleu(predictions=got, references=refs)
    c = metrics.chrf(predictions=got, references=refs)
    return {"bleu": b.score, "chrf": c.score, "predictions": got}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=3000, help="food train pairs in the memory")
    ap.add_argument("--ood", type=int, default=300, help="out-of-domain test pairs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/translation-memory")
    args = ap.parse_args()

    from memgpt.cli.common import load_for_task
    from memgpt.tasks.data import load_builtin
    from memgpt.tasks.pipelines import TorchTask
    from memgpt.tasks.registry import resolve_task
    from memgpt.tasks.tm import Pair, TranslationMemory
    from memgpt.threads import resolve_threads, set_threads

    threads = set_threads(resolve_threads(args.threads))
    start = time.perf_counter()
    split = {s: load_builtin("tatoeba-en-es", s) for s in ("train", "valid", "test")}
    food = {s: [r for r in rs if FOOD.search(r["text"])] for s, rs in split.items()}
    ood = [r for r in split["test"] if not FOOD.search(r["text"])][:args.ood]
    task = TorchTask(*load_for_task("translate", "translate-en-es", "smollm2-135m", "cpu"))
    pairs = [Pair(r["text"], r["translation"], i) for i, r in enumerate(food["train"][:args.pairs])]
    t0 = time.perf_counter()
    tm = TranslationMemory.build(task, pairs, task_folder=resolve_task("translate-en-es"))
    build_s = time.perf_counter() - t0
    print(f"memory: {len(pairs)} pairs, {len(tm)} entries, {build_s:.0f} s")

    grid = {}
    base_valid = bleu(task, food["valid"], None)["bleu"]
    for lam in LAMS:
        for temp in TEMPS:
            tm.settings.update(lam=lam, temperature=temp)
            grid[f"{lam}/{temp}"] = bleu(task, food["valid"], tm)["bleu"]
            print(f"valid lam {lam} T {temp}: BLEU {grid[f'{lam}/{temp}']:.2f} "
                  f"(no memory {base_valid:.2f})")
    best = max(grid, key=grid.get)
    lam, temp = (float(x) for x in best.split("/"))
    tm.settings.update(lam=lam, temperature=temp)

    rows = {}
    for name, recs in (("in_domain", food["test"]), ("out_of_domain", ood)):
        without, with_ = bleu(task, recs, None), bleu(task, recs, tm)
        rows[name] = {"n": len(recs), "without": {k: without[k] for k in ("bleu", "chrf")},
                      "with": {k: with_[k] for k in ("bleu", "chrf")},
                      "bleu_gain": with_["bleu"] - without["bleu"],
                      "examples": [{"source": r["text"], "reference": r["translation"],
                                    "without": a, "with": b} for r, a, b in
                                   zip(recs[:8], without["predictions"], with_["predictions"])]}
        print(f"{name} (n={len(recs)}): BLEU {without['bleu']:.2f} -> {with_['bleu']:.2f}, "
              f"chrF {without['chrf']:.2f} -> {with_['chrf']:.2f}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"meta": {"command": f"python benchmarks/translation_memory.py --pairs {args.pairs} "
                                  f"--ood {args.ood} --out {args.out}",
                       "revision": git_revision(), "threads": threads, "adapter": "translate-en-es",
                       "memory_pairs": len(pairs), "memory_entries": len(tm),
                       "build_seconds": round(build_s, 1),
                       "chosen": {"lam": lam, "temperature": temp, "k": tm.settings["k"],
                                  "on": f"tatoeba-en-es:valid food pairs (n={len(food['valid'])})",
                                  "valid_bleu_without": base_valid, "grid": grid},
                       "seconds": round(time.perf_counter() - start, 1)},
              "results": rows}
    (out / "results.json").write_text(json.dumps(report, indent=2, sort_keys=True,
                                                 ensure_ascii=False) + "\n")
    lines = ["# Translation memory (kNN-MT) on Tatoeba en-es", "",
             f"`{report['meta']['command']}` (revision {report['meta']['revision']}): a memory of "
             f"{len(pairs)} food-and-drink train pairs ({len(tm)} entries); lam {lam}, "
             f"temperature {temp}, k {tm.settings['k']} chosen on the valid food pairs.", "",
             "| test pairs | n | BLEU without | BLEU with memory | chrF without | chrF with |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in rows.items():
        lines.append(f"| {name.replace('_', ' ')} | {r['n']} | {r['without']['bleu']:.2f} | "
                     f"{r['with']['bleu']:.2f} | {r['without']['chrf']:.2f} | "
                     f"{r['with']['chrf']:.2f} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out}/results.json")


if __name__ == "__main__":
    main()
