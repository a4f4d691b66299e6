"""Byte-level BPE tokenizer: rebuilt from GGUF metadata, saved as a standard ``tokenizer.json``.

This module must not import torch: the ONNX runtime path uses it on its own.

The layout matches SmolLM2's Hugging Face ``tokenizer.json`` (and llama.cpp's ``smollm``
pre-tokenizer): digits split one by one, GPT-2 byte-level pre-tokenization without a prefix space,
byte-level decoding. Control tokens (GGUF token type 3) are registered as special added tokens so
that chat markers such as ``<|im_start|>`` encode as single ids.
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, decoders, models, pre_tokenizers, processors
from tokenizers import Tokenizer as _HFTokenizer

from memgpt.paths import atomic_write_text

log = logging.getLogger(__name__)

CONTROL, USER_DEFINED = 3, 4  # GGUF token types (1 normal, 2 unknown, 3 control, 4 user-defined)
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
_BOS_NAMES = ("<|im_start|>", "<s>", "<|begin_of_text|>", "<|endoftext|>")
_EOS_NAMES = ("<|im_end|>", "</s>", "<|eot_id|>", "<|endoftext|>")
# GPT-2's pre-tokenizer regex (what ``ByteLevel(use_regex=True)`` runs), the only regex a loaded
# tokenizer.json may carry: ``tokenizers`` runs regexes on Oniguruma, a backtracking engine, so a
# pattern such as ``(a+)+$`` takes exponential time (or panics at its retry limit) on some inputs.
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_KNOWN_REGEXES = frozenset({GPT2_PATTERN})


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable unicode characters."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])


class Tokenizer:
    """A thin, typed wrapper around ``tokenizers.Tokenizer`` with the ids the model needs."""

    def __init__(self, tok: _HFTokenizer, *, bos_id: int, eos_id: int, pad_id: int) -> None:
        self._tok = tok
        n = tok.get_vocab_size(with_added_tokens=True)
        for name, i in (("bos_id", bos_id), ("eos_id", eos_id), ("pad_id", pad_id)):
            if not 0 <= int(i) < n:
                raise ValueError(f"{name} {i} is outside the vocabulary of {n} tokens")
        self._bos, self._eos, self._pad = int(bos_id), int(eos_id), int(pad_id)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_vocab(cls, tokens: Sequence[str], merges: Sequence[str], token_types: Sequence[int],
                   *, bos_id: int, eos_id: int, pad_id: int) -> Tokenizer:
        """Build a byte-level BPE tokenizer from GGUF-style arrays.

        Args:
            tokens: token strings, index = id (byte-level alphabet, e.g. ``Ġthe``).
            merges: ``"left right"`` merge rules in priority order.
            token_types: GGUF token type per token; type 3 (control) becomes a special token,
                type 4 (user-defined) a non-special added token.
            bos_id / eos_id / pad_id: special ids.
        """
        if len(tokens) != len(token_types):
            raise ValueError(f"{len(tokens)} tokens but {len(token_types)} token types")
        vocab = {t: i for i, t in enumerate(tokens)}
        if len(vocab) != len(tokens):
            raise ValueError("token strings are not unique")
        pairs = []
        for m in merges:
            left, sep, right = m.partition(" ")
            if not sep or not left or not right:
                raise ValueError(f"malformed merge rule {m!r}")
            if left not in vocab or right not in vocab or left + right not in vocab:
                raise ValueError(f"merge rule {m!r} uses or makes a token not in the vocabulary")
            pairs.append((left, right))
        tok = _HFTokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False))
        tok.pre_tokenizer = _pre_tokenizer()
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        added = [AddedToken(tokens[i], special=t == CONTROL, normalized=False)
                 for i, t in enumerate(token_types) if t in (CONTROL, USER_DEFINED)]
        if added:
            tok.add_tokens(added)
        return cls(tok, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id)

    @classmethod
    def from_gguf(cls, path_or_reader: str | os.PathLike | Any) -> Tokenizer:
        """Rebuild the tokenizer stored in a GGUF file's metadata (``gpt2`` BPE models only)."""
        import gguf  # numpy only; no torch

        reader = path_or_reader
        if isinstance(path_or_reader, (str, os.PathLike)):
            if not Path(path_or_reader).is_file():
                raise FileNotFoundError(f"no such GGUF file: {path_or_reader}")
            reader = gguf.GGUFReader(str(path_or_reader))

        def field(key: str, default: Any = None) -> Any:
            f = reader.fields.get(key)
            return default if f is None else f.contents()

        kind = field("tokenizer.ggml.model")
        if kind != "gpt2":
            raise ValueError(f"unsupported GGUF tokenizer model {kind!r} (only byte-level BPE "
                             "'gpt2' is supported)")
        tokens = field("tokenizer.ggml.tokens")
        types = field("tokenizer.ggml.token_type") or [1] * len(tokens)
        eos = int(field("tokenizer.ggml.eos_token_id", 0))
        return cls.from_vocab(tokens, field("tokenizer.ggml.merges", []), types,
                              bos_id=int(field("tokenizer.ggml.bos_token_id", eos)), eos_id=eos,
                              pad_id=int(field("tokenizer.ggml.padding_token_id", eos)))

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, bos_id: int | None = None,
                  eos_id: int | None = None, pad_id: int | None = None) -> Tokenizer:
        """Load a ``tokenizer.json``. Ids not given are guessed from well-known token names."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such tokenizer file: {path}")
        try:
            text = path.read_text(encoding="utf-8")
            _check_regexes(json.loads(text), path)
            tok = _HFTokenizer.from_str(text)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise ValueError(f"cannot read tokenizer {path}: not JSON ({e})") from None
        except ValueError:
            raise
        except Exception as e:  # tokenizers raises a bare Exception on malformed JSON
            raise ValueError(f"cannot read tokenizer {path}: {str(e).splitlines()[0]}") from None
        vocab = tok.get_vocab(with_added_tokens=True)
        if bos_id is None:
            bos_id = next((vocab[n] for n in _BOS_NAMES if n in vocab), 0)
        if eos_id is None:
            eos_id = next((vocab[n] for n in _EOS_NAMES if n in vocab), 0)
        return cls(tok, bos_id=bos_id, eos_id=eos_id, pad_id=eos_id if pad_id is None else pad_id)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``tokenizer.json`` atomically (temp file in the same folder, then rename)."""
        atomic_write_text(Path(path), self._tok.to_str(pretty=True))

    # ------------------------------------------------------------------ properties
    @property
    def backend(self) -> _HFTokenizer:
        """The wrapped ``tokenizers.Tokenizer``."""
        return self._tok

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    @property
    def bos_id(self) -> int:
        return self._bos

    @property
    def eos_id(self) -> int:
        return self._eos

    @property
    def pad_id(self) -> int:
        return self._pad

    @property
    def special_ids(self) -> set[int]:
        """Ids of all special (control) tokens."""
        return {i for i, t in self._tok.get_added_tokens_decoder().items() if t.special}

    @property
    def im_end_id(self) -> int | None:
        """Id of ``<|im_end|>`` (end of a chat turn), or None."""
        return self.token_to_id("<|im_end|>")

    def token_to_id(self, token: str) -> int | None:
        """Id of an exact token string, or None."""
        return self._tok.token_to_id(token)

    # ------------------------------------------------------------------ encode / decode
    def encode(self, text: str, *, add_bos: bool = False) -> list[int]:
        """Token ids of ``text``; special-token strings in it encode as their single id."""
        ids = self._tok.encode(_check_text(text), add_special_tokens=False).ids
        return [self._bos, *ids] if add_bos else ids

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids plus (start, end) character offsets into ``text`` for every token.

        A character split over several byte-level tokens gives each of them its span.
        """
        enc = self._tok.encode(_check_text(text), add_special_tokens=False)
        return enc.ids, [(int(a), int(b)) for a, b in enc.offsets]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """``[encode(t) for t in texts]``, in parallel."""
        if isinstance(texts, str):
            raise ValueError("encode_batch expects a list of strings, got one string")
        encs = self._tok.encode_batch([_check_text(t) for t in texts], add_special_tokens=False)
        return [e.ids for e in encs]

    def decode(self, ids: Iterable[int], *, skip_special: bool = True) -> str:
        """Text of ``ids`` (special tokens dropped unless ``skip_special`` is False)."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids {bad[:5]} are outside the vocabulary of {self.vocab_size}")
        return self._tok.decode(ids, skip_special_tokens=skip_special)

    def apply_chat(self, messages: Sequence[dict], *, add_generation_prompt: bool = True) -> str:
        """ChatML text exactly as SmolLM2's GGUF chat template renders ``messages``.

        A default system prompt is inserted when the first message is not a system one.
        """
        if isinstance(messages, (str, dict)):
            raise ValueError("messages must be a list of {'role': ..., 'content': ...} dicts")
        parts = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) \
                    or not isinstance(m.get("content"), str):
                raise ValueError(f"message {i} must be a dict with string 'role' and 'content'")
            if i == 0 and m["role"] != "system":
                parts.append(f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n")
            parts.append(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n")
        if add_generation_prompt:
            parts.append("<|im_start|>assistant\n")
        return "".join(parts)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return (f"Tokenizer(vocab_size={self.vocab_size}, bos_id={self._bos}, "
                f"eos_id={self._eos}, pad_id={self._pad})")


def _check_regexes(doc: Any, path: Path) -> None:
    """Refuse a tokenizer.json whose normalizer, pre-tokenizer, post-processor or decoder holds
    a regex other than GPT-2's (see ``GPT2_PATTERN``); literal ``String`` patterns are fine."""
    if not isinstance(doc, dict):
        raise ValueError(f"cannot read tokenizer {path}: not a JSON object")
    todo = [doc.get(k) for k in ("normalizer", "pre_tokenizer", "post_processor", "decoder")]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict):
            regex = node.get("Regex")
            if regex is not None and regex not in _KNOWN_REGEXES:
                raise ValueError(f"tokenizer {path} uses the regular expression {str(regex)[:60]!r}"
                                 "; only the byte-level GPT-2/SmolLM2 pre-tokenizer is supported "
                                 "(other regexes can take exponential time)")
            todo.extend(node.values())


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise ValueError(f"expected text (str), got {type(text).__name__}")
    return text


# ---------------------------------------------------------------------- the tiny test tokenizer
TEST_VOCAB_SIZE = 512
TEST_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
_TEST_TEXT = """\
The quick brown fox jumps over the lazy dog. Hello there! How are you today? I am fine, thank you.
Memory helps a model remember what it read long ago, so that it can answer questions about it.
In the beginning the machine read the text, and then it wrote a short summary of the story.
She said that the weather was nice and the children were playing in the garden with their dog.
We translate sentences from English into Spanish, and we classify the sentiment of reviews.
def hello(name):
    return "Hello, " + name + "!"
for i in range(10):
    print(i, hello("world"))
The assistant answers the user politely. The user asks the assistant to summarize the article.
Question: What is the capital of France? Answer: Paris is the capital and the largest city.
There were three hundred and sixty five days in the year, and every day the sun came up again.
"""


@functools.lru_cache(maxsize=1)
def _test_vocab() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Tokens and merges of the test tokenizer: greedy BPE on ``_TEST_TEXT``, ties broken by
    the lexicographically smallest pair, so the result never depends on hash order."""
    words = collections.Counter(
        tuple(w) for w, _ in _pre_tokenizer().pre_tokenize_str(_TEST_TEXT))
    tokens = list(TEST_SPECIALS) + [bytes_to_unicode()[b] for b in range(256)]
    known, merges = set(tokens), []
    while len(tokens) < TEST_VOCAB_SIZE:
        pairs: collections.Counter = collections.Counter()
        for w, n in words.items():
            for a, b in zip(w, w[1:]):
                pairs[a, b] += n
        if not pairs:
            raise RuntimeError("test text too short to learn enough merges")
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(f"{best[0]} {best[1]}")
        if best[0] + best[1] not in known:
            tokens.append(best[0] + best[1])
            known.add(tokens[-1])
        words = collections.Counter({_merge(w, best): n for w, n in words.items()})
    return tuple(tokens), tuple(merges)


def _merge(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def build_test_tokenizer() -> Tokenizer:
    """A tiny deterministic byte-level BPE (512 tokens; bos 1, eos 2, pad 2) for tests and the
    ``tiny`` preset. Ids 0-2 are control tokens, 3-258 the byte alphabet, then learned merges."""
    tokens, merges = _test_vocab()
    types = [CONTROL] * len(TEST_SPECIALS) + [1] * (len(tokens) - len(TEST_SPECIALS))
    return Tokenizer.from_vocab(tokens, merges, types, bos_id=1, eos_id=2, pad_id=2)
