"""Exact top-k search of a key bank, chunked so that ~1M entries fit in bounded memory.

Used by memory attention (per query, per KV-head group) and by the memory bank's search API.
Similarities (``MemoryConfig.similarity``):

* ``dot``: q·k
* ``cosine``: q·k / (|q| |k|)
* ``l2``: -|q - k|²  (ranked as 2 q·k - |k|², which orders keys identically; the returned
  score is the true negative squared distance)

Shape legend: G key groups (KV heads), Q queries per group, N bank entries, E width, K top-k.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def topk_search(
    queries: torch.Tensor,
    keys: torch.Tensor,
    k: int,
    *,
    similarity: str = "dot",
    chunk_size: int = 65536,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k of every query against every key of its group.

    Args:
        queries: [G, Q, E].
        keys: [G, N, E]; N may be 0.
        k: how many to return; clipped to N.
        similarity: ``dot``, ``cosine`` or ``l2``.
        chunk_size: keys scored at once (peak extra memory ~ G*Q*chunk_size floats).

    Returns:
        (scores [G, Q, K], indices [G, Q, K]) sorted best first, K = min(k, N). Ties keep the
        lower index first within a chunk.
    """
    g, q, e = queries.shape
    n = keys.shape[1]
    k = min(k, n)
    if k == 0:
        empty = queries.new_zeros((g, q, 0))
        return empty, empty.long()
    if similarity == "cosine":
        queries = F.normalize(queries.float(), dim=-1)
    best_s = best_i = None
    for start in range(0, n, chunk_size):
        chunk = keys[:, start:start + chunk_size].to(queries.dtype)  # [G, n, E]
        if similarity == "cosine":  # per chunk: never a normalized copy of the whole bank
            chunk = F.normalize(chunk, dim=-1)
        s = torch.bmm(queries, chunk.transpose(1, 2))  # [G, Q, n]
        if similarity == "l2":
            s = 2 * s - chunk.pow(2).sum(-1).unsqueeze(1)
        s, i = s.topk(min(k, s.shape[-1]), dim=-1)
        i = i + start
        if best_s is not None:
            s, j = torch.cat([best_s, s], -1).topk(min(k, best_s.shape[-1] + s.shape[-1]), dim=-1)
            i = torch.cat([best_i, i], -1).gather(-1, j)
        best_s, best_i = s, i
    if similarity == "l2":  # turn the ranking score back into -|q-k|^2
        best_s = best_s - queries.pow(2).sum(-1, keepdim=True)
    return best_s, best_i


def gather_entries(table: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Rows of an entry-major bank slice at grouped indices, without copying the bank.

    Args:
        table: [N, G, E] (a ``MemoryState`` layer slice, as stored).
        indices: [G, Q, K] into N.

    Returns:
        [G, Q, K, E]: ``table[indices[g, q, k], g]``.
    """
    n, g, e = table.shape
    group = torch.arange(g, device=indices.device).view(g, 1, 1)
    flat = table.reshape(n * g, e)  # a view: entry-major storage is contiguous
    return flat[(indices * g + group).reshape(-1)].reshape(*indices.shape, e)
