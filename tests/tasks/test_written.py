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


def test_written_qa_rebuilds_contexts_and_exact_spans(tmp_path, monkeypatch):
    wiki, bbc = _wiki(tmp_path / "wiki"), _bbc(tmp_path / "bbc")
    card = D.DATASETS["bbc-headline"]  # what the written-qa parser passes
    section = W.wiki_sections(wiki, "train")[0]
    valid_section = W.wiki_sections(wiki, "valid")[0]
    doc = W.bbc_documents(W._parse_bbc(bbc, card), "train")[0]
    qa = tmp_path / "qa"
    qa.mkdir()
    train = [{"id": section["id"], "question": "Where was Ann Roe born?", "answer": "Leeds",
              "qtype": "where"},
             {"id": section["id"], "question": "When did the second opening happen?",
              "answer": "1932", "qtype": "when", "occurrence": 1},
             {"id": doc["id"], "question": "When did the phone sell well?", "answer": "March",
              "qtype": "when"}]
    valid = [{"id": valid_section["id"], "question": "Why was the bridge shut?",
              "answer": "because of a flood", "qtype": "why"}]
    for name, rows in (("train", train), ("valid", valid)):
        (qa / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(W, "QUESTIONS", qa)
    out = W.written_qa(bbc, card, wiki)
    assert [len(out[s]) for s in ("train", "valid", "test")] == [3, 1, 0]
    for r in out["train"] + out["valid"]:
        (a,) = r["answers"]
        assert r["context"][a["start"]:a["start"] + len(a["text"])] == a["text"]
    second = out["train"][1]["answers"][0]["start"]
    assert second == out["train"][1]["context"].find("1932", out["train"][1]["context"]
                                                     .find("1932") + 1)
    assert out["valid"][0]["source"] == "wikitext-valid"
    # "Lee" is inside "Leeds": not a whole-word span
    (qa / "train.jsonl").write_text(json.dumps({**train[0], "answer": "Lee"}) + "\n")
    with pytest.raises(ValueError, match="not a whole-word span"):
        W.written_qa(bbc, card, wiki)
    (qa / "train.jsonl").write_text(json.dumps({**train[0], "id": "wikitext-train:No#0:X"})
                                    + "\n")
    with pytest.raises(ValueError, match="no document for id"):
        W.written_qa(bbc, card, wiki)


def test_word_occurrences_respect_word_boundaries():
    text = "Leeds and Lee, and Lee-born Leeward"
    assert W.word_occurrences(text, "Lee") == [10, 19]
    assert W.word_occurrences(text, "") == []
    assert W.word_occurrences(text, "Leeds and Lee") == [0]


def test_shipped_questions_are_well_formed():
    qtypes = {"who", "what", "when", "where", "which", "how many", "how much", "why", "how"}
    for name, sources in (("train", ("wikitext-train:", "business/", "entertainment/",
                                     "politics/", "sports/", "tech/")),
                          ("valid", ("wikitext-valid:",))):
        with open(W.QUESTIONS / f"{name}.jsonl", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        assert len(rows) > {"train": 4000, "valid": 200}[name]
        assert len({(r["id"], r["question"]) for r in rows}) == len(rows)
        for r in rows:
            assert set(r) <= {"id", "question", "answer", "qtype", "occurrence"}
            assert r["id"].startswith(sources) and r["qtype"] in qtypes
            assert r["question"].endswith("?") and r["answer"] == r["answer"].strip()
            assert r["answer"].lower() not in r["question"].lower()
