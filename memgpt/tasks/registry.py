"""Where task folders are: the shipped defaults and name resolution (torch-free)."""

from __future__ import annotations

import os
from pathlib import Path

from memgpt.paths import sha256_file

DEFAULTS_DIR = Path(__file__).parent / "defaults"
# Shipped default artifacts, by name: the CLI's default for each task and label set.
DEFAULTS: dict[str, str] = {
    "summarize": "summarize",
    "translate": "translate-en-es",
    "classify:sentiment": "classify-sentiment",
    "classify:topic": "classify-topic",
    "classify:spam": "classify-spam",
    "qa": "qa",
}


def resolve_task(name_or_path: str | os.PathLike) -> Path:
    """A task folder: a path, or the name of a shipped default (``DEFAULTS``)."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    name = DEFAULTS.get(str(name_or_path), str(name_or_path))
    shipped = DEFAULTS_DIR / name
    if "/" not in name and (shipped / "task.json").is_file():
        return shipped
    if path.exists():
        raise ValueError(f"{path}: not a task folder (expected a folder with task.json)")
    raise FileNotFoundError(f"no task folder or shipped default named {str(name_or_path)!r} "
                            f"(shipped: {', '.join(sorted(set(DEFAULTS.values())))})")


def task_folder_hash(folder: str | os.PathLike) -> str:
    """sha256 over a task folder's files (names + contents): tells whether an export is stale."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(Path(folder).iterdir()):
        if p.is_file():
            h.update(p.name.encode() + b"\0" + sha256_file(p).encode() + b"\n")
    return h.hexdigest()
