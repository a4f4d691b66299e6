"""Cache locations and file hashing (torch-free: the ONNX runtime path uses them)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """``$MEMGPT_CACHE``, else ``$XDG_CACHE_HOME/memgpt``, else ``~/.cache/memgpt``."""
    if os.environ.get("MEMGPT_CACHE"):
        return Path(os.environ["MEMGPT_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "memgpt"
    return Path.home() / ".cache" / "memgpt"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()
