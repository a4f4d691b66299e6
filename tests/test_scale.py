"""Batch work on worker processes (memgpt.scale): same results, input order, a killed worker's
shard retried; --workers on the CLI. Ray (optional extra) on a local 2-actor cluster: slow."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from memgpt.cli import cli
from memgpt.cli.common import open_task
from memgpt.scale import ShardedTask


def same(got, want) -> bool:
    """Equal labels / answers / texts; scores equal up to float rounding (a worker may run on
    fewer threads than this process, which can change the last bits of a sum)."""
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        a, b = g.__dict__, w.__dict__
        for k in a:
            if isinstance(a[k], float):
                if abs(a[k] - b[k]) > 1e-5:
                    return False
            elif isinstance(a[k], dict):
                if a[k].keys() != b[k].keys() or any(abs(a[k][x] - b[k][x]) > 1e-5 for x in a[k]):
                    return False
            elif a[k] != b[k]:
                return False
    return True


TEXTS = [f"Review {i}: the soup was {'good' if i % 2 else 'cold'} and the room was quiet."
         for i in range(11)]


@pytest.fixture(scope="module")
def folders(tiny_weights_dir, tmp_path_factory, make_task_folder):
    from memgpt.checkpoint import load_model

    out = {}
    for task in ("classify", "qa", "summarize"):
        model = load_model(tiny_weights_dir)
        out[task] = str(make_task_folder(tmp_path_factory.mktemp(task), model, task))
    return out


def _args(task, folder, weights):
    return {"task": task, "adapter": folder, "weights": weights, "device": "cpu",
            "runtime": "torch", "export_dir": None}


def test_two_workers_give_the_one_process_results_in_order(folders, tiny_weights_dir):
    args = _args("classify", folders["classify"], tiny_weights_dir)
    local = open_task(**args)
    sharded = ShardedTask(local, open_task, args, workers=2, threads=2, shard_size=2)
    try:
        want = local.classify(TEXTS, batch_size=4)
        assert same(sharded.classify(TEXTS, batch_size=4), want)
        assert sharded.worker_pids and os.getpid() not in sharded.worker_pids
        # generation and QA through the same pool kinds
        qa_args = _args("qa", folders["qa"], tiny_weights_dir)
        qa = ShardedTask(open_task(**qa_args), open_task, qa_args, workers=2, threads=2,
                         shard_size=1)
        pairs = [(f"Who is {i}?", f"Ann met person {i} at the bridge in {1900 + i}.")
                 for i in range(5)]
        assert same(qa.answer_many(pairs), [qa.local.answer(q, c) for q, c in pairs])
        qa.close()
    finally:
        sharded.close()
    assert sharded.settings is local.settings  # everything else is the local task's


def _killing_opener(**kwargs):
    """Opens the task; its classify kills the worker process the first time it sees 'KILL'."""
    task = open_task(**kwargs)
    plain = task.classify
    marker = Path(os.environ["MEMGPT_TEST_KILL_MARKER"])

    def classify(texts, **kw):
        if "KILL" in texts and not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(1)
        return plain(texts, **kw)

    task.classify = classify
    return task


def test_a_killed_worker_has_its_shard_retried_nothing_lost_or_doubled(folders,
                                                                      tiny_weights_dir,
                                                                      tmp_path, monkeypatch):
    monkeypatch.setenv("MEMGPT_TEST_KILL_MARKER", str(tmp_path / "killed"))
    args = _args("classify", folders["classify"], tiny_weights_dir)
    local = open_task(**args)
    texts = TEXTS[:5] + ["KILL"] + TEXTS[5:]
    sharded = ShardedTask(local, _killing_opener, args, workers=2, threads=2, shard_size=2)
    try:
        got = sharded.classify(texts, batch_size=2)
    finally:
        sharded.close()
    assert (tmp_path / "killed").exists()  # a worker really died mid-run
    assert same(got, local.classify(texts, batch_size=2))


def test_cli_workers_match_one_process(folders, tiny_weights_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMGPT_WEIGHTS", tiny_weights_dir)
    f = tmp_path / "in.jsonl"
    f.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS[:6]))
    runner = CliRunner()
    for cmd in (["classify", "--adapter", folders["classify"]],
                ["summarize", "--adapter", folders["summarize"], "--max-new-tokens", "3"]):
        one = runner.invoke(cli, [*cmd, str(f), "--json"])
        two = runner.invoke(cli, [*cmd, str(f), "--json", "--workers", "2", "--batch-size",
                                  "2"])
        assert one.exit_code == 0 and two.exit_code == 0, (one.output, two.output)
        strip = lambda out: [{k: v for k, v in json.loads(x).items()
                              if k not in ("seconds", "score", "scores")}
                             for x in out.splitlines()]
        assert strip(two.stdout) == strip(one.stdout) and len(strip(one.stdout)) == 6


def test_workers_refused_where_one_process_runs(folders, tiny_weights_dir, tmp_path):
    ex = tmp_path / "ex.jsonl"
    ex.write_text(json.dumps({"text": "a", "label": "x"}) + "\n")
    r = CliRunner().invoke(cli, ["classify", "--examples", str(ex), "hi", "--workers", "2",
                                 "--weights", tiny_weights_dir])
    assert r.exit_code != 0 and "one process" in r.output


@pytest.mark.slow
def test_ray_local_cluster_two_actors_and_a_killed_one(folders, tiny_weights_dir, tmp_path,
                                                       monkeypatch):
    ray = pytest.importorskip("ray")
    import sys

    # the actors import memgpt, but not this test file: send its opener by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setenv("MEMGPT_TEST_KILL_MARKER", str(tmp_path / "killed"))
    args = _args("classify", folders["classify"], tiny_weights_dir)
    local = open_task(**args)
    texts = TEXTS[:5] + ["KILL"] + TEXTS[5:]
    sharded = ShardedTask(local, _killing_opener, args, workers=2, threads=2,
                          ray_address="local", shard_size=2)
    try:
        assert same(sharded.classify(texts, batch_size=2), local.classify(texts, batch_size=2))
        assert (tmp_path / "killed").exists()  # an actor really died mid-run
        assert len(sharded.worker_pids) >= 2
    finally:
        sharded.close()
        ray.shutdown()
