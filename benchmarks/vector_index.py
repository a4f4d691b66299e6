"""Vector index (faiss HNSW / IVF) against exact search: recall@k and ms per query, from one run.

    python benchmarks/vector_index.py --out benchmarks/results/vector-index

Two banks, each searched per KV group exactly as memory attention searches (one query vector of a
query head against the keys of its group; dot-product similarity, the model's):

* real: the keys SmolLM2-135M writes for WikiText-2 *train* articles in memory layer 25 (one entry
  per token, ``MemoryBank.build``), queried with the pre-rotary queries of WikiText-2 *valid*
  tokens (never in the bank);
* random: ``--random-entries`` (default 1M) × 64 standard-normal keys and queries per group, the
  hardest case for any index (no structure to exploit).

For each: exact search (``memgpt.retrieval.topk_search``) and each index setting; recall@k is the
share of the exact top-k that the index returns (k = 8, the model's top_k, and 32). Build time is
reported too. Times are the median of the per-query batches, one query per group at a time, as a
decode step asks.
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

SETTINGS = [("hnsw", {"ef_search": 128}), ("hnsw", {"ef_search": 512}),
            ("ivf", {"nprobe": 8}), ("ivf", {"nprobe": 16}), ("ivf", {"nprobe": 32}),
            ("ivf", {"nprobe": 64}), ("ivf", {"nprobe": 128}), ("ivf", {"nprobe": 256})]


def real_bank(entries: int, queries: int, layer: int):
    import torch
    from perplexity_memory import wikitext_folder

    from memgpt.checkpoint import load_model, load_tokenizer
    from memgpt.memory import MemoryBank
    from memgpt.tasks.corpora import wikitext_articles

    model, tok = load_model("smollm2-135m"), load_tokenizer("smollm2-135m")
    folder = wikitext_folder()
    texts, total = {}, 0
    for art in wikitext_articles(folder, "train"):
        texts[art["id"]] = art["text"]
        total += len(tok.encode(art["text"]))
        if total >= entries:
            break
    bank = MemoryBank.build(model, tok, texts, window=512, context=0)
    keys = bank.keys[bank.layers.index(layer), :entries].transpose(0, 1).contiguous()  # [G,N,E]
    c = model.config
    ids = []
    for art in wikitext_articles(folder, "valid"):
        ids += tok.encode(art["text"])[:256]
        if len(ids) >= queries:
            break
    ids = ids[:queries]
    with torch.inference_mode():
        out = model(torch.tensor([ids[:512]]), output_hidden_states=True, num_logits=1)
        block = model.layers[layer]
        q = block.attn.q_proj(block.attn_norm(out.hidden_states[layer][0]))  # [T, H*E]
    q = q.view(len(ids[:512]), c.n_kv_heads, c.n_groups, c.head_dim)[:, :, 0]  # head 0 of group
    return keys, q.transpose(0, 1).contiguous()  # [G, N, E], [G, T, E]


def measure(keys, queries, name: str) -> dict:
    import torch

    from memgpt.index import KeyIndex
    from memgpt.retrieval import topk_search

    g, n, e = keys.shape
    nq = queries.shape[1]
    kmax = 32

    def timed(fn):
        times, outs = [], []
        for j in range(nq):
            t = time.perf_counter()
            outs.append(fn(queries[:, j:j + 1]))
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times), torch.cat(outs, 1)

    exact_ms, exact = timed(lambda q: topk_search(q, keys, kmax)[1])
    rows = [{"method": "exact", "ms_per_query": exact_ms, "build_s": 0.0,
             "recall@8": 1.0, "recall@32": 1.0}]
    print(f"[{name}] exact: {exact_ms:.2f} ms/query", flush=True)
    built = {}
    for kind, opts in SETTINGS:
        if kind not in built:
            t = time.perf_counter()
            built[kind] = KeyIndex(keys, similarity="dot", kind=kind)
            built[kind].build_s = time.perf_counter() - t
        index = built[kind]
        for attr, value in opts.items():
            setattr(index, attr, value)
        row = {"method": f"{kind} " + " ".join(f"{a}={v}" for a, v in opts.items()),
               "build_s": index.build_s}
        row["ms_per_query"], found = timed(lambda q, ix=index: ix.search(q, kmax)[1])
        for k in (8, 32):
            hit = sum(len(set(found[a, b, :k].tolist()) & set(exact[a, b, :k].tolist()))
                      for a in range(g) for b in range(nq))
            row[f"recall@{k}"] = hit / (g * nq * k)
        rows.append(row)
        print(f"[{name}] {row['method']}: {row['ms_per_query']:.3f} ms/query, recall@8 "
              f"{row['recall@8']:.3f}, recall@32 {row['recall@32']:.3f} (build "
              f"{row['build_s']:.1f} s)", flush=True)
    return {"entries": n, "groups": g, "width": e, "queries_per_group": nq, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real-entries", type=int, default=100_000)
    ap.add_argument("--random-entries", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--layer", type=int, default=25)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/vector-index")
    args = ap.parse_args()

    import torch

    from memgpt.threads import resolve_threads, set_threads

    threads = set_threads(resolve_threads(args.threads))
    import faiss

    faiss.omp_set_num_threads(threads)
    results = {}
    if args.real_entries:
        keys, queries = real_bank(args.real_entries, args.queries, args.layer)
        results["real"] = measure(keys, queries, "real")
    if args.random_entries:
        gen = torch.Generator().manual_seed(0)
        keys = torch.randn(1, args.random_entries, 64, generator=gen)
        queries = torch.randn(1, args.queries, 64, generator=gen)
        results["random"] = measure(keys, queries, "random")
    meta = {"command": "python benchmarks/vector_index.py " + " ".join(sys.argv[1:]),
            "revision": git_revision(), "threads": threads, "faiss": faiss.__version__,
            "statistic": "median over single queries; recall against exact top-k"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2,
                                                 sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
