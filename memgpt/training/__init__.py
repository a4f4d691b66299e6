"""Training components: a plain training loop with exact resume (docs/architecture.md#tasks).

``train`` optimises the parameters that require grad (adapters + head, or everything) with AdamW
and a linear warmup/decay schedule, accumulating gradients over micro-batches.

Resume is exact: every ``save_every`` optimizer steps and at each epoch end, ``out_dir/checkpoint/``
is replaced atomically (written to a temporary folder, then renamed) with the trainable weights,
the optimizer and scheduler state, every rank's RNG states and the data position. Tensors go to
safetensors and everything else to JSON — no pickle, so a checkpoint is safe to load from anyone.
The data order of an epoch is a function of ``(seed, epoch)`` alone, so "position i of epoch e"
names the same examples after a restart.

SIGINT and SIGTERM (main thread) do not stop a step half-way: the step in progress finishes, the
checkpoint is written and ``train`` raises ``TrainingInterrupted``; a second signal stops at once
(``KeyboardInterrupt``; the last checkpoint is intact). Calling ``train`` again resumes.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in ``DistributedDataParallel``, each
rank takes every ``world``-th example of the epoch's permutation, and only rank 0 writes files.

Files in ``out_dir``: ``checkpoint/`` (weights.safetensors, optimizer.safetensors,
rng.safetensors, state.json), ``best.safetensors`` (trainable weights at the best eval metric, or
the last weights when there is no ``eval_fn``), ``train_log.jsonl`` (step, epoch, loss, lr).

The package: ``config`` (TrainConfig, TrainResult, run state), ``distributed`` (torchrun),
``checkpoints`` (resume files) and ``loop`` (``train``). Task recipes (``memgpt.tasks.recipes``,
``memgpt.tasks.upper``) and pretraining (``memgpt.pretrain``) build on it.
"""

from memgpt.training.config import TrainConfig, TrainingInterrupted, TrainResult
from memgpt.training.distributed import is_main_process
from memgpt.training.loop import train

__all__ = ["TrainConfig", "TrainResult", "TrainingInterrupted", "is_main_process", "train"]
