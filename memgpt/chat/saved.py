"""Saved conversations: JSON {"format": "memgpt-chat", "version", "turns", ...} written
atomically, and read back with one-line errors for anything that is not one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

CHAT_FORMAT, CHAT_VERSION = "memgpt-chat", 1
ROLES = ("user", "assistant")


def conversation_dict(turns: Sequence[dict], system: str | None, window: int | None) -> dict:
    return {"format": CHAT_FORMAT, "version": CHAT_VERSION, "system": system,
            "window": window, "turns": [{"role": t["role"], "content": t["content"]}
                                        for t in turns]}


def check_save_path(path: str | os.PathLike) -> Path:
    """``path`` as a file a conversation can be saved to: not a folder, in a folder that
    exists (no folders are created)."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{path} is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise ValueError(f"cannot save to {path}: no such folder {parent}")
    if not parent.is_dir():
        raise ValueError(f"cannot save to {path}: {parent} is not a folder")
    if p.exists() and not p.is_file():
        raise ValueError(f"cannot save to {path}: not a regular file")
    return p


def save_conversation(path: str | os.PathLike, turns: Sequence[dict], system: str | None,
                      window: int | None) -> None:
    """Write a conversation as JSON, atomically (an existing file is replaced whole or kept)."""
    from memgpt.paths import atomic_write_text

    p = check_save_path(path)
    atomic_write_text(p, json.dumps(conversation_dict(turns, system, window), indent=2,
                                    ensure_ascii=False) + "\n")


def load_conversation(path: str | os.PathLike) -> dict:
    """A saved conversation: ``{"system", "window", "turns"}``; one-line errors for a file that is
    missing, not JSON, not a memgpt chat file, of a newer version, or with malformed turns."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if not p.is_file():
        raise ValueError(f"{path} is not a regular file")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a saved conversation (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not a saved conversation (not JSON: {e.msg} at line "
                         f"{e.lineno})") from None
    if not isinstance(d, dict) or d.get("format") != CHAT_FORMAT:
        raise ValueError(f"{path} is not a memgpt chat file (no \"format\": \"{CHAT_FORMAT}\"); "
                         "save one with /save FILE")
    if d.get("version") != CHAT_VERSION:
        raise ValueError(f"{path}: unsupported chat file version {d.get('version')!r} (this "
                         f"memgpt reads {CHAT_VERSION})")
    turns = d.get("turns")
    if not isinstance(turns, list):
        raise ValueError(f"{path}: \"turns\" must be a list")
    for i, t in enumerate(turns):
        if not isinstance(t, dict) or t.get("role") not in ROLES or \
                not isinstance(t.get("content"), str):
            raise ValueError(f"{path}: turn {i} must be {{\"role\": \"user\"|\"assistant\", "
                             "\"content\": string}")
        if t["role"] != ROLES[i % 2]:
            raise ValueError(f"{path}: turn {i} should be a {ROLES[i % 2]} turn (turns alternate, "
                             "user first)")
    if len(turns) % 2:
        raise ValueError(f"{path}: the last turn has no reply (a saved conversation holds whole "
                         "exchanges)")
    system = d.get("system")
    if system is not None and not isinstance(system, str):
        raise ValueError(f"{path}: \"system\" must be a string or null")
    window = d.get("window")
    if window is not None and (not isinstance(window, int) or isinstance(window, bool)
                               or window < 16):
        raise ValueError(f"{path}: \"window\" must be an integer >= 16 or null")
    return {"system": system, "window": window, "turns": turns}
