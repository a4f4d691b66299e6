"""Torch generation: the KV-cached stepper must reproduce uncached decoding exactly."""

import numpy as np
import pytest
import torch

from memgpt.config import get_preset
from memgpt.decoding import GenerationConfig, decode
from memgpt.generate import TorchStepper, generate, generate_batch
from memgpt.model import MemGPT, MemoryState


def make_model(seed: int = 0) -> MemGPT:
    torch.manual_seed(seed)
    return MemGPT(get_preset("tiny")).eval()


def uncached_greedy(model, prompt, n, memory=None):
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids]), memory=memory).logits[0, -1]
            ids.append(int(logits.argmax()))
    return ids[len(prompt):]


PROMPTS = [[5, 17, 300, 42, 9], [7, 8], [100, 200, 300, 400, 500, 11, 12, 13]]


def test_cached_greedy_equals_uncached():
    m = make_model()
    cfg = GenerationConfig(max_new_tokens=12)
    for p in PROMPTS:
        assert decode(TorchStepper(m), [p], cfg)[0] == uncached_greedy(m, p, 12)


def test_cached_equals_uncached_with_an_open_memory_gate():
    m = make_model()
    with torch.no_grad():
        m.layers[1].attn.memory.gate.fill_(3.0)
    c = m.config
    g = torch.Generator().manual_seed(0)
    bank = MemoryState(torch.randn(1, 30, c.n_kv_heads, c.head_dim, generator=g),
                       torch.randn(1, 30, c.n_kv_heads, c.head_dim, generator=g))
    cfg = GenerationConfig(max_new_tokens=10)
    p = PROMPTS[0]
    with_bank = decode(TorchStepper(m, memory=bank), [p], cfg)[0]
    assert with_bank == uncached_greedy(m, p, 10, memory=bank)
    assert with_bank != decode(TorchStepper(m), [p], cfg)[0]


def test_batched_left_padded_decoding_equals_one_by_one():
    m = make_model()
    cfg = GenerationConfig(max_new_tokens=10)
    batched = decode(TorchStepper(m), PROMPTS, cfg)
    assert batched == [decode(TorchStepper(m), [p], cfg)[0] for p in PROMPTS]


def test_beam_search_reorders_the_cache_correctly():
    m = make_model()
    greedy = decode(TorchStepper(m), [PROMPTS[0]], GenerationConfig(max_new_tokens=8))
    one_beam = decode(TorchStepper(m), [PROMPTS[0]],
                      GenerationConfig(strategy="beam", num_beams=1, max_new_tokens=8))
    assert one_beam == greedy
    # With several beams the winner's score must be at least greedy's (length_penalty 0).
    cfg = GenerationConfig(strategy="beam", num_beams=4, max_new_tokens=6, length_penalty=0.0)
    best = decode(TorchStepper(m), [PROMPTS[0]], cfg)[0]

    def logprob(seq):
        ids = torch.tensor([PROMPTS[0] + seq])
        with torch.no_grad():
            lp = m(ids).logits[0].log_softmax(-1)
        n = len(PROMPTS[0])
        return sum(float(lp[n - 1 + i, t]) for i, t in enumerate(seq))

    assert logprob(best) >= logprob(greedy[0][:6]) - 1e-4


def test_reorder_repeats_rows():
    m = make_model()
    s = TorchStepper(m)
    logits, state = s.prefill([PROMPTS[0]])
    state = s.reorder(state, np.zeros(3, dtype=np.int64))
    step_logits, _ = s.step(np.array([4, 4, 4]), state)
    assert np.allclose(step_logits[0], step_logits[2])


def test_generate_returns_only_new_text(tiny_tokenizer):
    m = make_model()
    text = generate(m, tiny_tokenizer, "Hello there", max_new_tokens=6)
    ids = decode(TorchStepper(m), [tiny_tokenizer.encode("Hello there")],
                 GenerationConfig(max_new_tokens=6, eos_ids=(2,)))[0]
    assert text == tiny_tokenizer.decode(ids)
    pieces = []
    assert generate(m, tiny_tokenizer, "Hello there", max_new_tokens=6,
                    on_text=pieces.append) == "".join(pieces)
    assert generate_batch(m, tiny_tokenizer, ["Hello there", "Hi"], max_new_tokens=6)[0] == text


def test_generate_rejects_bad_prompts(tiny_tokenizer):
    m = make_model()
    with pytest.raises(ValueError, match="empty prompt"):
        generate(m, tiny_tokenizer, "")
    with pytest.raises(ValueError, match="positions"):
        generate(m, tiny_tokenizer, "Hello", max_new_tokens=10_000)
