"""Task pipelines on the tiny model: output types, offsets, windows, batching invariance."""

from __future__ import annotations

import pytest
import torch

from memgpt.tasks.heads import TaskModel, build_head
from memgpt.tasks.pipelines import answer, classify, format_input, generate_texts, qa_windows
from memgpt.tasks.recipes import default_spec

CONTEXT = ("The quick brown fox jumps over the lazy dog. Memory helps a model remember what it "
           "read long ago, so that it can answer questions about it. Paris is the capital.")


@pytest.fixture
def qa_model(tiny_model):
    spec = default_spec("qa", d_model=tiny_model.config.d_model)
    torch.manual_seed(3)
    head = build_head(spec.head)
    with torch.no_grad():
        head.proj.weight.normal_(0, 1.0)
    return spec, TaskModel(tiny_model, spec.head, head).eval()


def test_answer_is_an_exact_span_of_the_context(qa_model, tiny_tokenizer):
    spec, model = qa_model
    span = answer(model, tiny_tokenizer, spec, "What is the capital?", CONTEXT)
    assert 0 <= span.start < span.end <= len(CONTEXT)
    assert CONTEXT[span.start:span.end] == span.answer and span.answer.strip() == span.answer
    assert 0 < span.score <= 1


def test_long_context_windows_cover_it_and_answers_stay_exact(qa_model, tiny_tokenizer):
    spec, model = qa_model
    spec = type(spec)(**{**spec.__dict__, "max_input_tokens": 40})
    long = " ".join([CONTEXT] * 6)
    wins, offsets = qa_windows(spec, tiny_tokenizer, "Where?", long, stride=8)
    assert len(wins) > 1 and wins[0].a == 0 and wins[-1].b == len(offsets)
    assert all(len(w.ids) <= 40 for w in wins)
    span = answer(model, tiny_tokenizer, spec, "Where?", long, stride=8)
    assert long[span.start:span.end] == span.answer


def test_empty_question_or_context_is_an_error(qa_model, tiny_tokenizer):
    spec, model = qa_model
    with pytest.raises(ValueError, match="question is empty"):
        answer(model, tiny_tokenizer, spec, "  ", CONTEXT)
    with pytest.raises(ValueError, match="context is empty"):
        answer(model, tiny_tokenizer, spec, "Who?", "\n")


def test_classify_batching_does_not_change_results(tiny_model, tiny_tokenizer):
    spec = default_spec("classify", d_model=tiny_model.config.d_model, labels=("a", "b", "c"))
    torch.manual_seed(0)
    model = TaskModel(tiny_model, spec.head, build_head(spec.head)).eval()
    texts = ["Hello there!", "The quick brown fox jumps over the lazy dog.", "Paris"]
    one = classify(model, tiny_tokenizer, spec, texts, batch_size=1)
    many = classify(model, tiny_tokenizer, spec, texts, batch_size=3)
    for x, y in zip(one, many):
        assert x.label == y.label and x.label in spec.labels
        assert abs(x.score - y.score) < 1e-5 and abs(sum(x.scores.values()) - 1) < 1e-4


def test_generation_returns_one_result_per_input(tiny_model, tiny_tokenizer):
    spec = default_spec("translate", d_model=tiny_model.config.d_model)
    model = TaskModel(tiny_model, spec.head).eval()
    outs = generate_texts(model, tiny_tokenizer, spec, ["Hello there", "How are you?"],
                          extra={"src": "English", "tgt": "Spanish"}, max_new_tokens=5,
                          batch_size=2)
    assert len(outs) == 2 and all(o.input_tokens > 0 and not o.truncated for o in outs)


def test_summarize_input_is_truncated_with_a_flag(tiny_model, tiny_tokenizer):
    spec = default_spec("summarize", d_model=tiny_model.config.d_model)
    model = TaskModel(tiny_model, spec.head).eval()
    out = generate_texts(model, tiny_tokenizer, spec, [CONTEXT * 4], max_new_tokens=3,
                         max_input_tokens=20)
    assert out[0].truncated and out[0].input_tokens > 20


def test_template_needs_its_fields(tiny_tokenizer):
    spec = default_spec("qa", d_model=8)
    with pytest.raises(ValueError, match="question"):
        format_input(spec, tiny_tokenizer, {"text": "x"})


def full_lm_loss(logits, labels):
    """The reference: next-token cross-entropy over the whole [B, T, V] logits, labels shifted by
    one, -100 ignored."""
    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(),
                                             labels[:, 1:].flatten(), ignore_index=-100)


def test_generation_training_loss_equals_the_full_lm_loss(tiny_model, tiny_tokenizer):
    """task_loss only projects target positions onto the vocabulary: same value as the full
    LM loss."""
    from memgpt.tasks.recipes import collate, make_examples, task_loss

    spec = default_spec("translate", d_model=tiny_model.config.d_model)
    model = TaskModel(tiny_model, spec.head).eval()
    records = [{"text": "Hello there", "translation": "Hola"},
               {"text": "How are you today?", "translation": "¿Cómo estás hoy?"}]
    batch = collate(make_examples(spec, tiny_tokenizer, records), tiny_tokenizer.pad_id)
    full = full_lm_loss(model(batch["ids"], attention_mask=batch["mask"]), batch["labels"])
    torch.testing.assert_close(task_loss("translate")(model, batch), full, rtol=1e-5, atol=1e-6)
