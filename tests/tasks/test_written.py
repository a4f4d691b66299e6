"""The written-summaries built-in (memgpt.tasks.written): shipped summaries joined with their
documents rebuilt by id; the WikiText-2 test file is never read."""

from __future__ import annotations

import gzip
import json

import pytest

from memgpt.tasks import data as D
from memgpt.tasks import written as W

BODY = ("{name} was born in 1901 in Leeds . {name} designed the Town Bridge , which was "
        "opened in 1932 . The bridge was closed in 1990 because of a flood . " * 3)


def _wiki(tmp_path):
    tmp_path.mkdir(parents=True)
    for split, titles in (("train", ["Ann Roe", "Bo Lind"]), ("valid", ["Val Person"])):
        text = "".join(f" = {t} = \n \n {BODY.format(name=t)}\n \n = = Life = = \n \n "
                       f"{BODY.format(name='He')}\n" for t in titles)
        with gzip.open(tmp_path / f"{split}.raw.gz", "wt", encoding="utf-8") as f:
            f.write(text)
    return tmp_path


def _bbc(tmp_path):
    for i in range(12):
        (tmp_path / "tech").mkdir(parents=True, exist_ok=True)
        para = f"Story {i} says the phone sold well in March. " * 20
        (tmp_path / "tech" / f"{i:03d}.txt").write_text(f"Headline {i}\n\n{para}\n{para}\n"
                                                        f"{para}\n")
    return tmp_path


def test_documents_are_rebuilt_by_id_and_split(tmp_path, monkeypatch):
    wiki, bbc = _wiki(tmp_path / "wiki"), _bbc(tmp_path / "bbc")
    sections = W.wiki_sections(wiki, "train")
    assert [s["id"].split("#", 1)[1] for s in sections] == ["0:Introduction", "1:Life"] * 2
    assert all(" , " not in s["text"] and 70 <= len(s["text"].split()) <= 260
               for s in sections)
    card = D.DATASETS["written-summaries"]
    docs = W.bbc_documents(W._parse_bbc(bbc, card), "train")
    assert docs and all(len(d["text"].split()) <= 260 + 200 and d["text"].count("\n\n") == 1
                        for d in docs)  # cut after the paragraph passing 260 words
    valid_id = W.wiki_sections(wiki, "valid")[0]["id"]
    summ = tmp_path / "summaries"
    summ.mkdir()
    train = [{"id": s["id"], "summary": f"Summary {i}."} for i, s in enumerate(sections)]
    train += [{"id": d["id"], "summary": "A phone sold."} for d in docs]
    for name, rows in (("train", train), ("test", [{"id": valid_id, "summary": "Val."}])):
        (summ / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(W, "SUMMARIES", summ)
    out = W.written_summaries(bbc, card, wiki)
    assert [r["id"] for r in out["test"]] == [valid_id]
    assert out["test"][0]["source"] == "wikitext-valid" and out["test"][0]["summary"] == "Val."
    assert sorted(r["id"] for r in out["train"] + out["valid"]) == sorted(r["id"] for r in train)
    by_id = {s["id"]: s["text"] for s in sections}
    for r in out["train"]:
        assert r["text"] == by_id.get(r["id"], r["text"]) and r["summary"]
    (summ / "test.jsonl").write_text(json.dumps({"id": "wikitext-valid:nope#0:X",
                                                 "summary": "x"}) + "\n")
    with pytest.raises(ValueError, match="no document for id"):
        W.written_summaries(bbc, card, wiki)


def test_shipped_summaries_are_well_formed():
    ids = set()
    for name in ("train", "test"):
        rows = W.read_summaries(name)
        assert len(rows) == {"train": 1500, "test": 121}[name]
        for r in rows:
            assert set(r) == {"id", "summary"} and 12 <= len(r["summary"].split()) <= 80
            assert not r["id"].startswith("wikitext-test")
            ids.add(r["id"])
    assert len(ids) == 1621  # no document twice, none in both train and test
