"""The task registry: every task table elsewhere is a lookup in ``TASK_DEFS``, and a new entry
reaches the record readers, the task folder check, the scorer and the CLI's choices."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from memgpt.cli import cli
from memgpt.tasks.registry import TASK_DEFS, TaskDef, shipped_defaults, task_def, task_names

# The task tables as they stood before the registry (artifacts.TASKS/want, data.TASK_FIELDS,
# runner.TARGET/MAIN, specs.GRAPH_OF_TASK, bench.BENCH_DATA, cli_eval.CLASSIFY_OF_DATASET,
# registry.DEFAULTS, metrics.TASK_METRICS): the registry must reproduce them exactly.
OLD_TASKS = ("summarize", "translate", "classify", "qa")
OLD_HEAD = {"summarize": "lm", "translate": "lm", "classify": "classify", "qa": "span"}
OLD_FIELDS = {"translate": (("text",), "translation"), "classify": (("text",), "label"),
              "summarize": (("text",), "summary"), "qa": (("context", "question"), "answers")}
OLD_MAIN = {"summarize": "rougeL", "translate": "bleu", "classify": "accuracy", "qa": "f1"}
OLD_GRAPH = {"summarize": "decoder", "translate": "decoder", "classify": "classifier",
             "qa": "span"}
OLD_BENCH = {"summarize": ("bbc-headline", "summarize-headline"),
             "translate": ("tatoeba-en-es", "translate-en-es"),
             "classify": ("bbc-topic", "classify-topic"), "qa": ("wiki-qa", "qa")}
OLD_CLASSIFY_OF_DATASET = {"bbc-topic": "topic", "sentiment": "sentiment", "sms-spam": "spam"}
OLD_DEFAULTS = {"summarize": "summarize", "translate": "translate-en-es",
                "classify:sentiment": "classify-sentiment", "classify:topic": "classify-topic",
                "classify:spam": "classify-spam", "qa": "qa"}
OLD_TASK_METRICS = {"summarize": "rouge", "translate": "bleu", "classify": "accuracy",
                    "qa": "squad"}
OLD_VALUES = {"summarize": ["rouge1", "rouge2", "rougeL", "rougeLsum"],
              "translate": ["bleu", "chrf"], "classify": ["accuracy", "macro_f1"],
              "qa": ["f1", "em"]}
OLD_SIGNATURES = {"summarize": ["rouge"], "translate": ["bleu", "chrf"],
                  "classify": ["accuracy"], "qa": ["squad"]}
OLD_BASELINE_TRAIN = ("translate", "classify")


def test_registry_reproduces_the_old_tables():
    assert task_names() == OLD_TASKS
    for name, d in TASK_DEFS.items():
        assert d.name == name
        assert d.head == OLD_HEAD[name] and d.graph == OLD_GRAPH[name]
        assert (d.inputs, d.target) == OLD_FIELDS[name]
        assert d.main_metric == OLD_MAIN[name] and d.metrics[0] == OLD_TASK_METRICS[name]
        assert list(d.values) == OLD_VALUES[name]
        assert (d.bench, d.datasets[d.bench]) == OLD_BENCH[name]
        assert d.baseline_train == (name in OLD_BASELINE_TRAIN)
    assert shipped_defaults() == OLD_DEFAULTS
    sets = TASK_DEFS["classify"].label_sets
    for dataset, labels in OLD_CLASSIFY_OF_DATASET.items():
        assert TASK_DEFS["classify"].datasets[dataset] == sets[labels]


def test_modules_look_the_registry_up():
    from memgpt.cli.common import classify_default
    from memgpt.eval import bench, runner
    from memgpt.tasks.artifacts import TaskSpec
    from memgpt.tasks.heads import HeadSpec
    from memgpt.tasks.recipes import default_spec

    for name, d in TASK_DEFS.items():
        assert bench.bench_data(name) == (d.bench, d.datasets[d.bench])
        spec = default_spec(name, d_model=8, labels=("a", "b"))
        assert spec.head.kind == d.head and spec.template == d.prompt
        for kind in set(OLD_HEAD.values()) - {d.head}:
            with pytest.raises(ValueError, match=f"needs a {d.head!r} head"):
                TaskSpec(name, HeadSpec(kind, 8, ("a", "b") if kind == "classify" else ()))
        with pytest.raises(ValueError, match=f"no {d.target!r} reference"):
            runner.references(name, [{}])
    for labels, folder in TASK_DEFS["classify"].label_sets.items():
        assert classify_default(labels) == folder
    with pytest.raises(ValueError, match="unknown task 'poetry'; tasks: summarize, translate"):
        task_def("poetry")


@pytest.mark.parametrize("task", list(TASK_DEFS))
def test_score_reports_the_task_def_values(task):
    from memgpt.eval.runner import score

    d = TASK_DEFS[task]
    refs = {"translate": [["a b c"]], "qa": [["a b c"]]}.get(task, ["a b c"])
    out = score(task, ["a b c"], refs)
    assert list(out["values"]) == OLD_VALUES[task] == list(d.values)
    assert list(out["signature"]) == OLD_SIGNATURES[task]
    assert list(out["ci95"])[0] == d.main_metric


def test_datasets_and_shipped_folders_agree_with_the_cards():
    from memgpt.tasks.data import DATASETS, NO_TEST
    from memgpt.tasks.registry import resolve_task

    for name, card in DATASETS.items():
        assert (name in TASK_DEFS[card.task].datasets) != (name in NO_TEST)
    for d in TASK_DEFS.values():
        assert {n for n, c in DATASETS.items() if c.task == d.name and n not in NO_TEST} \
            == set(d.datasets)
        for folder in {*d.datasets.values(), *d.label_sets.values(), *filter(None, [d.default])}:
            spec = json.loads((resolve_task(folder) / "task.json").read_text())
            assert spec["task"] == d.name


def test_registry_is_torch_free():
    code = ("import sys, memgpt.tasks.registry, memgpt.export.specs; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def new_task(monkeypatch):
    """A made-up ``echo`` task registered for the test only."""
    d = dataclasses.replace(TASK_DEFS["summarize"], name="echo", target="echo", default="echo",
                            inputs=("text",))
    monkeypatch.setitem(TASK_DEFS, "echo", d)
    return d


def test_a_new_entry_reaches_every_lookup(new_task, tmp_path):
    from memgpt.cli.eval import eval_cmd
    from memgpt.cli.train import finetune_cmd
    from memgpt.tasks.artifacts import TaskSpec
    from memgpt.tasks.heads import HeadSpec
    from memgpt.tasks.readers import read_records

    for cmd in (eval_cmd, finetune_cmd):
        task_opt = next(p for p in cmd.params if p.name == "task")
        assert isinstance(task_opt.type, click.Choice)
        assert "echo" in task_opt.type.choices and tuple(task_opt.type.choices) == task_names()
    help_text = CliRunner().invoke(cli, ["eval", "--help"]).output
    assert "summarize|translate|classify|qa|echo" in help_text
    bad = CliRunner().invoke(cli, ["bench", "-o", str(tmp_path), "--tasks", "nope"])
    assert bad.exit_code == 2 and "unknown task 'nope'" in bad.output
    assert shipped_defaults()["echo"] == "echo"
    assert TaskSpec("echo", HeadSpec("lm", 8)).task == "echo"
    f = tmp_path / "x.jsonl"
    f.write_text('{"text": "hi", "echo": "hi"}\n')
    assert read_records(f, task="echo", need_targets=True)[0]["echo"] == "hi"


def test_task_def_checks_itself():
    d = TASK_DEFS["qa"]
    with pytest.raises(ValueError, match="main_metric"):
        dataclasses.replace(d, main_metric="bleu")
    with pytest.raises(ValueError, match="bench dataset"):
        dataclasses.replace(d, bench="nope")
    with pytest.raises(ValueError, match="default folder or label sets"):
        dataclasses.replace(d, default="")
    assert isinstance(d, TaskDef)
