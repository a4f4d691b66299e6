"""External memory bank: build, provenance, persistence, refusal, retrieval exactness."""

import json

import pytest
import torch

from memgpt.config import MemoryConfig, get_preset
from memgpt.memory import MemoryBank
from memgpt.model import MemGPT

TEXTS = {
    "cats": "The cat sat on the mat and looked at the dog.",
    "paris": "Paris is the capital of France. It lies on the Seine.",
    "blank": "",
}


class ByteTokenizer:
    """One token per character (ids 3..511), offsets (i, i + 1): enough to test the bank."""

    def encode(self, text: str) -> list[int]:
        return self.encode_with_offsets(text)[0]

    def encode_with_offsets(self, text: str):
        return [3 + ord(c) % 509 for c in text], [(i, i + 1) for i in range(len(text))]


def make_model(seed: int = 0, **changes) -> MemGPT:
    torch.manual_seed(seed)
    cfg = get_preset("tiny")
    return MemGPT(cfg.replace(**changes) if changes else cfg).eval()


@pytest.fixture(scope="module")
def mem_model() -> MemGPT:
    return make_model()


@pytest.fixture(scope="module")
def mem_tok() -> ByteTokenizer:
    return ByteTokenizer()


@pytest.fixture(scope="module")
def bank(mem_model, mem_tok) -> MemoryBank:
    return MemoryBank.build(mem_model, mem_tok, TEXTS, progress=False)


def layer_kv(model: MemGPT, ids: list[int], layer: int):
    """Direct recomputation: pre-rotary (k, v) [T, G, E] and q [T, H, E] of ``layer``."""
    c = model.config
    with torch.no_grad():
        h = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[layer][0]
        block = model.layers[layer]
        x = block.attn_norm(h)
        shape = (len(ids), c.n_kv_heads, c.head_dim)
        q = block.attn.q_proj(x).view(len(ids), c.n_heads, c.head_dim)
        return block.attn.k_proj(x).view(shape), block.attn.v_proj(x).view(shape), q


def test_build_counts_and_shapes(bank, mem_model, mem_tok):
    c = mem_model.config
    n = sum(len(mem_tok.encode(t)) for t in TEXTS.values())
    assert len(bank) == n
    assert bank.sources == ["cats", "paris"]  # the empty text is skipped
    assert bank.keys.shape == bank.values.shape == (1, n, c.n_kv_heads, c.head_dim)
    assert bank.keys.dtype == torch.float32 and bank.layers == (1,)
    assert bank.source_index.dtype == bank.starts.dtype == torch.long
    assert len(bank.backbone_hash) == 64


def test_keys_equal_direct_recomputation(bank, mem_model, mem_tok):
    pos = 0
    for text in (TEXTS["cats"], TEXTS["paris"]):
        ids = mem_tok.encode(text)
        k, v, _ = layer_kv(mem_model, ids, 1)
        assert torch.allclose(bank.keys[0, pos:pos + len(ids)], k, atol=1e-5)
        assert torch.allclose(bank.values[0, pos:pos + len(ids)], v, atol=1e-5)
        pos += len(ids)


def test_windows_batches_and_dtype(bank, mem_model, mem_tok):
    small = MemoryBank.build(mem_model, mem_tok, TEXTS, window=16, context=4, batch_size=3,
                             progress=False)
    assert len(small) == len(bank)
    assert torch.equal(small.starts, bank.starts) and torch.equal(small.ends, bank.ends)
    assert torch.allclose(small.keys[:, :16], bank.keys[:, :16], atol=1e-5)  # first window
    # a later window: the run covers [16 - 4, 28), only [16, 28) is stored
    ids = mem_tok.encode(TEXTS["cats"])
    k, _, _ = layer_kv(mem_model, ids[12:28], 1)
    assert torch.allclose(small.keys[0, 16:28], k[4:], atol=1e-5)
    half = MemoryBank.build(mem_model, mem_tok, list(TEXTS.values()), dtype=torch.float16,
                            batch_size=1, progress=False)
    assert half.keys.dtype == torch.float16 and half.sources == ["0", "1"]
    assert torch.allclose(half.keys.float(), bank.keys, atol=1e-2)


def test_build_errors(mem_tok):
    with pytest.raises(ValueError, match="no memory layers"):
        MemoryBank.build(make_model(memory=MemoryConfig()), mem_tok, ["x"], progress=False)
    with pytest.raises(TypeError):
        MemoryBank.build(make_model(), mem_tok, "one string", progress=False)
    with pytest.raises(ValueError, match="context"):
        MemoryBank.build(make_model(), mem_tok, ["x"], window=8, context=8, progress=False)


def test_provenance_maps_back_to_text(bank, mem_tok):
    got = bank.provenance(range(len(bank)))
    want = [(sid, s, e) for sid in ("cats", "paris")
            for s, e in mem_tok.encode_with_offsets(TEXTS[sid])[1]]
    assert got == want
    sid, s, e = bank.provenance(torch.tensor([[50]]))[0]
    assert TEXTS[sid][s:e] == TEXTS["paris"][50 - len(TEXTS["cats"])]


def test_save_load_round_trip(bank, mem_model, tmp_path):
    bank.save(tmp_path / "b")
    meta = json.loads((tmp_path / "b" / "bank.json").read_text())
    assert meta["counts"] == {"entries": len(bank), "sources": 2} and meta["layers"] == [1]
    loaded = MemoryBank.load(tmp_path / "b", model=mem_model)
    for name in ("keys", "values", "source_index", "starts", "ends"):
        assert torch.equal(getattr(loaded, name), getattr(bank, name))
    assert (loaded.sources, loaded.backbone_hash, loaded.layers) == (
        bank.sources, bank.backbone_hash, bank.layers)
    half = MemoryBank(bank.keys.half(), bank.values.half(), bank.source_index, bank.starts,
                      bank.ends, bank.sources, bank.backbone_hash, bank.layers)
    assert torch.equal(MemoryBank.load(half.save(tmp_path / "h")).keys, half.keys)
    assert not list((tmp_path / "b").glob("*.tmp"))


def test_load_refuses_other_backbone(bank, tmp_path):
    bank.save(tmp_path / "b")
    with pytest.raises(ValueError, match="backbone"):
        MemoryBank.load(tmp_path / "b", model=make_model(seed=1))


def test_load_refuses_other_layers(bank, mem_model, tmp_path):
    other = make_model(memory=MemoryConfig(layers=(0,), num_slots=4, top_k=4))
    other.load_state_dict(
        {k: v for k, v in mem_model.state_dict().items() if ".memory." not in k}, strict=False)
    bank.save(tmp_path / "b")
    with pytest.raises(ValueError, match="layers"):
        MemoryBank.load(tmp_path / "b", model=other)


def test_load_errors(bank, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        MemoryBank.load(tmp_path / "nope")
    d = bank.save(tmp_path / "b")
    meta = json.loads((d / "bank.json").read_text())
    (d / "bank.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        MemoryBank.load(d)
    (d / "bank.json").write_text(json.dumps({**meta, "head_dim": 8}))
    with pytest.raises(ValueError, match="do not match"):
        MemoryBank.load(d)
    (d / "bank.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ValueError, match="format_version"):
        MemoryBank.load(d)
    (d / "bank.json").write_text(json.dumps(meta))
    (d / "bank.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="corrupt"):
        MemoryBank.load(d)
    (d / "bank.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="bank.safetensors"):
        MemoryBank.load(d)


def test_closed_gate_bank_is_exact_noop(bank, mem_model):
    ids = torch.tensor([ByteTokenizer().encode("Where is Paris?")])
    with torch.no_grad():
        plain = mem_model(ids).logits
        with_bank = mem_model(ids, memory=bank.state())
        empty = mem_model(ids, memory=MemoryBank.empty(mem_model).state()).logits
    assert torch.equal(with_bank.logits, plain) and torch.equal(empty, plain)
    assert with_bank.memory_indices == ()  # closed gates: the read is skipped, it costs nothing
    reads = [m for m in mem_model.modules() if hasattr(m, "skip_when_closed")]
    try:
        for m in reads:
            m.skip_when_closed = False  # as an export with bank inputs does
        with torch.no_grad():
            kept = mem_model(ids, memory=bank.state())
    finally:
        for m in reads:
            m.skip_when_closed = True
    assert torch.equal(kept.logits, plain)
    assert kept.memory_indices[0].shape == (1, 4, ids.shape[1], 4)
    # a gate being trained is never skipped (its gradient needs the read)
    out = mem_model(ids, memory=bank.state())
    assert len(out.memory_indices) == 1


def test_open_gate_retrieves_true_topk(bank, mem_tok):
    model = make_model()
    with torch.no_grad():
        model.layers[1].attn.memory.gate.fill_(1.0)
    ids = mem_tok.encode("Where is Paris?")
    with torch.no_grad():
        plain = model(torch.tensor([ids])).logits
        out = model(torch.tensor([ids]), memory=bank.state())
    assert not torch.allclose(out.logits, plain)
    _, _, q = layer_kv(model, ids, 1)  # [T, H, E]
    c = model.config
    group = torch.arange(c.n_heads) // c.n_groups
    scores = torch.einsum("the,nhe->htn", q, bank.keys[0][:, group])  # [H, T, N]
    assert torch.equal(out.memory_indices[0][0], scores.topk(c.memory.top_k, dim=-1).indices)


def test_search_equals_brute_force(bank, mem_model, mem_tok):
    c = mem_model.config
    query = "capital of France"
    hits = bank.search(mem_model, mem_tok, query, k=6)
    _, _, q = layer_kv(mem_model, mem_tok.encode(query), 1)
    qg = q[-1].view(c.n_kv_heads, c.n_groups, c.head_dim).mean(1)  # [G, E]
    scores = torch.einsum("ge,nge->gn", qg, bank.keys[0]).max(0).values  # [N]
    ref_s, ref_i = scores.topk(6)
    assert [h.index for h in hits] == ref_i.tolist()
    assert torch.allclose(torch.tensor([h.score for h in hits]), ref_s, atol=1e-5)
    assert [(h.source, h.start, h.end) for h in hits] == bank.provenance(ref_i)
    small = bank.search_vectors(qg, k=6, chunk_size=5)
    assert [h.index for h in small] == ref_i.tolist()
    for sim in ("cosine", "l2"):
        many = bank.search_vectors(qg, k=len(bank) + 3, similarity=sim, chunk_size=7)
        assert len({h.index for h in many}) == len(many) == len(bank)
        assert all(a.score >= b.score for a, b in zip(many, many[1:]))


def test_merge_extend_empty(bank, mem_model, mem_tok):
    empty = MemoryBank.empty(mem_model)
    assert len(empty) == 0 and empty.search_vectors(torch.randn(2, 16)) == []
    more = bank.extend(mem_model, mem_tok, {"extra": "More text."}, progress=False)
    assert len(more) == len(bank) + 10 and more.sources == ["cats", "paris", "extra"]
    assert more.provenance([len(bank)]) == [("extra", 0, 1)]
    assert torch.equal(empty.merge(bank).keys, bank.keys)
    with pytest.raises(ValueError, match="different backbones"):
        bank.merge(MemoryBank.empty(make_model(seed=1)))
