"""Tests for the rule-based SQuAD-style question generator."""

from __future__ import annotations

import re

import pytest

from memgpt.tasks.qagen import QTYPES, clean_wikitext, dedupe_items, qa_items

BIO = """ = John Harrison Smith =

 John Harrison Smith ( born 12 March 1954 ) is an English civil engineer and author . He was \
born in Leeds , and was educated at the University of Manchester . In 1980 , he joined the \
engineering firm Arup , where he worked for twelve years .
 The Aire Bridge , designed by Peter Hall , opened in 1991 . The bridge cost £ 4 @.@ 5 million \
to build . Smith married Helen Carter in 1983 . The couple have three children . He moved to \
York in 1995 .

 = = Legacy = =

 Smith 's company was founded by his father in 1948 . The library was closed due to a lack of \
funding . Over 300 people were killed in the flood of 1962 .
"""
TOWN = """Ashby is a market town in North West Leicestershire, England. The town has a population \
of 12,370 at the 2011 census. The parish church was built in 1474 by William Hastings. In 1854, \
the council constructed a new harbour. Mary Jones, the mayor of Ashby, said the harbour was a \
success.

The Ashby Festival was held at Bramham Park. The museum was founded by Edward Clarke in 1908. \
The castle was abandoned because the owners had moved to London. Ashby Castle is the largest \
castle in Leicestershire. The museum is also known as the Hastings Collection.
"""
NEWS = """The company reported that profits rose by 12% in the last quarter. The firm sold 2 \
million phones in its first week. Chief executive Anna Berg was appointed in 2019. The new \
factory cost $300 million. The plant was opened by Prime Minister David Lee on 4 March 2021.
"""
DOCS = {"bio": BIO, "town": TOWN, "news": NEWS}


def _all_items(k: int = 6) -> list[dict]:
    return [it for key, v in DOCS.items() for it in qa_items(key, v, max_per_context=k)]


def _content(s: str) -> set[str]:
    stop = {"the", "a", "an", "of", "in", "on", "at", "to", "by", "was", "is", "did", "does",
            "what", "who", "when", "where", "which", "why", "how", "many", "much", "year"}
    return {w for w in re.findall(r"[a-z0-9']+", s.lower()) if w not in stop}


@pytest.mark.parametrize("raw,clean", [
    ("1 @,@ 000 people", "1,000 people"),
    ("a well @-@ known player", "a well-known player"),
    ("3 @.@ 5 km", "3.5 km"),
    ("word , word .", "word, word."),
    ("( a ) and [ b ]", "(a) and [b]"),
    ("the game 's theme", "the game's theme"),
    ('the " Nameless " unit .', 'the "Nameless" unit.'),
    ("costs $ 5 .", "costs $5."),
])
def test_clean_wikitext_examples(raw: str, clean: str) -> None:
    assert clean_wikitext(raw) == clean


def test_clean_wikitext_strips_headings_and_splits_paragraphs() -> None:
    out = clean_wikitext(" = Title = \n \n First line .\n Second line .\n = = Career = = \n More .")
    assert "=" not in out
    assert out.split("\n\n") == ["First line.", "Second line.", "More."]


def test_exact_whole_word_spans_and_contexts() -> None:
    for key, doc in DOCS.items():
        clean = clean_wikitext(doc)
        items = qa_items(key, doc)
        assert items, key
        for it in items:
            ctx, ans = it["context"], it["answers"][0]
            start, text = ans["start"], ans["text"]
            assert ctx in clean
            assert ctx[start:start + len(text)] == text
            assert start == 0 or not re.match(r"[\w'-]", ctx[start - 1])
            end = start + len(text)
            assert end == len(ctx) or not re.match(r"[\w'-]", ctx[end])
            assert text == text.strip(" .,;:!?")
            assert text.lower() not in it["question"].lower()
            assert it["question"].endswith("?") and it["question"][0].isupper()
            assert it["qtype"] in QTYPES


def test_deterministic_and_seeded() -> None:
    assert qa_items("bio", BIO) == qa_items("bio", BIO)
    assert qa_items("town", TOWN, seed=3) == qa_items("town", TOWN, seed=3)
    ids = [it["id"] for it in _all_items()]
    assert len(ids) == len(set(ids))


def test_varied_question_types() -> None:
    types = {it["qtype"] for it in _all_items()}
    assert len(types) >= 5, types
    assert {"when", "who", "where"} <= types


def test_known_rules_fire() -> None:
    pairs = {(it["question"], it["answers"][0]["text"]) for it in _all_items(20)}
    answers = {a for _, a in pairs}
    for expected in ("Leeds", "1954", "12,370", "Peter Hall", "Bramham Park", "Mary Jones",
                     "a lack of funding", "2 million"):
        assert any(expected in a for a in answers), expected


def test_some_questions_paraphrased() -> None:
    items = [it for s in range(4) for k, v in DOCS.items() for it in qa_items(k, v, seed=s)]
    low = 0
    for it in items:
        ctx, start = it["context"], it["answers"][0]["start"]
        lo = max(ctx.rfind(". ", 0, start), ctx.rfind("\n", 0, start)) + 1
        hi = ctx.find(". ", start)
        sent = _content(ctx[lo:hi if hi > 0 else None])
        q = _content(it["question"])
        if q and len(q & sent) / len(q) < 0.8:
            low += 1
    assert low >= 3, low


def test_max_per_context_and_short_answers() -> None:
    for it in qa_items("town", TOWN, max_per_context=2, max_context=300):
        assert len(it["context"]) <= 300
        limit = 15 if it["qtype"] == "why" else 8
        assert len(it["answers"][0]["text"].split()) <= limit
    per_ctx: dict[str, int] = {}
    for it in qa_items("town", TOWN, max_per_context=2, max_context=300):
        per_ctx[it["context"]] = per_ctx.get(it["context"], 0) + 1
    assert max(per_ctx.values()) <= 2


def test_dedupe_items() -> None:
    items = qa_items("bio", BIO)
    assert dedupe_items(items + items) == items


def test_empty_and_unusable_text() -> None:
    assert qa_items("x", "") == []
    assert qa_items("x", " = = Heading = = \n") == []


RULE_CASES = [  # (sentence, a question it must give over seeds 0-5, its answer)
    ("Because of heavy rain, the council closed the old bridge in 1990.",
     "Why did the council close the old bridge in 1990?", "heavy rain"),
    ("The station was rebuilt in 2004 because the roof had collapsed.",
     "Why was the station rebuilt in 2004?", "the roof had collapsed"),
    ("The ferry was cancelled due to the storm over the bay.",
     "Why was the ferry cancelled?", "the storm over the bay"),
    ("Bramley is named after Thomas Bramley.", "After whom is Bramley named?", "Thomas Bramley"),
    ("Lake Ostra is the deepest lake in Norway.", "Which lake is the deepest in Norway?",
     "Lake Ostra"),
    ("The town had a population of 4,200 in 1901.",
     "How many inhabitants did the town have in 1901?", "4,200"),
    ("Oxbridge is a small village in Kent.", "Where is Oxbridge located?", "Kent"),
    ("The hall is commonly known as the Great Hall.", "By what name is the hall known?",
     "Great Hall"),
    ("The company hired 40 engineers in 2010.",
     "How many engineers did the company employ in 2010?", "40"),
    ("The board raised prices by 8% in 2012.",
     "In what year did the board raise prices by 8%?", "2012"),
    ("The team paid $2 million for the striker.", "How much did the team pay?", "$2 million"),
    ("Henry Rowe founded the Rowe Company in 1920.", "Who founded the Rowe Company?",
     "Henry Rowe"),
    ("Peter Green directed the film Harbour Lights.",
     "Who was the director of the film Harbour Lights?", "Peter Green"),
    ("Emma Stone married David Clark in 1999.", "Who did Emma Stone wed?", "David Clark"),
    ("The tower was designed by Anne Hill in 1932.", "Who designed the tower in 1932?",
     "Anne Hill"),
]


@pytest.mark.parametrize("sentence, question, answer", RULE_CASES)
def test_each_rule_on_a_sentence_of_its_own(sentence: str, question: str, answer: str) -> None:
    doc = "Intro sentence here is short. " + sentence
    items = [it for seed in range(6) for it in qa_items("x", doc, seed=seed)]
    for it in items:
        (a,) = it["answers"]
        assert it["context"][a["start"]:a["start"] + len(a["text"])] == a["text"]
    assert (question, answer) in {(it["question"], it["answers"][0]["text"]) for it in items}
