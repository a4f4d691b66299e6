"""Shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import subprocess


def git_revision() -> str:
    """The short revision of the checkout, or "" outside git."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=False).stdout.strip()
    except OSError:
        return ""
