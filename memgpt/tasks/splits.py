"""Deterministic splits: a record's split key (its group: an English sentence, a BBC article and
its duplicates, a deduplicated text) is hashed with a fixed salt into [0, 1) and compared with
the valid/test fractions, so a group never straddles two splits; and the deduplication of
labelled texts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from memgpt.fetch import fetch_package_file, member_digest  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
SPLIT_SALT = "memgpt-data-v1"


def _unit(key: str, salt: str = SPLIT_SALT) -> float:
    """sha256(salt, key) mapped to [0, 1)."""
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(key: str, *, valid: float, test: float, salt: str = SPLIT_SALT) -> str:
    """``"test"``, ``"valid"`` or ``"train"`` for a split key, fixed forever by its hash."""
    u = _unit(key, salt)
    return "test" if u < test else "valid" if u < test + valid else "train"


def split_records(records: list[dict], key: Callable[[dict], str], *, valid: float,
                  test: float) -> dict[str, list[dict]]:
    """Group-aware split: records with the same ``key(record)`` always share a split."""
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for r in records:
        out[split_of(key(r), valid=valid, test=test)].append(r)
    return out


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _dedupe(records: list[dict], name: str) -> list[dict]:
    """One record per normalised text; texts whose copies disagree on the label are dropped."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(_norm(r["text"]), []).append(r)
    out = [g[0] for g in groups.values() if len({r["label"] for r in g}) == 1]
    conflicts = sum(1 for g in groups.values() if len({r["label"] for r in g}) > 1)
    log.info("%s: %d rows -> %d unique texts (%d texts dropped: copies disagree on the label)",
             name, len(records), len(out), conflicts)
    return out
