"""Shared fixtures: the tiny preset, a seeded tiny model, the test tokenizer, a saved checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from memgpt.config import ModelConfig, get_preset
from memgpt.tokenizer import Tokenizer, build_test_tokenizer


@pytest.fixture
def tiny_config() -> ModelConfig:
    return get_preset("tiny")


@pytest.fixture
def tiny_model(tiny_config):
    """A ``MemGPT`` on the tiny preset, seeded (``torch.manual_seed(0)``), in eval mode."""
    from memgpt.model import MemGPT

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return MemGPT(tiny_config).eval()


@pytest.fixture
def tiny_tokenizer() -> Tokenizer:
    return build_test_tokenizer()


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_model, tiny_tokenizer) -> Path:
    """A saved checkpoint folder of ``tiny_model`` + ``tiny_tokenizer``."""
    from memgpt.checkpoint import save_checkpoint

    return save_checkpoint(tiny_model, tiny_tokenizer, tmp_path / "tiny-ckpt")


@pytest.fixture(scope="session")
def tiny_weights_dir(tmp_path_factory) -> str:
    """A saved tiny seeded checkpoint folder (as a string path), shared by the CLI tests."""
    from memgpt.checkpoint import save_checkpoint
    from memgpt.model import MemGPT

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = MemGPT(get_preset("tiny")).eval()
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(model, build_test_tokenizer(), path)
    return str(path)


def _make_task_folder(tmp_path, model, task: str, *, adapter: bool = True):
    """A task folder on ``model`` with non-zero random adapter + head weights."""
    from memgpt.checkpoint import backbone_hash
    from memgpt.tasks.adapters import (
        AdapterSpec,
        adapter_parameters,
        add_adapters,
        remove_adapters,
    )
    from memgpt.tasks.artifacts import TaskSpec, save_task
    from memgpt.tasks.heads import TaskModel, build_head
    from memgpt.tasks.recipes import default_spec

    remove_adapters(model)
    d = model.config.d_model
    lora = AdapterSpec(rank=4, alpha=8, targets=("q_proj", "v_proj", "down_proj")) \
        if adapter else None
    spec = default_spec(task, d_model=d, labels=("neg", "pos", "meh"), adapter=lora)
    spec = TaskSpec(**{**spec.__dict__, "backbone_hash": backbone_hash(model)})
    torch.manual_seed(1)
    if lora is not None:
        add_adapters(model, lora)
        with torch.no_grad():
            for p in adapter_parameters(model):
                p.normal_(0, 0.05)
    tm = TaskModel(model, spec.head, build_head(spec.head)).eval()
    return save_task(tmp_path / f"{task}-folder", spec, tm)


@pytest.fixture(scope="session")
def make_task_folder():
    """``make(tmp_path, model, task, adapter=True)`` -> a saved task folder on ``model`` with
    non-zero random adapter and head weights (as after training)."""
    return _make_task_folder
