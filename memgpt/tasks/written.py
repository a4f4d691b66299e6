"""The ``written-summaries`` and ``written-qa`` built-ins: hand-written 1-3 sentence summaries
and SQuAD-style questions shipped with memgpt.

The summaries (``memgpt/defaults/summaries/{train,test}.jsonl``, ``{"id", "summary"}`` lines)
are stored without their documents; the documents are rebuilt from the pinned offline corpora
by id, so the same text is read on every machine:

* ``wikitext-train:...`` / ``wikitext-valid:...`` ids: one section of a WikiText-2 article (the
  text between two `` = = heading = = `` lines), WikiText markup undone
  (``qagen.clean_wikitext``). Test ids come only from WikiText-2 *valid* articles; the
  WikiText-2 test file is never read.
* BBC ids: the article body of the shared BBC split, cut after the paragraph that passes 260
  words.

Splits: ``test`` is ``test.jsonl`` (61 WikiText-2 valid sections, 60 BBC valid articles);
``valid`` is the ~6% of ``train.jsonl`` whose id hashes below :data:`VALID_SHARE`; ``train`` is
the rest. How the summaries were written: ``data/summaries/CARD.md``.

``written-qa`` (``memgpt/defaults/qa/{train,valid}.jsonl``, ``{"id", "question", "answer",
"qtype"[, "occurrence"]}`` lines) asks about the same kind of documents: ``train`` about WikiText-2
*train* sections and BBC *train* articles, ``valid`` about sections of the WikiText-2 valid
articles in ``wiki-qa``'s *valid* half. It has no test split: its held-out counterpart is the
hand-written set over the other half (``benchmarks/data/wiki-qa-human.jsonl``). How the
questions were written: ``data/qa/CARD.md``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from memgpt.tasks.corpora import wikitext_articles
from memgpt.tasks.parsers import _parse_bbc
from memgpt.tasks.qagen import clean_wikitext
from memgpt.tasks.splits import SPLITS, _unit

SUMMARIES = Path(__file__).resolve().parent.parent / "defaults" / "summaries"
QUESTIONS = Path(__file__).resolve().parent.parent / "defaults" / "qa"
VALID_SHARE = 0.06
_HEAD = re.compile(r"^ = = ([^=].*?) = = $", re.M)


def wiki_sections(folder: Path, split: str) -> list[dict]:
    """Sections of 70-260 words (at most 4 paragraph breaks) of the WikiText-2 ``split``
    articles: ``{id, source, title, text}``, id ``ARTICLE_ID#INDEX:HEADING``."""
    out = []
    for art in wikitext_articles(folder, split):
        raw = art["text"]
        cuts = [0] + [m.start() for m in _HEAD.finditer(raw)] + [len(raw)]
        for i in range(len(cuts) - 1):
            chunk = raw[cuts[i]:cuts[i + 1]]
            m = _HEAD.match(chunk)
            name = m.group(1).strip() if m else "Introduction"
            text = clean_wikitext(chunk)
            if 70 <= len(text.split()) <= 260 and text.count("\n\n") <= 4:
                out.append({"id": f"{art['id']}#{i}:{name}", "source": f"wikitext-{split}",
                            "title": art["title"], "text": text})
    return out


def bbc_documents(bbc_splits: dict[str, list[dict]], split: str) -> list[dict]:
    """BBC bodies of one split, cut after the paragraph that passes 260 words."""
    out = []
    for r in bbc_splits[split]:
        paras, words = [], 0
        for p in r["text"].split("\n"):
            if p.strip():
                paras.append(p.strip())
                words += len(p.split())
                if words > 260:
                    break
        out.append({"id": r["id"], "source": f"bbc-{split}", "text": "\n\n".join(paras)})
    return out


def read_summaries(name: str) -> list[dict]:
    """``train`` or ``test``: the shipped ``{"id", "summary"}`` lines."""
    with open(SUMMARIES / f"{name}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def written_summaries(bbc_folder: Path, card, wiki_folder: Path) -> dict[str, list[dict]]:
    """``{train, valid, test}`` records ``{id, source, text, summary}`` (see the module doc).

    ``card`` is the written-summaries card: its BBC split is the shared one (valid = test =
    0.1). Raises ValueError when a shipped id has no document (a changed corpus)."""
    bbc = _parse_bbc(bbc_folder, card)
    docs = {d["id"]: d for s in ("train", "valid") for d in bbc_documents(bbc, s)}
    docs.update({d["id"]: d for s in ("train", "valid") for d in wiki_sections(wiki_folder, s)})
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for name in ("train", "test"):
        for r in read_summaries(name):
            if r["id"] not in docs:
                raise ValueError(f"written-summaries: no document for id {r['id']!r}")
            split = name if name == "test" else (
                "valid" if _unit("written-summaries:" + r["id"]) < VALID_SHARE else "train")
            d = docs[r["id"]]
            out[split].append({"id": r["id"], "source": d["source"], "text": d["text"],
                               "summary": r["summary"]})
    return out


def word_occurrences(text: str, answer: str) -> list[int]:
    """Starts of ``answer`` in ``text`` where it neither begins nor ends inside a word."""
    found, i = [], text.find(answer) if answer else -1
    while i >= 0:
        j = i + len(answer)
        if not (i > 0 and text[i - 1].isalnum() and answer[0].isalnum()) and \
                not (j < len(text) and text[j].isalnum() and answer[-1].isalnum()):
            found.append(i)
        i = text.find(answer, i + 1)
    return found


def answer_start(text: str, item: dict) -> int:
    """Character offset of a written item's answer in its document: the ``occurrence``-th
    (default 0) whole-word occurrence. ValueError when it is not there."""
    found, k = word_occurrences(text, item["answer"]), int(item.get("occurrence", 0))
    if k >= len(found):
        raise ValueError(f"written-qa: answer {item['answer']!r} is not a whole-word span of "
                         f"{item['id']!r}")
    return found[k]


def written_qa(bbc_folder: Path, card, wiki_folder: Path) -> dict[str, list[dict]]:
    """``{train, valid, test}`` QA records ``{id, source, question, context, answers, qtype}``
    (``answers`` one ``{text, start}``; ``test`` is empty, see the module doc). ``card`` is a
    card that reads BBC articles as bodies on the shared split (``bbc-headline``'s). Raises
    ValueError when a shipped id has no document or an answer is not in it."""
    bbc = _parse_bbc(bbc_folder, card)
    docs = {d["id"]: d for d in bbc_documents(bbc, "train")}
    docs.update({d["id"]: d for s in ("train", "valid") for d in wiki_sections(wiki_folder, s)})
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for split in ("train", "valid"):
        with open(QUESTIONS / f"{split}.jsonl", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        for n, r in enumerate(rows):
            if r["id"] not in docs:
                raise ValueError(f"written-qa: no document for id {r['id']!r}")
            d = docs[r["id"]]
            out[split].append({"id": f"{r['id']}#q{n}", "source": d["source"],
                               "question": r["question"], "context": d["text"],
                               "answers": [{"text": r["answer"],
                                            "start": answer_start(d["text"], r)}],
                               "qtype": r["qtype"]})
    return out
