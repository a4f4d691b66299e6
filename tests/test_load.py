"""Under load: one onnxruntime session and one torch model shared by threads give the sequential
results exactly, with no errors (a small version of ``benchmarks/load.py``, which reports the
latency and memory figures; nothing here asserts on timings)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
load_bench = importlib.import_module("load")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def runners(tmp_path_factory):
    with torch.random.fork_rng(devices=[]):
        return load_bench.build(tmp_path_factory.mktemp("load"))


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
@pytest.mark.parametrize("task,threads,per_thread", [("classify", 8, 50), ("summarize", 4, 3)])
def test_shared_by_threads_equals_sequential(runners, runtime, task, threads, per_thread):
    row = load_bench.run_one(runners[runtime, task], runtime, task, threads,
                             threads * per_thread, seed=1, max_new_tokens=6)
    assert row["errors"] == 0, row["error_samples"]
    assert row["mismatches"] == 0 and row["identical"]
    assert row["requests"] == threads * per_thread


def test_the_comparison_can_fail(runners):
    """A different request gives a different result: equality is not vacuous."""
    a = load_bench.request(runners["onnx", "classify"], "classify", "the tea was warm", 6)
    b = load_bench.request(runners["onnx", "classify"], "classify", "awful rain boat", 6)
    assert a != b and a[2] != b[2]
