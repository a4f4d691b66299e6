"""Deterministic rule-based generator of SQuAD-style extractive QA items from English text.

Pure Python (``re`` only). A document is cleaned of WikiText artefacts, cut into contexts at
paragraph (else sentence) boundaries, and each sentence is matched against pattern rules (who,
what, when, where, which, why, how many, how much, other). Every answer is an exact, whole-word
span of its context that occurs there exactly once; items failing any check are dropped.

The package: ``lexicon`` (patterns and word lists), ``parse`` (cleaning, cutting, sentence
parts, inversion), ``rules`` (one function per question type) and, here, the checks, the
selection and the public ``qa_items`` / ``dedupe_items``.
"""

from __future__ import annotations

import hashlib
import random
import re

from memgpt.tasks.qagen.lexicon import _CAPW, _NONPLACE, _WSYN, QTYPES  # noqa: F401 (QTYPES: public)
from memgpt.tasks.qagen.parse import (
    _balanced,
    _chunks,
    _doc_entity,
    _parse,
    _sentences,
    clean_wikitext,
)
from memgpt.tasks.qagen.rules import (
    _rule_agent,
    _rule_appos,
    _rule_copula,
    _rule_count,
    _rule_count_subj,
    _rule_money,
    _rule_object,
    _rule_place,
    _rule_time,
    _rule_why,
)


def _valid(ctx: str, q: str, ans: str, start: int, qtype: str) -> bool:
    """Exact-span, uniqueness, whole-word and question well-formedness checks."""
    end = start + len(ans)
    if not ans or ctx[start:end] != ans or (ctx.count(ans) != 1 and qtype != "when"):
        return False
    inword = re.compile(r"[\w'’@-]")
    if (start and inword.match(ctx[start - 1])) or (end < len(ctx) and inword.match(ctx[end])):
        return False
    if (start > 1 and ctx[start - 1] in ".," and ctx[start - 2].isalnum()) or \
            (end + 1 < len(ctx) and ctx[end] in ".," and ctx[end + 1].isalnum()):
        return False
    if qtype != "when" and ans.split()[0] in _NONPLACE or re.match(
            r" (?:and|or|&) (?:[A-Z0-9$£]|(?:a|an|the|his|her|its|their) )", ctx[end:]):
        return False
    if q[:-1].split()[-1] in ("the", "a", "an", "of", "his", "her", "its", "their", "and"):
        return False
    if re.search(r"\b[A-Z]$", ans) and ctx[end:end + 1] == "." or re.search(
            r"\b(?:the|a|an|his|her|its|their) (?:in|by|on|at|of|for|to|with|as)\b", q):
        return False
    if qtype in ("when", "what", "why") and re.search(r" (?:in|on|at|to|of|for|with|by)\?$", q):
        return False
    limit = 15 if qtype == "why" else 8
    if not 1 <= len(ans.split()) <= limit or not _balanced(ans) or not re.match(r"[\w$£€]", ans) \
            or not re.search(r"[\w%]$", ans):
        return False
    return (q.endswith("?") and "?" not in q[:-1] and "!" not in q and q[0].isupper()
            and ans.lower() not in q.lower() and _balanced(q)
            and "\n" not in q and 3 <= len(q.split()) <= 25 and "  " not in q)


def _can_resolve(ent: tuple[str, str, bool] | None, prev: str, para_start: bool) -> bool:
    """Whether a leading pronoun of the current sentence safely refers to the document entity."""
    if ent is None:
        return False
    if para_start or prev.split(" ", 1)[0] in ("It", "He", "She", ent[0].split()[0]):
        return True
    names = re.findall(rf"(?<!^)(?<![.!?] )\b[A-Z][a-z]+ {_CAPW}", prev)
    return ent[1] != "thing" and not [n for n in names if not set(n.split()) & set(ent[0].split())]


def _candidates(ctx: str, ent: tuple[str, str, bool] | None, vocab: set[str],
                rng: random.Random) -> list[dict]:
    """All valid question candidates of one context, with their sentence index."""
    found, prev = [], ""
    rules = (_rule_time, _rule_place, _rule_agent, _rule_object, _rule_count, _rule_money,
             _rule_copula)
    for si, (s, e) in enumerate(x for m in re.finditer(r"[^\n]+", ctx)
                                for x in _sentences(m.group(), m.start())):
        sent = ctx[s:e]
        ok = _can_resolve(ent, prev, s == 0 or ctx[s - 1] == "\n")
        prev = sent
        cands = [c for p in _parse(sent, s, ent, ok, vocab) for r in rules for c in r(p, rng)]
        cands += _rule_why(sent, s, ent, ok, vocab) + _rule_appos(sent, s)
        cands += _rule_count_subj(sent, s)
        for vs, ans, start in cands:
            i = rng.randrange(1, len(vs)) if len(vs) > 1 and rng.random() < 0.6 else 0
            q, qt = vs[i]
            if rng.random() < 0.5:
                q = re.sub(r"\b[a-z]+\b", lambda w: _WSYN.get(w.group(), w.group()), q)
            if _valid(ctx, q, ans, start, qt):
                found.append({"question": q, "ans": ans, "start": start, "qtype": qt, "sent": si})
    return found


def _select(cands: list[dict], k: int, rng: random.Random) -> list[dict]:
    """Up to ``k`` candidates, at most two per sentence and one per answer, types interleaved."""
    groups: dict[str, list[dict]] = {}
    for c in cands:
        groups.setdefault(c["qtype"], []).append(c)
    order = sorted(groups)
    rng.shuffle(order)
    picked: list[dict] = []
    per_sent: dict[int, int] = {}
    seen: set[int] = set()
    while len(picked) < k and any(groups.values()):
        for qt in order:
            while groups[qt] and len(picked) < k:
                c = groups[qt].pop(0)
                if c["start"] not in seen and per_sent.get(c["sent"], 0) < 2:
                    seen.add(c["start"])
                    per_sent[c["sent"]] = per_sent.get(c["sent"], 0) + 1
                    picked.append(c)
                    break
    return sorted(picked, key=lambda c: c["start"])


def qa_items(doc_id: str, text: str, *, max_context: int = 1200, seed: int = 0,
             max_per_context: int = 6) -> list[dict]:
    """Items {"id", "context", "question", "answers": [{"text", "start"}], "qtype"} from a document.

    Args:
        doc_id: Stable document identifier (seeds the choices and prefixes item ids).
        text: The document; WikiText artefacts are cleaned with :func:`clean_wikitext`.
        max_context: Maximum context length in characters.
        seed: Base seed; output is deterministic for a given ``(doc_id, text, seed)``.
        max_per_context: Maximum number of questions kept per context.

    Returns:
        SQuAD-style items whose contexts are substrings of ``clean_wikitext(text)``.
    """
    clean = clean_wikitext(text)
    digest = int(hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:12], 16)
    rng = random.Random(seed + digest)
    ent = _doc_entity(clean)
    vocab = set(re.findall(r"\b[a-z][a-z'-]*\b", clean))
    items = []
    for ci, (s, e) in enumerate(_chunks(clean, max_context)):
        ctx = clean[s:e]
        for c in _select(_candidates(ctx, ent, vocab, rng), max_per_context, rng):
            items.append({"id": f"{doc_id}-{ci}-{len(items)}", "context": ctx,
                          "question": c["question"], "qtype": c["qtype"],
                          "answers": [{"text": c["ans"], "start": c["start"]}]})
    return dedupe_items(items)


def dedupe_items(items: list[dict]) -> list[dict]:
    """Drop items whose (context, question) pair was already seen, keeping the first.

    Args:
        items: QA items as returned by :func:`qa_items`.

    Returns:
        The items in their original order without duplicates.
    """
    seen: set[tuple[str, str]] = set()
    out = []
    for it in items:
        key = (it["context"], it["question"])
        if key not in seen:
            seen.add(key)
            out.append(it)
    return out
