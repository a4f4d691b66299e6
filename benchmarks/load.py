"""Under load: one onnxruntime session and one torch model, each shared by many threads.

A tiny seeded classify task (and a summarize task for generation) runs on both runtimes: an
``ExportedTask`` (one onnxruntime session) and a ``TorchTask`` (one torch model). Every request
is first run sequentially, then by ``threads`` threads at once, each taking its own share of the
same requests; the concurrent results must equal the sequential ones exactly (labels and every
probability; generated text and token counts), with no errors. Reported: p50/p99 latency of a
request, sequential and concurrent, requests per second, and the process's resident memory
(VmRSS) after a whole warm-up round of the same threads and requests, and after the measured
round.

    python benchmarks/load.py --threads 16 --requests 1000 --generate 100
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

WORDS = ("the tea was warm and the harbour quiet a kettle sang by the river stone lamp paper "
         "garden winter loved hated great awful boat rain").split()


def texts(n: int, seed: int) -> list[str]:
    """``n`` seeded texts of 3 to 60 words."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 60))) for _ in range(n)]


def rss_kib() -> int:
    """This process's resident set size (VmRSS, KiB)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def build(work: Path) -> dict:
    """The four shared runners: {(runtime, task): pipeline}."""
    import torch
    from crash_safety import make_task_folder

    from memgpt.checkpoint import save_checkpoint
    from memgpt.config import get_preset
    from memgpt.export.exporter import export_task
    from memgpt.export.runtime import ExportedTask
    from memgpt.model import MemGPT
    from memgpt.tasks.artifacts import load_task
    from memgpt.tasks.pipelines import TorchTask
    from memgpt.tokenizer import build_test_tokenizer

    tok = build_test_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        backbone = MemGPT(get_preset("tiny")).eval()
    save_checkpoint(backbone, tok, work / "ckpt")
    out = {}
    for task in ("classify", "summarize"):
        folder = make_task_folder(work / task, backbone, task, seed=1)
        export_task(str(folder), work / f"{task}-onnx", backbone=backbone, tokenizer=tok,
                    sample_size=1, threads=1)
        out["onnx", task] = ExportedTask(work / f"{task}-onnx", threads=1)
        from memgpt.checkpoint import load_model

        spec, model = load_task(folder, load_model(work / "ckpt"))
        out["torch", task] = TorchTask(spec, model, tok)
    return out


def request(runner, task: str, text: str, max_new_tokens: int):
    """One request; its result as plain data that compares exactly."""
    if task == "classify":
        r = runner.classify([text], batch_size=1)[0]
        return [r.label, r.score, r.scores]
    g = runner.generate([text], max_new_tokens=max_new_tokens)[0]
    return [g.text, g.input_tokens, g.truncated]


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def timed(runner, task: str, items: list[str], max_new_tokens: int):
    results, lat, errors = [], [], []
    for t in items:
        start = time.perf_counter()
        try:
            results.append(request(runner, task, t, max_new_tokens))
        except Exception as e:  # counted, never hidden
            results.append(None)
            errors.append(f"{type(e).__name__}: {e}")
        lat.append(time.perf_counter() - start)
    return results, lat, errors


def concurrent(runner, task: str, items: list[str], threads: int, max_new_tokens: int):
    """``threads`` threads, each with every ``threads``-th request, all on one runner; started
    together (a barrier)."""
    barrier = threading.Barrier(threads)

    def worker(k: int):
        barrier.wait()
        return timed(runner, task, items[k::threads], max_new_tokens)

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(worker, range(threads)))
    wall = time.perf_counter() - start
    results: list = [None] * len(items)
    lat, errors = [], []
    for k, (res, la, err) in enumerate(parts):
        results[k::threads] = res
        lat += la
        errors += err
    return results, lat, errors, wall


def run_one(runner, runtime: str, task: str, threads: int, n: int, seed: int,
            max_new_tokens: int) -> dict:
    items = texts(n, seed)
    warm = items[: min(len(items), 4 * threads)]
    timed(runner, task, warm, max_new_tokens)
    seq_start = time.perf_counter()
    seq, seq_lat, seq_err = timed(runner, task, items, max_new_tokens)
    seq_wall = time.perf_counter() - seq_start
    # warm-up: one whole concurrent round (the allocator's per-thread arenas grow during the
    # first round and then level off; growth is measured over the second)
    concurrent(runner, task, items, threads, max_new_tokens)
    rss_before = rss_kib()
    conc, lat, errors, wall = concurrent(runner, task, items, threads, max_new_tokens)
    rss_after = rss_kib()
    mismatches = sum(a != b for a, b in zip(seq, conc))
    ms = [x * 1000 for x in lat]
    seq_ms = [x * 1000 for x in seq_lat]
    return {"runtime": runtime, "task": task, "threads": threads, "requests": n,
            "per_thread": n // threads, "errors": len(errors) + len(seq_err),
            "error_samples": (errors + seq_err)[:3], "mismatches": mismatches,
            "identical": mismatches == 0 and not errors and not seq_err,
            "latency_ms": {"sequential_p50": round(statistics.median(seq_ms), 3),
                           "sequential_p99": round(percentile(seq_ms, 99), 3),
                           "concurrent_p50": round(statistics.median(ms), 3),
                           "concurrent_p99": round(percentile(ms, 99), 3)},
            "requests_per_s": {"sequential": round(n / seq_wall, 1),
                               "concurrent": round(n / wall, 1)},
            "rss_mib": {"after_warmup": round(rss_before / 1024, 1),
                        "after": round(rss_after / 1024, 1)},
            "rss_growth_pct": round(100 * (rss_after - rss_before) / rss_before, 2)}


def run(work: Path, *, threads: int, requests: int, generate: int, seed: int = 0,
        max_new_tokens: int = 8) -> list[dict]:
    runners = build(work)
    rows = []
    for (runtime, task), runner in runners.items():
        n = requests if task == "classify" else generate
        rows.append(run_one(runner, runtime, task, threads, n * threads, seed, max_new_tokens))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--requests", type=int, default=1000, help="classify requests per thread")
    ap.add_argument("--generate", type=int, default=100, help="generate requests per thread")
    ap.add_argument("--max-new-tokens", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/load")
    args = ap.parse_args()
    import tempfile

    import torch
    from common import git_revision

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="load-") as tmp:
        rows = run(Path(tmp), threads=args.threads, requests=args.requests,
                   generate=args.generate, seed=args.seed, max_new_tokens=args.max_new_tokens)
    report = {"benchmark": "load (one session / one model shared by threads)",
              "git_revision": git_revision(), "command": "python " + " ".join(sys.argv),
              "torch_threads": torch.get_num_threads(), "seconds": round(time.perf_counter() -
                                                                         start, 1),
              "max_new_tokens": args.max_new_tokens, "results": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(rows, indent=1))
    if any(not r["identical"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
