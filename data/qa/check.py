"""Check written QA items against their documents:
``python data/qa/check.py DOCS.jsonl [DOCS.jsonl ...] -- ITEMS.jsonl [ITEMS.jsonl ...]`` prints one
line per problem and exits 1 if there is any.

An item is ``{"id", "question", "answer", "qtype"}`` (plus ``"occurrence"``, 0-based, when the
answer occurs more than once in the document). It must: name a known document id; have a
question of 4-30 words ending in "?", not repeated for its document, sharing no run of 7
consecutive words with the document (the question is worded as a person asks it, not lifted
from the text) and not containing its answer; have ``qtype`` one of :data:`QTYPES`; and an answer
that is an exact, case-sensitive substring of the document on word boundaries, at most 12 words
(25 for ``why``/``how``), without surrounding spaces or a trailing period or comma.
"""

from __future__ import annotations

import json
import re
import sys

from memgpt.tasks.written import answer_start as written_start
from memgpt.tasks.written import word_occurrences

QTYPES = ("who", "what", "when", "where", "which", "how many", "how much", "why", "how")
_WORD = re.compile(r"[a-z0-9]+")


def answer_start(text: str, item: dict) -> int:
    """Character offset of the item's answer in ``text`` (ValueError when it is not there,
    or when it occurs more than once and the item gives no ``occurrence``)."""
    found = word_occurrences(text, item["answer"])
    if len(found) > 1 and "occurrence" not in item:
        raise ValueError(f"answer occurs {len(found)} times: give 'occurrence' (0-based)")
    return written_start(text, item)


def problems(text: str, item: dict) -> list[str]:
    out = []
    q, a, t = item.get("question", ""), item.get("answer", ""), item.get("qtype", "")
    if t not in QTYPES:
        out.append(f"qtype {t!r} not one of {QTYPES}")
    if not q.endswith("?") or not 4 <= len(q.split()) <= 30:
        out.append("question must be 4-30 words ending in '?'")
    if not a or a != a.strip() or a[-1] in ".,;:":
        out.append("answer empty, padded, or ending in punctuation")
    elif len(a.split()) > (25 if t in ("why", "how") else 12):
        out.append(f"answer too long ({len(a.split())} words)")
    else:
        try:
            answer_start(text, item)
        except ValueError as e:
            out.append(str(e).removeprefix("written-qa: "))
        if a.lower() in q.lower():
            out.append("the question contains its answer")
    dw, qw = _WORD.findall(text.lower()), _WORD.findall(q.lower())
    grams = {tuple(dw[i:i + 7]) for i in range(len(dw) - 6)}
    if any(tuple(qw[i:i + 7]) in grams for i in range(len(qw) - 6)):
        out.append("the question copies 7 consecutive words of the document")
    return out


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print(__doc__.strip().splitlines()[0])
        return 2
    cut = argv.index("--")
    docs = {}
    for p in argv[:cut]:
        for line in open(p, encoding="utf-8"):
            if line.strip():
                d = json.loads(line)
                docs[d["id"]] = d["text"]
    bad, n, seen = 0, 0, set()
    for p in argv[cut + 1:]:
        for i, line in enumerate(open(p, encoding="utf-8"), 1):
            if not line.strip():
                continue
            n += 1
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"{p}:{i}: not JSON ({e})")
                bad += 1
                continue
            if item.get("id") not in docs:
                print(f"{p}:{i}: unknown document id {item.get('id')!r}")
                bad += 1
                continue
            key = (item["id"], item.get("question", "").strip().lower())
            errs = problems(docs[item["id"]], item) + (["repeated question"] if key in seen
                                                        else [])
            seen.add(key)
            for e in errs:
                print(f"{p}:{i}: {e}")
            bad += bool(errs)
    print(f"{n} items, {bad} with problems", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
