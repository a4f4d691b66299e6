"""WikiText-2 test perplexity: the window alone, the document cache, the trained memory layers,
and both together (what `memgpt-task perplexity --memory-layers` computes); and a bank-size curve.

    python benchmarks/memory_combined.py --test-articles 12 --curve 0,512,2048,8192 \
        --curve-articles 4 --out benchmarks/results/memory-combined

Each held-out article (``wikitext_heldout_articles``, only scored) is read in 256-token windows
moved by 128. Two readings per article — every memory gate closed (``score_tokens``: the backbone
alone) and through the shipped memory weights (``score_through_memory``: the bank holds the
layer-20/25 keys and values of the text before the window, newest 8,192) — and on each, with and
without the document cache of ``perplexity`` (the shipped lam/theta; no training). The curve:
perplexity through the memory layers (no cache) with the bank cut to its newest N entries
(N = 0: an empty bank, the learned slots only), on the first --curve-articles articles, beside
the window alone on the same articles; written as curve.png too.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from common import memory_model_and_articles, run_meta, write_results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--test-articles", type=int, default=12)
    ap.add_argument("--curve", default="", help="bank sizes, comma-separated (empty: no curve)")
    ap.add_argument("--curve-articles", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/memory-combined")
    args = ap.parse_args(argv)
    import numpy as np

    from memgpt.memory_layers import score_through_memory
    from memgpt.perplexity import DEFAULT_CACHE, memory_logp, score_tokens
    from memgpt.training.memory import _closed

    t0 = time.perf_counter()
    model, tok, meta, arts = memory_model_and_articles(args.threads, args.test_articles)
    names = ("window only", "document cache", "memory layers", "memory layers + cache")
    sums, rows, n_all, window_nll = dict.fromkeys(names, 0.0), [], 0, []
    for i, a in enumerate(arts):
        ids = tok.encode(a["text"])
        with _closed(model):
            plain = score_tokens(model, ids, args.window)
        through = score_through_memory(model, ids, args.window)
        logps = {names[0]: plain.logp, names[1]: memory_logp(plain, DEFAULT_CACHE),
                 names[2]: through.logp, names[3]: memory_logp(through, DEFAULT_CACHE)}
        n = len(plain.logp)
        n_all += n
        row = {"title": a["title"], "tokens": n}
        for k, v in logps.items():
            sums[k] -= float(np.sum(v))
            row[k] = round(math.exp(-float(np.mean(v))), 3)
        rows.append(row)
        window_nll.append(-float(np.sum(plain.logp)))
        print(f"[{i + 1}/{len(arts)}] {row}", file=sys.stderr, flush=True)
    test = {k: round(math.exp(v / n_all), 3) for k, v in sums.items()}
    test.update({f"{k} / window only": round(test[k] / test[names[0]], 4) for k in names[1:]})
    curve, k = [], args.curve_articles
    base = {"nll": sum(window_nll[:k]), "tokens": sum(r["tokens"] for r in rows[:k])}
    sizes = [int(x) for x in args.curve.split(",") if x.strip()]
    for size in sizes:
        nll = toks = 0.0
        for a in arts[:args.curve_articles]:
            ids = tok.encode(a["text"])
            s = score_through_memory(model, ids, args.window, max_entries=size)
            nll -= float(np.sum(s.logp))
            toks += len(s.logp)
        curve.append({"bank_entries": size, "perplexity": round(math.exp(nll / toks), 3),
                      "tokens": int(toks)})
        print(f"bank {size}: {curve[-1]['perplexity']}", file=sys.stderr, flush=True)
    res = {"meta": run_meta(argv, args.threads, window=args.window, stride=args.window // 2,
                            memory_weights=meta["info"], cache=DEFAULT_CACHE.to_dict(),
                            seconds=round(time.perf_counter() - t0, 1)),
           "test": {"articles": len(arts), "tokens": n_all, **test}, "curve": curve,
           "curve_window_only": round(math.exp(base["nll"] / max(1, base["tokens"])), 3),
           "articles": rows}
    write_results(args.out, res)
    if curve:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.2))
        xs = [max(c["bank_entries"], 1) for c in curve]
        ax.plot(xs, [c["perplexity"] for c in curve], marker="o", label="memory layers")
        ax.axhline(res["curve_window_only"], color="gray", ls="--", label="window only")
        ax.legend()
        ax.set_xscale("log")
        ax.set_xlabel("bank entries (newest kept; 1 = empty bank)")
        ax.set_ylabel("perplexity")
        ax.set_title(f"WikiText-2 test, first {args.curve_articles} articles, window "
                     f"{args.window}")
        fig.tight_layout()
        fig.savefig(f"{args.out}/curve.png", dpi=120)
    print(res["test"])


if __name__ == "__main__":
    main()
