"""Data-parallel training under torchrun: the process group, DistributedDataParallel, and
values averaged over or taken from the ranks. With one process every helper is a no-op.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from memgpt.training.config import TrainConfig

logger = logging.getLogger(__name__)


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


def _any_rank(flag: bool, ctx: _Dist) -> bool:
    """True on every rank when ``flag`` is true on any (all ranks call it)."""
    if ctx.world == 1:
        return flag
    t = torch.tensor([int(flag)], device=ctx.comm)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


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


def _autocast(config: TrainConfig, ctx: _Dist):
    # CPUs with bf16 instructions (AVX512-BF16, AMX) run the upper blocks ~1.6x faster
    on = config.bf16 and ctx.device.type in ("cuda", "cpu")
    return torch.autocast(device_type=ctx.device.type, dtype=torch.bfloat16) if on else (
        contextlib.nullcontext())
