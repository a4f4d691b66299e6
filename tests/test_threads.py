"""Thread counts (``memgpt.threads``, ``--threads``) and no spinning, in torch and onnxruntime."""

from __future__ import annotations

import click
import pytest
import torch
from click.testing import CliRunner

from memgpt import threads
from memgpt.cli import cli

ENV = ("MEMGPT_THREADS", "OMP_NUM_THREADS")
NOT_MODEL_COMMANDS = {"weights fetch", "weights info", "memory info"}


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    """No thread variables, eight allowed CPUs, nothing configured; torch's count restored."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "allowed_cpus", lambda: set(range(8)))
    monkeypatch.setattr(threads, "physical_cores", lambda: 4)
    monkeypatch.setattr(threads, "_configured", None)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_resolution_order(monkeypatch):
    assert threads.resolve_threads(None) == 4  # physical cores
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.resolve_threads(None) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5,1")  # a nested-parallelism list: the outer level
    assert threads.resolve_threads(None) == 5
    monkeypatch.setenv("MEMGPT_THREADS", "2")
    assert threads.resolve_threads(None) == 2
    assert threads.resolve_threads(6) == 6  # an explicit request beats both
    assert threads.resolve_threads(64) == 8  # never more than the allowed CPUs
    monkeypatch.setenv("MEMGPT_THREADS", "99")
    assert threads.resolve_threads(None) == 8


def test_configured_count_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("MEMGPT_THREADS", "2")
    assert threads.effective_threads(None) == 2
    threads.set_threads(1)
    assert threads.configured_threads() == 1 and torch.get_num_threads() == 1
    assert threads.effective_threads(None) == 1
    assert threads.effective_threads(3) == 3


@pytest.mark.parametrize("bad", [0, -1, 2.5, "2", True])
def test_bad_requests(bad):
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        threads.resolve_threads(bad)


@pytest.mark.parametrize("name", ENV)
@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_environment_values_name_the_variable(monkeypatch, name, bad):
    monkeypatch.setenv(name, bad)
    with pytest.raises(ValueError, match=name):
        threads.resolve_threads(None)


def test_physical_cores_counts_smt_siblings_once(tmp_path, monkeypatch):
    monkeypatch.undo()  # the real physical_cores
    for cpu, siblings in enumerate(["0,2", "1,3", "0,2", "1,3", "4"]):
        d = tmp_path / f"cpu{cpu}" / "topology"
        d.mkdir(parents=True)
        (d / "thread_siblings_list").write_text(siblings + "\n")
    assert threads.physical_cores({0, 1, 2, 3, 4}, sysfs=tmp_path) == 3
    assert threads.physical_cores({0, 2}, sysfs=tmp_path) == 1
    assert threads.physical_cores({0, 9}, sysfs=tmp_path) == 2  # cpu9 unreadable: count CPUs
    assert threads._cpu_list("0-3,8,10-11") == {0, 1, 2, 3, 8, 10, 11}


def _leaf_commands(group: click.Group, prefix: str = ""):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _leaf_commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def test_every_model_command_takes_threads():
    names = set()
    runner = CliRunner()
    for name, _cmd in _leaf_commands(cli):
        if name in NOT_MODEL_COMMANDS:
            continue
        names.add(name)
        result = runner.invoke(cli, [*name.split(), "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "--threads" in result.output, name
    assert {"generate", "summarize", "translate", "classify", "qa", "finetune", "export", "eval",
            "bench", "memory build", "memory search", "pretrain"} <= names


def test_threads_option_applies_to_torch(tiny_weights_dir):
    torch.set_num_threads(2)
    result = CliRunner().invoke(cli, ["generate", "hi", "--max-new-tokens", "2", "--weights",
                                      tiny_weights_dir, "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == 1
    assert threads.configured_threads() == 1


def test_threads_default_from_the_environment(tiny_weights_dir, monkeypatch):
    torch.set_num_threads(2)
    monkeypatch.setenv("MEMGPT_THREADS", "1")
    result = CliRunner().invoke(cli, ["generate", "hi", "--max-new-tokens", "2", "--weights",
                                      tiny_weights_dir])
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("args, env, named", [
    (["--threads", "0"], {}, "--threads"),
    (["--threads", "-3"], {}, "--threads"),
    (["--threads", "many"], {}, "--threads"),
    ([], {"MEMGPT_THREADS": "0"}, "MEMGPT_THREADS"),
    ([], {"OMP_NUM_THREADS": "lots"}, "OMP_NUM_THREADS"),
])
def test_bad_values_are_usage_errors(monkeypatch, args, env, named):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    result = CliRunner().invoke(cli, ["generate", "hi", "--weights", "tiny", *args])
    assert result.exit_code == 2, result.output
    assert named in result.output and "Traceback" not in result.output


def test_load_applies_threads(tiny_weights_dir):
    import memgpt

    torch.set_num_threads(2)
    memgpt.load(tiny_weights_dir, threads=1)
    assert torch.get_num_threads() == 1
    memgpt.load(tiny_weights_dir)  # no request: a script's own lower count is kept
    assert torch.get_num_threads() == 1


def test_session_options_do_not_spin():
    opts = threads.session_options(3)
    assert opts.intra_op_num_threads == 3 and opts.inter_op_num_threads == 1
    for key in threads.ORT_NO_SPINNING:
        assert opts.get_session_config_entry(key) == "0"


@pytest.fixture(scope="module")
def exported(make_task_folder, tmp_path_factory, tiny_weights_dir):
    pytest.importorskip("onnxruntime")
    from memgpt.checkpoint import load_model, load_tokenizer
    from memgpt.export.exporter import export_task

    d = tmp_path_factory.mktemp("thr")
    model, tok = load_model(tiny_weights_dir), load_tokenizer(tiny_weights_dir)
    folder = make_task_folder(d, model, "classify")
    export_task(folder, d / "export", backbone=model, tokenizer=tok, threads=1)
    return d / "export"


def test_runtime_sessions_carry_threads_and_no_spinning(exported):
    from memgpt.export.runtime import ExportedTask

    def check(task, n):
        opts = task.graph.session.get_session_options()
        assert opts.intra_op_num_threads == n and opts.inter_op_num_threads == 1
        for key in threads.ORT_NO_SPINNING:
            assert opts.get_session_config_entry(key) == "0"

    check(ExportedTask(exported, threads=2), 2)  # explicit
    check(ExportedTask(exported), 4)  # None: resolve_threads (physical cores here)
    threads.set_threads(1)  # as --threads 1 does
    check(ExportedTask(exported), 1)
    check(ExportedTask(exported, threads=3), 3)
    with pytest.raises(ValueError, match="threads"):
        ExportedTask(exported, threads=0)
