"""Vector index over bank keys (faiss): recall against exact search, the search contract, and
memory attention reading through an index."""

import pytest
import torch
from test_memory import TEXTS, ByteTokenizer, make_model

from memgpt.index import AUTO_MIN_ENTRIES, BankIndex, KeyIndex, choose_kind
from memgpt.memory import MemoryBank
from memgpt.retrieval import topk_search

pytest.importorskip("faiss", reason="faiss-cpu is in the test extra")


def clustered(g: int, n: int, e: int, seed: int = 0) -> torch.Tensor:
    """Keys with structure (as a model's are): 40 centres, spread norms."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(g, 40, e, generator=gen) * 3
    pick = torch.randint(0, 40, (g, n), generator=gen)
    scale = torch.rand(g, n, 1, generator=gen) + 0.5
    return (centres.gather(1, pick.unsqueeze(-1).expand(-1, -1, e))
            + torch.randn(g, n, e, generator=gen)) * scale


def recall(found: torch.Tensor, exact: torch.Tensor) -> float:
    g, q, k = exact.shape
    hit = sum(len(set(found[a, b].tolist()) & set(exact[a, b].tolist()))
              for a in range(g) for b in range(q))
    return hit / (g * q * k)


@pytest.mark.parametrize("similarity", ["dot", "cosine", "l2"])
@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_index_finds_what_exact_search_finds(kind, similarity):
    keys = clustered(2, 3000, 16)
    queries = clustered(2, 40, 16, seed=1)
    index = KeyIndex(keys, similarity=similarity, kind=kind, nprobe=64, ef_search=256)
    scores, idx = index.search(queries, 8)
    exact_s, exact_i = topk_search(queries, keys, 8, similarity=similarity)
    assert scores.shape == idx.shape == (2, 40, 8) and idx.dtype == torch.long
    assert recall(idx, exact_i) >= 0.9
    # scores are the true similarities of the entries returned, best first
    cand = keys.gather(1, idx.reshape(2, -1, 1).expand(-1, -1, 16)).view(2, 40, 8, 16)
    if similarity == "dot":
        true = (queries.unsqueeze(2) * cand).sum(-1)
    elif similarity == "l2":
        true = -(queries.unsqueeze(2) - cand).pow(2).sum(-1)
    else:
        true = torch.nn.functional.cosine_similarity(queries.unsqueeze(2), cand, dim=-1)
    assert torch.allclose(scores, true, atol=1e-4)
    assert bool((scores[..., :-1] >= scores[..., 1:]).all())
    # never better than exact: the k-th score found is at most the exact k-th score
    assert bool((scores[..., -1] <= exact_s[..., -1] + 1e-4).all())


def test_small_and_empty_banks():
    keys = clustered(1, 5, 8)
    index = KeyIndex(keys, kind="ivf")
    s, i = index.search(clustered(1, 3, 8, seed=2), 8)  # k clipped to N
    assert i.shape == (1, 3, 5) and sorted(i[0, 0].tolist()) == [0, 1, 2, 3, 4]
    empty = KeyIndex(torch.zeros(2, 0, 8), kind="hnsw")
    s, i = empty.search(torch.randn(2, 1, 8), 4)
    assert s.shape == i.shape == (2, 1, 0) and len(empty) == 0


def test_ivf_short_lists_fall_back_to_exact():
    keys = clustered(1, 400, 8)
    index = KeyIndex(keys, kind="ivf", nlist=10, nprobe=1)  # one list: may hold fewer than k
    queries = clustered(1, 20, 8, seed=3)
    _, idx = index.search(queries, 64)
    assert bool((idx >= 0).all()) and bool((idx < 400).all())
    assert all(len(set(row.tolist())) == 64 for row in idx[0])  # no duplicates, no -1


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown index kind"):
        KeyIndex(torch.zeros(1, 4, 8), kind="annoy")
    with pytest.raises(ValueError, match="unknown similarity"):
        KeyIndex(torch.zeros(1, 4, 8), similarity="hamming")
    with pytest.raises(ValueError, match=r"\[G, N, E\]"):
        KeyIndex(torch.zeros(4, 8))
    with pytest.raises(ValueError, match=r"\[L, N, G, E\]"):
        BankIndex.build(torch.zeros(1, 4, 8))


def test_choose_kind():
    assert choose_kind("exact", 10**7) is None
    assert choose_kind("auto", AUTO_MIN_ENTRIES - 1) is None
    assert choose_kind("auto", AUTO_MIN_ENTRIES) == "ivf"
    assert choose_kind("hnsw", 3) == "hnsw"
    with pytest.raises(ValueError, match="unknown index"):
        choose_kind("lsh", 3)


def test_memory_attention_reads_through_the_index():
    """With an index that finds every true neighbour (small bank), the model's output and the
    retrieved entries equal exact search's."""
    model = make_model()
    with torch.no_grad():
        model.layers[1].attn.memory.gate.fill_(1.0)
    tok = ByteTokenizer()
    bank = MemoryBank.build(model, tok, TEXTS, progress=False)
    ids = torch.tensor([tok.encode("Where is Paris?")])
    indexed = bank.state(index="ivf", nprobe=1000)
    assert isinstance(indexed.index, BankIndex) and len(indexed.index) == len(bank)
    with torch.no_grad():
        exact = model(ids, memory=bank.state())
        approx = model(ids, memory=indexed)
    assert torch.equal(approx.memory_indices[0], exact.memory_indices[0])
    assert torch.allclose(approx.logits, exact.logits, atol=1e-5)
