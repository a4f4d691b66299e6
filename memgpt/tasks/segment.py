"""Sentence segmentation for translation: paragraphs in, sentence-sized model inputs out.

The translation adapter was trained on single sentences, and a 135M model loses its way on a
long input, so multi-sentence text is split into sentences, each sentence is translated, and
the translations are joined with the original whitespace (line breaks and blank lines kept).
Pieces with nothing to translate (numbers, URLs, e-mail addresses, code-like tokens, markup
bullets) are copied through unchanged.

The splitter is rule-based (like the Moses / Punkt heuristics): a sentence ends at ``.``, ``!``,
``?`` or ``…`` (plus closing quotes/brackets) followed by whitespace and an upper-case letter,
digit, quote or opening bracket — except after common abbreviations ("Dr.", "e.g."), single
initials ("J. Smith") and inside numbers ("3.14").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e cf al fig figs no nos vol pp ed eds approx "
    "dept est inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec mt ft".split())
_END = re.compile(r"""([.!?…]+["'”’)\]]*)(\s+)(?=["'“‘(\[]?[A-Z0-9¿¡])""")
_URL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+")
_WORD = re.compile(r"[^\W\d_]{2,}")
_CODE = re.compile(r"[_/\\=<>{}\[\]#$]|\w\.\w|\w\(|^-{1,2}\w")  # foo_bar a/b x=1 f( --flag


@dataclass(frozen=True)
class Piece:
    """A part of the input: ``text`` to translate (``translate``) or to copy; ``sep`` is the
    whitespace that followed it in the input."""

    text: str
    sep: str
    translate: bool


def _is_abbreviation(before: str) -> bool:
    word = before.rsplit(None, 1)[-1] if before.strip() else ""
    core = word.rstrip(".").lstrip("(\"'“‘").lower()
    return core in ABBREVIATIONS or (len(core) == 1 and core.isalpha())


def split_sentences(text: str) -> list[tuple[str, str]]:
    """(sentence, following whitespace) pairs of one line of text; ``"".join`` restores it."""
    out, start = [], 0
    for m in _END.finditer(text):
        end = m.end(1)
        if m.group(1).startswith(".") and len(m.group(1)) == 1 and _is_abbreviation(
                text[start:m.start(1)]):
            continue
        out.append((text[start:end], m.group(2)))
        start = m.end()
    if start < len(text):
        out.append((text[start:], ""))
    return out


def needs_translation(text: str) -> bool:
    """False for pieces with no word to translate: numbers, URLs, e-mails, code-like tokens."""
    rest = _URL.sub(" ", text)
    rest = " ".join(t for t in rest.split() if not _CODE.search(t))
    return bool(_WORD.search(rest))


def segment(text: str) -> list[Piece]:
    """The pieces of ``text``: sentences of every line, with line breaks kept as separators."""
    pieces: list[Piece] = []
    lines = re.split(r"(\n\s*)", text)
    for i in range(0, len(lines), 2):
        line, brk = lines[i], lines[i + 1] if i + 1 < len(lines) else ""
        lead = line[:len(line) - len(line.lstrip())]
        if lead:
            pieces.append(Piece(lead, "", False))
        sents = split_sentences(line.strip()) if line.strip() else []
        for j, (s, sep) in enumerate(sents):
            tail = sep if j + 1 < len(sents) else line[len(line.rstrip()):] + brk
            pieces.append(Piece(s, tail, needs_translation(s)))
        if not sents and brk:
            pieces.append(Piece("", brk, False))
    return pieces


def translate_segmented(texts: Sequence[str], translate: Callable[[list[str]], list[str]]
                        ) -> list[str]:
    """Translate each text sentence by sentence with ``translate`` (a batch function),
    keeping the whitespace between sentences and copying untranslatable pieces."""
    plans = [segment(t) for t in texts]
    todo = [p.text for plan in plans for p in plan if p.translate]
    done = iter(translate(todo) if todo else [])
    out = []
    for plan in plans:
        out.append("".join((next(done) if p.translate else p.text) + p.sep for p in plan))
    return out
