"""The from-scratch quick start: constructor, a training step, generate, the example script."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from memgpt import MemGPT, load
from memgpt.config import get_preset

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"


def test_constructor_with_transformer_names_builds_a_memory_model():
    model = MemGPT(vocab_size=1000, d_model=64, nhead=4, num_layers=2, dim_feedforward=128)
    c = model.config
    assert (c.vocab_size, c.d_model, c.n_heads, c.n_kv_heads, c.n_layers, c.ffn_dim) == \
        (1000, 64, 4, 4, 2, 128)
    assert c.memory.layers == (1,) and c.memory.num_slots > 0
    gate = model.layers[1].attn.memory.gate
    assert bool((gate != 0).all())  # open, so slots learn from the first step
    inputs = torch.randint(0, 1000, (2, 9))
    out = model(inputs[:, :-1])
    assert out.logits.shape == (2, 8, 1000)
    loss = nn.CrossEntropyLoss()(out.logits.flatten(0, 1), inputs[:, 1:].flatten())
    loss.backward()
    assert model.layers[1].attn.memory.slot_keys.grad.abs().sum() > 0


def test_constructor_options_and_misuse():
    m = MemGPT(vocab_size=300, d_model=32, nhead=4, num_layers=3, dim_feedforward=64,
               num_kv_heads=2, max_seq_len=128, memory_layers=(), memory_top_k=4)
    assert m.config.memory.layers == () and m.config.n_kv_heads == 2
    assert not any(".attn.memory." in k for k in m.state_dict())
    with pytest.raises(TypeError):
        MemGPT()
    with pytest.raises(TypeError):
        MemGPT(get_preset("tiny"), vocab_size=10)
    with pytest.raises(TypeError):
        MemGPT(vocab_size=300, d_model=32, nhead=4, num_layers=1, dim_feedforward=64, bogus=1)


def test_config_path_keeps_the_closed_gate():
    model = MemGPT(get_preset("tiny"))
    assert not model.layers[1].attn.memory.gate.any()
    assert "tokenizer" not in " ".join(model.state_dict())


def test_generate_needs_a_tokenizer_and_round_trips_cjk():
    model = MemGPT(vocab_size=512, d_model=32, nhead=4, num_layers=1, dim_feedforward=64)
    with pytest.raises(ValueError, match="model.tokenizer = memgpt.load_tokenizer"):
        model.generate("今天天气很好")
    tiny = load("tiny")
    assert tiny.tokenizer is not None
    text = tiny.generate("今天天气很好", max_new_tokens=3)
    assert isinstance(text, str)
    assert tiny.tokenizer.decode(tiny.tokenizer.encode("今天天气很好 ok")) == "今天天气很好 ok"


def test_quickstart_example_runs(capsys):
    spec = importlib.util.spec_from_file_location("quickstart", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.main(["--d-model", "32", "--nhead", "4", "--dim-feedforward", "64",
                        "--vocab-size", "300", "--steps", "12", "--seq-len", "16",
                        "--batch-size", "4", "--max-new-tokens", "4"])
    out = capsys.readouterr().out
    assert isinstance(text, str) and "今天天气很好 ->" in out
    losses = [float(line.split()[-1]) for line in out.splitlines() if line.startswith("step")]
    assert losses[-1] < losses[0]
