"""Passages, BM25 and knowledge-base QA (memgpt.passages; `memory build/search`, `qa --memory`)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from memgpt.cli import cli
from memgpt.passages import (
    INDEX_FILE,
    INDEX_META,
    PASSAGES_FILE,
    PassageHit,
    PassageIndex,
    choose,
    split_passages,
    stem,
    tokenize,
)

BRIDGE = ("The Harbour Bridge\n\nThe bridge over the river was opened in 1932 by the mayor. It "
          "carries a railway and eight lanes of road.\r\n\r\nIts arch is made of steel and was "
          "painted grey.\n")
TEA = ("Green tea is made from leaves that are steamed or pan-fired soon after picking. "
       "It tastes grassy and is brewed with water below boiling.\n\n"
       "Black tea is fully oxidised before it is dried.\n")
FERRY = "The harbour freezes in January. The first ferry arrives in spring from Oslo.\n"


def doc(text: str) -> tuple[str, str, str]:
    return text, "/nowhere", "0" * 64


# ----------------------------------------------------------------------------- splitting


def test_passages_are_exact_slices_within_the_limit():
    text = ("Short opening paragraph.\n\n" + "A sentence of about forty characters. " * 60
            + "\nA line.\n\n\n" + "x" * 2300 + "\n\n  End here.  \n")
    for limit in (50, 300, 1000):
        spans = split_passages(text, limit)
        assert spans and all(0 <= s < e <= len(text) and e - s <= limit for s, e in spans)
        assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:]))  # in order, disjoint
        for s, e in spans:
            assert text[s:e] == text[s:e].strip()
        # nothing but whitespace falls between passages
        kept = "".join(text[s:e] for s, e in spans)
        assert re.sub(r"\s", "", kept) == re.sub(r"\s", "", text)
    # small paragraphs are packed together; long ones are cut at sentence ends
    spans = split_passages(text, 300)
    assert text[slice(*spans[0])].startswith("Short opening paragraph.\n\nA sentence")
    assert all(text[slice(*sp)].endswith(".") for sp in spans[:3])


def test_paragraphs_are_kept_whole_when_they_fit():
    paras = ["One two three. Four five.", "Six seven eight nine.", "Ten eleven twelve."]
    text = "\n\n".join(paras)
    assert split_passages(text, 1000) == [(0, len(text))]
    spans = split_passages(text, 30)
    assert [text[s:e] for s, e in spans] == paras


def test_tokenize_drops_stop_words_and_plurals():
    assert tokenize("When was the Bridge opened? Bridges, bridges!") == \
        ["bridge", "opened", "bridge", "bridge"]
    assert [stem(w) for w in ("leaves", "boxes", "glass", "bus", "berries", "this")] == \
        ["leave", "boxe", "glass", "bus", "berry", "this"]


# ----------------------------------------------------------------------------- BM25


def test_bm25_ranks_the_passage_with_the_rare_query_words_first():
    index = PassageIndex.build({"tea.txt": doc(TEA), "bridge.txt": doc(BRIDGE),
                                "ferry.txt": doc(FERRY)}, max_chars=200)
    hits = index.search("When was the bridge opened?", k=5)
    assert hits[0].passage.source == "bridge.txt"
    assert "opened in 1932" in hits[0].passage.text
    assert all(h.score > 0 for h in hits) and [h.rank for h in hits] == list(range(len(hits)))
    # "harbour" is in two documents, "oslo" in one: the rarer word decides
    assert index.search("harbour oslo", k=1)[0].passage.source == "ferry.txt"
    assert index.search("quantum chromodynamics", k=5) == []


def test_bm25_values_match_the_okapi_formula():
    texts = ["tea tea green", "tea black", "coffee"]
    index = PassageIndex.build({f"d{i}": doc(t) for i, t in enumerate(texts)}, max_chars=100)
    n, avgdl, k1, b = 3, (3 + 2 + 1) / 3, 1.5, 0.75

    def term(tf, df, dl):
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

    want = [term(2, 2, 3) + term(1, 1, 3), term(1, 2, 2), 0.0]
    assert index.scores("green tea") == pytest.approx(want, rel=1e-12)


def test_index_round_trip_and_refuses_a_damaged_one(tmp_path):
    index = PassageIndex.build({"tea.txt": doc(TEA), "bridge.txt": doc(BRIDGE)}, max_chars=120)
    index.save(tmp_path / "kb")
    again = PassageIndex.load(tmp_path / "kb")
    assert again.passages == index.passages
    np.testing.assert_array_equal(again.scores("green tea bridge"),
                                  index.scores("green tea bridge"))
    for line in (tmp_path / "kb" / PASSAGES_FILE).read_text(encoding="utf-8").splitlines():
        assert set(json.loads(line)) == {"source", "path", "start", "end", "text", "sha256"}

    f = tmp_path / "kb" / PASSAGES_FILE
    f.write_bytes(f.read_bytes()[:-10])  # truncated
    with pytest.raises(ValueError, match="checksum"):
        PassageIndex.load(tmp_path / "kb")
    (tmp_path / "kb" / INDEX_META).write_text("{nope", encoding="utf-8")
    with pytest.raises(ValueError, match="corrupt"):
        PassageIndex.load(tmp_path / "kb")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "bank.json").write_text("{}")
    with pytest.raises(ValueError, match="rebuild"):
        PassageIndex.load(tmp_path / "old")
    with pytest.raises(ValueError, match="not a memory bank"):
        PassageIndex.load(tmp_path)


def test_choose_combines_reader_and_retrieval():
    index = PassageIndex.build({"a": doc("alpha beta"), "b": doc("gamma")}, max_chars=100)
    hits = [PassageHit(index.passages[0], 9.0, 0), PassageHit(index.passages[1], 1.0, 1)]
    assert choose(hits, [0.4, 0.9], combine="reader")[0] == 1
    i, combined = choose(hits, [0.4, 0.9], combine="product")
    assert i == 0 and combined == pytest.approx(0.4 / (1 + math.exp(-8)))
    assert choose(hits, [0.4, 0.9], combine="product", temperature=100)[0] == 1


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def qa_folder(tmp_path_factory, tiny_weights_dir, make_task_folder) -> str:
    """A qa task folder (random head) on the tiny checkpoint."""
    from memgpt.checkpoint import load_model

    d = tmp_path_factory.mktemp("kbqa")
    return str(make_task_folder(d, load_model(tiny_weights_dir), "qa", adapter=False))


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("docs")
    (d / "sub").mkdir()
    (d / "bridge.txt").write_bytes(BRIDGE.encode())  # CRLF in the middle: universal newlines
    (d / "sub" / "tea.md").write_text(TEA, encoding="utf-8")
    (d / "ferry.txt").write_text(FERRY, encoding="utf-8")
    (d / "picture.png").write_bytes(b"\x89PNG\r\n")
    return d


def invoke(weights, *args):
    return CliRunner().invoke(cli, [*args], prog_name="memgpt-task",
                              env={"MEMGPT_WEIGHTS": weights})


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = [s for s in result.stderr.splitlines() if s.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def kb(tiny_weights_dir, docs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bank") / "kb"
    r = invoke(tiny_weights_dir, "memory", "build", str(docs), "-o", str(out), "--window", "32",
               "--json")
    built = json.loads(ok(r))
    assert built["sources"] == ["bridge.txt", "ferry.txt", "sub/tea.md"]
    assert built["passages"] >= 3 and "picture.png" in r.stderr  # skipped, with a note
    info = json.loads(ok(invoke(tiny_weights_dir, "memory", "info", str(out), "--json")))
    assert info["passages"] == built["passages"]
    return out


def test_memory_search_returns_passages_with_file_offsets(tiny_weights_dir, kb, docs):
    hits = [json.loads(s) for s in ok(invoke(tiny_weights_dir, "memory", "search", str(kb),
                                             "green tea", "--json", "-k", "3")).splitlines()]
    assert hits and set(hits[0]) == {"source", "start", "end", "score", "text"}
    assert Path(hits[0]["source"]) == docs / "sub" / "tea.md"
    assert "Green tea is made" in hits[0]["text"] and len(hits[0]["text"].split()) > 10
    for h in hits:
        text = open(h["source"], encoding="utf-8").read()
        assert text[h["start"]:h["end"]] == h["text"]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    plain = ok(invoke(tiny_weights_dir, "memory", "search", str(kb), "bridge opened"))
    head = plain.splitlines()[0]
    assert re.fullmatch(r".*bridge\.txt:\d+-\d+  \d+\.\d{4}", head), head
    assert "opened in 1932" in plain


def test_qa_memory_answers_with_source_offsets(tiny_weights_dir, kb, qa_folder, tmp_path):
    r = invoke(tiny_weights_dir, "qa", "--memory", str(kb), "--adapter", qa_folder,
               "When was the bridge opened?", "--json")
    got = json.loads(ok(r))
    assert set(got) == {"answer", "source", "start", "end", "score"}
    assert got["answer"] and 0 <= got["score"] <= 1  # the tiny model's answer is arbitrary...
    text = open(got["source"], encoding="utf-8").read()
    assert text[got["start"]:got["end"]] == got["answer"]  # ...its provenance is not
    # a records file of questions: one answer a line; --min-score 1 empties them
    qs = tmp_path / "q.jsonl"
    qs.write_text('{"question": "When was the bridge opened?"}\n{"question": "Green tea?"}\n')
    rows = [json.loads(s) for s in ok(invoke(tiny_weights_dir, "qa", "--memory", str(kb),
                                             "--adapter", qa_folder, str(qs), "--json",
                                             "--min-score", "1")).splitlines()]
    assert len(rows) == 2 and all(x["answer"] == "" and x["start"] == -1 for x in rows)
    plain = ok(invoke(tiny_weights_dir, "qa", "--memory", str(kb), "--adapter", qa_folder,
                      "When was the bridge opened?"))
    assert plain.strip().endswith(f"{got['source']}:{got['start']}-{got['end']}")


def test_kb_bad_input_is_one_line_error(tiny_weights_dir, kb, qa_folder, tmp_path):
    w = tiny_weights_dir
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no .txt or .md" in one_line_error(invoke(w, "memory", "build", str(empty), "-o",
                                                     str(tmp_path / "b1")))
    bad = tmp_path / "latin"
    bad.mkdir()
    (bad / "a.txt").write_bytes("café".encode("latin-1"))
    assert "UTF-8" in one_line_error(invoke(w, "memory", "build", str(bad), "-o",
                                            str(tmp_path / "b2")))
    assert not (tmp_path / "b1").exists() and not (tmp_path / "b2").exists()
    qa = ("qa", "--adapter", qa_folder, "When?", "--memory")
    assert "not found" in one_line_error(invoke(w, *qa, str(tmp_path / "none")))
    assert "not a memory bank" in one_line_error(invoke(w, *qa, str(empty)))
    # a bank from before passages existed: still loads for generate/info, qa says rebuild
    old = tmp_path / "old"
    old.mkdir()
    for name in ("bank.json", "bank.safetensors"):
        (old / name).write_bytes((kb / name).read_bytes())
    assert "rebuild" in one_line_error(invoke(w, *qa, str(old)))
    ok(invoke(w, "memory", "info", str(old)))
    r = invoke(w, "memory", "search", str(old), "tea", "--json")  # token search, with a warning
    assert r.exit_code == 0 and "no passages" in r.stderr
    # a truncated passage index
    cut = tmp_path / "cut"
    cut.mkdir()
    for name in ("bank.json", "bank.safetensors", PASSAGES_FILE, INDEX_FILE, INDEX_META):
        (cut / name).write_bytes((kb / name).read_bytes())
    (cut / INDEX_FILE).write_bytes((kb / INDEX_FILE).read_bytes()[:-8])
    assert "checksum" in one_line_error(invoke(w, *qa, str(cut)))
    assert "checksum" in one_line_error(invoke(w, "memory", "search", str(cut), "tea"))
    r = invoke(w, "qa", "--memory", str(kb), "--context", "x", "When?")
    assert r.exit_code == 2 and "exclude" in r.output
