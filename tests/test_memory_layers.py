"""memgpt.memory_layers: memory weights round trip and refusals; read_windows against the
window-only scoring of memgpt.perplexity and against the bank it should hold."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import memgpt
from memgpt.memory_layers import (
    gates_open,
    load_memory,
    memory_info,
    memory_parameters,
    read_windows,
    save_memory,
)
from memgpt.perplexity import score_tokens


def _model(seed=0):
    torch.manual_seed(seed)
    return memgpt.load("tiny")


def _ids(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(5, 500, (n,), generator=g).tolist()


def test_closed_gates_match_window_only_scoring():
    m = _model()
    ids = _ids()
    assert not gates_open(m)
    ref = score_tokens(m, ids, 64)
    got = np.zeros(len(ids) - 1)
    for w in torch.no_grad()(lambda: list(read_windows(m, ids, 64)))():
        lsm = torch.log_softmax(w["logits"].float(), -1)
        tgt = torch.tensor(ids[w["first"] + 1:w["end"]])
        got[w["first"]:w["end"] - 1] = lsm.gather(-1, tgt[:, None])[:, 0].double().numpy()
    np.testing.assert_allclose(got, ref.logp, rtol=1e-4, atol=1e-4)


def test_score_through_memory_is_score_tokens_when_closed_and_differs_when_open():
    from memgpt.memory_layers import score_through_memory
    from memgpt.perplexity import DEFAULT_CACHE, perplexity

    m = _model()
    ids = _ids()
    ref, got = score_tokens(m, ids, 64), score_through_memory(m, ids, 64)
    np.testing.assert_allclose(got.logp, ref.logp, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got.keys, ref.keys, rtol=1e-3, atol=1e-4)
    assert (got.window_start == ref.window_start).all() and (got.ids == ref.ids).all()
    with torch.no_grad():
        memory_parameters(m)["layers.1.attn.memory.gate"].fill_(1.0)
    opened = perplexity(m, None, ids, window=64, cache=DEFAULT_CACHE,
                        scorer=score_through_memory)
    plain = perplexity(m, None, ids, window=64, cache=DEFAULT_CACHE)
    assert opened["tokens"] == plain["tokens"] == len(ids) - 1
    assert opened["perplexity_without_memory"] != plain["perplexity_without_memory"]


def test_cli_memory_layers_refuses_weights_of_another_backbone(tiny_weights_dir):
    from click.testing import CliRunner

    from memgpt.cli import cli

    r = CliRunner().invoke(cli, ["perplexity", "a b c d e f g h " * 20, "--window", "32",
                                 "--memory-layers", "--weights", tiny_weights_dir])
    assert r.exit_code == 1
    assert r.stderr.startswith("error:") and "other backbone" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_memory_layers_reads_through_the_weights(tiny_weights_dir, tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    import memgpt.memory_layers as ML
    from memgpt.checkpoint import load_model
    from memgpt.cli import cli

    m = load_model(tiny_weights_dir)
    with torch.no_grad():
        memory_parameters(m)["layers.1.attn.memory.gate"].fill_(1.0)
    monkeypatch.setattr(ML, "DEFAULT_MEMORY", save_memory(m, tmp_path / "mem.safetensors",
                                                          info={"note": "test"}))
    text = " ".join(f"word{i % 37}" for i in range(300))
    args = ["perplexity", text, "--window", "32", "--weights", tiny_weights_dir, "--json"]
    runner = CliRunner()
    plain = json.loads(runner.invoke(cli, args).stdout)
    with_layers = json.loads(runner.invoke(cli, [*args, "--memory-layers"]).stdout)
    assert with_layers["memory_layers"] == {"note": "test"} and plain["memory_layers"] is None
    assert with_layers["tokens"] == plain["tokens"]
    assert with_layers["perplexity"] != plain["perplexity"]
    assert "perplexity_without_cache" in with_layers
    assert "perplexity_without_memory" not in with_layers


def test_bank_holds_keys_of_text_that_left_the_window():
    m = _model()
    with torch.no_grad():
        for n, p in memory_parameters(m).items():
            if n.endswith(".gate"):
                p.fill_(0.5)
    ids = _ids(260)
    banks = [w["bank"] for w in read_windows(m, ids, 64)]
    starts = [w["start"] for w in read_windows(m, ids, 64)]
    assert banks == starts  # every token before the window, none of it
    small = [w["bank"] for w in read_windows(m, ids, 64, max_entries=40)]
    assert small == [min(s, 40) for s in starts]
    # the first window's entries are the layer's own keys of those tokens
    seen = {}
    orig = m.layers[1].attn.memory.forward

    def spy(q, bank):
        if bank is not None:
            seen.setdefault("k", bank[0].clone())
        return orig(q, bank)
    m.layers[1].attn.memory.forward = spy
    list(read_windows(m, ids, 64))
    with torch.no_grad():
        out = m(torch.tensor(ids[:64])[None], output_hidden_states=True)
        blk = m.layers[1]
        k = blk.attn.k_proj(blk.attn_norm(out.hidden_states[1][0]))
    assert torch.allclose(seen["k"], k.view(64, *seen["k"].shape[1:])[:32], atol=1e-5)


def test_open_gates_change_the_scores():
    m = _model()
    ids = _ids()
    base = [w["logits"].clone() for w in read_windows(m, ids, 64)]
    with torch.no_grad():
        memory_parameters(m)["layers.1.attn.memory.gate"].fill_(1.0)
    opened = [w["logits"] for w in read_windows(m, ids, 64)]
    assert not torch.allclose(base[-1], opened[-1])


def test_save_load_round_trip(tmp_path):
    m = _model()
    with torch.no_grad():
        for p in memory_parameters(m).values():
            p.add_(torch.randn_like(p))
    path = save_memory(m, tmp_path / "mem.safetensors", {"step": 3})
    assert memory_info(path)["info"] == {"step": 3}
    m2 = _model()
    assert load_memory(m2, path)["layers"] == [1]
    for n, p in memory_parameters(m).items():
        assert torch.equal(p, memory_parameters(m2)[n])


def test_refusals(tmp_path):
    m = _model()
    path = save_memory(m, tmp_path / "mem.safetensors")
    other = _model()
    with torch.no_grad():
        other.layers[0].attn.q_proj.weight.add_(0.01)  # other backbone weights
    with pytest.raises(ValueError, match="other backbone"):
        load_memory(other, path)
    with pytest.raises(FileNotFoundError):
        load_memory(m, tmp_path / "missing.safetensors")
    (tmp_path / "junk").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a memory-weights file"):
        load_memory(m, tmp_path / "junk")
    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ValueError, match="not a memory-weights file"):
        load_memory(m, tmp_path / "plain.safetensors")
    # right metadata, wrong shape
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {n: f.get_tensor(n) for n in f.keys()}
    tensors["layers.1.attn.memory.gate"] = torch.zeros(7)
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=meta)
    before = memory_parameters(m)["layers.1.attn.memory.slot_keys"].clone()
    with pytest.raises(ValueError, match="shape"):
        load_memory(m, tmp_path / "bad.safetensors")
    assert torch.equal(before, memory_parameters(m)["layers.1.attn.memory.slot_keys"])


def test_shipped_memory_weights_are_a_memory_file():
    from memgpt.memory_layers import DEFAULT_MEMORY

    info = memory_info(DEFAULT_MEMORY)
    assert info["layers"] == [20, 25]
    assert info["info"]["valid_perplexity"] < info["info"]["valid_perplexity_closed"]
