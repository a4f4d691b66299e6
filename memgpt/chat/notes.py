"""Notes for chat (``--memory``): a bank's passages, a folder of text files or one file, as a
BM25 index; and which retrieved note a reply used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from memgpt.passages import PassageIndex, tokenize
from memgpt.paths import decode_text


@dataclass(frozen=True)
class Note:
    """A note passage put into a prompt."""

    source: str
    path: str
    start: int
    end: int
    text: str
    score: float

    def to_dict(self) -> dict:
        return {"source": self.source, "path": self.path, "start": self.start, "end": self.end,
                "score": round(self.score, 4)}


def notes_index(path: str | os.PathLike) -> PassageIndex:
    """The notes of ``--memory``: a bank folder's passage index (``memgpt-task memory build``),
    else the .txt/.md files of a folder (recursively) or one text file, indexed here (BM25)."""
    from memgpt.passages import INDEX_META

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such bank, folder or file: {path}")
    if p.is_dir() and (p / INDEX_META).is_file():
        return PassageIndex.load(p)
    if p.is_dir() and (p / "bank.json").is_file():
        raise ValueError(f"{path} is a bank built before passages existed: rebuild it with "
                         "`memgpt-task memory build`")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in
                       (".txt", ".md") and not any(part.startswith(".") for part in
                                                   f.relative_to(p).parts))
        if not files:
            raise ValueError(f"{path} holds no .txt or .md files and is not a memory bank")
        named = {f.relative_to(p).as_posix(): f for f in files}
    elif p.is_file():
        named = {p.name: p}
    else:
        raise ValueError(f"{path} is not a regular file or folder")
    docs = {}
    for name, f in named.items():
        text = decode_text(f.read_bytes(), str(f), encoding="utf-8")  # offsets index this
        if text.strip():
            docs[name] = (text, str(f.resolve()), "")
    if not docs:
        raise ValueError(f"{path}: every note is empty")
    return PassageIndex.build(docs)


def cited_note(reply: str, question: str, notes: Sequence[Note]) -> Note | None:
    """The note the reply used: the one sharing the most words with the reply, words of the
    question not counted; None when no note shares two such words, or one with a digit (a
    number, a date, a code), with the reply."""
    said = set(tokenize(reply)) - set(tokenize(question))
    best, best_n = None, 0
    for n in notes:
        shared = said & set(tokenize(n.text))
        k = len(shared)
        if k > best_n and (k >= 2 or any(c.isdigit() for w in shared for c in w)):
            best, best_n = n, k
    return best
