"""Passages of a memory bank and a BM25 index over them (knowledge-base QA, ``memory search``).

``memgpt-task memory build`` splits every document into passages: paragraphs packed into chunks of
at most ``max_chars`` characters, cut at paragraph boundaries (a blank line, then a line break),
else at sentence ends, else between words. Every passage is an exact slice of its document,
``passage.text == document[passage.start:passage.end]``, so a span found in a passage maps back to
the source file by adding ``passage.start``.

Retrieval is Okapi BM25 (k1 = 1.5, b = 0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))) over
lower-cased word tokens, without a small English stop-word list, with plural ``-s`` stripped.
Beside the key/value bank (``bank.json`` + ``bank.safetensors``, untouched) the bank folder holds:

* ``passages.jsonl`` — one passage a line: ``source`` (the bank's source id), ``path`` (the
  file's absolute path at build time), ``start``, ``end``, ``text``, ``sha256`` (of the file);
* ``passages.safetensors`` — the inverted index: ``term_offsets`` [V+1], ``post_doc`` and
  ``post_tf`` [P] (postings sorted by term), ``doc_len`` [N];
* ``passages.json`` — format version, BM25 settings, the vocabulary (term ``i`` owns postings
  ``term_offsets[i]:term_offsets[i+1]``) and the sha256 of the two other files, so a truncated or
  edited index is refused. Never pickle.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

PASSAGES_FILE, INDEX_FILE, INDEX_META = "passages.jsonl", "passages.safetensors", "passages.json"
FORMAT_VERSION = 1
MAX_CHARS = 1000
K1, B = 1.5, 0.75

STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just me
more most my myself no nor not now of off on once only or other our ours out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom whose why
will with would you your yours s t d ll m re ve
""".split())

_WORD = re.compile(r"[^\W_]+")
# Cut points, coarsest first: a blank line, a line break, a sentence end, a space.
_CUTS = (re.compile(r"\n[ \t]*\n\s*"), re.compile(r"\n\s*"),
         re.compile(r"(?<=[.!?])[\"')\]]*\s+"), re.compile(r"\s+"))


def stem(word: str) -> str:
    """Plural stripping (Harman's S-stemmer): ``ies`` → ``y``, ``es``/``s`` dropped, not ``ss``."""
    if len(word) > 4 and word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("us", "ss", "is")):
        return word[:-1]
    return word


def tokenize(text: str, *, stemming: bool = True) -> list[str]:
    """The BM25 terms of ``text``: lower-cased words, stop words out, plurals stripped."""
    words = (w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS)
    return [stem(w) for w in words] if stemming else list(words)


# ----------------------------------------------------------------------------- splitting


def _pieces(text: str, start: int, end: int, max_chars: int, level: int = 0
            ) -> list[tuple[int, int]]:
    """``text[start:end]`` cut into (start, end) pieces of at most ``max_chars`` characters,
    without surrounding whitespace, using the coarsest cut that makes pieces small enough."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start >= end:
        return []
    if end - start <= max_chars:
        return [(start, end)]
    if level == len(_CUTS):  # one word longer than a passage: hard cuts
        return [(i, min(i + max_chars, end)) for i in range(start, end, max_chars)]
    out, pos = [], start
    for m in _CUTS[level].finditer(text, start, end):
        out += _pieces(text, pos, m.start(), max_chars, level + 1)
        pos = m.end()
    return out + _pieces(text, pos, end, max_chars, level + 1)


def split_passages(text: str, max_chars: int = MAX_CHARS) -> list[tuple[int, int]]:
    """(start, end) of the passages of ``text``: pieces (paragraphs, else sentences) packed in
    order while a passage stays within ``max_chars``; ``text[start:end]`` is each passage."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    pieces = _pieces(text, 0, len(text), max_chars)
    out: list[tuple[int, int]] = []
    for s, e in pieces:
        if out and e - out[-1][0] <= max_chars:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


# ----------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class Passage:
    source: str
    path: str
    start: int
    end: int
    text: str
    sha256: str


@dataclass(frozen=True)
class PassageHit:
    passage: Passage
    score: float
    rank: int


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class PassageIndex:
    """Passages and their BM25 inverted index (see the module docstring)."""

    def __init__(self, passages: list[Passage], vocab: list[str], term_offsets: np.ndarray,
                 post_doc: np.ndarray, post_tf: np.ndarray, doc_len: np.ndarray, *,
                 k1: float = K1, b: float = B, stemming: bool = True,
                 max_chars: int = MAX_CHARS) -> None:
        self.passages, self.vocab = passages, vocab
        self.term_id = {t: i for i, t in enumerate(vocab)}
        self.term_offsets, self.post_doc, self.post_tf = term_offsets, post_doc, post_tf
        self.doc_len = doc_len
        self.k1, self.b, self.stemming, self.max_chars = k1, b, stemming, max_chars
        n = len(passages)
        self.avgdl = float(doc_len.mean()) if n else 0.0
        df = np.diff(term_offsets).astype(np.float64)
        self.idf = np.log1p((n - df + 0.5) / (df + 0.5))

    def __len__(self) -> int:
        return len(self.passages)

    @classmethod
    def build(cls, documents: Mapping[str, tuple[str, str, str]] | Iterable, *,
              max_chars: int = MAX_CHARS, stemming: bool = True) -> PassageIndex:
        """Index ``{source: (text, path, sha256)}`` (in that order of sources)."""
        items = documents.items() if isinstance(documents, Mapping) else documents
        passages: list[Passage] = []
        for source, (text, path, sha) in items:
            for s, e in split_passages(text, max_chars):
                passages.append(Passage(source, path, s, e, text[s:e], sha))
        if not passages:
            raise ValueError("no text to index: every document is empty")
        counts = [Counter(tokenize(p.text, stemming=stemming)) for p in passages]
        vocab = sorted(set().union(*counts))
        term_id = {t: i for i, t in enumerate(vocab)}
        rows = [(term_id[t], d, c) for d, cnt in enumerate(counts) for t, c in cnt.items()]
        rows.sort()
        post = np.array(rows, dtype=np.int64).reshape(-1, 3)
        offsets = np.searchsorted(post[:, 0], np.arange(len(vocab) + 1)).astype(np.int64)
        doc_len = np.array([sum(c.values()) for c in counts], dtype=np.int64)
        return cls(passages, vocab, offsets, post[:, 1].copy(), post[:, 2].copy(), doc_len,
                   stemming=stemming, max_chars=max_chars)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for ``query`` [N] (0 where no query term occurs)."""
        out = np.zeros(len(self.passages), dtype=np.float64)
        if not len(self.passages):
            return out
        norm = self.k1 * (1 - self.b + self.b * self.doc_len / max(self.avgdl, 1e-9))
        for term in set(tokenize(query, stemming=self.stemming)):
            i = self.term_id.get(term)
            if i is None:
                continue
            lo, hi = self.term_offsets[i], self.term_offsets[i + 1]
            docs, tf = self.post_doc[lo:hi], self.post_tf[lo:hi].astype(np.float64)
            out[docs] += self.idf[i] * tf * (self.k1 + 1) / (tf + norm[docs])
        return out

    def search(self, query: str, k: int = 5) -> list[PassageHit]:
        """The ``k`` best passages with a positive score, best first (ties: document order)."""
        s = self.scores(query)
        order = np.argsort(-s, kind="stable")[:k]
        return [PassageHit(self.passages[j], float(s[j]), r)
                for r, j in enumerate(order) if s[j] > 0]

    # ------------------------------------------------------------------------- disk

    def save(self, folder: str | os.PathLike) -> Path:
        """Write the three files into ``folder``, published together
        (``memgpt.paths.atomic_update_dir``: the bank's other files are kept)."""
        from safetensors.numpy import save_file

        from memgpt.paths import atomic_path, atomic_update_dir, atomic_write_text

        folder = Path(folder)
        with atomic_update_dir(folder) as out:
            lines = "".join(json.dumps(asdict(p), ensure_ascii=False) + "\n"
                            for p in self.passages)
            atomic_write_text(out / PASSAGES_FILE, lines)
            tensors = {"term_offsets": self.term_offsets, "post_doc": self.post_doc,
                       "post_tf": self.post_tf, "doc_len": self.doc_len}
            with atomic_path(out / INDEX_FILE) as tmp:
                save_file({k: np.ascontiguousarray(v, dtype=np.int64)
                           for k, v in tensors.items()}, str(tmp))
            meta = {"format_version": FORMAT_VERSION, "kind": "memgpt-passages-bm25",
                    "k1": self.k1, "b": self.b, "stemming": self.stemming,
                    "max_chars": self.max_chars, "passages": len(self.passages),
                    "sources": sorted({p.source for p in self.passages}),
                    "sha256": {PASSAGES_FILE: _sha256_file(out / PASSAGES_FILE),
                               INDEX_FILE: _sha256_file(out / INDEX_FILE)},
                    "vocab": self.vocab}
            atomic_write_text(out / INDEX_META, json.dumps(meta, ensure_ascii=False))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> PassageIndex:
        """Read an index saved by ``save``; one-line errors for a missing, truncated or edited
        one, and for a bank built before passages existed (rebuild it)."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"memory bank folder not found: {folder}")
        if not (folder / INDEX_META).is_file():
            if (folder / "bank.json").is_file():
                raise ValueError(f"memory bank {folder} has no passages (it was built before "
                                 "passage search): rebuild it with `memgpt-task memory build`")
            raise ValueError(f"{folder} is not a memory bank (no {INDEX_META} or bank.json)")
        where = f"memory bank {folder}"
        try:
            meta = json.loads((folder / INDEX_META).read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or meta.get("kind") != "memgpt-passages-bm25":
                raise ValueError("not a memgpt passage index")
            if meta.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"unsupported format_version {meta.get('format_version')!r}")
            digests, vocab = meta["sha256"], [str(t) for t in meta["vocab"]]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise ValueError(f"{where}: corrupt {INDEX_META}: {e}") from None
        for name in (PASSAGES_FILE, INDEX_FILE):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{where} is missing {name}")
            if _sha256_file(folder / name) != digests.get(name):
                raise ValueError(f"{where}: {name} does not match its checksum (truncated or "
                                 "edited): rebuild the bank")
        try:
            t = load_file(str(folder / INDEX_FILE))
            rows = (json.loads(s) for s in
                    (folder / PASSAGES_FILE).read_text(encoding="utf-8").splitlines())
            passages = [Passage(**r) for r in rows]
            index = cls(passages, vocab, t["term_offsets"], t["post_doc"], t["post_tf"],
                        t["doc_len"], k1=float(meta["k1"]), b=float(meta["b"]),
                        stemming=bool(meta["stemming"]), max_chars=int(meta["max_chars"]))
        except Exception as e:  # safetensors / JSON / field errors: all mean a bad bank
            raise ValueError(f"{where}: corrupt passage index: {e}") from None
        index._check(where)
        return index

    def _check(self, where: str) -> None:
        n, offs = len(self.passages), self.term_offsets
        ok = (offs.shape == (len(self.vocab) + 1,) and self.doc_len.shape == (n,)
              and self.post_doc.shape == self.post_tf.shape == (int(offs[-1]) if len(offs)
                                                                 else -1,)
              and offs[0] == 0 and bool(np.all(np.diff(offs) >= 0))
              and (not len(self.post_doc) or 0 <= self.post_doc.min() <= self.post_doc.max() < n))
        if not ok:
            raise ValueError(f"{where}: the passage index does not match its passages")

    def check_sources(self) -> list[str]:
        """Sources whose file changed or went missing since the build (their offsets may no
        longer point at the same text; the passage text in the bank is still right)."""
        stale = []
        for source, path, sha in sorted({(p.source, p.path, p.sha256) for p in self.passages}):
            if not Path(path).is_file() or _sha256_file(Path(path)) != sha:
                stale.append(source)
        return stale


def bm25_weights(scores: list[float], temperature: float = 1.0) -> list[float]:
    """Softmax of BM25 scores (over the retrieved passages) at ``temperature``."""
    if not scores:
        return []
    top = max(scores)
    ex = [math.exp((s - top) / temperature) for s in scores]
    total = sum(ex)
    return [e / total for e in ex]


# ----------------------------------------------------------------------------- QA over passages


@dataclass(frozen=True)
class KBAnswer:
    """An answer read from a retrieved passage; ``start``/``end`` index the source FILE's text
    (passage start + span start), -1 when the answer is empty."""

    answer: str
    source: str
    path: str
    start: int
    end: int
    score: float  # the reader's span probability
    combined: float  # what chose this passage (see ``choose``)
    rank: int  # the passage's BM25 rank


COMBINE = ("reader", "product")


def choose(hits: list[PassageHit], probs: list[float], *, combine: str = "product",
           temperature: float = 1.0) -> tuple[int, float]:
    """Index of the passage whose answer wins and its combined score: ``reader`` takes the
    highest span probability; ``product`` multiplies it by the softmax of the BM25 scores."""
    if combine not in COMBINE:
        raise ValueError(f"unknown combine {combine!r}; one of {', '.join(COMBINE)}")
    weights = bm25_weights([h.score for h in hits], temperature) if combine == "product" \
        else [1.0] * len(hits)
    combined = [p * w for p, w in zip(probs, weights)]
    best = max(range(len(combined)), key=lambda i: (combined[i], -i))
    return best, combined[best]


def answer_question(task, index: PassageIndex, question: str, *, top_passages: int = 5,
                    combine: str = "product", temperature: float = 3.0, min_score: float = 0.0,
                    **reader_kw) -> KBAnswer:
    """Retrieve the ``top_passages`` best passages for ``question``, read each with
    ``task.answer`` (torch or ONNX task), and return the best answer mapped to its source file.

    The default (reader probability × softmax of BM25 at temperature 3) had the best F1 of the
    combinations measured by ``benchmarks/kbqa.py`` (results in benchmarks/results/kbqa/)."""
    hits = index.search(question, k=top_passages)
    if not hits:
        return KBAnswer("", "", "", -1, -1, 0.0, 0.0, -1)
    spans = [task.answer(question, h.passage.text, **reader_kw) for h in hits]
    i, combined = choose(hits, [s.score for s in spans], combine=combine,
                         temperature=temperature)
    span, p = spans[i], hits[i].passage
    if span.score < min_score or not span.answer:
        return KBAnswer("", "", "", -1, -1, span.score, combined, i)
    return KBAnswer(span.answer, p.source, p.path, p.start + span.start, p.start + span.end,
                    span.score, combined, i)
