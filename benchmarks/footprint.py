"""Disk, peak memory and cold start of each export precision (and of torch), one run.

    python benchmarks/footprint.py --out benchmarks/results/footprint

For a classify task (the shipped topic head) and a generation task (the shipped summarizer),
each precision is exported with ``memgpt-task export`` into a temporary folder (the export's
own peak memory is recorded), its folder size measured, and the command a user runs is launched
as a fresh process: ``classify --export DIR TEXT`` (launch to the label) and ``summarize --export
DIR TEXT --max-new-tokens 1`` (launch to the first token). The first launch also verifies the
manifest (hashing every file); later launches reuse the verified record, as an app restarting on
the same folder does: the median of ``--repeats`` of those is the cold start reported. Peak
memory is the child's maximum resident set (``wait4``). The torch path (``--runtime torch`` on
the shipped folder) is measured the same way for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import run_meta, write_results

TEXT = ("The central bank raised interest rates by half a point on Thursday, saying inflation "
        "had stayed above its target for a third year while wages rose faster than prices.")
JOBS = {"classify": ("classify-topic", ["classify"]),
        "summarize": ("summarize", ["summarize", "--max-new-tokens", "1"])}


def run_child(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(wall seconds from launch to exit, the child's own peak RSS in MB, stdout) of one
    fresh process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status:
        sys.exit(f"error: {' '.join(cmd)} failed: {err.strip().splitlines()[-1:]}")
    return wall, usage.ru_maxrss / 1024, out.strip()


def folder_mb(d: Path) -> float:
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) / 1e6


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precisions", default="fp32,int8w,int8,int4")
    ap.add_argument("--tasks", default="classify,summarize")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/footprint")
    args = ap.parse_args(argv)
    exe = [str(Path(sys.executable).with_name("memgpt-task"))]
    tmp = Path(tempfile.mkdtemp(prefix="memgpt-footprint-"))
    env = {**os.environ, "MEMGPT_CACHE": str(tmp / "cache"), "MEMGPT_THREADS": str(args.threads)}
    rows = []
    try:
        for job in args.tasks.split(","):
            folder, cmd = JOBS[job]
            wall, rss, out = run_child([*exe, *cmd, "--adapter", folder, "--runtime", "torch",
                                        TEXT], env)
            runs = [run_child([*exe, *cmd, "--adapter", folder, "--runtime", "torch", TEXT],
                              env)[0] for _ in range(args.repeats)]
            rows.append({"task": job, "folder": folder, "runtime": "torch", "precision": "fp32",
                         "disk_mb": None, "peak_rss_mb": round(rss, 1),
                         "first_launch_s": round(wall, 2),
                         "cold_start_s": round(statistics.median(runs), 2), "output": out})
            print(rows[-1], file=sys.stderr, flush=True)
            for prec in args.precisions.split(","):
                d = tmp / f"{folder}-{prec}"
                t0 = time.perf_counter()
                agree = [] if prec in ("fp32", "fp16") else ["--min-agreement", "0"]
                _, ex_rss, ex_out = run_child([*exe, "export", "--task", folder, "--precision",
                                               prec, *agree, "-o", str(d), "--json"], env)
                agreement = (json.loads(ex_out).get("agreement") or {}).get("value")
                ex_s = time.perf_counter() - t0
                wall, rss, out = run_child([*exe, *cmd, "--export", str(d), TEXT], env)
                runs = [run_child([*exe, *cmd, "--export", str(d), TEXT], env)
                        for _ in range(args.repeats)]
                rows.append({"task": job, "folder": folder, "runtime": "onnx", "precision": prec,
                             "disk_mb": round(folder_mb(d), 1),
                             "peak_rss_mb": round(max(r[1] for r in runs), 1),
                             "first_launch_s": round(wall, 2),
                             "cold_start_s": round(statistics.median(r[0] for r in runs), 2),
                             "export_s": round(ex_s, 1), "export_peak_rss_mb": round(ex_rss, 1),
                             "agreement": agreement,
                             "output": out})
                print(rows[-1], file=sys.stderr, flush=True)
                shutil.rmtree(d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res = {"meta": run_meta(argv, args.threads, text=TEXT, repeats=args.repeats), "rows": rows}
    write_results(args.out, res)
    lines = ["| task | runtime | precision | disk MB | peak RSS MB | first launch s | "
             "cold start s |", "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['runtime']} | {r['precision']} | "
                     f"{r['disk_mb'] if r['disk_mb'] is not None else '—'} | {r['peak_rss_mb']} "
                     f"| {r['first_launch_s']} | {r['cold_start_s']} |")
    (Path(args.out) / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
