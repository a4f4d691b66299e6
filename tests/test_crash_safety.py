"""Crash safety: kill -9 mid-write, a full disk mid-save, SIGINT/SIGTERM mid-fine-tuning.

The kill -9 trials run ``benchmarks/crash_safety.py`` (which has the details) with 5 trials per
artifact kind here, 50 in the slow test and the benchmark; every trial must leave one whole,
loadable version at the path. ``python benchmarks/crash_safety.py`` reports the figures.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import crash_safety as cs  # noqa: E402


# ------------------------------------------------------------------ kill -9 during writes
@pytest.fixture(scope="module")
def crash_rig(tmp_path_factory):
    work = tmp_path_factory.mktemp("crash")
    with torch.random.fork_rng(devices=[]):
        cs.make_inputs(work, cs.KINDS)
    zyg = cs.Zygote(work)
    yield work, zyg
    zyg.close()


def _trials(crash_rig, kind: str, trials: int) -> None:
    work, zyg = crash_rig
    with torch.random.fork_rng(devices=[]):
        res = cs.run_kind(kind, trials, 0, work, zyg)
    assert res["trials"] == trials and all(r["killed"] for r in res["rows"])
    assert res["failed"] == 0, res["failures"]


@pytest.mark.parametrize("kind", cs.KINDS)
def test_kill_9_mid_write_leaves_one_whole_version(crash_rig, kind):
    _trials(crash_rig, kind, 5)


@pytest.mark.slow
@pytest.mark.parametrize("kind", cs.KINDS)
def test_kill_9_mid_write_50_trials(crash_rig, kind):
    _trials(crash_rig, kind, 50)


def test_a_mixed_folder_is_caught(crash_rig, tmp_path):
    """The check itself can fail: a checkpoint with B's config and A's weights is neither."""
    work, _ = crash_rig
    target = tmp_path / "artifact"
    shutil.copytree(work / "inputs" / "ckpt_A", target)
    shutil.copy(work / "inputs" / "ckpt_B" / "config.json", target / "config.json")
    with pytest.raises(AssertionError, match="neither version"):
        cs.Checker(work).version("checkpoint", target)
    assert cs.expected_versions(0) == {"A", "B"} and cs.expected_versions(4) == {"B", "C"}


# ------------------------------------------------------------------ a full disk during save
def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _snapshot(folder: Path) -> tuple[dict, list]:
    return cs.digests(folder), sorted(p.name for p in folder.parent.iterdir())


@pytest.mark.parametrize("kind", ["checkpoint", "task", "bank", "passage_bank", "export"])
def test_a_full_disk_promotes_nothing(crash_rig, tmp_path, monkeypatch, kind):
    """ENOSPC when the new files are flushed (where a file system that allocates late reports a
    full disk): the save raises, the old artifact is byte for byte the same, no temporary file
    or folder is left."""
    work, _ = crash_rig
    inputs = work / "inputs"
    target = tmp_path / "artifact"
    cs.Checker(work).reset(kind, target)
    before = _snapshot(target)
    writers = cs.Writers(work)
    writers.prepare(kind)
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(OSError) as err:
        writers.run(kind, target, 1, tmp_path / "progress")
    assert err.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert _snapshot(target) == before
    assert not (tmp_path / "progress").exists()
    if kind != "export":  # the export's settings.json holds timings: compare the graph only
        assert cs.digests(target) == cs.digests(inputs / f"{cs.REF[kind]}_A")
    cs.Checker(work).load(kind, target, "A")


def test_a_full_disk_during_training_keeps_the_last_checkpoint(crash_rig, tmp_path, monkeypatch):
    work, _ = crash_rig
    target = tmp_path / "run"
    cs.Checker(work).reset("training", target)
    before = cs.digests(target / "checkpoint")
    writers = cs.Writers(work)
    writers.prepare("training")
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(OSError) as err, torch.random.fork_rng(devices=[]):
        writers.run("training", target, 3, tmp_path / "progress")
    assert err.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert cs.digests(target / "checkpoint") == before
    assert sorted(p.name for p in target.iterdir()) == ["checkpoint", "train_log.jsonl"]
    with torch.random.fork_rng(devices=[]):
        assert cs.Checker(work).check_training(target)["step"] == cs.TRAIN_START


TINY_FS = textwrap.dedent("""
    import json, os, subprocess, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    import torch
    import crash_safety as cs
    from memgpt.paths import sha256_file
    work, mnt = Path(sys.argv[1]), Path(sys.argv[3])
    out = {}
    writers = cs.Writers(work)
    for kind in ("checkpoint", "task", "bank", "passage_bank"):
        src = work / "inputs" / f"{cs.REF[kind]}_A"
        pages = sum(-(-p.stat().st_size // 4096) for p in src.iterdir())
        d = mnt / kind
        d.mkdir()
        # room for version A and a third of another one: the new files cannot be written
        size = 4096 * (pages + pages // 3)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)],
                       check=True)
        target = d / "artifact"
        cs.Checker(work).reset(kind, target)
        before = {p.name: sha256_file(p) for p in target.iterdir()}
        writers.prepare(kind)
        try:
            writers.run(kind, target, 1, mnt / f"{kind}.progress")
            error = None
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
        after = {p.name: sha256_file(p) for p in target.iterdir()}
        cs.Checker(work).load(kind, target, "A")
        out[kind] = {"error": error, "intact": after == before,
                     "entries": sorted(p.name for p in d.iterdir())}
    print(json.dumps(out))
""")


def test_a_really_full_disk(crash_rig, tmp_path):
    """A real tmpfs too small for the new version (mounted in a user namespace; skipped where
    those are not allowed): the writers' own writes fail with ENOSPC, the old version stays."""
    work, _ = crash_rig
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-rm", "true"],
                                         capture_output=True).returncode != 0:
        pytest.skip("no unprivileged user and mount namespaces here")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run([unshare, "-rm", sys.executable, "-c", TINY_FS, str(work),
                           str(ROOT / "benchmarks"), str(mnt)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    for kind, r in out.items():
        assert r["error"] and "No space left" in r["error"], (kind, r)
        assert r["intact"] and r["entries"] == ["artifact"], (kind, r)


# ------------------------------------------------------------------ SIGTERM / SIGINT in training
TRAIN_CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import torch
    torch.set_num_threads(1)
    import crash_safety as cs
    from memgpt.training import TrainingInterrupted, train
    make, data, collate, loss_fn, config = cs._train_parts()
    config = config.__class__(**{**config.to_dict(), "max_steps": int(sys.argv[3]),
                                 "save_every": 1000})
    def paced(model, batch):  # gives the parent time to signal mid-run
        time.sleep(0.02)
        return loss_fn(model, batch)
    try:
        res = train(make(), loss_fn=paced, train_data=data, collate=collate, config=config,
                    out_dir=sys.argv[2], progress=False)
    except TrainingInterrupted as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    print(res.steps)
""")
STEPS = 40


def _train_here(out: Path):
    """The child's run, in this process on one thread (as the child runs)."""
    from memgpt.training import train

    make, data, collate, loss_fn, config = cs._train_parts()
    config = config.__class__(**{**config.to_dict(), "max_steps": STEPS, "save_every": 1000})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            return train(make(), loss_fn=loss_fn, train_data=data, collate=collate,
                         config=config, out_dir=out, progress=False)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[float]:
    res = _train_here(tmp_path_factory.mktemp("uninterrupted"))
    assert res.completed and res.steps == STEPS
    return res.losses


def _losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "train_log.jsonl").read_text().split("\n")
            if line]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_training_at_a_step_boundary_and_resume_continues(tmp_path, sig,
                                                                          uninterrupted):
    run = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-c", TRAIN_CHILD, str(ROOT / "benchmarks"),
                              str(run), str(STEPS)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while not ((run / "train_log.jsonl").is_file() and len(_losses(run)) >= 5):
        assert child.poll() is None and time.monotonic() < deadline, child.stderr.read()
        time.sleep(0.02)
    child.send_signal(sig)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 1, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    name = signal.Signals(sig).name
    assert lines[0].startswith(f"error: interrupted by {name} after step "), err
    step = int(lines[0].split("after step ")[1].split(";")[0])
    assert 5 <= step < STEPS
    state = json.loads((run / "checkpoint" / "state.json").read_text())["state"]
    assert state["step"] == step and len(state["losses"]) == step  # saved at that boundary
    resumed = _train_here(run)
    assert resumed.completed and resumed.steps == STEPS and resumed.losses[:step] == state["losses"]
    logged = _losses(run)
    assert len(logged) == len(uninterrupted) == STEPS
    assert max(abs(x - y) for x, y in zip(logged, uninterrupted)) <= 1e-6, (logged, uninterrupted)
    assert resumed.losses == logged


def test_a_second_signal_stops_at_once(tmp_path):
    """The first signal asks for a clean stop; a second one does not wait for the step."""
    from memgpt.training.loop import _StopSignals

    before = signal.getsignal(signal.SIGTERM)
    with _StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        assert stop.received == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
    assert signal.getsignal(signal.SIGTERM) == before
