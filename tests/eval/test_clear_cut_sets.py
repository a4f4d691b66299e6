"""benchmarks/data/clear-cut-sentiment.jsonl and sms-style-spam.jsonl keep their invariants."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
SETS = {"clear-cut-sentiment.jsonl": ("cc", {"positive": 120, "negative": 120}),
        "sms-style-spam.jsonl": ("sms", {"spam": 100, "ham": 100})}


@pytest.mark.parametrize("name", sorted(SETS))
def test_labels_ids_and_no_duplicates(name):
    prefix, counts = SETS[name]
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    recs = [json.loads(line) for line in lines]
    assert all(set(r) == {"id", "text", "label"} and r["text"].strip() == r["text"] != ""
               for r in recs)
    assert [r["id"] for r in recs] == [f"{prefix}-{i:03d}" for i in range(1, len(recs) + 1)]
    assert dict(Counter(r["label"] for r in recs)) == counts
    norm = [re.sub(r"[^\w\s]", "", r["text"].casefold()).split() for r in recs]
    assert len({" ".join(n) for n in norm}) == len(recs)
    # mixed order: no long run of one label
    run = longest = 1
    for a, b in zip(recs, recs[1:]):
        run = run + 1 if a["label"] == b["label"] else 1
        longest = max(longest, run)
    assert longest <= 6
    # short items are a real share (the short-message case the shipped heads missed)
    assert sum(len(n) < 10 for n in norm) >= len(recs) // 5


def test_the_readme_example_is_not_in_the_set():
    text = (DATA / "sms-style-spam.jsonl").read_text(encoding="utf-8")
    assert "WINNER! Claim your prize now" not in text
