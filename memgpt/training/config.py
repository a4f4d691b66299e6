"""What a training run is told and what it reports: TrainConfig, TrainResult, the run's
state (step, epoch, data position, best metric) and the names of the files in its folder.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        bf16: bfloat16 autocast (CUDA, or a CPU: fast where it has bf16 instructions).
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


class TrainingInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped ``train`` at an optimizer-step boundary, after it wrote the
    checkpoint: calling ``train`` again with the same arguments resumes (the CLI prints this
    message as its one ``error:`` line and exits 1)."""

    def __init__(self, signal_name: str, step: int, checkpoint: Path) -> None:
        super().__init__(f"interrupted by {signal_name} after step {step}; checkpoint saved in "
                         f"{checkpoint}: run the same command again to resume")
        self.signal_name, self.step, self.checkpoint = signal_name, step, checkpoint


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
