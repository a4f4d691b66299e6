"""Heads: shapes, pooling under either padding side, specs, losses, span decoding, windows."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from memgpt.tasks.adapters import AdapterSpec, adapter_parameters, add_adapters
from memgpt.tasks.heads import (
    ClassificationHead,
    HeadSpec,
    SpanHead,
    TaskModel,
    best_span,
    build_head,
    classification_loss,
    features,
    pool,
    span_loss,
    windows,
)

D = 64  # tiny preset d_model


def test_head_shapes():
    h = torch.randn(3, 7, D)
    assert ClassificationHead(D, 4)(h).shape == (3, 4)
    assert ClassificationHead(D, 2, pooling="mean")(h, torch.ones(3, 7)).shape == (3, 2)
    start, end = SpanHead(D)(h)
    assert start.shape == end.shape == (3, 7)
    assert build_head(HeadSpec("lm", D)) is None
    assert isinstance(build_head(HeadSpec("span", D)), SpanHead)
    assert isinstance(build_head(HeadSpec("classify", D, ("a", "b"))), ClassificationHead)


def test_pool_last_and_mean_ignore_padding_on_either_side():
    h = torch.randn(2, 5, D)
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1]])
    assert torch.equal(pool(h, right, "last"), torch.stack([h[0, 2], h[1, 4]]))
    assert torch.equal(pool(h, left, "last"), torch.stack([h[0, 4], h[1, 4]]))
    torch.testing.assert_close(pool(h, left, "mean")[0], h[0, 2:].mean(0))
    torch.testing.assert_close(pool(h, right, "mean")[0], h[0, :3].mean(0))
    assert torch.equal(pool(h, None, "last"), h[:, -1])


def test_classify_last_pooling_on_the_backbone_left_vs_right_padding(tiny_model):
    """The pooled state of a padded sequence is that of the same sequence unpadded."""
    seq = torch.tensor([[5, 9, 33, 7]])
    pad = tiny_model.config.pad_id
    ref = features(tiny_model, seq)[:, -1]
    left = torch.tensor([[pad, pad, 5, 9, 33, 7]])
    right = torch.tensor([[5, 9, 33, 7, pad, pad]])
    for ids in (left, right):
        mask = (torch.arange(6) >= 2) if ids is left else (torch.arange(6) < 4)
        got = pool(features(tiny_model, ids, mask[None].long()), mask[None].long(), "last")
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_spec_round_trip_and_bad_specs():
    spec = HeadSpec("classify", D, ("neg", "pos"), pooling="mean", dropout=0.1)
    assert HeadSpec.from_dict(spec.to_dict()) == spec
    assert spec.num_labels == 2
    assert HeadSpec.from_dict(HeadSpec("span", D).to_dict()) == HeadSpec("span", D)
    bad = [
        dict(kind="tagger", d_model=D),
        dict(kind="classify", d_model=D, labels=("a",)),
        dict(kind="classify", d_model=D, labels=("a", "a")),
        dict(kind="span", d_model=D, labels=("a", "b")),
        dict(kind="classify", d_model=D, labels=("a", "b"), pooling="max"),
        dict(kind="lm", d_model=0),
        dict(kind="span", d_model=D, dropout=1.0),
    ]
    for kwargs in bad:
        with pytest.raises(ValueError):
            HeadSpec(**kwargs)
    with pytest.raises(ValueError, match="unknown HeadSpec keys: colour"):
        HeadSpec.from_dict({"kind": "lm", "d_model": D, "colour": "red"})


def test_losses_hand_values_and_ignore_index():
    # Uniform logits over C classes: cross-entropy is log C.
    assert math.isclose(classification_loss(torch.zeros(3, 4), torch.tensor([0, 1, 3])).item(),
                        math.log(4), rel_tol=1e-6)
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    want = -F.log_softmax(torch.tensor([2.0, 0.0]), -1)[0].item()
    assert math.isclose(classification_loss(logits, torch.tensor([0, -100])).item(), want,
                        rel_tol=1e-6)
    s, e = torch.zeros(2, 4), torch.zeros(2, 4)
    assert math.isclose(span_loss(s, e, torch.tensor([0, 1]), torch.tensor([2, 3])).item(),
                        math.log(4), rel_tol=1e-6)
    e[:, 3] = 100.0  # end perfectly right for row 1; start still uniform
    got = span_loss(s, e, torch.tensor([0, 1]), torch.tensor([-100, 3])).item()
    assert math.isclose(got, (math.log(4) + 0.0) / 2, abs_tol=1e-5)


def brute_force(s, e, allowed, max_len):
    best = None
    for i, j in itertools.product(range(len(s)), repeat=2):
        if i <= j < i + max_len and allowed[i] and allowed[j]:
            score = float(s[i] + e[j])
            if best is None or score > best[2]:
                best = (i, j, score)
    return best


def test_best_span_matches_brute_force_with_ties():
    g = torch.Generator().manual_seed(0)
    for trial in range(60):
        t = int(torch.randint(1, 25, (1,), generator=g))
        # Small integer logits make ties common, so the tie-break is tested too.
        s = torch.randint(-3, 4, (t,), generator=g).float()
        e = torch.randint(-3, 4, (t,), generator=g).float()
        allowed = torch.rand(t, generator=g) > 0.3
        if not allowed.any():
            allowed[t // 2] = True
        max_len = int(torch.randint(1, 8, (1,), generator=g))
        assert best_span(s, e, allowed=allowed, max_answer_tokens=max_len) == brute_force(
            s, e, allowed, max_len), trial


def test_best_span_edge_cases():
    s = torch.tensor([0.0, 0.0, 9.0, 0.0, 0.0])
    e = torch.tensor([8.0, 0.0, 0.0, 0.0, 1.0])
    ok = torch.ones(5, dtype=torch.bool)
    # The best pair (2, 0) has start > end: never chosen.
    assert best_span(s, e, allowed=ok) == (2, 4, 10.0)
    assert best_span(s, e, allowed=ok, max_answer_tokens=2)[:2] == (2, 2)
    # The question (positions 0..1) is not allowed.
    s2 = torch.tensor([50.0, 50.0, 0.0, 1.0, 0.0])
    assert best_span(s2, e, allowed=torch.tensor([0, 0, 1, 1, 1]).bool())[:2] == (3, 4)
    assert best_span(s, e, allowed=torch.tensor([0, 0, 0, 1, 0]).bool()) == (3, 3, 0.0)
    assert best_span([1.0], [2.0], allowed=[True]) == (0, 0, 3.0)
    assert best_span(torch.zeros(4), torch.zeros(4), allowed=ok[:4]) == (0, 0, 0.0)  # earliest
    with pytest.raises(ValueError, match="no allowed"):
        best_span(s, e, allowed=torch.zeros(5, dtype=torch.bool))
    with pytest.raises(ValueError):
        best_span(s, e[:4], allowed=ok)
    with pytest.raises(ValueError):
        best_span(s, e, allowed=ok, max_answer_tokens=0)


def test_best_span_long_context_is_fast():
    t = 20000
    s, e = torch.randn(t), torch.randn(t)
    i, j, _ = best_span(s, e, allowed=torch.ones(t, dtype=torch.bool), max_answer_tokens=30)
    assert 0 <= j - i < 30


@pytest.mark.parametrize("n,max_len,stride", [
    (0, 4, 1), (3, 4, 1), (4, 4, 2), (5, 4, 1), (10, 4, 2), (11, 4, 0), (100, 7, 3), (9, 1, 0)])
def test_windows_cover_and_overlap(n, max_len, stride):
    ws = windows(n, max_len=max_len, stride=stride)
    assert ws[0][0] == 0 and ws[-1][1] == n
    assert all(0 <= b - a <= max_len for a, b in ws)
    if n <= max_len:
        assert ws == [(0, n)]
    for (a0, b0), (a1, b1) in zip(ws, ws[1:]):
        assert b0 - a1 == stride and a1 > a0 and b1 > b0


def test_windows_bad_arguments():
    for kwargs in (dict(max_len=4, stride=4), dict(max_len=4, stride=9), dict(max_len=0, stride=0),
                   dict(max_len=4, stride=-1)):
        with pytest.raises(ValueError):
            windows(10, **kwargs)
    with pytest.raises(ValueError):
        windows(-1, max_len=4, stride=1)


IDS = torch.randint(3, 512, (2, 9), generator=torch.Generator().manual_seed(3))
MASK = torch.ones(2, 9, dtype=torch.long)


@pytest.mark.parametrize("lora", [False, True])
def test_task_model_forward(tiny_model, lora):
    if lora:
        add_adapters(tiny_model, AdapterSpec(kind="lora", rank=2, targets=("q_proj", "v_proj")))
    cls = TaskModel(tiny_model, HeadSpec("classify", D, ("a", "b", "c")))
    assert cls(IDS, MASK).shape == (2, 3)
    start, end = TaskModel(tiny_model, HeadSpec("span", D))(IDS, MASK)
    assert start.shape == end.shape == (2, 9)
    lm = TaskModel(tiny_model, HeadSpec("lm", D))
    assert lm.head is None
    assert torch.equal(lm(IDS), tiny_model(IDS).logits)
    trainable = {id(p) for p in cls.trainable_parameters()}
    head = {id(p) for p in cls.head.parameters()}
    if lora:
        assert trainable == head | {id(p) for p in adapter_parameters(tiny_model)}
        cls.train()
        F.cross_entropy(cls(IDS, MASK), torch.tensor([0, 2])).backward()
        assert all(p.grad is None for p in cls.parameters() if not p.requires_grad)
        assert all(p.grad is not None for p in cls.trainable_parameters())
    else:
        assert trainable == {id(p) for p in cls.parameters()}


def test_task_model_rejects_width_mismatch(tiny_model):
    with pytest.raises(ValueError, match="d_model"):
        TaskModel(tiny_model, HeadSpec("span", D + 1))
