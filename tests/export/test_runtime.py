"""The torch-free runtime: bad folders are refused with one clear error; no torch needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from memgpt.export import specs
from memgpt.export.exporter import export_task, write_manifest
from memgpt.export.protoscan import external_locations
from memgpt.export.runtime import ExportedTask, ExportFolderError, check_folder

onnx = pytest.importorskip("onnx")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def exported(make_task_folder, tmp_path_factory, tiny_weights_dir):
    """A classify export of the tiny model (made once for the module)."""
    from memgpt.checkpoint import load_model, load_tokenizer

    d = tmp_path_factory.mktemp("rt")
    model, tok = load_model(tiny_weights_dir), load_tokenizer(tiny_weights_dir)
    folder = make_task_folder(d, model, "classify")
    export_task(folder, d / "export", backbone=model, tokenizer=tok)
    return d / "export"


def copy_of(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_missing_folder_and_missing_files(tmp_path, exported):
    with pytest.raises(ExportFolderError, match="no such export folder"):
        ExportedTask(tmp_path / "nope")
    with pytest.raises(ExportFolderError, match="no manifest.json"):
        ExportedTask(tmp_path)
    bad = copy_of(exported, tmp_path / "x")
    (bad / specs.TOKENIZER_FILE).unlink()
    with pytest.raises(ExportFolderError, match="tokenizer.json is missing"):
        ExportedTask(bad)


def test_tampered_graph_fails_the_manifest(tmp_path, exported):
    bad = copy_of(exported, tmp_path / "x")
    data = bytearray((bad / specs.GRAPH_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    (bad / specs.GRAPH_FILE).write_bytes(bytes(data))
    with pytest.raises(ExportFolderError, match="sha256"):
        ExportedTask(bad)


def test_truncated_graph_fails_the_manifest(tmp_path, exported):
    bad = copy_of(exported, tmp_path / "x")
    data = (bad / specs.GRAPH_FILE).read_bytes()
    (bad / specs.GRAPH_FILE).write_bytes(data[:1000])
    with pytest.raises(ExportFolderError, match="size"):
        ExportedTask(bad)


def test_manifest_names_outside_the_folder_are_refused(tmp_path, exported):
    bad = copy_of(exported, tmp_path / "x")
    m = json.loads((bad / specs.MANIFEST_FILE).read_text())
    m["files"]["../secret"] = {"sha256": "0" * 64, "bytes": 1}
    (bad / specs.MANIFEST_FILE).write_text(json.dumps(m))
    with pytest.raises(ExportFolderError, match="not a file name inside"):
        ExportedTask(bad)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "unlisted.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, exported, location):
    """A re-signed manifest does not help: the graph's external-data paths are checked."""
    bad = copy_of(exported, tmp_path / "x")
    model = onnx.load(str(bad / specs.GRAPH_FILE))
    init = model.graph.initializer[0]
    init.ClearField("raw_data")
    init.data_location = onnx.TensorProto.EXTERNAL
    entry = init.external_data.add()
    entry.key, entry.value = "location", location
    onnx.save(model, str(bad / specs.GRAPH_FILE))
    assert external_locations((bad / specs.GRAPH_FILE).read_bytes()) == [location]
    write_manifest(bad)
    with pytest.raises(ExportFolderError, match="external data"):
        ExportedTask(bad)


def test_protoscan_finds_nothing_external_in_a_normal_export(exported):
    assert external_locations((exported / specs.GRAPH_FILE).read_bytes()) == []


def test_not_an_onnx_file(tmp_path, exported):
    bad = copy_of(exported, tmp_path / "x")
    (bad / specs.GRAPH_FILE).write_bytes(b"\xff" * 64)
    write_manifest(bad)
    with pytest.raises(ExportFolderError, match="not a valid ONNX file|cannot load"):
        ExportedTask(bad)


def test_wrong_input_shapes_and_wrong_task(exported):
    task = ExportedTask(exported)
    with pytest.raises(ExportFolderError, match="dimensions"):
        task.graph.run({"input_ids": np.zeros(3, np.int64), "attention_mask": np.ones(3, np.int64)})
    with pytest.raises(ExportFolderError, match="missing graph inputs"):
        task.graph.run({"input_ids": np.zeros((1, 3), np.int64)})
    with pytest.raises(ExportFolderError, match="rejected"):
        task.graph.run(
            {"input_ids": np.zeros((1, 3), np.int32), "attention_mask": np.ones((1, 3), np.int64)}
        )
    with pytest.raises(ExportFolderError, match="classify export, not summarize"):
        task.generate(["x"])


def test_settings_of_another_format_are_refused(tmp_path, exported):
    bad = copy_of(exported, tmp_path / "x")
    s = json.loads((bad / specs.SETTINGS_FILE).read_text())
    s["version"] = 99
    (bad / specs.SETTINGS_FILE).write_text(json.dumps(s))
    write_manifest(bad)
    with pytest.raises(ExportFolderError, match="unsupported export format"):
        check_folder(bad)


BLOCK_TORCH = textwrap.dedent("""
    import sys
    class _NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is not installed here")
    sys.meta_path.insert(0, _NoTorch())
""")


def test_runtime_and_cli_run_without_torch(tmp_path, exported):
    """torch made unimportable: the runtime and `memgpt-task classify --export` still work."""
    script = tmp_path / "run.py"
    script.write_text(
        BLOCK_TORCH
        + textwrap.dedent(f"""
        from memgpt.export.runtime import ExportedTask
        r = ExportedTask({str(exported)!r}).classify(["hello there"])[0]
        print("LABEL", r.label)
        from memgpt.cli import main
        sys.argv = ["memgpt-task", "classify", "--export", {str(exported)!r}, "--json", "hi"]
        try:
            main()
        except SystemExit as e:
            assert not e.code, e.code
        assert "torch" not in sys.modules
    """)
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[1] in ("neg", "pos", "meh")
    assert json.loads(lines[1])["label"] in ("neg", "pos", "meh")


@pytest.mark.slow
def test_runtime_in_a_virtual_environment_without_torch(tmp_path, exported):
    """A real venv with only numpy, onnxruntime, tokenizers, click and tqdm (needs pip access)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    pip = subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "-q",
            "numpy",
            "onnxruntime",
            "tokenizers",
            "click",
            "tqdm",
        ],
        capture_output=True,
        text=True,
    )
    if pip.returncode:
        pytest.skip(f"pip could not install the runtime packages: {pip.stderr[-200:]}")
    code = (
        "import importlib.util, sys; assert importlib.util.find_spec('torch') is None; "
        "from memgpt.export.runtime import ExportedTask; "
        f"print(ExportedTask({str(exported)!r}).classify(['hello'])[0].label)"
    )
    out = subprocess.run(
        [str(py), "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("neg", "pos", "meh")


def test_a_verified_folder_is_not_hashed_again_until_it_changes(tmp_path, exported, monkeypatch):
    import memgpt.export.runtime as R

    monkeypatch.setenv("MEMGPT_CACHE", str(tmp_path / "cache"))
    folder = copy_of(exported, tmp_path / "x")
    hashed = []
    real = R.sha256_file
    monkeypatch.setattr(R, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    R.check_folder(folder)
    first = sorted(hashed)
    assert first == sorted(json.loads((folder / specs.MANIFEST_FILE).read_text())["files"])
    hashed.clear()
    R.check_folder(folder)
    assert hashed == []  # unchanged since it was verified: nothing re-hashed
    data = bytearray((folder / specs.GRAPH_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes: its mtime and ctime change
    (folder / specs.GRAPH_FILE).write_bytes(bytes(data))
    with pytest.raises(ExportFolderError, match="sha256"):
        R.check_folder(folder)
    assert hashed == [specs.GRAPH_FILE]  # only the changed file was hashed
    other = copy_of(exported, tmp_path / "y")  # another folder has its own record
    hashed.clear()
    R.check_folder(other)
    assert sorted(hashed) == first
