"""The training loop: AdamW, linear warmup/decay, gradient accumulation, evaluation, early
stopping and checkpoints (see memgpt.training).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from memgpt.training.checkpoints import (
    _fresh_start,
    _load_checkpoint,
    _save_checkpoint,
    _save_weights,
    _trainable,
    _trim_log,
)
from memgpt.training.config import (
    BEST_FILE,
    CHECKPOINT_DIR,
    LOG_FILE,
    TrainConfig,
    TrainingInterrupted,
    TrainResult,
    _State,
)
from memgpt.training.distributed import (
    _any_rank,
    _autocast,
    _barrier,
    _Dist,
    _from_rank0,
    _mean_over_ranks,
    _setup_distributed,
    _wrap_ddp,
)

logger = logging.getLogger(__name__)


# --- the loop ----------------------------------------------------------------------------------


class _StopSignals:
    """While active (main thread only), SIGINT and SIGTERM only note the signal; the loop stops
    at the next optimizer-step boundary. A second signal raises ``KeyboardInterrupt`` at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: str | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


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
    with _StopSignals() as stop:
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
                signalled = _any_rank(stop.received is not None, ctx)
                if state.step % config.save_every == 0 or interrupted or signalled:
                    _save_checkpoint(out, model, optimizer, scheduler, state, config, ctx)
                if signalled:
                    bar.close()
                    raise TrainingInterrupted(stop.received or "a signal to another rank",
                                              state.step, out / CHECKPOINT_DIR)
                if interrupted:
                    bar.close()
                    return _result(state, out, completed=False)
            # Stopped by max_steps inside an epoch: evaluate, but keep the data position so
            # that a later run with a larger max_steps continues this epoch where it stopped.
            _end_epoch(model, eval_fn, state, config, out, ctx,
                       advance=state.position >= len(order))
            _save_checkpoint(out, model, optimizer, scheduler, state, config, ctx)
            if _any_rank(stop.received is not None, ctx):
                bar.close()
                raise TrainingInterrupted(stop.received or "a signal to another rank",
                                          state.step, out / CHECKPOINT_DIR)
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
