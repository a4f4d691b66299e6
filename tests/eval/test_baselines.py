"""Baselines: lead sentence, copy/dictionary translation, TF-IDF + LR, lexical sliding window QA."""

from __future__ import annotations

import pytest

from memgpt.eval.baselines import (
    DictionaryBaseline,
    TfidfLogReg,
    copy_baseline,
    dictionary_baseline,
    lead_baseline,
    sliding_window_qa,
)


def test_lead_picks_the_first_sentences():
    texts = ["Mr. Brown won the vote. He thanked voters.\nMore later.", "No full stop", ""]
    assert lead_baseline(texts) == ["Mr. Brown won the vote.", "No full stop", ""]
    assert lead_baseline(texts[:1], n_sentences=2) == ["Mr. Brown won the vote. He thanked voters."]
    with pytest.raises(ValueError):
        lead_baseline(texts, n_sentences=0)


def test_copy_baseline_returns_the_source():
    assert copy_baseline(["Hola, Tom."]) == ["Hola, Tom."]


def test_dictionary_baseline_learns_a_tiny_parallel_corpus():
    pairs = [("the cat sleeps.", "el gato duerme."), ("the dog sleeps.", "el perro duerme."),
             ("a cat eats.", "un gato come."), ("the dog eats.", "el perro come."),
             ("I see the cat.", "veo el gato.")]
    model = dictionary_baseline(pairs)
    assert isinstance(model, DictionaryBaseline)
    assert {k: model.table[k] for k in ("the", "cat", "dog", "eats", "sleeps", "a")} == {
        "the": "el", "cat": "gato", "dog": "perro", "eats": "come", "sleeps": "duerme",
        "a": "un"}
    # capitalisation follows the source; unknown words and punctuation are copied
    assert model(["The dog eats, Paris!", "a cat sleeps."]) == ["El perro come, Paris!",
                                                                 "un gato duerme."]
    assert dictionary_baseline(reversed(pairs)).table == model.table  # order-independent
    assert dictionary_baseline(pairs, max_vocab=2).table.keys() == {"the", "cat"}


def test_tfidf_logreg_separates_two_obvious_classes():
    pos = ["great movie, loved it", "wonderful and great acting", "loved the great story",
           "a wonderful film"]
    neg = ["terrible movie, hated it", "awful and boring acting", "hated the awful story",
           "a terrible film"]
    clf = TfidfLogReg().fit(pos + neg, ["pos"] * 4 + ["neg"] * 4)
    assert clf.predict(["great wonderful film", "awful terrible boring"]) == ["pos", "neg"]
    with pytest.raises(ValueError):
        TfidfLogReg().fit(["a", "b"], ["x", "x"])


CONTEXT = ("Barack Obama was born in Hawaii in 1961. He became president in 2009. "
           "His wife is Michelle Obama. The U.S. Army left Iraq in 2011.")


@pytest.mark.parametrize("question,answer", [
    ("Who or what fills the blank: _____ was born in Hawaii", "Barack Obama"),  # cloze style
    ("Who is the wife of Obama?", "Michelle"),  # "Obama" is in the question: trimmed
    ("When did Obama become president?", "2009"),
    ("Where was Obama born in 1961?", "Hawaii"),
])
def test_sliding_window_qa_exact_offsets_and_plausible_answers(question, answer):
    text, start, end = sliding_window_qa(question, CONTEXT)
    assert CONTEXT[start:end] == text == answer


def test_sliding_window_qa_fallbacks():
    assert sliding_window_qa("what is it", "it is the cat") == ("cat", 10, 13)  # no candidates
    assert sliding_window_qa("what", "  ...  ") == ("", 0, 0)
