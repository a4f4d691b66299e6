"""What reading a memory bank costs at decode time, gates closed (as shipped) and open.

    python benchmarks/memory_cost.py --out benchmarks/results/memory-cost

SmolLM2-135M, greedy, 24 new tokens after a short prompt, batch 1, the median of 3 runs each:
no bank; a random 100k-entry bank with the shipped (closed) gates — the read is skipped, so the
text and the time should be the model's own; and the same bank with the gates opened (exact
top-k search over every entry at each step, what a trained memory pays); and the open gates
reading through a faiss IVF index over the same bank (``memgpt.index``, ``--nprobe`` lists per
query; its build time is reported, and whether its text equals exact search's). Ratios are
against no bank in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--nprobe", type=int, default=32)
    ap.add_argument("--out", default="benchmarks/results/memory-cost")
    args = ap.parse_args()

    import torch

    from memgpt.checkpoint import load_model, load_tokenizer
    from memgpt.generate import generate
    from memgpt.layers import MemoryState
    from memgpt.threads import resolve_threads, set_threads

    threads = set_threads(resolve_threads(args.threads))
    model, tok = load_model("smollm2-135m"), load_tokenizer("smollm2-135m")
    c = model.config
    g = torch.Generator().manual_seed(0)
    shape = (len(c.memory.layers), args.entries, c.n_kv_heads, c.head_dim)
    bank = MemoryState(torch.randn(shape, generator=g), torch.randn(shape, generator=g))
    prompt = "The harbour of Kessel was built in"

    def run(memory):
        times, text = [], None
        for _ in range(3):
            start = time.perf_counter()
            text = generate(model, tok, prompt, max_new_tokens=args.tokens, memory=memory)
            times.append((time.perf_counter() - start) * 1000 / args.tokens)
        return statistics.median(times), text

    run(None)  # warm-up
    base_ms, base_text = run(None)
    closed_ms, closed_text = run(bank)
    gates = [m.gate for m in model.modules() if hasattr(m, "skip_when_closed")]
    with torch.no_grad():
        for gate in gates:
            gate.fill_(0.5)
    open_ms, open_text = run(bank)
    from memgpt.index import BankIndex

    start = time.perf_counter()
    index = BankIndex.build(bank.keys, similarity=c.memory.similarity, kind="ivf",
                            nprobe=args.nprobe)
    build_s = time.perf_counter() - start
    indexed_ms, indexed_text = run(MemoryState(bank.keys, bank.values, index))
    results = {"no_bank_ms_per_token": base_ms, "closed_gates_ms_per_token": closed_ms,
               "open_gates_ms_per_token": open_ms, "closed_over_none": closed_ms / base_ms,
               "open_over_none": open_ms / base_ms, "closed_same_text": closed_text == base_text,
               "open_indexed_ms_per_token": indexed_ms, "indexed_over_none": indexed_ms / base_ms,
               "index_build_s": build_s, "indexed_same_text_as_exact": indexed_text == open_text}
    meta = {"command": "python benchmarks/memory_cost.py " + " ".join(sys.argv[1:]),
            "index": {"kind": "ivf", "nprobe": args.nprobe},
            "revision": git_revision(), "entries": args.entries, "new_tokens": args.tokens,
            "threads": threads, "statistic": "median of 3 runs, after a warm-up"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2,
                                                 sort_keys=True) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
