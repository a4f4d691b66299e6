"""Check written summaries against their documents: ``python data/summaries/check.py DOCS.jsonl
SUMMARIES.jsonl`` prints one line per problem and exits 1 if there is any.

A summary must: name a known document id once; be 1-3 sentences and 12-80 words; not copy the
document's first sentence (ROUGE-L F against it < 0.8) nor any 12-word run of it; use only
numbers that occur in the document (digits compared without separators); and use capitalised
names that occur in the document (a word capitalised mid-sentence must appear in the document,
case-insensitively, at least as a prefix: "Jordan's" -> "Jordan").
"""

from __future__ import annotations

import json
import re
import sys

_SENT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def sentences(text: str) -> list[str]:
    return [s for s in _SENT.split(text.strip()) if s.strip()]


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(a: str, b: str) -> float:
    x, y = a.lower().split(), b.lower().split()
    if not x or not y:
        return 0.0
    n = _lcs(x, y)
    return 0.0 if n == 0 else 2 * n / (len(x) + len(y))


def _numbers(text: str) -> set[str]:
    return {m.replace(",", "") for m in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}


def problems(doc: str, summary: str) -> list[str]:
    out = []
    words = summary.split()
    n_sent = len(sentences(summary))
    if not 1 <= n_sent <= 3:
        out.append(f"{n_sent} sentences (1-3 wanted)")
    if not 12 <= len(words) <= 80:
        out.append(f"{len(words)} words (12-80 wanted)")
    first = sentences(doc)[0] if sentences(doc) else ""
    if rouge_l(first, summary) >= 0.8:
        out.append("copies the first sentence")
    dw, sw = doc.lower().split(), summary.lower().split()
    grams = {tuple(dw[i:i + 12]) for i in range(len(dw) - 11)}
    if any(tuple(sw[i:i + 12]) in grams for i in range(len(sw) - 11)):
        out.append("copies a 12-word run of the document")
    missing = sorted(_numbers(summary) - _numbers(doc))
    if missing:
        out.append(f"numbers not in the document: {missing}")
    low = doc.lower()
    for s in sentences(summary):
        for w in s.split()[1:]:
            core = re.sub(r"^[\"'(\[]+|[^A-Za-z0-9\-]+$", "", w)
            core = re.sub(r"['’]s$", "", core)
            if core[:1].isupper() and core.lower() not in low:
                out.append(f"name not in the document: {core}")
    return out


def main(docs_path: str, summaries_path: str) -> int:
    docs = {json.loads(line)["id"]: json.loads(line)["text"]
            for line in open(docs_path, encoding="utf-8") if line.strip()}
    seen, bad = set(), 0
    for i, line in enumerate(open(summaries_path, encoding="utf-8"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            did, summ = rec["id"], rec["summary"]
        except (ValueError, KeyError, TypeError):
            print(f"line {i}: not a JSON object with id and summary")
            bad += 1
            continue
        if did not in docs:
            print(f"line {i}: unknown id {did!r}")
            bad += 1
            continue
        if did in seen:
            print(f"line {i}: {did!r} summarised twice")
            bad += 1
        seen.add(did)
        for p in problems(docs[did], summ):
            print(f"line {i} ({did}): {p}")
            bad += 1
    print(f"{len(seen)} of {len(docs)} documents summarised; {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
