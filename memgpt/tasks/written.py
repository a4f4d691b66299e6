"""The ``written-summaries`` built-in: hand-written 1-3 sentence summaries shipped with memgpt.

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
