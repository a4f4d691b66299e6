"""Exact, pickle-free resume checkpoints: trainable weights, optimizer and scheduler state and
every rank's RNG states as safetensors + JSON, replaced atomically; the training log.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn

from memgpt.paths import atomic_dir, atomic_path, atomic_write_text
from memgpt.training.config import (
    BEST_FILE,
    CHECKPOINT_DIR,
    LOG_FILE,
    RESUMABLE_CHANGES,
    TrainConfig,
    _State,
)
from memgpt.training.distributed import _barrier, _Dist

logger = logging.getLogger(__name__)


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
    """Drop log lines an interrupted run wrote after its last checkpoint (and a line a crash
    cut short)."""
    path = out / LOG_FILE
    if path.exists():
        lines = []
        for ln in path.read_text().splitlines():
            try:
                if json.loads(ln)["step"] <= step:
                    lines.append(ln)
            except (ValueError, KeyError, TypeError):
                continue
        atomic_write_text(path, "".join(ln + "\n" for ln in lines))
