"""examples/node/memgpt-onnx.mjs (onnxruntime-node) gives the Python runtime's results."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from memgpt.export.exporter import export_task
from memgpt.export.runtime import ExportedTask

pytest.importorskip("onnx")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"


@pytest.fixture(scope="module")
def node_example(tmp_path_factory) -> Path:
    """The example with its npm packages installed (skipped where node/npm cannot do that)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    d = tmp_path_factory.mktemp("node")
    for name in ("package.json", "memgpt-onnx.mjs"):
        shutil.copy(EXAMPLE / name, d / name)
    r = subprocess.run(
        ["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=d,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode:
        pytest.skip(f"npm install failed (offline?): {r.stderr.strip()[-200:]}")
    return d


def run_node(example: Path, folder: Path, text: str) -> dict:
    r = subprocess.run(
        ["node", str(example / "memgpt-onnx.mjs"), str(folder), text],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("task", ["classify", "translate"])
def test_node_example_matches_python(
    make_task_folder, node_example, tmp_path, tiny_model, tiny_tokenizer, task
):
    folder = make_task_folder(tmp_path, tiny_model, task)
    out = tmp_path / "export"
    export_task(folder, out, backbone=tiny_model, tokenizer=tiny_tokenizer)
    py = ExportedTask(out)
    for text in ("the cat sat on the mat", "hello world"):
        got = run_node(node_example, out, text)
        if task == "classify":
            want = py.classify([text])[0]
            assert got["label"] == want.label and abs(got["score"] - want.score) < 1e-4
        else:
            assert got["translation"] == py.generate([text])[0].text


def test_node_example_refuses_a_tampered_folder(
    make_task_folder, node_example, tmp_path, tiny_model, tiny_tokenizer
):
    folder = make_task_folder(tmp_path, tiny_model, "classify")
    out = tmp_path / "export"
    export_task(folder, out, backbone=tiny_model, tokenizer=tiny_tokenizer)
    s = json.loads((out / "settings.json").read_text())
    s["labels"] = list(reversed(s["labels"]))
    (out / "settings.json").write_text(json.dumps(s))
    r = subprocess.run(
        ["node", str(node_example / "memgpt-onnx.mjs"), str(out), "hi"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0 and "does not match manifest.json" in r.stderr
