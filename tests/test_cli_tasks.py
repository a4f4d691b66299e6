"""Task commands (finetune → classify / qa / translate / summarize --adapter) on a tiny model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from memgpt.cli import cli

POS = ["I loved it", "great fun", "what a lovely day", "wonderful and happy", "so good"]
NEG = ["I hated it", "awful mess", "what a terrible day", "horrid and sad", "so bad"]
CONTEXT = "The harbour freezes in January. The first ferry arrives in spring from Oslo."


@pytest.fixture(scope="module")
def weights(tiny_weights_dir) -> str:
    return tiny_weights_dir


def invoke(weights, *args, input=None):
    return CliRunner().invoke(cli, [*args], input=input, prog_name="memgpt-task",
                              env={"MEMGPT_WEIGHTS": weights})


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def one_line_error(result, code=1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [s for s in result.stderr.splitlines() if s.startswith("error")]
    assert lines, result.output
    return lines[0]


@pytest.fixture(scope="module")
def classifier(weights, tmp_path_factory):
    d = tmp_path_factory.mktemp("clf")
    rows = [{"text": t, "label": "pos"} for t in POS] + [{"text": t, "label": "neg"} for t in NEG]
    data = d / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = ok(invoke(weights, "finetune", "--task", "classify", "--data", str(data), "--valid",
                    str(data), "-o", str(d / "clf"), "--epochs", "60", "--batch-size", "5",
                    "--lr", "0.05"))
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["task"] == "classify" and summary["steps"] > 0
    return d / "clf"


@pytest.mark.parametrize("text,label", [(POS[0], "pos"), (NEG[0], "neg")])
def test_finetuned_classifier_labels_the_training_texts(weights, classifier, text, label):
    import memgpt
    from memgpt.tasks.artifacts import load_task
    from memgpt.tasks.pipelines import classify

    [row] = [json.loads(s) for s in ok(invoke(weights, "classify", "--adapter", str(classifier),
                                              text, "--json")).splitlines()]
    assert row["label"] == label and set(row["scores"]) == {"pos", "neg"}
    assert row["score"] == row["scores"][label] == max(row["scores"].values()) > 0.5
    spec, model = load_task(classifier, memgpt.load(weights))  # the Python API, same answer
    [api] = classify(model, memgpt.load_tokenizer(weights), spec, [text])
    assert api.label == label
    assert api.scores == pytest.approx(row["scores"], abs=1e-6)


def test_classify_a_file_gives_one_line_per_input(weights, classifier, tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("\n".join(POS[:2] + NEG[:2]) + "\n\n")
    lines = ok(invoke(weights, "classify", "--adapter", str(classifier), str(f))).splitlines()
    assert len(lines) == 4 and all(s.split("\t")[0] in ("pos", "neg") for s in lines)


def test_classifier_learned_the_training_data(weights, classifier, tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text("".join(json.dumps({"text": t}) + "\n" for t in POS + NEG))
    got = [json.loads(s)["label"] for s in ok(invoke(
        weights, "classify", "--adapter", str(classifier), str(f), "--json")).splitlines()]
    right = sum(g == w for g, w in zip(got, ["pos"] * 5 + ["neg"] * 5))
    assert right >= 8, got


def test_qa_finetune_then_answer_with_offsets(weights, tmp_path):
    rows = [{"context": CONTEXT, "question": "When does the harbour freeze?",
             "answer": "January"},
            {"context": CONTEXT, "question": "Where does the ferry come from?", "answer": "Oslo"}]
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows * 3))
    ok(invoke(weights, "finetune", "--task", "qa", "--data", str(data), "-o",
              str(tmp_path / "qa"), "--epochs", "2", "--batch-size", "2"))
    ctx = tmp_path / "ctx.txt"
    ctx.write_text(CONTEXT)
    got = json.loads(ok(invoke(weights, "qa", "--adapter", str(tmp_path / "qa"), "--context",
                               str(ctx), "When does the harbour freeze?", "--json")))
    assert CONTEXT[got["start"]:got["end"]] == got["answer"] and got["answer"]
    # the answer is whole words of the context
    a, b = got["start"], got["end"]
    assert (a == 0 or not CONTEXT[a - 1].isalnum()) and (b == len(CONTEXT)
                                                         or not CONTEXT[b].isalnum())
    # --min-score above the span's probability: an empty answer with the score it had
    weak = json.loads(ok(invoke(weights, "qa", "--adapter", str(tmp_path / "qa"), "--context",
                                str(ctx), "When does the harbour freeze?", "--json",
                                "--min-score", str(min(1.0, got["score"] + 1e-4)))))
    assert weak == {"answer": "", "start": -1, "end": -1, "score": got["score"]}
    same = json.loads(ok(invoke(weights, "qa", "--adapter", str(tmp_path / "qa"), "--context",
                                str(ctx), "When does the harbour freeze?", "--json",
                                "--min-score", str(got["score"]))))
    assert same == got


def test_translate_lora_finetune_and_run(weights, tmp_path):
    data = tmp_path / "mt.tsv"
    data.write_text("text\ttranslation\nHello there\tHola\nHow are you?\t¿Cómo estás?\n"
                    "I am fine\tEstoy bien\n")
    ok(invoke(weights, "finetune", "--task", "translate", "--data", str(data), "-o",
              str(tmp_path / "mt"), "--max-steps", "2", "--batch-size", "2", "--rank", "2"))
    assert (tmp_path / "mt" / "adapter.safetensors").is_file()
    out = ok(invoke(weights, "translate", "--adapter", str(tmp_path / "mt"), "Hello there",
                    "--max-new-tokens", "4", "--json"))
    assert "translation" in json.loads(out)


@pytest.mark.parametrize("rows, expected", [
    ('{"text": "no label here"}\n{"text": "nor here"}\n', "label"),  # references needed
    ('{"text": "a", "label": "x"}\n{not json\n', ":2"),  # bad row: line-numbered
])
def test_bad_training_data_is_a_one_line_error(weights, tmp_path, rows, expected):
    data = tmp_path / "bad.jsonl"
    data.write_text(rows)
    msg = one_line_error(invoke(weights, "finetune", "--task", "classify", "--data", str(data),
                                "-o", str(tmp_path / "x")))
    assert expected in msg


def test_task_folder_of_the_wrong_task_is_refused(weights, classifier):
    msg = one_line_error(invoke(weights, "qa", "--adapter", str(classifier), "--context",
                                "Some text here.", "What?"))
    assert "classify" in msg


def test_missing_adapter_folder_is_a_clear_error(weights, tmp_path):
    msg = one_line_error(invoke(weights, "classify", "--adapter", str(tmp_path / "nope"), "hi"))
    assert "nope" in msg


def test_unknown_label_set_is_a_usage_error(weights):
    r = invoke(weights, "classify", "--labels", "colours", "hi")
    assert r.exit_code == 2 and "colours" in r.output


def test_qa_without_context_needs_a_records_file(weights):
    r = invoke(weights, "qa", "Who?")
    assert r.exit_code == 2 and "--context" in r.output


@pytest.mark.parametrize("args", [["qa", "--context", "missing/doc.txt", "Who?"],
                                  ["classify", "notes.txt"], ["translate", "in.jsonl"]])
def test_a_missing_file_is_an_error_not_text(weights, args):
    assert "no such file" in one_line_error(invoke(weights, *args))


def test_plain_text_arguments_are_inputs(weights, classifier):
    out = ok(invoke(weights, "classify", "--adapter", str(classifier), "a b.c"))
    assert out.split("\t")[0] in ("pos", "neg")
