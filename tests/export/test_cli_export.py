"""`memgpt-task export` and the task commands' --runtime / --export options on the tiny model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from memgpt.cli import cli

pytest.importorskip("onnx")


def invoke(env, *args):
    return CliRunner().invoke(cli, list(args), prog_name="memgpt-task", env=env)


@pytest.fixture(scope="module")
def setup(make_task_folder, tmp_path_factory, tiny_weights_dir):
    from memgpt.checkpoint import load_model

    d = tmp_path_factory.mktemp("cli-export")
    folder = make_task_folder(d, load_model(tiny_weights_dir), "classify")
    env = {"MEMGPT_WEIGHTS": tiny_weights_dir, "MEMGPT_CACHE": str(d / "cache")}
    return d, folder, env


def test_export_then_run_from_the_folder_gives_the_torch_result(setup):
    d, folder, env = setup
    r = invoke(env, "export", "--task", str(folder), "--precision", "fp32", "-o", str(d / "out"))
    assert r.exit_code == 0, r.output
    assert "validation: passed" in r.stdout and "labels equal on the sample: yes" in r.stdout
    texts = ["good stuff", "bad stuff"]
    via_onnx = [
        json.loads(
            invoke(
                env, "classify", "--adapter", str(folder), "--export", str(d / "out"), "--json", t
            ).stdout
        )
        for t in texts
    ]
    via_torch = [
        json.loads(
            invoke(
                env, "classify", "--adapter", str(folder), "--runtime", "torch", "--json", t
            ).stdout
        )
        for t in texts
    ]
    assert [o["label"] for o in via_onnx] == [o["label"] for o in via_torch]
    for a, b in zip(via_onnx, via_torch):
        assert abs(a["score"] - b["score"]) < 1e-5


def test_runtime_onnx_without_an_export_is_a_one_line_error(setup):
    d, folder, env = setup
    r = invoke(
        {**env, "MEMGPT_CACHE": str(d / "empty-cache")},
        "classify",
        "--adapter",
        str(folder),
        "--runtime",
        "onnx",
        "hello",
    )
    assert r.exit_code == 1
    assert "no up-to-date export" in r.output and "Traceback" not in r.output


def test_auto_runtime_uses_the_cached_export_until_the_task_folder_changes(setup, tmp_path):
    import shutil

    d, folder, env = setup
    mine = tmp_path / "mine"
    shutil.copytree(folder, mine)
    r = invoke(env, "export", "--task", str(mine), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)["output"]
    # the default precision is the recommended int8w
    assert out.startswith(env["MEMGPT_CACHE"]) and out.endswith("mine-int8w")
    # With a bad --weights, only the ONNX path can succeed: auto must have picked the export.
    broken = {**env, "MEMGPT_WEIGHTS": str(tmp_path / "no-such-weights")}
    r = invoke(broken, "classify", "--adapter", str(mine), "hello")
    assert r.exit_code == 0, r.output
    # A changed task folder makes the export stale: auto goes back to torch (and fails here).
    spec = json.loads((mine / "task.json").read_text())
    spec["info"]["note"] = "retrained"
    (mine / "task.json").write_text(json.dumps(spec))
    r = invoke(broken, "classify", "--adapter", str(mine), "hello")
    assert r.exit_code == 1 and "no-such-weights" in r.output


def test_export_refuses_bad_options(setup):
    d, folder, env = setup
    r = invoke(env, "export", "--task", "translate", "--labels", "topic", "-o", str(d / "x"))
    assert r.exit_code != 0 and "--labels goes with --task classify" in r.output
    r = invoke(env, "export", "--task", str(d / "nope"), "-o", str(d / "x"))
    assert r.exit_code == 1 and "no task folder" in r.output
    r = invoke(env, "export", "--task", str(folder), "--precision", "fp16", "-o", str(d / "x"))
    assert r.exit_code == 1 and "--device cuda" in r.output
    r = invoke(
        env,
        "classify",
        "--adapter",
        str(folder),
        "--runtime",
        "torch",
        "--export",
        str(d / "out"),
        "hi",
    )
    assert r.exit_code != 0 and "drop --runtime torch" in r.output


def test_export_prints_the_agreement_of_a_quantized_export(setup):
    d, folder, env = setup
    r = invoke(env, "export", "--task", str(folder), "--precision", "int8", "--min-agreement",
               "0", "-o", str(d / "q8"))
    assert r.exit_code == 0, r.output
    assert "labels agree with torch on" in r.stdout and "(tolerance 0%)" in r.stdout
    bad = invoke(env, "export", "--task", str(folder), "--precision", "fp32",
                 "--min-agreement", "0.5", "-o", str(d / "never"))
    assert bad.exit_code == 2 and "quantized precisions" in bad.output
    assert invoke(env, "export", "--task", str(folder), "--precision", "int8",
                  "--min-agreement", "2", "-o", str(d / "never")).exit_code == 2
