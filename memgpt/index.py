"""Approximate top-k search of a memory bank's keys with a vector index (faiss), for large banks.

Exact search (``memgpt.retrieval.topk_search``) scores every entry for every query, so a decode
step costs time linear in the bank. An index answers the same question — the ``k`` keys of a KV
group most similar to a query — by visiting a small part of the bank:

* ``hnsw`` (faiss ``IndexHNSWFlat``): a navigable small-world graph; no training, built by
  inserting entries; ``ef_search`` trades recall for time at query time.
* ``ivf`` (faiss ``IndexIVFFlat``): k-means lists (``nlist`` centroids trained on a sample);
  a query scans the ``nprobe`` nearest lists.

Both search in L2. The bank's similarity is mapped onto L2 so the nearest key in the index is the
most similar key of the model: ``l2`` as is; ``cosine`` on unit vectors; ``dot`` (maximum inner
product) by the usual augmentation — key k becomes [k, sqrt(M² − |k|²)] and query q becomes
[q, 0], where M is the largest key norm, so |q' − k'|² = |q|² + M² − 2 q·k.

The candidates an index returns are scored again exactly (the model's similarity, in torch) and
sorted, so returned scores are true similarities and ``search`` has ``topk_search``'s contract;
only which entries are found is approximate (recall against exact search:
``benchmarks/vector_index.py``).
An index lives in memory next to its bank and is rebuilt from the bank's keys when needed
(never read from a file: bank folders hold only safetensors and JSON).

Shape legend: L memory layers, G KV groups, Q queries per group, N entries, E width, K top-k.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

KINDS = ("hnsw", "ivf")
AUTO_MIN_ENTRIES = 50_000  # ``--index auto`` builds an index from this bank size on


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _faiss():
    try:
        import faiss
    except ImportError:
        raise ImportError("a vector index needs faiss: pip install faiss-cpu "
                          "(or use exact search: --index exact)") from None
    return faiss


def _similarity(q: torch.Tensor, k: torch.Tensor, similarity: str) -> torch.Tensor:
    """Scores of queries [..., E] against their candidates [..., K, E] -> [..., K]."""
    if similarity == "cosine":
        return (F.normalize(q, dim=-1).unsqueeze(-2) * F.normalize(k, dim=-1)).sum(-1)
    if similarity == "l2":
        return -(q.unsqueeze(-2) - k).pow(2).sum(-1)
    return (q.unsqueeze(-2) * k).sum(-1)


class KeyIndex:
    """One faiss index per KV group over grouped keys, searched like ``topk_search``.

    Args:
        keys: [G, N, E] (any float dtype; the index holds a float32 copy).
        similarity: ``dot``, ``cosine`` or ``l2`` (the model's ``config.memory.similarity``).
        kind: ``hnsw`` or ``ivf``.
        m: HNSW neighbours per node.
        ef_construction / ef_search: HNSW beam widths when building / searching (ef_search is
            raised to k when smaller).
        nlist / nprobe: IVF lists (default ~4·sqrt(N)) and lists scanned per query.
    """

    def __init__(self, keys: torch.Tensor, *, similarity: str = "dot", kind: str = "ivf",
                 m: int = 32, ef_construction: int = 80, ef_search: int = 128,
                 nlist: int | None = None, nprobe: int = 32) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
        if similarity not in ("dot", "cosine", "l2"):
            raise ValueError(f"unknown similarity {similarity!r}")
        if keys.dim() != 3:
            raise ValueError(f"keys must be [G, N, E], got {tuple(keys.shape)}")
        faiss = _faiss()
        self.kind, self.similarity = kind, similarity
        self.ef_search, self.nprobe = ef_search, nprobe
        self.keys = keys.detach().cpu()  # the exact re-scoring reads the original keys
        g, n, e = keys.shape
        self.n = n
        base = keys.detach().float()
        if similarity == "cosine":
            base = F.normalize(base, dim=-1)
        self._augment = similarity == "dot"
        if self._augment:
            norms2 = base.pow(2).sum(-1, keepdim=True)  # [G, N, 1]
            top = norms2.amax(1, keepdim=True) if n else norms2.new_zeros(g, 1, 1)
            base = torch.cat([base, (top - norms2).clamp_min(0).sqrt()], -1)
        d = base.shape[-1]
        self.indexes, self._quantizers = [], []  # IVF indexes do not own their quantizer
        for grp in range(g):
            x = np.ascontiguousarray(base[grp].numpy(), dtype=np.float32)
            if kind == "hnsw":
                index = faiss.IndexHNSWFlat(d, m)
                index.hnsw.efConstruction = ef_construction
            else:
                lists = nlist or max(1, min(n // 39, int(4 * math.sqrt(max(n, 1)))))
                quantizer = faiss.IndexFlatL2(d)
                index = faiss.IndexIVFFlat(quantizer, d, lists)
                index.cp.seed = 1234 + grp
                if n:
                    rng = np.random.default_rng(grp)
                    sample = x if n <= 256 * lists else x[rng.choice(n, 256 * lists, replace=False)]
                    index.train(sample)
                self._quantizers.append(quantizer)
            if n:
                index.add(x)
            self.indexes.append(index)

    def __len__(self) -> int:
        return self.n

    def search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Approximate top-k of every query against its group's keys.

        Args:
            queries: [G, Q, E].
            k: how many to return; clipped to N.

        Returns:
            (scores [G, Q, K], indices [G, Q, K]) best first, K = min(k, N); scores are the exact
            similarities of the entries found.
        """
        g, q, e = queries.shape
        k = min(k, self.n)
        if k == 0:
            empty = queries.new_zeros((g, q, 0))
            return empty, empty.long()
        device, queries = queries.device, queries.detach().float().cpu()
        qs = queries
        if self.similarity == "cosine":
            qs = F.normalize(qs, dim=-1)
        if self._augment:
            qs = torch.cat([qs, qs.new_zeros(g, q, 1)], -1)
        found = []
        for grp, index in enumerate(self.indexes):
            if self.kind == "hnsw":
                index.hnsw.efSearch = max(self.ef_search, k)
            else:
                index.nprobe = min(self.nprobe, index.nlist)
            _, ids = index.search(np.ascontiguousarray(qs[grp].numpy()), k)
            found.append(torch.from_numpy(ids))
        idx = torch.stack(found)  # [G, Q, K]; -1 where a list ran short (IVF)
        short = idx < 0
        if bool(short.any()):  # too few candidates: exact search for those queries
            from memgpt.retrieval import topk_search

            rows = short.any(-1)  # [G, Q]
            for grp in range(g):
                sel = rows[grp].nonzero().flatten()
                if sel.numel():
                    _, exact = topk_search(queries[grp:grp + 1, sel],
                                           self.keys[grp:grp + 1].float(), k,
                                           similarity=self.similarity)
                    idx[grp, sel] = exact[0]
        cand = self.keys.gather(1, idx.reshape(g, -1, 1).expand(-1, -1, e)).view(g, q, k, e)
        scores = _similarity(queries, cand.float(), self.similarity)  # [G, Q, K]
        scores, order = scores.sort(-1, descending=True)
        return scores.to(device), idx.gather(-1, order).to(device)


class BankIndex:
    """A ``KeyIndex`` per memory layer of a bank ([L, N, G, E] keys), used by memory attention.

    ``MemoryState(keys, values, index=BankIndex.build(keys, ...))`` makes every memory read search
    the index instead of every entry.
    """

    def __init__(self, layers: Sequence[KeyIndex]) -> None:
        self.layers = list(layers)

    @classmethod
    def build(cls, keys: torch.Tensor, *, similarity: str = "dot", kind: str = "ivf",
              **options) -> BankIndex:
        """Index ``keys`` [L, N, G, E] (a bank's or a ``MemoryState``'s) for each layer."""
        if keys.dim() != 4:
            raise ValueError(f"bank keys must be [L, N, G, E], got {tuple(keys.shape)}")
        return cls([KeyIndex(keys[j].transpose(0, 1), similarity=similarity, kind=kind,
                             **options) for j in range(keys.shape[0])])

    def __len__(self) -> int:
        return len(self.layers[0]) if self.layers else 0

    def searcher(self, slot: int):
        """``search(queries [G, Q, E], k)`` for memory layer ``slot`` (its place in the bank)."""
        return self.layers[slot].search


def choose_kind(requested: str, entries: int) -> str | None:
    """The index kind for ``--index`` (``auto``, ``exact``, ``hnsw``, ``ivf``) and a bank size:
    None means exact search. ``auto`` is ``ivf`` (the better of the two on the model's keys:
    ``benchmarks/results/vector-index``) from ``AUTO_MIN_ENTRIES`` entries on when faiss is
    installed, else exact."""
    if requested == "exact":
        return None
    if requested == "auto":
        return "ivf" if entries >= AUTO_MIN_ENTRIES and faiss_available() else None
    if requested not in KINDS:
        raise ValueError(f"unknown index {requested!r}; choose auto, exact, {', '.join(KINDS)}")
    return requested
