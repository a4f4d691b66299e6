"""Adapters: identity at init, only adapter params train, merged == unmerged, clean removal."""

import pytest
import torch

from memgpt.config import get_preset
from memgpt.model import MemGPT
from memgpt.tasks.adapters import (
    AdapterSpec,
    adapter_parameters,
    adapter_state_dict,
    adapters_off,
    add_adapters,
    merge_adapters,
    remove_adapters,
    unmerge_adapters,
)

IDS = torch.randint(3, 512, (2, 9), generator=torch.Generator().manual_seed(3))
SPECS = [
    AdapterSpec(kind="lora", rank=4, targets=("q_proj", "v_proj")),
    AdapterSpec(kind="lora", rank=2, targets=("o_proj", "gate_proj", "down_proj"), layers=(1,)),
    AdapterSpec(kind="bottleneck", rank=8, targets=("attn", "mlp")),
]


def make_model() -> MemGPT:
    torch.manual_seed(0)
    return MemGPT(get_preset("tiny")).eval()


def perturb(model):
    with torch.no_grad():
        for p in adapter_parameters(model):
            p.add_(torch.randn_like(p) * 0.1)


def adapted_model(spec):
    """(model with perturbed adapters, plain logits, adapted logits) on IDS."""
    m = make_model()
    base = m(IDS).logits
    add_adapters(m, spec)
    perturb(m)
    adapted = m(IDS).logits
    assert not torch.allclose(adapted, base)
    return m, base, adapted


@pytest.mark.parametrize("spec", SPECS)
def test_identity_at_init(spec):
    m = make_model()
    ref = m(IDS).logits
    add_adapters(m, spec)
    assert torch.equal(m(IDS).logits, ref)


@pytest.mark.parametrize("spec", SPECS)
def test_only_adapter_parameters_train(spec):
    m = make_model()
    n = add_adapters(m, spec)
    trainable = [p for p in m.parameters() if p.requires_grad]
    assert n == sum(p.numel() for p in trainable) > 0
    assert {id(p) for p in trainable} == {id(p) for p in adapter_parameters(m)}
    m.train()
    m(IDS).logits.sum().backward()
    assert all(p.grad is None for p in m.parameters() if not p.requires_grad)


@pytest.mark.parametrize("spec", SPECS[:2])
def test_merged_equals_unmerged_and_unmerge_restores(spec):
    m, base, adapted = adapted_model(spec)
    merge_adapters(m)
    assert torch.allclose(m(IDS).logits, adapted, atol=1e-5)
    unmerge_adapters(m)
    assert torch.allclose(m(IDS).logits, adapted, atol=1e-6)
    remove_adapters(m)
    assert torch.allclose(m(IDS).logits, base, atol=1e-6)
    assert not any("lora" in k for k in m.state_dict())


def test_bottleneck_cannot_merge_and_state_dict_is_adapter_only():
    m = make_model()
    add_adapters(m, SPECS[2])
    sd = adapter_state_dict(m)
    assert sd and all(".down." in k or ".up." in k for k in sd)
    with pytest.raises(ValueError, match="cannot be merged"):
        merge_adapters(m)


def test_hot_swap_on_one_backbone():
    m = make_model()
    base = m(IDS).logits
    add_adapters(m, SPECS[0])
    perturb(m)
    first = m(IDS).logits
    with pytest.raises(ValueError, match="already has adapters"):
        add_adapters(m, SPECS[1])
    remove_adapters(m)
    add_adapters(m, SPECS[2])
    assert torch.equal(m(IDS).logits, base)
    assert not torch.allclose(first, base)


@pytest.mark.parametrize("bad", [{"kind": "ia3"}, {"rank": 0}, {"targets": ("w_q",)},
                                 {"kind": "bottleneck", "targets": ("q_proj",)}, {"dropout": 1.0}])
def test_bad_specs_rejected(bad):
    with pytest.raises(ValueError):
        AdapterSpec(**bad)


@pytest.mark.parametrize("spec", SPECS)
def test_adapters_off_computes_the_plain_backbone(spec):
    m, base, adapted = adapted_model(spec)
    with adapters_off(m):
        assert torch.equal(m(IDS).logits, base)
    assert torch.equal(m(IDS).logits, adapted)  # back on after the block
    if spec.kind == "lora":
        merge_adapters(m)
        with pytest.raises(ValueError, match="unmerge"), adapters_off(m):
            pass
