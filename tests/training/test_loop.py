"""Fine-tuning loop: learns, resumes exactly, accumulates, stops early, writes no pickle, DDP."""

import json
import os
import pickle
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from memgpt.config import get_preset
from memgpt.model import MemGPT
from memgpt.tasks.adapters import AdapterSpec, add_adapters
from memgpt.tasks.heads import HeadSpec, TaskModel, classification_loss
from memgpt.training import TrainConfig, is_main_process, train

REPO = Path(__file__).resolve().parents[2]


def make_task(*, dropout: float = 0.0) -> TaskModel:
    """Tiny backbone + LoRA + a 2-label head, rebuilt identically from seed 0."""
    torch.manual_seed(0)
    backbone = MemGPT(get_preset("tiny"))
    add_adapters(backbone, AdapterSpec(kind="lora", rank=2, targets=("q_proj", "v_proj")))
    return TaskModel(backbone, HeadSpec("classify", 64, ("low", "high"), dropout=dropout))


def make_data(n: int) -> list[tuple[torch.Tensor, int]]:
    """Label 0: tokens drawn from [10, 60); label 1: from [300, 350). Length 6."""
    g = torch.Generator().manual_seed(1)
    return [(torch.randint(10, 60, (6,), generator=g) + 290 * (i % 2), i % 2) for i in range(n)]


def collate(batch):
    return {"ids": torch.stack([x for x, _ in batch]), "label": torch.tensor([y for _, y in batch])}


def loss_fn(model, batch):
    return classification_loss(model(batch["ids"]), batch["label"])


def trainable(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


BASE = TrainConfig(epochs=3, batch_size=4, grad_accum=2, lr=5e-3, weight_decay=0.01,
                   warmup_steps=2, seed=7, log_every=1, save_every=3, clip_norm=1.0)


def test_training_reduces_loss(tmp_path):
    model = make_task()
    cfg = replace(BASE, epochs=1, max_steps=16, batch_size=8, grad_accum=1, lr=1e-2,
                  warmup_steps=0)
    res = train(model, loss_fn=loss_fn, train_data=make_data(32), collate=collate, config=cfg,
                out_dir=tmp_path, progress=False)
    assert res.steps == 16 and res.completed and not res.stopped_early
    assert res.epochs_run == 4  # max_steps overrides epochs: 4 steps per epoch
    assert sum(res.losses[-4:]) / 4 < 0.5 * res.losses[0]
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 17))
    assert [r["loss"] for r in log] == res.losses
    assert set(log[0]) == {"step", "epoch", "loss", "lr"}
    assert set(load_file(tmp_path / "best.safetensors")) == set(trainable(model))


def test_bf16_autocast_runs_on_cpu_and_learns(tmp_path):
    """bf16=True autocasts on a CPU too (the matmuls run in bfloat16, the weights stay fp32):
    the first step's loss differs from fp32's, training still learns, weights saved fp32."""
    cfg = replace(BASE, epochs=1, max_steps=16, batch_size=8, grad_accum=1, lr=1e-2,
                  warmup_steps=0)
    kw = dict(loss_fn=loss_fn, train_data=make_data(32), collate=collate, progress=False)
    fp32 = train(make_task(), config=cfg, out_dir=tmp_path / "fp32", **kw)
    model = make_task()
    bf16 = train(model, config=replace(cfg, bf16=True), out_dir=tmp_path / "bf16", **kw)
    assert bf16.losses[0] != fp32.losses[0]
    assert sum(bf16.losses[-4:]) / 4 < 0.5 * bf16.losses[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    saved = load_file(tmp_path / "bf16" / "best.safetensors")
    assert all(t.dtype == torch.float32 for t in saved.values())


def test_a_finished_max_steps_run_can_be_extended_mid_epoch(tmp_path):
    """Stopping at max_steps inside an epoch keeps the data position: a larger max_steps later
    continues the same epoch (4 steps per epoch here: 6 = one epoch and a half)."""
    cfg = replace(BASE, epochs=1, max_steps=6, batch_size=8, grad_accum=1, save_every=100)
    kw = dict(loss_fn=loss_fn, train_data=make_data(32), collate=collate, progress=False,
              out_dir=tmp_path, eval_fn=eval_fn_factory())
    first = train(make_task(), config=cfg, **kw)
    assert first.completed and first.steps == 6 and first.epochs_run == 1
    more = train(make_task(), config=replace(cfg, max_steps=10), **kw)
    assert more.completed and more.steps == 10 and more.epochs_run == 2
    assert more.losses[:6] == first.losses
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 11))
    assert [r["epoch"] for r in log] == [0] * 4 + [1] * 4 + [2] * 2


def eval_fn_factory():
    ids = torch.stack([x for x, _ in make_data(6)])

    def eval_fn(model) -> float:
        return float(model(ids).softmax(-1)[:, 0].mean())  # deterministic, arbitrary

    return eval_fn


def test_resume_is_exact(tmp_path):
    data = make_data(24)  # 3 steps per epoch, 9 in all; the head has dropout: RNG matters
    kw = dict(loss_fn=loss_fn, train_data=data, collate=collate, config=BASE, progress=False)
    full_model = make_task(dropout=0.2)
    full = train(full_model, out_dir=tmp_path / "a", eval_fn=eval_fn_factory(), **kw)

    part = train(make_task(dropout=0.2), out_dir=tmp_path / "b", eval_fn=eval_fn_factory(),
                 stop_after=4, **kw)  # mid-epoch, off the save cadence
    assert not part.completed and part.steps == 4
    assert (tmp_path / "b" / "checkpoint" / "state.json").is_file()
    for stop in (3, None):  # resume twice, each time in a freshly built model, RNG disturbed
        torch.manual_seed(1234)
        resumed_model = make_task(dropout=0.2)
        torch.rand(100)
        resumed = train(resumed_model, out_dir=tmp_path / "b", eval_fn=eval_fn_factory(),
                        stop_after=stop, **kw)
        if stop is not None:
            assert resumed.steps == 7 and resumed.losses[:4] == part.losses  # it resumed
    assert resumed.completed and resumed.steps == full.steps == 9
    assert resumed.losses == full.losses
    assert resumed.best_metric == full.best_metric and resumed.epochs_run == 3
    a, b = trainable(full_model), trainable(resumed_model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    best_a = load_file(tmp_path / "a" / "best.safetensors")
    best_b = load_file(tmp_path / "b" / "best.safetensors")
    assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)
    log_a = (tmp_path / "a" / "train_log.jsonl").read_text()
    assert log_a == (tmp_path / "b" / "train_log.jsonl").read_text()


def test_resume_refuses_a_changed_config(tmp_path):
    kw = dict(loss_fn=loss_fn, train_data=make_data(8), collate=collate, out_dir=tmp_path,
              progress=False)
    train(make_task(), config=replace(BASE, epochs=1), stop_after=1, **kw)
    with pytest.raises(ValueError, match="batch_size"):
        train(make_task(), config=replace(BASE, epochs=1, batch_size=2), **kw)
    # resume=False starts over instead
    res = train(make_task(), config=replace(BASE, epochs=1, batch_size=2), resume=False, **kw)
    assert res.completed and res.steps == 2


def test_grad_accumulation_matches_a_bigger_batch(tmp_path):
    data = make_data(16)
    results = []
    for bs, acc in ((4, 1), (2, 2)):
        model = make_task()
        cfg = replace(BASE, batch_size=bs, grad_accum=acc, max_steps=1, clip_norm=None,
                      weight_decay=0.0, warmup_steps=0, lr=1e-3)
        res = train(model, loss_fn=loss_fn, train_data=data, collate=collate, config=cfg,
                    out_dir=tmp_path / f"{bs}x{acc}", progress=False)
        results.append((res.losses[0], trainable(model)))
    (loss_a, wa), (loss_b, wb) = results
    assert abs(loss_a - loss_b) < 1e-6
    before = trainable(make_task())
    moved = 0
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-6, rtol=0)
        moved += int(not torch.equal(wa[k], before[k]))
    assert moved > 0


def test_early_stopping_keeps_the_best_weights(tmp_path):
    metrics = iter([0.5, 0.7, 0.6, 0.65, 0.9, 0.95])
    snapshots = []

    def eval_fn(model) -> float:
        snapshots.append(trainable(model))
        return next(metrics)

    cfg = replace(BASE, epochs=10, patience=2, batch_size=8, grad_accum=1)
    kw = dict(loss_fn=loss_fn, train_data=make_data(8), collate=collate, config=cfg,
              out_dir=tmp_path, eval_fn=eval_fn, progress=False)
    res = train(make_task(), **kw)
    assert res.stopped_early and res.epochs_run == 4 and res.steps == 4
    assert res.best_metric == 0.7
    best = load_file(tmp_path / "best.safetensors")
    assert all(torch.equal(best[k], snapshots[1][k]) for k in best)
    again = train(make_task(), **kw)  # resuming a finished run trains nothing more
    assert again.steps == 4 and again.stopped_early and len(snapshots) == 4


def test_checkpoint_has_no_pickle(tmp_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("pickle-based serialisation used")

    for mod, name in ((torch, "save"), (torch, "load"), (pickle, "dump"), (pickle, "dumps"),
                      (pickle, "load"), (pickle, "loads")):
        monkeypatch.setattr(mod, name, forbidden)
    kw = dict(loss_fn=loss_fn, train_data=make_data(16), collate=collate, config=BASE,
              out_dir=tmp_path, eval_fn=eval_fn_factory(), progress=False)
    train(make_task(), stop_after=2, **kw)
    res = train(make_task(), **kw)
    assert res.completed
    ckpt = tmp_path / "checkpoint"
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "optimizer.safetensors", "rng.safetensors", "state.json", "weights.safetensors"]
    state = json.loads((ckpt / "state.json").read_text())
    assert state["state"]["step"] == res.steps
    opt = load_file(ckpt / "optimizer.safetensors")
    assert any(k.endswith(".exp_avg") for k in opt) and any(k.endswith(".step") for k in opt)
    assert "0.torch" in load_file(ckpt / "rng.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best.safetensors", "checkpoint", "train_log.jsonl"]


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_checkpoint_files_follow_the_umask(tmp_path, mask):
    """Checkpoint and best weights are written via memgpt.paths (mkstemp alone gives 0600)."""
    old = os.umask(mask)
    try:
        train(make_task(), loss_fn=loss_fn, train_data=make_data(8), collate=collate,
              config=replace(BASE, epochs=1, save_every=1), out_dir=tmp_path, progress=False)
    finally:
        os.umask(old)
    ckpt = tmp_path / "checkpoint"
    files = [*ckpt.iterdir(), tmp_path / "best.safetensors"]
    assert len(files) == 5
    for f in files:
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f
    assert ckpt.stat().st_mode & 0o777 == 0o777 & ~mask
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_train_config_validation():
    assert TrainConfig.from_dict(BASE.to_dict()) == BASE
    for bad in (dict(epochs=0), dict(batch_size=0), dict(grad_accum=0), dict(lr=0.0),
                dict(max_steps=0), dict(patience=0), dict(save_every=0), dict(clip_norm=0.0),
                dict(warmup_steps=-1), dict(seed=-1)):
        with pytest.raises(ValueError):
            TrainConfig(**bad)
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"epochs": 1, "learning_rate": 1.0})
    assert is_main_process()


DDP_SCRIPT = """
import json
import sys
from dataclasses import replace
import torch
import torch.distributed as dist
from safetensors.torch import save_file
sys.path.insert(0, {tests!r})
from test_loop import BASE, collate, loss_fn, make_data, make_task, trainable
from memgpt.training import train

out = sys.argv[1]
model = make_task()
res = train(model, loss_fn=loss_fn, train_data=make_data(16), collate=collate,
            config=replace(BASE, epochs=2, batch_size=2, grad_accum=1), out_dir=out,
            progress=False)
rank = dist.get_rank()
save_file(trainable(model), f"{{out}}/rank{{rank}}.safetensors")
if rank == 0:
    open(f"{{out}}/losses.json", "w").write(json.dumps(res.losses))
dist.destroy_process_group()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_on_cpu(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT.format(tests=str(Path(__file__).parent)))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1",
           "GLOO_SOCKET_IFNAME": os.environ.get("GLOO_SOCKET_IFNAME", "lo")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(script), str(out)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = load_file(out / "rank0.safetensors"), load_file(out / "rank1.safetensors")
    assert r0.keys() == r1.keys() and all(torch.equal(r0[k], r1[k]) for k in r0)
    assert (out / "checkpoint" / "state.json").is_file()
    # Each step's two ranks take perm[0::2] and perm[1::2] of the same group of 4: the same
    # examples as one process with batch 4, so the averaged losses and weights agree.
    single_model = make_task()
    single = train(single_model, loss_fn=loss_fn, train_data=make_data(16), collate=collate,
                   config=replace(BASE, epochs=2, batch_size=4, grad_accum=1),
                   out_dir=tmp_path / "single", progress=False)
    ddp_losses = json.loads((out / "losses.json").read_text())
    assert len(ddp_losses) == len(single.losses) == 8
    torch.testing.assert_close(torch.tensor(ddp_losses), torch.tensor(single.losses),
                               atol=1e-5, rtol=0)
    ws = trainable(single_model)
    for k in ws:
        torch.testing.assert_close(r0[k], ws[k], atol=1e-5, rtol=0)
