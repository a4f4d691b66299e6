"""Backbone parity tests on a tiny seeded model."""

import pytest
import torch

from memgpt.config import get_preset
from memgpt.layers import apply_rotary, rotary_tables
from memgpt.model import MemGPT, MemoryState
from memgpt.retrieval import topk_search


def make_model(seed: int = 0, **changes) -> MemGPT:
    torch.manual_seed(seed)
    cfg = get_preset("tiny")
    if changes:
        cfg = cfg.replace(**changes)
    return MemGPT(cfg).eval()


def random_bank(model: MemGPT, n: int = 40, seed: int = 1) -> MemoryState:
    c = model.config
    g = torch.Generator().manual_seed(seed)
    shape = (len(c.memory.layers), n, c.n_kv_heads, c.head_dim)
    return MemoryState(torch.randn(shape, generator=g), torch.randn(shape, generator=g))


def open_gates(model: MemGPT) -> None:
    with torch.no_grad():
        for layer in model.layers:
            if layer.attn.memory is not None:
                layer.attn.memory.gate.fill_(2.0)


IDS = torch.randint(3, 512, (2, 12), generator=torch.Generator().manual_seed(7))


def test_shapes():
    m = make_model()
    out = m(IDS, output_hidden_states=True)
    c = m.config
    assert out.logits.shape == (2, 12, c.vocab_size)
    assert len(out.past_key_values) == c.n_layers
    assert out.past_key_values[0][0].shape == (2, c.n_kv_heads, 12, c.head_dim)
    assert len(out.hidden_states) == c.n_layers + 1
    assert out.memory_indices is None
    assert m(IDS, num_logits=1).logits.shape == (2, 1, c.vocab_size)
    assert torch.allclose(m(IDS, num_logits=1).logits[:, 0], out.logits[:, -1], atol=1e-6)


def test_causal_mask_no_future_leakage():
    m = make_model()
    changed = IDS.clone()
    changed[:, 8:] = (changed[:, 8:] + 5) % 512
    a, b = m(IDS).logits, m(changed).logits
    assert torch.equal(a[:, :8], b[:, :8])
    assert not torch.allclose(a[:, 8:], b[:, 8:])


@pytest.mark.parametrize("splits", [[12], [1] * 12, [5, 1, 6], [3, 4, 5]])
def test_cached_equals_uncached(splits):
    m = make_model()
    full = m(IDS).logits
    past, parts, pos = None, [], 0
    for n in splits:
        out = m(IDS[:, pos:pos + n], past_key_values=past)
        parts.append(out.logits)
        past, pos = out.past_key_values, pos + n
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)


def test_left_padding_matches_unpadded_rows():
    m = make_model()
    short = IDS[1:, :7]
    pad = torch.full((1, 5), m.config.pad_id)
    batch = torch.cat([IDS[:1], torch.cat([pad, short], 1)], 0)
    mask = torch.ones_like(batch)
    mask[1, :5] = 0
    out = m(batch, attention_mask=mask)
    assert torch.allclose(out.logits[0], m(IDS[:1]).logits[0], atol=1e-5)
    assert torch.allclose(out.logits[1, 5:], m(short).logits[0], atol=1e-5)
    assert torch.isfinite(out.logits).all()


def test_memory_off_equals_plain_backbone():
    """Gate closed (as initialised): slots and a bank change nothing, bit for bit."""
    m = make_model()
    plain = MemGPT(m.config.replace(memory={"layers": ()})).eval()
    missing, unexpected = plain.load_state_dict(m.state_dict(), strict=False)
    assert not missing and all(".attn.memory." in k for k in unexpected)
    ref = plain(IDS).logits
    assert torch.equal(m(IDS).logits, ref)
    out = m(IDS, memory=random_bank(m))
    assert torch.equal(out.logits, ref)
    assert out.memory_indices[0].shape == (2, m.config.n_heads, 12, m.config.memory.top_k)


def test_empty_bank_equals_no_bank_even_with_open_gate():
    m = make_model()
    open_gates(m)
    c = m.config
    empty = MemoryState(torch.zeros(1, 0, c.n_kv_heads, c.head_dim),
                        torch.zeros(1, 0, c.n_kv_heads, c.head_dim))
    assert torch.equal(m(IDS, memory=empty).logits, m(IDS).logits)


def test_open_gate_reads_memory_and_retrieves_true_top_k():
    m = make_model()
    open_gates(m)
    bank = random_bank(m)
    out = m(IDS, memory=bank, output_hidden_states=True)
    assert not torch.allclose(out.logits, m(IDS).logits)
    # Recompute the pre-rotary queries of the memory layer and search by brute force.
    c = m.config
    c_layer = c.memory.layers[0]
    attn = m.layers[c_layer].attn
    x = m.layers[c_layer].attn_norm(out.hidden_states[c_layer])
    q = attn.q_proj(x).view(2, 12, c.n_heads, c.head_dim)  # [B, T, H, E]
    r = c.n_groups
    for h in range(c.n_heads):
        scores = q[:, :, h] @ bank.keys[0][:, h // r].T  # [B, T, N]
        want = scores.topk(c.memory.top_k, -1).indices
        assert torch.equal(out.memory_indices[0][:, h], want)


def test_cached_equals_uncached_with_memory():
    m = make_model()
    open_gates(m)
    bank = random_bank(m)
    full = m(IDS, memory=bank).logits
    a = m(IDS[:, :7], memory=bank)
    b = m(IDS[:, 7:], memory=bank, past_key_values=a.past_key_values)
    assert torch.allclose(torch.cat([a.logits, b.logits], 1), full, atol=1e-5)


def test_rotary_is_relative():
    """q·k after rotation depends only on the position difference (RoFormer property)."""
    e = 16
    inv = 1.0 / (10000 ** (torch.arange(0, e, 2).float() / e))
    q, k = torch.randn(1, 1, 1, e), torch.randn(1, 1, 1, e)

    def dot(pq, pk):
        cq, sq = rotary_tables(inv, torch.tensor([[pq]]), torch.float32)
        ck, sk = rotary_tables(inv, torch.tensor([[pk]]), torch.float32)
        return (apply_rotary(q, cq, sq) * apply_rotary(k, ck, sk)).sum()

    assert torch.allclose(dot(5, 2), dot(13, 10), atol=1e-5)
    assert torch.allclose(apply_rotary(q, *rotary_tables(inv, torch.tensor([[9]]),
                                                         torch.float32)).norm(), q.norm())


def test_untied_head_and_topk_helper_agree():
    m = make_model(tie_embeddings=False)
    out = m(IDS, output_hidden_states=True)
    final = out.hidden_states[-1]  # after the final norm
    assert m.lm_head is not None and out.logits.shape[-1] == 512
    assert m.lm_head.weight.data_ptr() != m.embed.weight.data_ptr()
    torch.testing.assert_close(out.logits, final @ m.lm_head.weight.T)  # the untied head projects
    assert not torch.allclose(out.logits, final @ m.embed.weight.T, atol=1e-3)
    gen = torch.Generator().manual_seed(2)
    q, keys = torch.randn(1, 3, 4, generator=gen), torch.randn(1, 10, 4, generator=gen)
    s, i = topk_search(q, keys, 3)
    ref = (q @ keys.transpose(1, 2)).topk(3, dim=-1)  # brute force over the same scores
    assert torch.equal(i, ref.indices)
    torch.testing.assert_close(s, ref.values)
