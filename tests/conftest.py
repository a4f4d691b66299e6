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
