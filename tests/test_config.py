import dataclasses

import pytest

from memgpt.config import PRESETS, MemoryConfig, ModelConfig, get_preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_json(name):
    cfg = get_preset(name)
    again = ModelConfig.from_json(cfg.to_json())
    assert again == cfg
    assert isinstance(again.memory, MemoryConfig)
    assert isinstance(again.memory.layers, tuple)


def test_smollm2_preset_facts():
    c = get_preset("smollm2-135m")
    assert (c.n_layers, c.d_model, c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_dim) == (
        30, 576, 9, 3, 64, 1536)
    assert (c.vocab_size, c.rope_theta, c.bos_id, c.eos_id) == (49152, 100000.0, 1, 2)
    assert c.tie_embeddings


def test_unknown_keys_rejected():
    d = get_preset("tiny").to_dict()
    d["n_layer"] = 3
    with pytest.raises(ValueError, match="unknown ModelConfig keys: n_layer"):
        ModelConfig.from_dict(d)
    d = get_preset("tiny").to_dict()
    d["memory"]["topk"] = 3
    with pytest.raises(ValueError, match="unknown MemoryConfig keys: topk"):
        ModelConfig.from_dict(d)


@pytest.mark.parametrize("changes, message", [
    ({"n_kv_heads": 3}, "multiple of n_kv_heads"),
    ({"head_dim": 15}, "even"),
    ({"eos_id": 10_000}, "outside vocab"),
    ({"d_model": 0}, "d_model must be >= 1"),
    ({"memory": {"layers": [5]}}, "do not exist"),
    ({"memory": {"similarity": "manhattan"}}, "similarity must be one of"),
    ({"memory": {"layers": [1, 1]}}, "distinct"),
    ({"memory": {"top_k": 0}}, "top_k"),
])
def test_invariants_checked_on_creation(changes, message):
    d = {**get_preset("tiny").to_dict(), **changes}
    with pytest.raises(ValueError, match=message):
        ModelConfig.from_dict(d)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_preset("tiny").d_model = 3


def test_unknown_preset_lists_known_names():
    with pytest.raises(KeyError, match="smollm2-135m"):
        get_preset("gpt-5")
