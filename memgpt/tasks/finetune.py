"""Fine-tuning: a plain training loop with exact resume (docs/architecture.md#tasks).

``train`` optimises the parameters that require grad (adapters + head, or everything) with AdamW
and a linear warmup/decay schedule, accumulating gradients over micro-batches.

Resume is exact: every ``save_every`` optimizer steps and at each epoch end, ``out_dir/checkpoint/``
is replaced atomically (written to a temporary folder, then renamed) with the trainable weights,
the optimizer and scheduler state, every rank's RNG states and the data position. Tensors go to
safetensors and everything else to JSON — no pickle, so a checkpoint is safe to load from anyone.
The data order of an epoch is a function of ``(seed, epoch)`` alone, so "position i of epoch e"
names the same examples after a restart.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in ``DistributedDataParallel``, each
rank takes every ``world``-th example of the epoch's permutation, and only rank 0 writes files.

Files in ``out_dir``: ``checkpoint/`` (weights.safetensors, optimizer.safetensors,
rng.safetensors, state.json), ``best.safetensors`` (trainable weights at the best eval metric, or
the last weights when there is no ``eval_fn``), ``train_log.jsonl`` (step, epoch, loss, lr).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from memgpt.paths import atomic_dir, atomic_path

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
BEST_FILE = "best.safetensors"
LOG_FILE = "train_log.jsonl"
# Config fields a resumed run may change; the others decide data order and optimisation.
RESUMABLE_CHANGES = frozenset({"epochs", "max_steps", "patience", "log_every", "save_every"})


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (validated on creation, saved with every checkpoint).

    Attributes:
        epochs: passes over the data (ignored when ``max_steps`` is set).
        batch_size: examples per micro-batch (per rank).
        grad_accum: micro-batches per optimizer step.
        lr: peak learning rate.
        weight_decay: AdamW decay, applied to matrices only (not to biases or norm gains).
        warmup_steps: optimizer steps of linear warmup before the linear decay.
        max_steps: total optimizer steps; None: ``epochs`` decide.
        patience: stop after this many epochs without a better eval metric; None: never.
        seed: seeds the global RNGs at a fresh start and the per-epoch data order.
        log_every: optimizer steps between ``train_log.jsonl`` lines.
        save_every: optimizer steps between checkpoints (one is also written at each epoch end).
        bf16: bfloat16 autocast (CUDA only; ignored on CPU).
        clip_norm: gradient-norm clip; None: off.
    """

    epochs: int = 1
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0
    max_steps: int | None = None
    patience: int | None = None
    seed: int = 0
    log_every: int = 10
    save_every: int = 100
    bf16: bool = False
    clip_norm: float | None = 1.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "grad_accum", "log_every", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_steps", "patience"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be None or >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.warmup_steps < 0 or self.seed < 0:
            raise ValueError("weight_decay, warmup_steps and seed must be >= 0")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clip_norm must be None or > 0, got {self.clip_norm}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown TrainConfig keys: {', '.join(unknown)}")
        return cls(**d)


@dataclass
class TrainResult:
    """What ``train`` returns. ``losses``: one per optimizer step since the run began (resumes
    included), averaged over ranks. ``completed``: False when ``stop_after`` interrupted it."""

    losses: list[float]
    steps: int
    epochs_run: int
    best_metric: float | None
    stopped_early: bool
    out_dir: Path
    completed: bool = True


@dataclass
class _State:
    """The JSON part of a checkpoint: where the data stream is and what happened so far."""

    epoch: int = 0  # epochs finished
    position: int = 0  # examples of this rank's share of the epoch already consumed
    step: int = 0  # optimizer steps taken
    losses: list[float] = field(default_factory=list)
    best_metric: float | None = None
    bad_epochs: int = 0
    stopped_early: bool = False


@dataclass(frozen=True)
class _Dist:
    rank: int
    world: int
    device: torch.device  # where the model and batches live
    comm: torch.device  # where collective tensors live (cuda for nccl)


# --- distributed -------------------------------------------------------------------------------


def is_main_process() -> bool:
    """True on rank 0 (or when not distributed); also right before the process group exists."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def _setup_distributed(model: nn.Module) -> _Dist:
    """Join the process group when launched by torchrun; move the model to this rank's device."""
    device = next(model.parameters()).device
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and not dist.is_initialized():
        return _Dist(0, 1, device, device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    comm = torch.device("cpu")
    if dist.get_backend() == "nccl":
        comm = device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        model.to(device)
    return _Dist(dist.get_rank(), dist.get_world_size(), device, comm)


def _mean_over_ranks(x: float, ctx: _Dist) -> float:
    if ctx.world == 1:
        return x
    t = torch.tensor([x], dtype=torch.float64, device=ctx.comm)
    dist.all_reduce(t)
    return float(t.item() / ctx.world)


def _from_rank0(x: float, ctx: _Dist) -> float:
    if ctx.world == 1:
        return x
    t = torch.tensor([x], dtype=torch.float64, device=ctx.comm)
    dist.broadcast(t, 0)
    return float(t.item())


def _barrier(ctx: _Dist) -> None:
    if ctx.world > 1:
        dist.barrier()


def _wrap_ddp(model: nn.Module, loss_fn, batch: Any, ctx: _Dist, config: TrainConfig):
    """DDP, with ``find_unused_parameters`` only when a probe step leaves a trainable param
    without a gradient (it costs an extra graph traversal every step)."""
    with torch.random.fork_rng(devices=[ctx.device] if ctx.device.type == "cuda" else []):
        with _autocast(config, ctx):
            loss_fn(model, batch).float().backward()
    unused = any(p.grad is None for p in model.parameters() if p.requires_grad)
    model.zero_grad(set_to_none=True)
    flag = torch.tensor([int(unused)], device=ctx.comm)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=bool(flag.item()))


# --- RNG and optimizer state as tensors + JSON -------------------------------------------------


def _rng_tensors() -> dict[str, torch.Tensor]:
    """This process's torch / CUDA / numpy / python RNG states as tensors."""
    _, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    py_version, py_keys, py_gauss = random.getstate()
    out = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_keys.astype(np.int64)),
        "numpy_extra": torch.tensor([np_pos, np_has_gauss, np_gauss], dtype=torch.float64),
        "python_keys": torch.tensor(py_keys, dtype=torch.int64),
        "python_extra": torch.tensor([py_version, py_gauss is not None, py_gauss or 0.0],
                                     dtype=torch.float64),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state()
    return out


def _set_rng(t: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(t["torch"].to(torch.uint8))
    pos, has_gauss, gauss = t["numpy_extra"].tolist()
    np.random.set_state(("MT19937", t["numpy_keys"].numpy().astype(np.uint32), int(pos),
                         int(has_gauss), gauss))
    version, has, py_gauss = t["python_extra"].tolist()
    random.setstate((int(version), tuple(t["python_keys"].tolist()), py_gauss if has else None))
    if "cuda" in t and torch.cuda.is_available():
        torch.cuda.set_rng_state(t["cuda"].to(torch.uint8))


def _gather_rng(ctx: _Dist) -> dict[str, torch.Tensor]:
    """Every rank's RNG states, keyed ``"{rank}.{name}"`` (collective: all ranks call it)."""
    mine = _rng_tensors()
    if ctx.world == 1:
        return {f"0.{k}": v for k, v in mine.items()}
    out = {}
    for k, v in sorted(mine.items()):
        parts = [torch.empty_like(v, device=ctx.comm) for _ in range(ctx.world)]
        dist.all_gather(parts, v.to(ctx.comm))
        out.update({f"{r}.{k}": p.cpu() for r, p in enumerate(parts)})
    return out


def _flatten_optimizer(sd: dict) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer state_dict -> (tensors keyed "param_index.name", JSON-able rest)."""
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, v in [*tensors.items(), *meta["scalars"].items()]:
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
              for g in meta["param_groups"]]  # JSON turned tuples (betas) into lists
    return {"state": state, "param_groups": groups}


# --- checkpoint files --------------------------------------------------------------------------


def _trainable(model: nn.Module) -> dict[str, nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def _save_weights(model: nn.Module, path: Path) -> None:
    """Trainable weights to ``path`` atomically."""
    _save_tensors({n: p.detach().cpu().contiguous() for n, p in _trainable(model).items()}, path)


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """safetensors to ``path`` via ``memgpt.paths.atomic_path``: the umask's permissions (the
    safetensors writer alone makes files 0600), then a rename."""
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def _save_checkpoint(out: Path, model, optimizer, scheduler, state: _State, config: TrainConfig,
                     ctx: _Dist) -> None:
    rng = _gather_rng(ctx)  # collective, before the rank check
    if ctx.rank == 0:
        # the old checkpoint waits in checkpoint.old during the swap (_checkpoint_dir reads it)
        with atomic_dir(out / CHECKPOINT_DIR, old=out / f"{CHECKPOINT_DIR}.old") as tmp:
            _save_weights(model, tmp / "weights.safetensors")
            opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
            _save_tensors(opt_tensors, tmp / "optimizer.safetensors")
            _save_tensors(rng, tmp / "rng.safetensors")
            meta = {"format": 1, "state": dataclasses.asdict(state), "config": config.to_dict(),
                    "world_size": ctx.world, "trainable": list(_trainable(model)),
                    "optimizer": opt_meta, "scheduler": scheduler.state_dict()}
            (tmp / "state.json").write_text(json.dumps(meta, indent=1))
    _barrier(ctx)


def _checkpoint_dir(out: Path) -> Path | None:
    for d in (out / CHECKPOINT_DIR, out / f"{CHECKPOINT_DIR}.old"):  # .old: crash mid-swap
        if (d / "state.json").is_file():
            return d
    return None


def _load_checkpoint(out: Path, model, optimizer, scheduler, config: TrainConfig,
                     ctx: _Dist) -> _State | None:
    d = _checkpoint_dir(out)
    if d is None:
        return None
    meta = json.loads((d / "state.json").read_text())
    saved = TrainConfig.from_dict(meta["config"]).to_dict()
    diff = sorted(k for k, v in config.to_dict().items()
                  if saved[k] != v and k not in RESUMABLE_CHANGES)
    if diff or meta["world_size"] != ctx.world:
        raise ValueError(f"cannot resume {d}: config fields {diff} or world size "
                         f"({meta['world_size']} -> {ctx.world}) changed; pass resume=False")
    params = _trainable(model)
    if meta["trainable"] != list(params):
        raise ValueError(f"cannot resume {d}: the trainable parameters differ from the model's")
    with torch.no_grad():
        for name, t in load_file(d / "weights.safetensors").items():
            params[name].copy_(t)
    optimizer.load_state_dict(_unflatten_optimizer(load_file(d / "optimizer.safetensors"),
                                                   meta["optimizer"]))
    scheduler.load_state_dict(meta["scheduler"])
    rng = load_file(d / "rng.safetensors")
    _set_rng({k.split(".", 1)[1]: v for k, v in rng.items() if k.startswith(f"{ctx.rank}.")})
    logger.info("resumed from %s at step %d", d, meta["state"]["step"])
    return _State(**meta["state"])


def _fresh_start(out: Path, config: TrainConfig, ctx: _Dist) -> _State:
    """Seed the global RNGs and clear what an earlier run left in ``out``."""
    seed = config.seed + ctx.rank  # dropout masks differ across ranks, as they should
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    if ctx.rank == 0:
        for d in (CHECKPOINT_DIR, f"{CHECKPOINT_DIR}.old"):
            shutil.rmtree(out / d, ignore_errors=True)
        for f in (LOG_FILE, BEST_FILE):
            (out / f).unlink(missing_ok=True)
    _barrier(ctx)
    return _State()


def _trim_log(out: Path, step: int) -> None:
    """Drop log lines an interrupted run wrote after its last checkpoint."""
    path = out / LOG_FILE
    if path.exists():
        lines = [ln for ln in path.read_text().splitlines()
                 if ln.strip() and json.loads(ln)["step"] <= step]
        path.write_text("".join(ln + "\n" for ln in lines))


# --- the loop ----------------------------------------------------------------------------------


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    params = list(_trainable(model).values())
    if not params:
        raise ValueError("model has no parameters with requires_grad")
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr)


def _lr_factor(warmup: int, total: int) -> Callable[[int], float]:
    """Linear warmup to 1 over ``warmup`` steps, then linear decay that never reaches 0."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _epoch_order(n: int, *, seed: int, epoch: int, ctx: _Dist) -> list[int]:
    """This rank's share of the epoch's permutation; a function of (seed, epoch) only.
    The tail that does not divide among ranks is dropped so every rank takes the same steps."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm[: n - n % ctx.world][ctx.rank :: ctx.world].tolist()


def _to_device(batch: Any, device: torch.device) -> Any:
    if torch.is_tensor(batch):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _autocast(config: TrainConfig, ctx: _Dist):
    on = config.bf16 and ctx.device.type == "cuda"
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16) if on else (
        contextlib.nullcontext())


def _accumulate(model, loss_fn, collate, data, group: list[int], config, ctx) -> float:
    """Forward/backward over the group's micro-batches; returns the group's mean loss.

    Each micro-batch loss is weighted by its share of the group's examples, so the gradient
    is that of the mean over the group whatever ``batch_size`` x ``grad_accum`` split is used.
    """
    chunks = [group[i : i + config.batch_size] for i in range(0, len(group), config.batch_size)]
    total = 0.0
    for j, idx in enumerate(chunks):
        batch = _to_device(collate([data[i] for i in idx]), ctx.device)
        skip_sync = isinstance(model, DistributedDataParallel) and j < len(chunks) - 1
        with model.no_sync() if skip_sync else contextlib.nullcontext():
            with _autocast(config, ctx):
                loss = loss_fn(model, batch).float()
            (loss * (len(idx) / len(group))).backward()
        total += loss.item() * len(idx) / len(group)
    return total


def train(
    model: nn.Module,
    *,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    train_data: Sequence[Any],
    collate: Callable[[list[Any]], Any],
    config: TrainConfig,
    out_dir: str | Path,
    eval_fn: Callable[[nn.Module], float] | None = None,
    resume: bool = True,
    stop_after: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``model``'s requires_grad parameters.

    Args:
        model: e.g. a ``TaskModel``; frozen weights must be the same on a resume (only the
            trainable ones are checkpointed).
        loss_fn: ``loss_fn(model, batch) -> scalar``; must call ``model(...)`` (which is the
            DDP wrapper under torchrun), tensors in ``batch`` are already on the model's device.
        train_data: examples; ``collate(list_of_examples)`` makes a batch.
        config: hyper-parameters.
        out_dir: checkpoint, best weights and log go here (rank 0 writes).
        eval_fn: ``eval_fn(model) -> metric`` (higher is better), run at each epoch end in eval
            mode under ``no_grad``; rank 0's value decides.
        resume: continue from ``out_dir/checkpoint`` when it exists; False starts over (and
            deletes what an earlier run left in ``out_dir``).
        stop_after: stop, as if interrupted, once this call has taken this many optimizer steps
            (a checkpoint is written first).
        progress: show a tqdm bar on stderr (rank 0).

    Returns:
        TrainResult.
    """
    out = Path(out_dir)
    ctx = _setup_distributed(model)
    if ctx.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    _barrier(ctx)
    n_local = (len(train_data) - len(train_data) % ctx.world) // ctx.world
    if n_local == 0:
        raise ValueError(f"{len(train_data)} examples cannot be shared by {ctx.world} ranks")
    group_size = config.batch_size * config.grad_accum
    steps_per_epoch = math.ceil(n_local / group_size)
    total = config.max_steps or config.epochs * steps_per_epoch
    n_epochs = math.ceil(total / steps_per_epoch)
    optimizer = _make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_factor(config.warmup_steps, total))
    state = _load_checkpoint(out, model, optimizer, scheduler, config, ctx) if resume else None
    if state is None:
        state = _fresh_start(out, config, ctx)
    elif ctx.rank == 0:
        _trim_log(out, state.step)

    net = model
    model.train()
    if ctx.world > 1:
        probe = collate([train_data[i] for i in range(min(config.batch_size, len(train_data)))])
        net = _wrap_ddp(model, loss_fn, _to_device(probe, ctx.device), ctx, config)
    bar = tqdm(total=total, initial=state.step, desc="train", file=sys.stderr,
               disable=not progress or ctx.rank != 0)
    taken = 0
    while not _finished(state, total, n_epochs):
        order = _epoch_order(len(train_data), seed=config.seed, epoch=state.epoch, ctx=ctx)
        while state.position < len(order) and state.step < total:
            group = order[state.position : state.position + group_size]
            loss, lr = _step(net, model, optimizer, scheduler, loss_fn, collate, train_data,
                             group, config, ctx)
            state.position += len(group)
            state.step += 1
            taken += 1
            state.losses.append(loss)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
            if state.step % config.log_every == 0 or state.step == total:
                _log(out, state, loss, lr, ctx)
            interrupted = stop_after is not None and taken >= stop_after
            if state.step % config.save_every == 0 or interrupted:
                _save_checkpoint(out, model, optimizer, scheduler, state, config, ctx)
            if interrupted:
                bar.close()
                return _result(state, out, completed=False)
        # Stopped by max_steps inside an epoch: evaluate, but keep the data position so that
        # a later run with a larger max_steps continues this epoch where it stopped.
        _end_epoch(model, eval_fn, state, config, out, ctx,
                   advance=state.position >= len(order))
        _save_checkpoint(out, model, optimizer, scheduler, state, config, ctx)
    bar.close()
    if eval_fn is None and ctx.rank == 0:
        _save_weights(model, out / BEST_FILE)
    _barrier(ctx)
    return _result(state, out, completed=True)


def _finished(state: _State, total: int, n_epochs: int) -> bool:
    return state.stopped_early or state.step >= total or state.epoch >= n_epochs


def _step(net, model, optimizer, scheduler, loss_fn, collate, data, group, config, ctx):
    """One optimizer step over ``group``; returns (loss averaged over ranks, lr used)."""
    loss = _accumulate(net, loss_fn, collate, data, group, config, ctx)
    if config.clip_norm is not None:
        nn.utils.clip_grad_norm_(list(_trainable(model).values()), config.clip_norm)
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return _mean_over_ranks(loss, ctx), lr


def _log(out: Path, state: _State, loss: float, lr: float, ctx: _Dist) -> None:
    if ctx.rank != 0:
        return
    entry = {"step": state.step, "epoch": state.epoch, "loss": loss, "lr": lr}
    logger.info("step %d epoch %d loss %.4f lr %.3g", state.step, state.epoch, loss, lr)
    with open(out / LOG_FILE, "a") as f:
        f.write(json.dumps(entry) + "\n")


def _end_epoch(model, eval_fn, state: _State, config: TrainConfig, out: Path, ctx, *,
               advance: bool = True) -> None:
    """Evaluate, keep the best weights, count bad epochs, move to the next epoch (if advance)."""
    if eval_fn is not None:
        model.eval()
        with torch.no_grad():
            metric = _from_rank0(float(eval_fn(model)), ctx)
        model.train()
        if state.best_metric is None or metric > state.best_metric:
            state.best_metric, state.bad_epochs = metric, 0
            if ctx.rank == 0:
                _save_weights(model, out / BEST_FILE)
        else:
            state.bad_epochs += 1
            state.stopped_early = config.patience is not None and (
                state.bad_epochs >= config.patience)
        logger.info("epoch %d metric %.4f (best %.4f)", state.epoch, metric, state.best_metric)
    if advance:
        state.epoch += 1
        state.position = 0


def _result(state: _State, out: Path, *, completed: bool) -> TrainResult:
    return TrainResult(losses=list(state.losses), steps=state.step, epochs_run=state.epoch,
                       best_metric=state.best_metric, stopped_early=state.stopped_early,
                       out_dir=out, completed=completed)
