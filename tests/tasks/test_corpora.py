"""WikiText-2 articles and the wiki-qa splits (memgpt.tasks.corpora): test file never read."""

from __future__ import annotations

import gzip

import pytest

from memgpt.tasks.corpora import wiki_qa_splits, wikitext_articles
from memgpt.tasks.splits import split_of

BODY = ("{name} was born in 1901 in Leeds . {name} designed the Town Bridge , which was "
        "opened in 1932 . The bridge was closed in 1990 because of a flood . " * 3)


def _article(title: str) -> str:
    return f" = {title} = \n \n {BODY.format(name=title)}\n \n = = Life = = \n \n {BODY}\n"


@pytest.fixture
def folder(tmp_path):
    for split, titles in (("train", ["Ann Roe", "Bo Lind"]),
                          ("valid", [f"Val Person {i}" for i in range(8)]),
                          ("test", ["Test Secret"])):
        text = "".join(_article(t) for t in titles) + " = Points ; GP = \n 3 ; 4 \n"
        with gzip.open(tmp_path / f"{split}.raw.gz", "wt", encoding="utf-8") as f:
            f.write(text.replace("{name}", "x"))
    return tmp_path


def test_articles_split_at_titles_and_tables_stay_inside(folder):
    arts = wikitext_articles(folder, "train")
    assert [a["title"] for a in arts] == ["Ann Roe", "Bo Lind"]
    assert "= = Life = =" in arts[0]["text"] and "Points ; GP" in arts[-1]["text"]


def test_the_test_file_is_never_read(folder):
    with pytest.raises(ValueError, match="reserved"):
        wikitext_articles(folder, "test")
    (folder / "test.raw.gz").write_bytes(b"not gzip: reading it would fail")
    splits = wiki_qa_splits(folder, salt_split=lambda k: split_of(k, valid=0.5, test=0.5))
    everything = [r for recs in splits.values() for r in recs]
    assert everything and not any("Test Secret" in r["context"] for r in everything)


def test_held_out_questions_are_about_articles_never_trained_on(folder):
    splits = wiki_qa_splits(folder, salt_split=lambda k: split_of(k, valid=0.5, test=0.5))
    article = {s: {r["id"].split("-")[1].rsplit("-", 1)[0] for r in recs}
               for s, recs in splits.items()}
    assert splits["train"] and splits["valid"] and splits["test"]
    assert all(r["id"].startswith("wikitext-train:") for r in splits["train"])
    assert not any(r["id"].startswith("wikitext-train:")
                   for r in splits["valid"] + splits["test"])
    assert not article["valid"] & article["test"]
    for r in splits["test"] + splits["valid"] + splits["train"]:
        a = r["answers"][0]
        assert r["context"][a["start"]:a["start"] + len(a["text"])] == a["text"]
