"""Exports kept in the cache: ``<cache>/exports/<task folder name>-<precision>/`` (torch-free).

``memgpt-task export`` writes there when no ``-o`` is given; the task commands' ``--runtime
auto`` (the default) use such an export when its recorded source hash matches the task folder
now (a retrained adapter makes the old export stale, and torch is used again).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from memgpt.export import specs
from memgpt.paths import cache_dir
from memgpt.tasks.registry import CHAT_TASK, resolve_task, task_folder_hash

PREFERENCE = ("int8w", "fp32", "int8", "int4", "fp16")  # the default export first


def export_dir(task: str | os.PathLike, precision: str) -> Path:
    """The cache folder for the export of ``task`` (a name or a task folder) at ``precision``."""
    if str(task) == CHAT_TASK:
        return cache_dir() / "exports" / f"{CHAT_TASK}-{precision}"
    return cache_dir() / "exports" / f"{resolve_task(task).resolve().name}-{precision}"


def _cached(task: str | os.PathLike, precision: str | None):
    """(folder, settings) of each cached export of ``task``, best precision first."""
    for p in ([precision] if precision else PREFERENCE):
        d = export_dir(task, p)
        try:
            yield d, json.loads((d / specs.SETTINGS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue


def find_chat_export(weights: str, precision: str | None = None) -> Path | None:
    """A cached ``chat`` export (the plain backbone) made from ``weights`` by this exporter
    revision, or None."""
    for d, s in _cached(CHAT_TASK, precision):
        src = s.get("source") or {}
        if s.get("task") == CHAT_TASK and src.get("weights") == str(weights) and \
                src.get("exporter_revision") == specs.EXPORTER_REVISION:
            return d
    return None


def find_export(task: str | os.PathLike, precision: str | None = None) -> Path | None:
    """A cached, up-to-date export of ``task`` (best precision first), or None: made from the
    task folder as it is now, by this exporter revision."""
    folder = resolve_task(task)
    want = None
    for d, s in _cached(folder, precision):
        if want is None:
            want = task_folder_hash(folder)
        src = s.get("source") or {}
        if src.get("task_hash") == want and src.get("exporter_revision") == \
                specs.EXPORTER_REVISION:
            return d
    return None
