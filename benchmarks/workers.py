"""Throughput of batch commands on 1 and 2 workers (local processes, and a local Ray cluster).

    python benchmarks/workers.py --out benchmarks/results/workers [--ray]

The same inputs through ``memgpt.scale.ShardedTask`` (the code behind ``--workers N`` and
``--ray ADDRESS``) and through one process: classify (the shipped sentiment folder) on real
tweets of the built-in sentiment test split, and summarize (the shipped summarizer) on written-
summaries test documents. One process uses all --threads threads; N workers get threads/N each
(the cores are shared, not multiplied). Items/s include sending the work and the results, not
the workers' start-up (reported apart). Outputs are checked equal to one process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from common import run_meta, write_results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--classify", type=int, default=256, help="tweets")
    ap.add_argument("--summarize", type=int, default=16, help="documents")
    ap.add_argument("--ray", action="store_true", help="also a local Ray cluster (2 actors)")
    ap.add_argument("--out", default="benchmarks/results/workers")
    args = ap.parse_args(argv)
    from memgpt.cli.common import open_task
    from memgpt.scale import ShardedTask
    from memgpt.tasks.data import load_builtin
    from memgpt.threads import set_threads

    set_threads(args.threads)
    jobs = {
        "classify": ("classify-sentiment", "classify",
                     [r["text"] for r in load_builtin("sentiment", "test", limit=args.classify)],
                     {"batch_size": 16}, 16),
        "summarize": ("summarize", "generate",
                      [r["text"] for r in load_builtin("written-summaries", "test",
                                                       limit=args.summarize)],
                      {"batch_size": 4}, 4)}
    rows = []
    for name, (folder, method, items, kw, shard) in jobs.items():
        task = "classify" if name == "classify" else "summarize"
        open_args = {"task": task, "adapter": folder, "weights": "smollm2-135m",
                     "device": "cpu", "runtime": "torch", "export_dir": None}
        local = open_task(**open_args)
        t0 = time.perf_counter()
        want = getattr(local, method)(items, **kw)
        one = time.perf_counter() - t0
        rows.append({"job": name, "setup": "1 process", "threads_each": args.threads,
                     "items": len(items), "seconds": round(one, 2),
                     "items_per_s": round(len(items) / one, 2), "speedup": 1.0, "same": True})
        print(rows[-1], file=sys.stderr, flush=True)
        setups = [("2 local workers", None)] + ([("2 Ray actors (local)", "local")]
                                               if args.ray else [])
        for label, ray in setups:
            s = ShardedTask(local, open_task, open_args, workers=2, threads=args.threads,
                            ray_address=ray, shard_size=shard)
            try:
                t0 = time.perf_counter()
                getattr(s, method)(items[:2], **kw)  # start the workers, load the model
                start_up = time.perf_counter() - t0
                t0 = time.perf_counter()
                got = getattr(s, method)(items, **kw)
                sec = time.perf_counter() - t0
            finally:
                s.close()
            same = [(g.text if hasattr(g, "text") else g.label) for g in got] == \
                [(w.text if hasattr(w, "text") else w.label) for w in want]
            rows.append({"job": name, "setup": label, "threads_each": s.threads,
                         "items": len(items), "seconds": round(sec, 2),
                         "items_per_s": round(len(items) / sec, 2),
                         "speedup": round(one / sec, 2), "start_up_seconds": round(start_up, 1),
                         "same": same})
            print(rows[-1], file=sys.stderr, flush=True)
        if args.ray:
            import ray

            ray.shutdown()
    res = {"meta": run_meta(argv, args.threads),
           "results": rows}
    write_results(args.out, res)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
