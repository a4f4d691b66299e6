"""Prefill and decode speed of any ``memgpt.decoding.Stepper`` (torch or ONNX) and of llama.cpp.

Batch 1, greedy, a fixed number of new tokens (eos ignored), median over repeats after one
warm-up. These are benchmark numbers printed as ratios from one run, never pass/fail tests.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

TEXT = ("The committee met on Monday to discuss the new budget for schools, roads and public "
        "transport. Several members argued that the plan left too little money for repairs, "
        "while others said the city could not afford to borrow more this year. ")


def prompt_ids(tok, n: int) -> list[int]:
    ids = tok.encode(TEXT)
    return (ids * (n // len(ids) + 1))[:n]


def run_stepper(stepper, ids: list[int], new: int) -> tuple[float, float, list[int]]:
    """Seconds for prefill, seconds for ``new`` decode steps, and the greedy tokens."""
    t0 = time.perf_counter()
    logits, state = stepper.prefill([ids])
    t1 = time.perf_counter()
    toks = [int(logits[0].argmax())]
    for _ in range(new):
        logits, state = stepper.step(np.array(toks[-1:], dtype=np.int64), state)
        toks.append(int(logits[0].argmax()))
    return t1 - t0, time.perf_counter() - t1, toks


def llama_runner(gguf: Path, n_ctx: int, threads: int) -> Callable:
    """A ``run(ids, new)`` for llama.cpp on ``gguf`` (needs llama-cpp-python)."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=n_ctx, n_threads=threads,
                          n_threads_batch=threads, n_batch=512, verbose=False)
    vocab = llm.n_vocab()

    def last() -> np.ndarray:
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(vocab,))

    def run(ids: list[int], new: int) -> tuple[float, float, list[int]]:
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(ids)
        toks = [int(last().argmax())]
        t1 = time.perf_counter()
        for _ in range(new):
            llm.eval(toks[-1:])
            toks.append(int(last().argmax()))
        return t1 - t0, time.perf_counter() - t1, toks

    return run


def measure(runners: dict[str, Callable], ids: list[int], new: int, repeats: int) -> dict:
    """Interleaved runs (machine drift hits every backend alike); medians in tok/s."""
    times = {k: ([], []) for k in runners}
    tokens = {k: run(ids, new)[2] for k, run in runners.items()}  # warm-up
    for _ in range(repeats):
        for k, run in runners.items():
            pre, dec, _ = run(ids, new)
            times[k][0].append(pre)
            times[k][1].append(dec)
    out = {}
    for k, (pre, dec) in times.items():
        out[k] = {"prefill_tok_s": round(len(ids) / statistics.median(pre), 2),
                  "decode_tok_s": round(new / statistics.median(dec), 2),
                  "decode_ms_per_token": round(1000 * statistics.median(dec) / new, 3)}
    return {"backends": out, "tokens": tokens}
