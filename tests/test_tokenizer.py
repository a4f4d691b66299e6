"""The byte-level BPE tokenizer: round trips, specials, chat template, save/load, offsets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memgpt.tokenizer import DEFAULT_SYSTEM, Tokenizer, build_test_tokenizer

TEXTS = [
    "Hello there, how are you?",
    "  leading and   repeated spaces  ",
    "café naïve Ünïcödé — 日本語のテキスト",
    "emoji: 😀🎉👩‍👩‍👧",
    "digits 1234567890 and 3.14159, 1,000,000",
    "line one\nline two\n\n\ttabbed\r\nwindows",
    'def f(x):\n    return {"a": x ** 2}  # comment\n',
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip(tiny_tokenizer, text):
    ids = tiny_tokenizer.encode(text)
    assert all(0 <= i < tiny_tokenizer.vocab_size for i in ids)
    assert tiny_tokenizer.decode(ids) == text


def test_test_tokenizer_layout_is_deterministic(tiny_tokenizer):
    assert tiny_tokenizer.vocab_size == 512
    assert (tiny_tokenizer.bos_id, tiny_tokenizer.eos_id, tiny_tokenizer.pad_id) == (1, 2, 2)
    assert tiny_tokenizer.special_ids == {0, 1, 2}
    assert [tiny_tokenizer.token_to_id(t) for t in
            ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "Ġ", "!")] == [0, 1, 2, 35, 36]
    assert tiny_tokenizer.im_end_id == 2
    other = build_test_tokenizer()
    assert other.backend.to_str() == tiny_tokenizer.backend.to_str()
    assert len(tiny_tokenizer.encode("the quick brown fox")) < len("the quick brown fox") // 2


def test_digits_split_individually(tiny_tokenizer):
    ids = tiny_tokenizer.encode("x 2024")
    assert [tiny_tokenizer.decode([i]) for i in ids][-4:] == ["2", "0", "2", "4"]


def test_specials_encode_as_single_ids(tiny_tokenizer):
    ids = tiny_tokenizer.encode("<|im_start|>user\nhi<|im_end|><|endoftext|>")
    assert ids[0] == 1 and ids[-2:] == [2, 0]
    assert ids.count(1) == 1 and ids.count(2) == 1
    assert tiny_tokenizer.decode(ids) == "user\nhi"
    assert tiny_tokenizer.decode(ids, skip_special=False) == (
        "<|im_start|>user\nhi<|im_end|><|endoftext|>")
    assert tiny_tokenizer.encode("hi", add_bos=True)[0] == 1


def test_chat_template_is_exact(tiny_tokenizer):
    user = [{"role": "user", "content": "Hi!"}]
    assert tiny_tokenizer.apply_chat(user) == (
        f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n"
        "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n")
    convo = [{"role": "system", "content": "Be brief."}, *user,
             {"role": "assistant", "content": "Hello."}]
    assert tiny_tokenizer.apply_chat(convo, add_generation_prompt=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
        "<|im_start|>assistant\nHello.<|im_end|>\n")
    ids = tiny_tokenizer.encode(tiny_tokenizer.apply_chat(user))
    assert ids.count(1) == 3 and ids.count(2) == 2


@pytest.mark.parametrize("bad", ["hi", {"role": "user"}, [{"role": "user"}],
                                 [{"role": "user", "content": 3}]])
def test_chat_rejects_bad_messages(tiny_tokenizer, bad):
    with pytest.raises(ValueError):
        tiny_tokenizer.apply_chat(bad)


def test_bad_input_is_value_error(tiny_tokenizer):
    with pytest.raises(ValueError):
        tiny_tokenizer.encode(None)
    with pytest.raises(ValueError):
        tiny_tokenizer.decode([0, 512])
    with pytest.raises(ValueError):
        tiny_tokenizer.encode_batch("one string")
    with pytest.raises(ValueError):
        Tokenizer.from_vocab(["a", "b"], [], [1, 1], bos_id=5, eos_id=0, pad_id=0)
    with pytest.raises(ValueError):
        Tokenizer.from_vocab(["a", "b"], ["a b"], [1, 1], bos_id=0, eos_id=0, pad_id=0)
    with pytest.raises(ValueError):
        Tokenizer.from_vocab(["a", "b"], ["ab"], [1, 1], bos_id=0, eos_id=0, pad_id=0)


def test_save_load_round_trip(tiny_tokenizer, tmp_path):
    path = tmp_path / "sub" / "tokenizer.json"
    tiny_tokenizer.save(path)
    assert not [p for p in path.parent.iterdir() if p.name != "tokenizer.json"]
    loaded = Tokenizer.from_file(path)
    assert (loaded.bos_id, loaded.eos_id, loaded.pad_id) == (1, 2, 2)
    assert loaded.special_ids == tiny_tokenizer.special_ids
    for text in TEXTS + [tiny_tokenizer.apply_chat([{"role": "user", "content": "2+2?"}])]:
        assert loaded.encode(text) == tiny_tokenizer.encode(text)
    assert loaded.encode_batch(TEXTS) == [tiny_tokenizer.encode(t) for t in TEXTS]


def test_from_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        Tokenizer.from_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        Tokenizer.from_file(tmp_path / "bad.json")


@pytest.mark.parametrize("text", TEXTS)
def test_offsets_map_back_to_text(tiny_tokenizer, text):
    ids, offsets = tiny_tokenizer.encode_with_offsets(text)
    assert ids == tiny_tokenizer.encode(text) and len(offsets) == len(ids)
    pos, prev = 0, None
    for a, b in offsets:  # contiguous cover; a character split over tokens repeats its span
        assert a == pos or (a, b) == prev
        prev, pos = (a, b), b
    assert pos == len(text)


def test_offsets_of_specials(tiny_tokenizer):
    text = "<|im_start|>user\nhey"
    ids, offsets = tiny_tokenizer.encode_with_offsets(text)
    assert ids[0] == 1 and text[slice(*offsets[0])] == "<|im_start|>"
    assert "".join(text[a:b] for a, b in offsets) == text


def test_tokenizer_module_does_not_import_torch():
    code = ("import sys, memgpt.tokenizer as t; t.build_test_tokenizer().encode('hi'); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


# ---------------------------------------------------------------------- real SmolLM2 tokenizer
LLAMA_CASES = [
    "Hello world", "  two leading spaces", "numbers 1234567890 and 3.14", "a\nb\n\n\tc\r\nd",
    "emoji 😀🎉 and café", "def f(x):\n    return x**2  # square\n", "I'm sure they'll've",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>tail", "日本語 текст ελληνικά",
]


@pytest.mark.slow
def test_real_tokenizer_matches_llamacpp():
    llama_cpp = pytest.importorskip("llama_cpp")
    from memgpt.checkpoint import fetch_smollm2

    folder = fetch_smollm2(progress=False)
    gguf = next(folder.glob("*.gguf"))
    ours = Tokenizer.from_gguf(gguf)
    saved = Tokenizer.from_file(folder / "tokenizer.json")
    llm = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    assert (ours.vocab_size, ours.bos_id, ours.eos_id, len(ours.special_ids)) == (49152, 1, 2, 17)
    for text in LLAMA_CASES:
        ref = llm.tokenize(text.encode(), add_bos=False, special=True)
        assert ours.encode(text) == ref, text
        assert saved.encode(text) == ref, text
        assert ours.decode(ref, skip_special=False) == text
