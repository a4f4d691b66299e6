"""Decode throughput of batched generation against batch 1, torch and (optionally) onnxruntime.

    python benchmarks/batched_generation.py --out benchmarks/results/batched-generation
    python benchmarks/batched_generation.py --export ~/.cache/memgpt/exports/X  # + onnxruntime

Same backbone, same prompts: B prompts of different lengths (real sentences of this repository's
architecture document, 40-120 tokens, so rows are padded: left padding with an attention mask and a
per-row position, the KV cache padded alike) are prefilled once and decoded for N steps with
greedy argmax (eos ignored, so every row makes N steps). tokens/s = B x N / decode seconds. Batch 1
runs the same B prompts one after another. Median of --repeats interleaved runs; one warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from common import run_meta, write_results


def _decode(stepper, prompts: list[list[int]], steps: int) -> tuple[float, float, list]:
    t0 = time.perf_counter()
    logits, state = stepper.prefill(prompts)
    t1 = time.perf_counter()
    out = []
    for _ in range(steps):
        tok = logits.argmax(-1)
        out.append(tok)
        logits, state = stepper.step(tok.astype(np.int64), state)
    return t1 - t0, time.perf_counter() - t1, np.stack(out, 1).tolist()


def measure(stepper, prompts, steps, batch, repeats):
    """(decode tokens/s at batch 1, at ``batch``, greedy agreement of the two)."""
    one, many = [], []
    for r in range(repeats + 1):
        d1, toks1 = 0.0, []
        for p in prompts:
            _, d, t = _decode(stepper, [p], steps)
            d1 += d
            toks1 += t
        dn, toksn = 0.0, []
        for i in range(0, len(prompts), batch):
            _, d, t = _decode(stepper, prompts[i:i + batch], steps)
            dn += d
            toksn += t
        if r:  # the first round warms up
            one.append(len(prompts) * steps / d1)
            many.append(len(prompts) * steps / dn)
    agree = float(np.mean([a == b for r1, rn in zip(toks1, toksn) for a, b in zip(r1, rn)]))
    return statistics.median(one), statistics.median(many), agree


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--export", default=None, help="an export folder: onnxruntime too")
    ap.add_argument("--out", default="benchmarks/results/batched-generation")
    args = ap.parse_args(argv)
    import torch

    from memgpt.checkpoint import load_model, load_tokenizer
    from memgpt.generate import TorchStepper

    torch.set_num_threads(args.threads)
    model, tok = load_model("smollm2-135m"), load_tokenizer("smollm2-135m")
    text = (Path(__file__).resolve().parent.parent / "docs" / "architecture.md").read_text()
    paras = [p for p in text.split("\n\n") if len(p.split()) > 60]
    prompts = [tok.encode(p)[:40 + 80 * i // max(1, args.batch - 1)] for i, p in
               enumerate(paras[:args.batch])]
    rows = {}
    one, many, agree = measure(TorchStepper(model), prompts, args.steps, args.batch,
                               args.repeats)
    rows["torch fp32"] = {"batch1_tok_s": round(one, 1), f"batch{args.batch}_tok_s":
                          round(many, 1), "ratio": round(many / one, 2), "agreement": agree}
    print(f"torch: {one:.1f} -> {many:.1f} tok/s ({many / one:.2f}x)", file=sys.stderr)
    if args.export:
        from memgpt.export.runtime import ExportedTask

        t = ExportedTask(args.export, threads=args.threads)
        one, many, agree = measure(t.stepper(), prompts, args.steps, args.batch, args.repeats)
        rows[f"onnxruntime {t.precision}"] = {
            "batch1_tok_s": round(one, 1), f"batch{args.batch}_tok_s": round(many, 1),
            "ratio": round(many / one, 2), "agreement": agree}
        print(f"onnx: {one:.1f} -> {many:.1f} tok/s ({many / one:.2f}x)", file=sys.stderr)
    res = {"meta": run_meta(argv, args.threads, batch=args.batch, steps=args.steps,
                            repeats=args.repeats, prompt_tokens=[len(p) for p in prompts]),
           "results": rows}
    write_results(args.out, res)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
