"""Write the documents that the hand-written summaries of ``data/summaries`` describe.

Run: ``python data/summaries/prepare.py OUT`` (reads the pinned offline packages through
memgpt's fetcher). Writes ``OUT/docs-{wiki-train,bbc-train,wiki-valid,bbc-valid}.jsonl`` with
``{"id", "source", "text"}``. Documents are chosen in a fixed pseudo-random order (sha256 of the
id), so the same command always lists the same documents.

* ``wikitext-train`` / ``wikitext-valid``: one section (text between WikiText-2 headings) of an
  article, markup undone (``qagen.clean_wikitext``), 70-260 words, with the article title. The
  valid documents come only from the articles that ``wiki-qa`` puts in its *test* half (never
  trained on, never used for selection). **The WikiText-2 test file is not read.**
* ``bbc-train`` / ``bbc-valid``: BBC article bodies (the shared BBC split), cut after the
  paragraph that passes 260 words.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from memgpt.tasks.corpora import wikitext_articles
from memgpt.tasks.data import DATASETS, load_builtin, wikitext_folder
from memgpt.tasks.qagen import clean_wikitext
from memgpt.tasks.splits import _unit, split_of

_HEAD = re.compile(r"^ = = ([^=].*?) = = $", re.M)


def wiki_sections(split: str) -> list[dict]:
    card = DATASETS["wiki-qa"]
    out = []
    for art in wikitext_articles(wikitext_folder(progress=False), split):
        if split == "valid" and split_of(art["title"], valid=card.valid, test=card.test) != "test":
            continue
        raw = art["text"]
        cuts = [0] + [m.start() for m in _HEAD.finditer(raw)] + [len(raw)]
        for i in range(len(cuts) - 1):
            chunk = raw[cuts[i]:cuts[i + 1]]
            m = _HEAD.match(chunk)
            name = m.group(1).strip() if m else "Introduction"
            text = clean_wikitext(chunk)
            n = len(text.split())
            if 70 <= n <= 260 and text.count("\n\n") <= 4:
                out.append({"id": f"{art['id']}#{i}:{name}", "source": f"wikitext-{split}",
                            "title": art["title"], "text": text})
    return out


def bbc(split: str) -> list[dict]:
    out = []
    for r in load_builtin("bbc-headline", split, progress=False):
        paras, words = [], 0
        for p in r["text"].split("\n"):
            if p.strip():
                paras.append(p.strip())
                words += len(p.split())
                if words > 260:
                    break
        out.append({"id": r["id"], "source": f"bbc-{split}", "text": "\n\n".join(paras)})
    return out


def main(out: Path, sizes=(("wiki-train", 900), ("bbc-train", 600), ("wiki-valid", 160),
                          ("bbc-valid", 60))) -> None:
    out.mkdir(parents=True, exist_ok=True)
    pools = {"wiki-train": lambda: wiki_sections("train"), "bbc-train": lambda: bbc("train"),
             "wiki-valid": lambda: wiki_sections("valid"), "bbc-valid": lambda: bbc("valid")}
    for name, n in sizes:
        docs = sorted(pools[name](), key=lambda d: _unit(d["id"]))[:n]
        with open(out / f"docs-{name}.jsonl", "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
        print(name, len(docs))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
