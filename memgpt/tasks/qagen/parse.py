"""Sentences into parts: WikiText cleaning, contexts cut at paragraph or sentence boundaries, a
sentence split into fronted date, subject and predicate, verb inflection, subject-auxiliary
inversion and question assembly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memgpt.tasks.qagen.lexicon import (
    _ABBR,
    _ADVS,
    _AUX,
    _BAD_FIRST,
    _CLASS,
    _CLAUSE_END,
    _FORMS,
    _FRONT,
    _NAME,
    _PASSIVE,
    _PAST,
    _PP,
    _SUBJ_STOP,
    _SYN,
)


@dataclass
class _Parse:
    """A sentence split into fronted date, subject and first predicate clause."""

    subj: str
    subj_off: int
    qsubj: str
    pron: bool
    pred: str
    pred_off: int
    fdate: tuple[str, int] | None
    person: bool


def clean_wikitext(text: str) -> str:
    """Undo WikiText tokenisation artefacts and normalise paragraphs.

    Args:
        text: Raw document text (WikiText-style or plain).

    Returns:
        Text without heading lines, with " @-@ "/" @,@ "/" @.@ " joined, spaces before
        punctuation and inside brackets/quotes removed, and paragraphs separated by a blank
        line. A line ending in sentence punctuation ends a paragraph; other lines are joined.
    """
    paras: list[str] = []
    cur: list[str] = []
    for raw in text.splitlines() + [""]:
        line = raw.strip()
        if re.fullmatch(r"(?:=\s*)+[^=]+?(?:\s*=)+", line) or not line:
            if cur:
                paras.append(" ".join(cur))
            cur = []
            continue
        line = re.sub(r" @([-,.])@ ", r"\1", line)
        line = re.sub(r'"\s*([^"]*?)\s*"', r'"\1"', line)
        line = re.sub(r"([(\[]) +", r"\1", line)
        line = re.sub(r" +([)\],.;:!?%])", r"\1", line)
        line = re.sub(r"([$£€]) (?=\d)", r"\1", line)
        line = re.sub(r" (['’](?:s|re|ve|d|ll|m)\b|n't\b)", r"\1", line)
        line = re.sub(r"(?<=s) '(?= )", "'", line)
        cur.append(re.sub(r"\s+", " ", line))
        if re.search(r"[.!?][\"')\]]*$", line):
            paras.append(" ".join(cur))
            cur = []
    return "\n\n".join(paras)


def _sentences(text: str, base: int = 0) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of one paragraph, shifted by ``base``."""
    spans, start = [], 0
    for m in re.finditer(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])", text):
        last = re.search(r"(\S+)$", text[: m.start() + 1]).group(1)
        word = last.rstrip(".").lower().lstrip("(\"'")
        if word in _ABBR or re.fullmatch(r"[a-z]|(?:[a-z]\.)+[a-z]", word):
            continue
        spans.append((base + start, base + m.start() + len(m.group().rstrip())))
        start = m.end()
    if text[start:].strip():
        spans.append((base + start, base + len(text.rstrip())))
    return spans


def _chunks(text: str, max_context: int) -> list[tuple[int, int]]:
    """Greedy packing of paragraphs (else sentences) into spans of at most ``max_context``."""
    units: list[tuple[int, int]] = []
    for m in re.finditer(r"[^\n]+", text):
        if m.end() - m.start() <= max_context:
            units.append((m.start(), m.end()))
            continue
        for s, e in _sentences(m.group(), m.start()):
            while e - s > max_context:
                cut = text.rfind(" ", s, s + max_context)
                cut = cut if cut > s else s + max_context
                units.append((s, cut))
                s = cut + 1
            units.append((s, e))
    out: list[tuple[int, int]] = []
    for s, e in units:
        if out and e - out[-1][0] <= max_context:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _balanced(s: str) -> bool:
    return s.count("(") == s.count(")") and s.count("[") == s.count("]") and s.count('"') % 2 == 0


def _doc_entity(text: str) -> tuple[str, str, bool] | None:
    """The first sentence's subject and whether the document treats it as a person or thing."""
    first = re.sub(r" \([^()]*\)", "", text[:400])
    m = re.match(rf"({_NAME}) (?:is|was|are|were) ", first)
    if not m or len(m.group(1).split()) > 6:
        return None
    low = text.lower()
    he = len(re.findall(r"\b(?:he|his|him)\b", low))
    she = len(re.findall(r"\b(?:she|her)\b", low))
    it = len(re.findall(r"\b(?:it|its)\b", low))
    human = bool(re.match(rf"{_NAME} \((?:born )?[^()]*\d{{4}}", text[:400]))
    if max(he, she) >= 3 and max(he, she) >= it and 2 <= len(m.group(1).split()) <= 4:
        return m.group(1), "he" if he >= she else "she", human
    return m.group(1), "thing", False


def _question_subject(subj: str, ent: tuple[str, str, bool] | None,
                      vocab: set[str]) -> tuple[str, bool] | None:
    """The subject phrase as used inside a question, resolving a safe leading pronoun."""
    words = re.sub(r" \([^()]*\)", "", subj).split()
    if not words:
        return None
    words[0] = words[0][:1].upper() + words[0][1:]
    if words[0] in ("He", "She", "It", "His", "Her", "Its"):
        kind = {"Hi": "he", "He": "he", "Sh": "she", "It": "thing"}[words[0][:2]]
        if ent is None or ent[1] != kind or (len(words) == 1) != (words[0] in ("He", "She", "It")):
            return None
        return (ent[0] + ("'s " + " ".join(words[1:]) if len(words) > 1 else "")), True
    if "The" in words[1:]:
        return None
    if words[0] not in _BAD_FIRST and words[0].lower() in vocab and (len(words) == 1
                                                                     or words[1].islower()):
        words[0] = words[0].lower()
    if (len(words) > 8 or words[0] in _BAD_FIRST or not _balanced(subj) or "?" in subj
            or any(w.endswith("ly") and w.islower() for w in words)
            or any(w.lower() in _SUBJ_STOP for w in words[1:]) or re.search(r"[,;:]", subj)
            or words[-1].endswith("ly") or words[-1].lower() in ("the", "a", "an", "of", "and")):
        return None
    if words[0] in ("The", "A", "An", "More") and len(words) > 1:
        words[0] = words[0].lower()
    return " ".join(words), False


def _verbish(word: str) -> bool:
    return word in _AUX or word in _PAST


def _split_subject(body: str) -> tuple[str, int] | None:
    """The subject before the first finite verb (skipping an appositive) and the verb offset."""
    ap = re.match(r"([^,]{2,60}), [^,]{3,80}, (?=[a-z])", body)
    if ap and _verbish(body[ap.end():].split(" ", 1)[0]):
        return ap.group(1), ap.end()
    words = list(re.finditer(r"\S+", body))
    w = next((w for i, w in enumerate(words[:10]) if i and _verbish(w.group())), None)
    if w is None:
        return None
    sw = body[: w.start()].split()
    while len(sw) > 1 and sw[-1] in _ADVS:
        sw.pop()
    return " ".join(sw), len(" ".join(sw)) + 1


def _parse(sent: str, off: int, ent: tuple[str, str, bool] | None, resolve: bool,
           vocab: set[str]) -> list[_Parse]:
    """Split a sentence at its first finite verb into subject and predicate clause(s).

    Args:
        sent: The sentence.
        off: Offset of the sentence in its context.
        ent: The document entity ``(name, pronoun kind, is_human)``.
        resolve: Whether a leading pronoun may be replaced with the entity.
        vocab: Words seen in lower case in the document (to lower-case a sentence's first word).

    Returns:
        The main predicate and a conjoined one ("..., and was educated at ..."); empty when
        the subject is unusable.
    """
    m = _FRONT.match(sent)
    boff = m.end() if m else 0
    fdate = (m.group("d"), off + m.start("d")) if m and m.group("d") else None
    body = sent[boff:]
    split = _split_subject(body)
    qs = split and _question_subject(split[0], ent if resolve else None, vocab)
    if not split or not qs:
        return []
    subj, pstart = split
    name = re.sub(r" \([^()]*\)", "", subj)
    person = ent is not None and ent[2] and (subj in ("He", "She") or ent[0] == name)
    out, rest = [], body[pstart:]
    while rest and len(out) < 2:
        cut = _CLAUSE_END.search(rest)
        pred = (rest[: cut.start()] if cut else rest).rstrip(" .!?")
        first, nxt = pred.split(" ", 1)[0], rest[len(pred):]
        if re.match(r" (?:and|or) ", nxt) and not _verbish(nxt[1:].split(" ")[1]):
            break
        rel = re.match(rf"\w+ {_NAME} (\w+)", pred)
        if rel and _verbish(rel.group(1)) or out and first in _PAST and \
                out[0].pred[:3] in _PASSIVE and _FORMS[_PAST[first]][1] == first:
            break
        out.append(_Parse(subj, off + boff, qs[0], qs[1], pred, off + boff + pstart, fdate, person))
        conj = re.match(r",? and (?:(?:also|later|then) )?", rest[len(pred):])
        if not conj or not _verbish(rest[len(pred) + conj.end():].split(" ", 1)[0]):
            break
        pstart += len(pred) + conj.end()
        rest = body[pstart:]
    return out


def _inflect(base: str, form: int) -> str:
    head, _, tail = base.replace("_", " ").partition(" ")
    return f"{_FORMS[head][form] if head in _FORMS else head} {tail}".strip()


def _invert(words: list[str], syn: bool) -> tuple[str, list[str]] | None:
    """Subject-aux inversion data for a predicate: ``(aux, rest)`` or ``None``."""
    w = list(words)
    if not w:
        return None
    if w[0] in ("has", "have", "had") and (len(w) < 2 or (w[1] not in _PP and w[1] not in _ADVS
                                                          and w[1] != "been"
                                                          and not w[1].endswith("ed"))):
        return {"has": "does", "have": "do", "had": "did"}[w[0]], ["have"] + w[1:]
    if w[0] in _AUX:
        rest = w[1:]
        for i, x in enumerate(rest[:3]):
            if x in _PP:
                if syn and _PP[x] in _SYN:
                    rest[i] = _inflect(_SYN[_PP[x]], 1)
                break
            if x not in _ADVS:
                break
        return w[0], rest
    adv = []
    while w and w[0] in _ADVS and w[0] != "not":
        adv.append(w.pop(0))
    if not w or w[0] not in _PAST:
        return None
    base = _PAST[w[0]]
    return "did", adv + [(_SYN.get(base, base) if syn else base).replace("_", " ")] + w[1:]


def _main_base(words: list[str]) -> str | None:
    """Lemma of the main verb at the start of a predicate."""
    for i, x in enumerate(words[:4]):
        if x in _AUX or x in _ADVS or x == "been":
            continue
        return _PP.get(x) if i else _PAST.get(x)
    return None


def _q(*parts: str | list[str]) -> str:
    text = " ".join(" ".join(p) if isinstance(p, list) else p for p in parts if p)
    text = re.sub(r"\s+", " ", text).strip(" ,")
    return text[:1].upper() + text[1:] + "?"


def _klass(ans: str) -> str | None:
    w = ans.split()
    if len(w) > 1 and (w[-1] in _CLASS or (w[0] in _CLASS and w[1] == "of")):
        return _CLASS.get(w[-1]) or _CLASS[w[0]]
    return None


Cand = tuple[list[tuple[str, str]], str, int]
