"""The backend-agnostic decoding loop, driven by a small deterministic numpy stepper."""

import numpy as np
import pytest

from memgpt.decoding import GenerationConfig, TextWatcher, cut_at_stop, decode, process_logits

V = 10


class ChainStepper:
    """Next-token logits depend on the last token only: a Markov chain over V tokens.

    By default token t strongly predicts t + 1. ``table`` overrides rows.
    """

    def __init__(self, table: np.ndarray | None = None):
        self.table = table if table is not None else np.stack(
            [np.eye(V)[(t + 1) % V] * 5.0 for t in range(V)])
        self.calls = 0

    def prefill(self, prompts):
        self.calls += 1
        last = np.array([p[-1] for p in prompts])
        return self.table[last].copy(), {"last": last}

    def step(self, tokens, state):
        self.calls += 1
        return self.table[tokens].copy(), {"last": tokens}

    def reorder(self, state, rows):
        return {"last": state["last"][rows]}


def detok(ids):
    return "".join(chr(ord("a") + i) for i in ids)


def test_greedy_follows_the_chain_and_counts_tokens():
    out = decode(ChainStepper(), [[3], [7, 8]], GenerationConfig(max_new_tokens=4))
    assert out == [[4, 5, 6, 7], [9, 0, 1, 2]]


def test_eos_stops_each_row_independently():
    out = decode(ChainStepper(), [[3], [0]], GenerationConfig(max_new_tokens=6, eos_ids=(5,)))
    assert out == [[4], [1, 2, 3, 4]]


def test_no_extra_forward_after_the_last_token():
    s = ChainStepper()
    decode(s, [[1]], GenerationConfig(max_new_tokens=3))
    assert s.calls == 3  # prefill + 2 steps


def test_stop_strings_cut_and_streaming_matches_result():
    pieces = []
    cfg = GenerationConfig(max_new_tokens=8, stop_strings=("fg",))
    out = decode(ChainStepper(), [[2]], cfg, detokenize=detok, on_text=pieces.append)
    assert detok(out[0]) == "de"
    assert "".join(pieces) == "de"


def test_stop_string_inside_a_token_keeps_the_text_before_it():
    """A stop string can start in the middle of a multi-character token: text is cut, not lost."""
    two = lambda ids: "".join(detok([i]) * 2 for i in ids)  # each token decodes to two letters
    pieces = []
    cfg = GenerationConfig(max_new_tokens=8, stop_strings=("ef",))  # "dd ee ff": stop starts in ee
    out = decode(ChainStepper(), [[2]], cfg, detokenize=two, on_text=pieces.append)
    assert cut_at_stop(two(out[0]), cfg.stop_strings) == "dde"
    assert "".join(pieces) == "dde"


def test_cut_at_stop_takes_the_earliest():
    assert cut_at_stop("abcdef", ("de", "bc")) == "a"
    assert cut_at_stop("abc", ()) == "abc"


def test_streaming_concatenation_equals_final_text():
    pieces = []
    out = decode(ChainStepper(), [[0]], GenerationConfig(max_new_tokens=7), detokenize=detok,
                 on_text=pieces.append)
    assert "".join(pieces) == detok(out[0]) == "bcdefgh"


def test_watcher_holds_back_partial_characters():
    seen = []
    w = TextWatcher(lambda ids: "ok\ufffd" if len(ids) == 1 else "ok€", (), seen.append)
    w.update([1])
    assert seen == []
    w.update([1, 2])
    assert seen == ["ok€"]


def flat_table(seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(V, V))


def test_sampling_is_seeded():
    s = ChainStepper(flat_table(0))
    cfg = GenerationConfig(strategy="sample", max_new_tokens=20, seed=3)
    a = decode(s, [[1]], cfg)
    assert a == decode(s, [[1]], cfg)
    other = GenerationConfig(strategy="sample", max_new_tokens=20, seed=4)
    assert a != decode(s, [[1]], other)


@pytest.mark.parametrize("filters", [{"top_k": 1}, {"top_p": 1e-6}, {"temperature": 1e-4}])
def test_degenerate_sampling_is_greedy(filters):
    s = ChainStepper(flat_table(1))
    greedy = decode(s, [[2]], GenerationConfig(max_new_tokens=12))
    sampled = decode(s, [[2]], GenerationConfig(strategy="sample", max_new_tokens=12, **filters))
    assert sampled == greedy


def test_no_repeat_ngram_and_repetition_penalty():
    # A chain that cycles with period 3: 0 -> 1 -> 2 -> 0 ...
    table = np.full((V, V), -1.0)
    for t in range(V):
        table[t, (t + 1) % 3] = 5.0
    plain = decode(ChainStepper(table), [[0]], GenerationConfig(max_new_tokens=8))[0]
    assert plain[:6] == [1, 2, 0, 1, 2, 0]
    blocked = decode(ChainStepper(table), [[0]],
                     GenerationConfig(max_new_tokens=8, no_repeat_ngram_size=2))[0]
    bigrams = list(zip(blocked, blocked[1:]))
    assert len(bigrams) == len(set(bigrams))
    logits = process_logits(np.array([[2.0, -2.0, 1.0]]), [[0, 1]],
                            GenerationConfig(repetition_penalty=2.0), [[]])
    assert logits.tolist() == [[1.0, -4.0, 1.0]]


def test_beam_search_one_beam_is_greedy_and_wider_beams_find_better_paths():
    s = ChainStepper(flat_table(2))
    greedy = decode(s, [[0]], GenerationConfig(max_new_tokens=5))
    one = decode(s, [[0]], GenerationConfig(strategy="beam", num_beams=1, max_new_tokens=5))
    assert one == greedy
    # A trap: 0 -> 1 looks best, but 1 leads only to bad tokens while 0 -> 2 -> 3 is strong.
    table = np.full((V, V), -10.0)
    table[0, 1], table[0, 2] = 1.0, 0.9
    table[1, :] = 0.0
    table[2, 3] = 10.0
    table[3, 4] = 10.0
    cfg = dict(max_new_tokens=3, length_penalty=0.0)
    assert decode(ChainStepper(table), [[0]], GenerationConfig(**cfg))[0][0] == 1
    best = decode(ChainStepper(table), [[0]], GenerationConfig(strategy="beam", num_beams=3, **cfg))
    assert best == [[2, 3, 4]]


def test_beam_search_stops_at_eos():
    out = decode(ChainStepper(), [[3]], GenerationConfig(strategy="beam", num_beams=2,
                                                         max_new_tokens=9, eos_ids=(6,)))
    assert out == [[4, 5]]


@pytest.mark.parametrize("bad", [
    {"max_new_tokens": -1}, {"strategy": "nucleus"}, {"temperature": 0}, {"top_p": 0},
    {"top_p": 1.5}, {"num_beams": 0}, {"top_k": -2}, {"repetition_penalty": 0},
])
def test_invalid_settings_rejected(bad):
    with pytest.raises(ValueError):
        GenerationConfig(**bad)


def test_empty_prompt_rejected():
    with pytest.raises(ValueError, match="at least one token"):
        decode(ChainStepper(), [[]], GenerationConfig())
