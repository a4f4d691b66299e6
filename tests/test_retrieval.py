"""Exact chunked top-k search equals brute force."""

import pytest
import torch
import torch.nn.functional as F

from memgpt.retrieval import gather_groups, topk_search


def brute_scores(q: torch.Tensor, keys: torch.Tensor, similarity: str) -> torch.Tensor:
    """[G, Q, N] true similarity, in float64."""
    q, keys = q.double(), keys.double()
    if similarity == "cosine":
        q, keys = F.normalize(q, dim=-1), F.normalize(keys, dim=-1)
    if similarity == "l2":
        return -((q.unsqueeze(2) - keys.unsqueeze(1)) ** 2).sum(-1)
    return q @ keys.transpose(1, 2)


def data(g=2, q=3, n=50, e=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(g, q, e, generator=gen), torch.randn(g, n, e, generator=gen)


@pytest.mark.parametrize("similarity", ["dot", "cosine", "l2"])
@pytest.mark.parametrize("chunk_size", [1, 3, 7, 10, 50, 1000])
@pytest.mark.parametrize("k", [1, 5, 50, 60])
def test_topk_equals_brute_force(similarity, chunk_size, k):
    q, keys = data()
    s, i = topk_search(q, keys, k, similarity=similarity, chunk_size=chunk_size)
    full = brute_scores(q, keys, similarity)
    ref_s, ref_i = full.topk(min(k, keys.shape[1]), dim=-1)
    assert s.shape == i.shape == (2, 3, min(k, 50))
    assert i.dtype == torch.long
    assert torch.equal(i, ref_i)
    assert torch.allclose(s.double(), ref_s, atol=1e-4)


def test_l2_scores_are_negative_squared_distances():
    q, keys = data(n=20)
    s, i = topk_search(q, keys, 20, similarity="l2", chunk_size=6)
    true = -torch.cdist(q.double(), keys.double()).pow(2)  # [G, Q, N]
    assert torch.allclose(s.double(), true.gather(-1, i), atol=1e-4)
    assert (s <= 1e-5).all()


@pytest.mark.parametrize("similarity", ["dot", "cosine", "l2"])
def test_empty_bank(similarity):
    q, _ = data()
    s, i = topk_search(q, torch.zeros(2, 0, 8), 4, similarity=similarity)
    assert s.shape == i.shape == (2, 3, 0)
    assert i.dtype == torch.long


def test_half_precision_keys_match_float():
    q, keys = data(n=40)
    _, i32 = topk_search(q, keys, 5, chunk_size=7)
    _, i16 = topk_search(q, keys.half().float(), 5, chunk_size=7)
    assert torch.equal(topk_search(q, keys.half(), 5, chunk_size=7)[1], i16)
    assert i32.shape == i16.shape


def test_gather_groups():
    gen = torch.Generator().manual_seed(3)
    table = torch.randn(3, 11, 4, generator=gen)
    idx = torch.randint(0, 11, (3, 5, 2), generator=gen)
    out = gather_groups(table, idx)
    assert out.shape == (3, 5, 2, 4)
    for g in range(3):
        for q in range(5):
            for k in range(2):
                assert torch.equal(out[g, q, k], table[g, idx[g, q, k]])


def test_million_entry_bank_chunked_equals_brute_force():
    gen = torch.Generator().manual_seed(0)
    keys = torch.randn(1, 1_000_000, 8, generator=gen)
    q = torch.randn(1, 4, 8, generator=gen)
    for similarity in ("dot", "l2"):
        s, i = topk_search(q, keys, 10, similarity=similarity, chunk_size=65536)
        ref_s, ref_i = brute_scores(q, keys, similarity).topk(10, dim=-1)
        assert torch.equal(i, ref_i)
        assert torch.allclose(s.double(), ref_s, atol=1e-3)
