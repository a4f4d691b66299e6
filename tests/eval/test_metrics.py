"""Metric wrappers vs known reference values (sacrebleu's README, rouge-score's own tests)."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF

from memgpt.eval.metrics import (
    METRICS,
    MetricResult,
    accuracy,
    bleu,
    bootstrap_ci,
    chrf,
    normalize_answer,
    rouge,
    split_sentences,
    squad,
)

# sacrebleu README ("Using SacreBLEU from Python"): two reference *streams* for three segments.
README_REFS = [["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
               ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]]
README_SYS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
PER_ITEM = [list(refs) for refs in zip(*README_REFS)]  # our layout: the references of each item


def test_bleu_chrf_match_sacrebleu_readme():
    b = bleu(predictions=README_SYS, references=PER_ITEM)
    c = chrf(predictions=README_SYS, references=PER_ITEM)
    # README: "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17
    # ref_len = 18)" and "chrF2 = 59.73"
    assert round(b.score, 2) == 48.53 and round(c.score, 2) == 59.73
    assert [round(p, 1) for p in b.details["precisions"]] == [82.4, 50.0, 45.5, 37.5]
    assert round(b.details["bp"], 3) == 0.943
    assert (b.details["sys_len"], b.details["ref_len"]) == (17, 18)
    assert b.signature.startswith("nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert c.signature.startswith("nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:")


def test_variable_reference_counts_match_sacrebleu_none_padding():
    refs = [PER_ITEM[0], PER_ITEM[1][:1], PER_ITEM[2]]  # item 1 has one reference
    streams = [[r[0] for r in refs], [PER_ITEM[0][1], None, PER_ITEM[2][1]]]
    b = bleu(predictions=README_SYS, references=refs)
    assert b.score == BLEU().corpus_score(README_SYS, streams).score
    assert b.signature.startswith("nrefs:var|")
    assert chrf(predictions=README_SYS, references=refs).score == pytest.approx(
        CHRF().corpus_score(README_SYS, streams).score)
    # a bare string is one reference
    single = bleu(predictions=README_SYS, references=README_REFS[0])
    assert single.score == BLEU().corpus_score(README_SYS, [README_REFS[0]]).score


def test_bleu_degenerate_inputs_behave_as_sacrebleu():
    assert bleu(predictions=[""], references=[["a b c"]]).score == 0.0
    assert chrf(predictions=[""], references=[["a b c"]]).score == 0.0
    same = ["the cat sat on the mat", "hello world"]
    assert bleu(predictions=same, references=same).score == pytest.approx(100.0)
    assert chrf(predictions=same, references=same).score == pytest.approx(100.0)
    short = ["hi there"]  # fewer than 4 tokens: whatever sacrebleu gives, we give
    assert bleu(predictions=short, references=short).score == BLEU().corpus_score(
        short, [short]).score


# rouge-score's rouge_scorer_test.py: (target, prediction, type) -> expected F-measure
ROUGE_CASES = [("testing one two", "testing", "rouge1", 1 / 2),
               ("testing one two", "testing one", "rouge2", 2 / 3),
               ("testing one two", "testing one", "rougeL", 4 / 5),
               ("testing one two", "testing two", "rougeL", 4 / 5),
               ("w1 w2 w3 w4 w5", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5", "rougeLsum", 0.5333),
               ("testing one two", "", "rougeLsum", 0.0),
               ("testing one two", "", "rouge1", 0.0)]


@pytest.mark.parametrize("target,prediction,rouge_type,expected", ROUGE_CASES)
def test_rouge_reproduces_rouge_score_tests(target, prediction, rouge_type, expected):
    r = rouge(predictions=[prediction], references=[target])
    assert r.details[rouge_type] == pytest.approx(100 * expected, abs=0.01)
    lib = rouge_scorer.RougeScorer([rouge_type], use_stemmer=True).score(target, prediction)
    assert r.details[rouge_type] == pytest.approx(100 * lib[rouge_type].fmeasure)


def test_rouge_lsum_splits_sentences_without_nltk():
    # rouge-score's testRougeLSumSentenceSplitting: 1.0 with nltk splitting, 0.5 without.
    r = rouge(predictions=["Second sentence. First Sentence."],
              references=["First sentence. Second Sentence."])
    assert r.details["rougeLsum"] == pytest.approx(100.0)
    assert r.details["rougeL"] == pytest.approx(50.0)
    assert r.score == r.details["rougeL"]
    assert "stem:porter" in r.signature and "lsum-split:regex-v1" in r.signature


def test_rouge_multi_reference_is_max_and_equals_library():
    refs = [["first text", "first something"], "a cat sat"]
    preds = ["text first", "the cat sat down"]
    r = rouge(predictions=preds, references=refs)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    libs = [scorer.score_multi(list(t) if isinstance(t, list) else [t], p)
            for p, t in zip(preds, refs)]
    for t in ("rouge1", "rouge2", "rougeL"):
        assert r.details[t] == pytest.approx(50 * sum(s[t].fmeasure for s in libs))
    assert libs[0]["rouge1"].fmeasure == 1.0  # rouge-score's testRougeAllMulti
    assert rouge(predictions=["same words"], references=["same words"]).score == 100.0


def test_squad_official_normalisation_and_max_over_references():
    assert normalize_answer("The  Cat, (a) dog!") == "cat dog"
    r = squad(predictions=["The Cat!", "a dog", "red car", ""],
              references=[["cat"], ["dogs", "the dog"], ["the blue car"], ["x"]])
    # item F1s: 1, 1, 0.5 (P 1/2, R 1/2), 0; EMs: 1, 1, 0, 0
    assert r.details["em"] == pytest.approx(50.0)
    assert r.details["f1"] == pytest.approx(62.5) and r.score == r.details["f1"]
    # v1.1: two answers that normalise to nothing are an exact match with F1 0
    assert squad(predictions=["the"], references=[["a"]]).details == {"em": 100.0, "f1": 0.0,
                                                                       "n": 1}


def test_accuracy_and_macro_f1_hand_case():
    r = accuracy(predictions=["a", "b", "a", "c"], references=["a", "b", "b", "b"])
    assert r.score == 50.0
    # F1: a = 2/3 (P 1/2, R 1), b = 1/2 (P 1, R 1/3), c = 0 -> macro 7/18
    assert r.details["macro_f1"] == pytest.approx(100 * 7 / 18)
    assert r.details["labels"]["b"] == {"support": 3, "predicted": 1, "correct": 1}
    assert r.details["labels"]["c"] == {"support": 0, "predicted": 1, "correct": 0}


@pytest.mark.parametrize("fn", list(METRICS.values()))
def test_bad_inputs_raise_one_line_value_errors(fn):
    refs = [["x"]] if fn is not accuracy else ["x"]
    for preds, rs in [(["a", "b"], refs), ([], [])]:
        with pytest.raises(ValueError) as e:
            fn(predictions=preds, references=rs)
        assert "\n" not in str(e.value)
    if fn is not accuracy:
        with pytest.raises(ValueError, match="non-empty"):
            fn(predictions=["a"], references=[[]])


def test_bootstrap_ci_is_seeded_and_brackets_the_score():
    preds = ["the cat sat", "a dog ran", "it rained", "red car", "blue sky", "the end"]
    refs = ["the cat sat down", "the dog ran", "it was raining", "a red car", "sky", "end"]
    point = rouge(predictions=preds, references=refs).score
    ci = bootstrap_ci(rouge, predictions=preds, references=refs, n=200, seed=3)
    assert ci == bootstrap_ci(rouge, predictions=preds, references=refs, n=200, seed=3)
    assert ci != bootstrap_ci(rouge, predictions=preds, references=refs, n=200, seed=4)
    assert ci[0] <= point <= ci[1]
    # the per-item shortcut gives what re-scoring every resample gives
    slow = bootstrap_ci(lambda **kw: rouge(**kw), predictions=preds, references=refs, n=50,
                        seed=3)
    assert slow == pytest.approx(bootstrap_ci(rouge, predictions=preds, references=refs,
                                              n=50, seed=3))
    b = bleu(predictions=README_SYS, references=PER_ITEM).score
    lo, hi = bootstrap_ci(bleu, predictions=README_SYS, references=PER_ITEM, n=50)
    assert lo <= b <= hi
    with pytest.raises(ValueError):
        bootstrap_ci(rouge, predictions=preds, references=refs, n=0)


def test_split_sentences_regex_rule():
    text = 'Mr. Smith met J. K. Rowling. "Hi!" she said. Prices rose 5.5% in 2020.\nNo end'
    assert split_sentences(text) == ["Mr. Smith met J. K. Rowling.", '"Hi!" she said.',
                                     "Prices rose 5.5% in 2020.", "No end"]
    assert split_sentences("") == [] and split_sentences("one. two.") == ["one. two."]


def test_registries_in_sync():
    from memgpt.tasks.registry import TASK_DEFS

    for d in TASK_DEFS.values():
        assert d.metrics and set(d.metrics) <= set(METRICS)
    for name, fn in METRICS.items():
        r = fn(predictions=["a b"], references=["a b"] if name == "accuracy" else [["a b"]])
        assert isinstance(r, MetricResult) and r.name == name and r.signature


def test_squad_f1_of_one_answer_uses_the_official_normalisation():
    from memgpt.eval.metrics import squad_f1

    assert squad_f1("The Eiffel Tower!", "eiffel tower") == 1.0
    assert squad_f1("Paris", "London") == 0.0
    assert abs(squad_f1("big red dog", "red dog") - 0.8) < 1e-9
    assert squad_f1("", "") == 0.0  # as the v1.1 script (EM would be 1)
