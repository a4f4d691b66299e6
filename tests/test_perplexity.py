"""``memgpt.perplexity``: windowed scoring and the memory of what left the window."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from memgpt.perplexity import (
    CacheSettings,
    Scored,
    memory_logp,
    perplexity,
    perplexity_of,
    score_tokens,
    windows_needed,
)


def ids_of(n: int, vocab: int, seed: int = 0) -> list[int]:
    return np.random.default_rng(seed).integers(3, vocab, n).tolist()


def direct_logp(model, ids: list[int]) -> np.ndarray:
    with torch.inference_mode():
        out = model(torch.tensor([ids]))
    lsm = torch.log_softmax(out.logits[0, :-1].double(), -1)
    return lsm.gather(-1, torch.tensor(ids[1:])[:, None])[:, 0].numpy()


def test_a_window_longer_than_the_text_is_one_plain_pass(tiny_model):
    ids = ids_of(40, tiny_model.config.vocab_size)
    s = score_tokens(tiny_model, ids, 64)
    np.testing.assert_allclose(s.logp, direct_logp(tiny_model, ids), atol=1e-5)
    assert (s.window_start == 0).all() and windows_needed(40, 64) == 1
    np.testing.assert_allclose(np.linalg.norm(s.keys, axis=1), 1.0, atol=1e-5)


def test_every_token_is_scored_once_with_at_least_half_a_window(tiny_model):
    ids = ids_of(150, tiny_model.config.vocab_size, seed=1)
    window = 32
    s = score_tokens(tiny_model, ids, window)
    assert len(s.logp) == len(ids) - 1 and windows_needed(150, window) == 9
    for i in range(len(s.logp)):  # token i + 1, predicted at position i
        ws = int(s.window_start[i])
        assert ws <= i < ws + window - 1
        if ws > 0:
            assert i - ws >= window // 2 - 1  # at least half a window of context
    for i in (0, 40, 100, 148):  # each equals a direct pass over its own window
        ws = int(s.window_start[i])
        ref = direct_logp(tiny_model, ids[ws:ws + window])
        assert s.logp[i] == pytest.approx(ref[i - ws], abs=1e-5)
    single = score_tokens(tiny_model, ids, window, batch_size=1)
    np.testing.assert_allclose(single.logp, s.logp, atol=1e-5)


def reference_memory(s: Scored, c: CacheSettings) -> np.ndarray:
    """The mixture of the module docstring, written as plainly as possible."""
    out = []
    targets = s.ids[1:]
    for i in range(len(s.logp)):
        bank = [j for j in range(len(s.logp)) if j + 1 < s.window_start[i]]
        if c.max_entries is not None:
            bank = bank[-c.max_entries:]
        if not bank:
            out.append(s.logp[i])
            continue
        sims = np.array([c.theta * float(s.keys[i] @ s.keys[j]) for j in bank])
        w = np.exp(sims - sims.max())
        w /= w.sum()
        p_mem = sum(wj for wj, j in zip(w, bank) if targets[j] == targets[i])
        out.append(math.log((1 - c.lam) * math.exp(s.logp[i]) + c.lam * p_mem))
    return np.array(out)


@pytest.mark.parametrize("cache", [CacheSettings(0.2, 5.0), CacheSettings(0.5, 30.0),
                                   CacheSettings(0.1, 10.0, max_entries=3)])
def test_memory_matches_the_plain_definition(cache):
    rng = np.random.default_rng(0)
    n = 60
    keys = rng.standard_normal((n - 1, 8)).astype(np.float32)
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    ids = rng.integers(0, 5, n)  # few distinct tokens: the bank often holds the target
    start = np.repeat(np.arange(0, n, 8), 8)[:n - 1]
    s = Scored(ids, np.log(rng.uniform(0.01, 0.5, n - 1)), keys, start)
    got = memory_logp(s, cache, chunk=7)  # chunks that cut windows
    np.testing.assert_allclose(got, reference_memory(s, cache), atol=1e-5)  # float32 keys
    assert np.isfinite(got).all()
    first = start < 2  # nothing has left the window yet: the model's own probability
    np.testing.assert_array_equal(got[first], s.logp[first])


def test_memory_helps_a_text_that_repeats_itself(tiny_model, tiny_tokenizer):
    text = ("The heron Zarqa nested by the old mill in the spring. " * 30)
    with_memory = perplexity(tiny_model, tiny_tokenizer, text, window=32,
                             cache=CacheSettings(0.5, 40.0))
    without = perplexity(tiny_model, tiny_tokenizer, text, window=32, cache=None)
    assert with_memory["tokens"] == without["tokens"] == len(tiny_tokenizer.encode(text)) - 1
    assert with_memory["perplexity_without_memory"] == pytest.approx(without["perplexity"])
    assert with_memory["perplexity"] < 0.9 * without["perplexity"]
    assert without["memory"] is False and "cache" not in without
    assert with_memory["cache"] == {"lam": 0.5, "theta": 40.0, "max_entries": None}


def test_bad_settings_and_inputs(tiny_model, tiny_tokenizer):
    for bad in (dict(lam=0.0), dict(lam=1.0), dict(theta=0.0), dict(max_entries=0)):
        with pytest.raises(ValueError):
            CacheSettings(**bad)
    with pytest.raises(ValueError, match="exceeds the model"):
        score_tokens(tiny_model, [1, 2, 3], 100_000)
    with pytest.raises(ValueError, match="too short"):
        score_tokens(tiny_model, [5], 16)
    with pytest.raises(ValueError, match="at least 2"):
        score_tokens(tiny_model, [5, 6, 7], 1)
    assert perplexity_of(np.log([0.5, 0.5])) == pytest.approx(2.0)


# ----------------------------------------------------------------------------- the command


@pytest.fixture
def run(tiny_weights_dir, monkeypatch):
    from click.testing import CliRunner

    from memgpt.cli import cli

    monkeypatch.setenv("MEMGPT_WEIGHTS", tiny_weights_dir)

    def invoke(*args, input=None):
        return CliRunner().invoke(cli, ["perplexity", *args], input=input,
                                  prog_name="memgpt-task")

    return invoke


TEXT = "The heron Zarqa nested by the old mill in the spring. " * 12


def test_the_command_prints_json_and_plain_text(run, tmp_path):
    import json

    f = tmp_path / "doc.txt"
    f.write_text(TEXT)
    r = run(str(f), "--window", "32", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {"perplexity", "tokens", "window", "memory", "perplexity_without_memory"} <= set(out)
    assert out["memory"] is True and out["window"] == 32 and out["tokens"] > 32
    r = run("-", "--window", "32", "--no-memory", "--json", input=TEXT)
    off = json.loads(r.stdout)
    assert off["memory"] is False and off["perplexity"] == pytest.approx(
        out["perplexity_without_memory"])
    r = run(str(f), "--window", "32", "--lam", "0.4", "--theta", "30", "--max-entries", "8")
    assert r.exit_code == 0 and r.stdout.startswith("perplexity ") and "without memory" in r.stdout


def test_the_command_refuses_bad_input(run, tmp_path):
    for args, code in ((["--window", "32", "--no-memory", "--lam", "0.2", TEXT], 2),
                       (["--window", "1", TEXT], 2), (["--lam", "1.5", TEXT], 2),
                       (["--window", "5000", TEXT], 1), (["   "], 1),
                       ([str(tmp_path / "missing.txt")], 1)):
        r = run(*args)
        assert r.exit_code == code, (args, r.output)
        assert "Traceback" not in r.output and r.stdout == ""
