"""memgpt.tasks.examples: the example memory of `classify --examples`."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from memgpt.cli import cli
from memgpt.tasks.examples import ExampleMemory, combine, feature_layer, read_examples


def clusters(seed=0, n=5, d=16):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(3, d)) * 3 + 10.0  # a large shared offset, as LM features have
    x = np.concatenate([c + rng.normal(size=(n, d)) for c in centers])
    labels = [lab for lab in ("a", "b", "c") for _ in range(n)]
    return centers, x, labels


def test_prototypes_label_new_points_of_their_cluster():
    centers, x, labels = clusters()
    mem = ExampleMemory(x, labels)
    assert mem.labels == ["a", "b", "c"] and mem.counts == {"a": 5, "b": 5, "c": 5}
    rng = np.random.default_rng(1)
    new = np.concatenate([c + rng.normal(size=(20, 16)) for c in centers])
    want = [lab for lab in "abc" for _ in range(20)]
    assert mem.predict(new) == want
    p = mem.probs(new)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-9)
    idx, sims = mem.nearest(new[:1])
    assert labels[idx[0]] == "a" and -1 <= sims[0] <= 1


def test_one_example_per_label_and_the_temperature():
    centers, x, labels = clusters(n=1)
    sharp = ExampleMemory(x, labels, temperature=0.01).probs(centers)
    soft = ExampleMemory(x, labels, temperature=1.0).probs(centers)
    assert (sharp.max(-1) > soft.max(-1)).all()
    assert [ExampleMemory(x, labels).labels[i] for i in sharp.argmax(-1)] == ["a", "b", "c"]


@pytest.mark.parametrize("labels,message", [(["a"] * 3, "at least two labels"), ([], "no examples"),
                                            (["a", "b"], "labels for features")])
def test_bad_examples(labels, message):
    with pytest.raises(ValueError, match=message):
        ExampleMemory(np.ones((3, 4)) if labels != [] else np.ones((0, 4)), labels)


def test_combine_with_the_head_only_when_the_labels_are_its_own():
    mem = np.array([[0.8, 0.2]])
    head = np.array([[0.1, 0.3, 0.6]])  # negative, neutral, positive
    both, used = combine(mem, ["negative", "positive"], head, ["negative", "neutral", "positive"])
    assert used
    np.testing.assert_allclose(both, [[(0.8 + 0.1 / 0.7) / 2, (0.2 + 0.6 / 0.7) / 2]])
    alone, used = combine(mem, ["sport", "tech"], head, ["negative", "neutral", "positive"])
    assert not used and alone is mem


def test_feature_layer_scales_with_depth():
    assert feature_layer(30) == 25 and feature_layer(2) == 2 and feature_layer(6) == 5


def test_the_shipped_layer_and_temperature_are_the_benchmarks_choice():
    from pathlib import Path

    from memgpt.tasks.examples import FEATURE_LAYER, TEMPERATURE

    path = Path(__file__).resolve().parents[2] / "benchmarks/results/example-memory/results.json"
    chosen = json.loads(path.read_text())["meta"]["chosen"]
    assert (chosen["layer"], chosen["temperature"]) == (FEATURE_LAYER, TEMPERATURE)
    assert chosen["on"] == "bbc-topic:valid"


def test_read_examples(tmp_path):
    f = tmp_path / "ex.jsonl"
    f.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n')
    assert read_examples(f) == (["a", "b"], ["x", "y"])
    g = tmp_path / "bad.jsonl"
    g.write_text('{"text": "a"}\n')
    with pytest.raises(ValueError, match="label"):
        read_examples(g)


SPORT = ["the striker scored twice", "a late goal won the match", "the keeper saved a penalty",
         "the team won the league", "the coach praised the defence"]
MONEY = ["shares fell on the stock market", "the bank raised interest rates",
         "profits rose at the firm", "the company cut its prices", "investors sold the bonds"]


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    d = tmp_path_factory.mktemp("ex")
    rows = [{"text": t, "label": "sport"} for t in SPORT] + \
           [{"text": t, "label": "money"} for t in MONEY]
    path = d / "examples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def invoke(weights, *args):
    return CliRunner().invoke(cli, list(args), prog_name="memgpt-task",
                              env={"MEMGPT_WEIGHTS": weights})


def test_cli_classify_by_examples(tiny_weights_dir, examples, make_task_folder, tmp_path):
    from memgpt.checkpoint import load_model

    clf = make_task_folder(tmp_path, load_model(tiny_weights_dir), "classify")
    r = invoke(tiny_weights_dir, "classify", "--adapter", str(clf), "--examples", str(examples),
               "--runtime", "torch", "--json", SPORT[0], )
    assert r.exit_code == 0, r.output
    [row] = [json.loads(s) for s in r.stdout.splitlines()]
    assert set(row["scores"]) == {"money", "sport"} and row["source"] == "examples"
    # an example itself is its own nearest example, and the label follows the features
    assert row["nearest"] == {"row": 1, "label": "sport", "similarity": pytest.approx(1.0)}
    assert abs(sum(row["scores"].values()) - 1) < 1e-5
    plain = invoke(tiny_weights_dir, "classify", "--adapter", str(clf), "--examples",
                   str(examples), MONEY[2])
    assert plain.exit_code == 0 and plain.stdout.count("\t") == 1


def test_cli_examples_with_the_heads_labels_average_with_the_head(tiny_weights_dir,
                                                                   make_task_folder, tmp_path):
    from memgpt.checkpoint import load_model
    from memgpt.tasks.artifacts import load_task

    clf = make_task_folder(tmp_path, load_model(tiny_weights_dir), "classify")
    spec, _ = load_task(clf, load_model(tiny_weights_dir))
    labels = list(spec.labels)
    rows = [{"text": f"{w} example {i}", "label": labels[i % 2]}
            for i, w in enumerate(SPORT + MONEY)]
    path = tmp_path / "ex.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = invoke(tiny_weights_dir, "classify", "--adapter", str(clf), "--examples", str(path),
               "--json", "some text")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["source"] == "examples+head"


@pytest.mark.parametrize("args,code,message", [
    (["--runtime", "onnx"], 2, "--examples reads the backbone"),
    ([], 1, "no such file"),
])
def test_cli_examples_errors(tiny_weights_dir, examples, args, code, message, tmp_path):
    path = str(examples) if args else str(tmp_path / "missing.jsonl")
    r = invoke(tiny_weights_dir, "classify", "--examples", path, *args, "hello")
    assert r.exit_code == code, r.output
    assert message in r.output and "Traceback" not in r.output
