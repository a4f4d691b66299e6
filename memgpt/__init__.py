"""memgpt: an offline NLP suite on a memory-augmented GPT backbone.

Quick start::

    import memgpt, torch
    model = memgpt.load("smollm2-135m")          # torch.nn.Module, eval mode, CPU
    tok = memgpt.load_tokenizer("smollm2-135m")
    out = model(torch.tensor([tok.encode("Hello")]))   # out.logits [batch, tokens, vocab]
    text = memgpt.generate(model, tok, "Hello", max_new_tokens=20)

Names are resolved lazily so that torch-free parts (the tokenizer, the decoding loop, the ONNX
runtime) can be imported without torch installed.
"""

from __future__ import annotations

import importlib
from typing import Any

from memgpt.threads import quiet_openmp_env

# Idle OpenMP threads sleep instead of spinning: read once when torch is imported, so it is set
# here, before any memgpt module imports torch (see memgpt/threads.py).
quiet_openmp_env()
del quiet_openmp_env

__version__ = "0.1.0"

_LAZY = {
    "load": ("memgpt.checkpoint", "load_model"),
    "load_tokenizer": ("memgpt.checkpoint", "load_tokenizer"),
    "save_checkpoint": ("memgpt.checkpoint", "save_checkpoint"),
    "generate": ("memgpt.generate", "generate"),
    "generate_batch": ("memgpt.generate", "generate_batch"),
    "GenerationConfig": ("memgpt.decoding", "GenerationConfig"),
    "MemGPT": ("memgpt.model", "MemGPT"),
    "MemoryState": ("memgpt.model", "MemoryState"),
    "ModelConfig": ("memgpt.config", "ModelConfig"),
    "MemoryConfig": ("memgpt.config", "MemoryConfig"),
    "MemoryBank": ("memgpt.memory", "MemoryBank"),
    "Tokenizer": ("memgpt.tokenizer", "Tokenizer"),
}

__all__ = sorted(_LAZY)  # noqa: PLE0605


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'memgpt' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
