"""WikiText-2 test perplexity through the trained memory layers vs the same model with closed gates.

    python benchmarks/memory_layers.py --test-articles 12 --out benchmarks/results/memory-layers

Each held-out article (``wikitext_heldout_articles``, only scored) is read in 256-token windows
moved by 128 (``memgpt.memory_layers.read_windows``); the bank of a window holds the keys/values
of the text that has left it (the newest 8,192), empty at each article. The shipped memory weights
(``memgpt/defaults/memory/``) against every gate closed (the backbone alone), same windows.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

from common import git_revision, memory_model_and_articles


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--test-articles", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/memory-layers")
    args = ap.parse_args(argv)
    from memgpt.training.memory import _closed, document_nll

    t0 = time.perf_counter()
    model, tok, meta, arts = memory_model_and_articles(args.threads, args.test_articles)
    rows, tot = [], {"with": 0.0, "without": 0.0, "n": 0}
    for i, a in enumerate(arts):
        ids = tok.encode(a["text"])
        w, n = document_nll(model, ids, args.window)
        with _closed(model):
            c, _ = document_nll(model, ids, args.window)
        tot["with"] += w
        tot["without"] += c
        tot["n"] += n
        rows.append({"title": a["title"], "tokens": n, "with_memory": math.exp(w / n),
                     "without_memory": math.exp(c / n)})
        print(f"[{i + 1}/{len(arts)}] {a['title']}: {math.exp(c / n):.2f} -> "
              f"{math.exp(w / n):.2f}", file=sys.stderr, flush=True)
    with_m, without = math.exp(tot["with"] / tot["n"]), math.exp(tot["without"] / tot["n"])
    res = {"meta": {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
                    "revision": git_revision(), "threads": args.threads, "window": args.window,
                    "stride": args.window // 2, "memory_weights": meta["info"],
                    "machine": platform.machine(),
                    "seconds": round(time.perf_counter() - t0, 1)},
           "test": {"articles": len(arts), "tokens": tot["n"], "without_memory": without,
                    "with_memory": with_m, "ratio": with_m / without}, "articles": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(res["test"]))


if __name__ == "__main__":
    main()
