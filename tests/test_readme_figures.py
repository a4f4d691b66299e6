"""Every figure in the README's result tables comes from the committed results files it cites.

A table is cited by a comment on the line just above it::

    <!-- figures: benchmarks/results/backbone.json benchmarks/results/other.json -->

Every number in the table outside its first (label) column must then be either a number of one of
those files, shown at the table's precision (as is, or ×100 for a percentage), or derived from the
table's own numbers: a ratio cell ``1.65×`` is the ratio of two numbers of the table, a signed
delta in brackets ``25.68 (−1.1)`` is the difference of two numbers of its row.
"""

import json
import re
from itertools import permutations
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- figures: (.+?) -->\s*$")
NUMBER = re.compile(r"(?<![\w.\-−])([+\-−]?)(\d[\d,]*(?:\.\d+)?)(%|×)?(?![\w.]\d|\w)")


def cited_tables(text: str) -> list[tuple[int, list[str], list[str]]]:
    """(line number, cited files, table rows) for every marked table."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        rows = []
        for row in lines[i + 1:]:
            if not row.startswith("|"):
                break
            if not re.fullmatch(r"\|[\s:|-]+\|", row.strip()):
                rows.append(row)
        out.append((i + 1, m.group(1).split(), rows))
    return out


def json_numbers(obj) -> list[float]:
    if isinstance(obj, bool):
        return []
    if isinstance(obj, (int, float)):
        return [float(obj)]
    if isinstance(obj, dict):  # numeric keys ("5" examples per label, "1000" entries) count too
        keys = [float(k) for k in obj if re.fullmatch(r"-?\d+(?:\.\d+)?", k)]
        return keys + [x for v in obj.values() for x in json_numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in json_numbers(v)]
    return []


def cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def figures(cell: str) -> list[tuple[float, int, str, bool]]:
    """(value, decimals shown, suffix, in brackets) of each number of a cell, code spans and
    words with digits (int8, Q4_1) left out."""
    cell = re.sub(r"`[^`]*`", "", cell).replace("**", "")
    out = []
    for m in NUMBER.finditer(cell):
        sign, digits, suffix = m.group(1), m.group(2).replace(",", ""), m.group(3) or ""
        value = float(digits) * (-1 if sign in ("-", "−") else 1)
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        bracketed = cell[:m.start()].rstrip().endswith("(")
        out.append((value, decimals, suffix, bracketed))
    return out


def shown(x: float, decimals: int) -> float:
    return round(x + 0.0, decimals)


def matches(value: float, decimals: int, pool: list[float]) -> bool:
    half = 0.5 * 10 ** -decimals + 1e-9
    return any(abs(x - value) <= half or abs(100 * x - value) <= half for x in pool)


def check_table(rows: list[str], pool: list[float]) -> list[str]:
    table = [[figures(c) for c in cells(r)[1:]] for r in rows]
    plain = [v for row in table for cell in row for v, _, s, b in cell if s != "×" and not b]
    bad = []
    for r, row in zip(rows, table):
        firsts = [v for cell in row for v, _, s, b in cell if s != "×" and not b]
        for cell in row:
            before = None
            for value, decimals, suffix, bracketed in cell:
                half = 0.5 * 10 ** -decimals + 1e-9
                if suffix == "×":  # a ratio: as in the files, or of two numbers of the table
                    ok = matches(value, decimals, pool) or any(
                        b and abs(a / b - value) <= half for a, b in permutations(plain, 2))
                elif bracketed and before is not None and suffix != "%":
                    # "25.68 (−1.1)": the number before it minus the row's first number
                    ok = abs(before - firsts[0] - value) <= half
                else:
                    ok = matches(value, decimals, pool)
                if not ok:
                    bad.append(f"{value}{suffix} in {r.strip()[:80]!r}")
                if not bracketed and suffix != "×":
                    before = value
    return bad


def test_the_checker_accepts_true_figures_and_refuses_invented_ones(tmp_path):
    pool = json_numbers({"a": 446.0497, "b": 270.2258, "acc": 0.8, "x": [25.68, 26.76]})
    good = ["| torch | 446 | 80% |", "| llama | 270 | 1.65× |", "| q | 26.76 | 25.68 (−1.1) |"]
    assert check_table(good, pool) == []
    assert check_table(["| torch | 447 |"], pool) == ["447.0 in '| torch | 447 |'"]
    assert check_table(["| r | 2.00× |"], pool)  # no two numbers of the table give it
    assert check_table(["| q | 26.76 | 25.68 (−2.1) |"], pool)
    assert figures("int8 `--limit 50` Q4_1 **21.82 (0.80×)**") == [
        (21.82, 2, "", False), (0.8, 2, "×", True)]


def test_the_readme_cites_its_tables():
    assert len(cited_tables(README.read_text())) >= 5


@pytest.mark.parametrize("line,files,rows", cited_tables(README.read_text()),
                         ids=lambda x: str(x) if isinstance(x, int) else None)
def test_readme_table_matches_the_files_it_cites(line, files, rows):
    pool = []
    for f in files:
        path = ROOT / f
        assert path.is_file(), f"README line {line} cites {f}, which is not in the repository"
        pool += json_numbers(json.loads(path.read_text()))
    assert rows, f"README line {line}: no table under the marker"
    assert check_table(rows, pool) == []
