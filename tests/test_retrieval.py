"""Exact chunked top-k search equals brute force."""

import pytest
import torch
import torch.nn.functional as F

from memgpt.retrieval import gather_entries, topk_search


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
    q, keys = data(n=40, seed=2)  # a seed whose top-5 has no near-tie at the 5th place
    k = 5
    s32, i32 = topk_search(q, keys, k, chunk_size=7)
    s16, i16 = topk_search(q, keys.half(), k, chunk_size=7)
    s_r, i_r = topk_search(q, keys.half().float(), k, chunk_size=7)
    assert torch.equal(i16, i_r) and torch.equal(s16, s_r)  # exact search over the rounded keys
    # Rounding a key to fp16 moves q·k by at most sum |q_i k_i| * 2^-11 (+ fp32 arithmetic).
    full = brute_scores(q, keys, "dot")  # [G, Q, N] float64, float keys
    delta = (q.abs() @ keys.abs().transpose(1, 2)).amax(-1, keepdim=True).double() * 2.0 ** -11
    delta = delta + 1e-5
    assert ((s16.double() - s32.double()).abs() <= delta).all()  # the k best scores, in order
    # What the half keys retrieve scores (with the float keys) within 2δ of the true best ...
    assert ((full.gather(-1, i16) - s32.double()).abs() <= 2 * delta).all()
    # ... and is the same set of entries wherever no near-tie straddles the k-th place.
    top = full.topk(k + 1, dim=-1).values
    clear = (top[..., k - 1] - top[..., k]) > 2 * delta[..., 0]
    assert clear.all(), "every query is checked"
    for g, qi in clear.nonzero().tolist():
        assert set(i16[g, qi].tolist()) == set(i32[g, qi].tolist())


def test_gather_entries():
    gen = torch.Generator().manual_seed(3)
    table = torch.randn(11, 3, 4, generator=gen)  # [N, G, E] as a MemoryState stores it
    idx = torch.randint(0, 11, (3, 5, 2), generator=gen)
    out = gather_entries(table, idx)
    assert out.shape == (3, 5, 2, 4)
    for g in range(3):
        for q in range(5):
            for k in range(2):
                assert torch.equal(out[g, q, k], table[idx[g, q, k], g])


def test_million_entry_bank_chunked_equals_brute_force():
    gen = torch.Generator().manual_seed(0)
    keys = torch.randn(1, 1_000_000, 8, generator=gen)
    q = torch.randn(1, 4, 8, generator=gen)
    for similarity in ("dot", "l2"):
        s, i = topk_search(q, keys, 10, similarity=similarity, chunk_size=65536)
        ref_s, ref_i = brute_scores(q, keys, similarity).topk(10, dim=-1)
        assert torch.equal(i, ref_i)
        assert torch.allclose(s.double(), ref_s, atol=1e-3)

