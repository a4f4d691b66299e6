"""memgpt.paths: atomic writes keep the old file on failure and give umask-respecting modes."""

from __future__ import annotations

import os
import stat

import pytest

from memgpt import paths


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_umask_is_read_without_changing_it(umask_027):
    assert paths.umask() == 0o027
    assert paths.umask() == 0o027
    assert (paths.file_mode(), paths.dir_mode()) == (0o640, 0o750)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_written_files_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        paths.atomic_write_text(tmp_path / "a.txt", "é\n")
        paths.atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
        with paths.atomic_path(tmp_path / "c.safetensors") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "é\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    for name in ("a.txt", "b.bin", "c.safetensors"):
        assert _mode(tmp_path / name) == 0o666 & ~mask, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "c.safetensors"]


def test_overwrite_replaces_and_parents_are_created(tmp_path):
    target = tmp_path / "sub" / "dir" / "f.json"
    paths.atomic_write_text(target, "old")
    paths.atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert list(target.parent.iterdir()) == [target]


def test_failure_mid_write_leaves_the_old_file_intact(tmp_path):
    target = tmp_path / "model.safetensors"
    paths.atomic_write_bytes(target, b"old contents")
    with pytest.raises(RuntimeError, match="disk full"), paths.atomic_path(target) as tmp:
        tmp.write_bytes(b"half of the new")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old contents"
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_failure_in_a_writer_that_takes_text(tmp_path, monkeypatch):
    target = tmp_path / "bank.json"
    paths.atomic_write_text(target, "{}")

    def boom(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(paths.os, "replace", boom)
    with pytest.raises(OSError, match="no space"):
        paths.atomic_write_text(target, '{"new": 1}')
    assert target.read_text() == "{}"
    assert list(tmp_path.iterdir()) == [target]


def test_temp_name_keeps_the_suffix_for_format_sniffing_writers(tmp_path):
    with paths.atomic_path(tmp_path / "plot.png") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".tmp.png")
        tmp.write_bytes(b"png")


def test_temp_dirs_and_replaced_folders_follow_the_umask(tmp_path, umask_027):
    made = paths.make_temp_dir(tmp_path / "new", ".x.")
    assert _mode(made) == 0o750  # mkdtemp alone gives 0o700
    dest = tmp_path / "export"
    with paths.atomic_dir(dest) as tmp:
        (tmp / "model.onnx").write_bytes(b"one")
    assert _mode(dest) == 0o750 and (dest / "model.onnx").read_bytes() == b"one"
    with paths.atomic_dir(dest) as tmp:  # replaces a non-empty folder
        (tmp / "model.onnx").write_bytes(b"two")
    assert (dest / "model.onnx").read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "new"]


def test_failed_folder_write_keeps_the_old_folder(tmp_path):
    dest = tmp_path / "task"
    with paths.atomic_dir(dest) as tmp:
        (tmp / "task.json").write_text("old")
    with pytest.raises(ValueError), paths.atomic_dir(dest) as tmp:
        (tmp / "task.json").write_text("new")
        raise ValueError("validation failed")
    assert (dest / "task.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["task"]


def test_replace_dir_with_a_named_old_folder(tmp_path):
    dest, old = tmp_path / "checkpoint", tmp_path / "checkpoint.old"
    dest.mkdir()
    (dest / "w").write_text("1")
    tmp = paths.make_temp_dir(tmp_path, ".checkpoint-")
    (tmp / "w").write_text("2")
    paths.replace_dir(tmp, dest, old=old)
    assert (dest / "w").read_text() == "2" and not old.exists()


def test_checkpoints_and_memory_banks_follow_the_umask(tmp_path, umask_027, tiny_tokenizer):
    """The two writers that used to leave 0600 files (bank and checkpoint tensors) no longer do."""
    from memgpt.checkpoint import save_checkpoint
    from memgpt.config import MemoryConfig, get_preset
    from memgpt.memory import MemoryBank
    from memgpt.model import MemGPT

    model = MemGPT(get_preset("tiny").replace(memory=MemoryConfig(layers=(1,)))).eval()
    ckpt = save_checkpoint(model, tiny_tokenizer, tmp_path / "ckpt")
    bank = MemoryBank.empty(model).save(tmp_path / "bank")
    files = sorted(p for d in (ckpt, bank) for p in d.iterdir())
    assert {p.name for p in files} >= {"model.safetensors", "config.json", "tokenizer.json",
                                       "bank.safetensors", "bank.json"}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o640 for p in files}


def test_a_folder_never_replaces_a_file(tmp_path):
    from memgpt.paths import atomic_dir

    dest = tmp_path / "out"
    dest.write_text("keep me")
    with pytest.raises(FileExistsError, match="not a folder"):
        with atomic_dir(dest) as tmp:
            (tmp / "a").write_text("x")
    assert dest.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the temporary folder is gone


def test_a_killed_writers_temporaries_are_removed_by_the_next_write(tmp_path):
    """A writer killed with SIGKILL mid-write leaves its temporary folder and file; the next write
    of the same artifact removes them. A live writer's temporaries and other hosts' are kept."""
    import subprocess
    import sys

    dest, out = tmp_path / "artifact", tmp_path / "model.json"
    child = subprocess.Popen([sys.executable, "-c", (
        "import os, signal, sys\n"
        "from memgpt.paths import atomic_dir, atomic_path\n"
        f"with atomic_dir({str(dest)!r}) as d, atomic_path({str(out)!r}) as f:\n"
        "    (d / 'part').write_text('half'); f.write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")])
    assert child.wait() == -9
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2 and all(n.startswith((".artifact.", ".model.json.")) for n in left)
    live = paths.make_temp_dir(tmp_path, paths.temp_prefix("artifact"))  # this process: alive
    other = tmp_path / ".artifact.0badhost-1-x"                          # another host's
    other.mkdir()
    with paths.atomic_dir(dest) as d:
        (d / "part").write_text("whole")
    paths.atomic_write_text(out, "whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, other.name, "artifact", "model.json"])
    assert (dest / "part").read_text() == "whole" and out.read_text() == "whole"
