"""Readers for user data files: .jsonl, .csv or .tsv records with a task's field names
(memgpt.tasks.registry). Every problem is a :class:`DataError` whose message is one line,
path:LINE: reason.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from memgpt.fetch import fetch_package_file, member_digest  # noqa: F401 (re-exported)
from memgpt.tasks.registry import task_def

log = logging.getLogger(__name__)


class DataError(ValueError):
    """A problem in a data file; the message is one line, ``path:LINE: reason``."""


# A task's record fields are its TaskDef's: inputs (required), target (needed when training).


def _short(value: Any) -> str:
    s = repr(value)  # repr keeps the message on one line
    return s if len(s) <= 60 else s[:57] + "..."


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _decode(raw: bytes, path: Path) -> str:
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[e.start]:02x}); "
                        "save the file as UTF-8") from None


def _jsonl_rows(text: str, path: Path) -> Iterator[tuple[int, dict]]:
    lines = text.split("\n")
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{i}: invalid JSON ({e.msg} at column {e.colno})") from None
        except (ValueError, RecursionError) as e:  # an integer of > 4300 digits, deep nesting
            raise DataError(f"{path}:{i}: unreadable JSON ({_first_line(e)})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{i}: expected a JSON object, got {type(obj).__name__}")
        yield i, obj
    blank = sum(1 for line in lines[:-1] if not line.strip())
    if blank:
        log.info("%s: skipped %d blank lines", path, blank)


def _table_rows(text: str, path: Path, task: str) -> Iterator[tuple[int, dict]]:
    tsv = path.suffix.lower() == ".tsv"  # TSV: no quoting, a '"' is an ordinary character
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if tsv else ",",
                        quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
    header, blank, prev = None, 0, 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise DataError(f"{path}:{reader.line_num}: {e}") from None
        start, prev = prev + 1, reader.line_num
        if header is None:
            header = [h.strip() for h in row]
            inputs = task_def(task).inputs
            missing = [f for f in inputs if f not in header]
            if missing or "" in header or len(set(header)) != len(header):
                raise DataError(f"{path}:1: the header row must name distinct columns including "
                                f"{', '.join(inputs)} (found {_short(row)})")
        elif not any(c.strip() for c in row):
            blank += 1
        elif len(row) != len(header):
            raise DataError(f"{path}:{start}: expected {len(header)} columns like the header, "
                            f"got {len(row)}")
        else:
            yield start, dict(zip(header, row))
    if blank:
        log.info("%s: skipped %d blank lines", path, blank)


def _answers(rec: dict, where: str) -> list[dict]:
    """``answers`` ([{text, start}], a JSON string in CSV) or ``answer`` (+``answer_start``)."""
    ctx = rec["context"]
    if "answers" in rec and "answer" in rec:
        raise DataError(f"{where}: give 'answers' or 'answer', not both")
    if "answer" in rec:
        ans = [{"text": rec.pop("answer"), "start": rec.pop("answer_start", None)}]
    else:
        ans = rec.pop("answers", [])
    if isinstance(ans, str):
        try:
            ans = json.loads(ans)
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
            raise DataError(f"{where}: 'answers' is not valid JSON") from None
    if not isinstance(ans, list):
        raise DataError(f"{where}: 'answers' must be a list of {{text, start}} objects")
    out = []
    for a in ans:
        text = a.get("text") if isinstance(a, dict) else None
        if not isinstance(text, str) or not text:
            raise DataError(f"{where}: each answer needs a non-empty string 'text'")
        start = a.get("start", a.get("answer_start"))
        if start is None or start == "":
            start = ctx.find(text)
            if start < 0:
                raise DataError(f"{where}: answer {_short(text)} does not occur in the context")
        try:
            start = int(start)
        except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON 1e999
            raise DataError(f"{where}: answer start {_short(start)} is not an integer") from None
        if start < 0 or ctx[start:start + len(text)] != text:
            raise DataError(f"{where}: answer {_short(text)} is not at character {start} of "
                            "the context")
        out.append({"text": text, "start": start})
    return out


def _record(row: dict, task: str, need_targets: bool, where: str) -> dict:
    rec = {k: v for k, v in row.items() if v is not None and v != ""}  # empty = absent
    d = task_def(task)
    inputs, target = d.inputs, d.target
    for f in inputs:
        if not isinstance(rec.get(f), str) or not rec[f].strip():
            raise DataError(f"{where}: {f!r} is missing, empty or not a string")
    if task == "qa":
        rec["answers"] = _answers(rec, where)
        if not rec["answers"]:
            del rec["answers"]
    elif target in rec:
        value = rec[target]
        if task == "classify" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{where}: {target!r} must be a non-empty string, "
                            f"not {_short(value)}")
        rec[target] = value.strip() if task == "classify" else value
    if need_targets and target not in rec:
        raise DataError(f"{where}: {target!r} is missing (needed for training/evaluation)")
    return rec


def read_records(path: str | Path, *, task: str, need_targets: bool = False) -> list[dict]:
    """Records of a user file: ``.jsonl`` (an object a line), ``.csv`` or ``.tsv`` (header row).

    Fields are the task's ``TaskDef.inputs`` and ``target``: translate ``text`` (+``translation``),
    classify ``text`` (+``label``), summarize ``text`` (+``summary``), qa ``context`` and
    ``question`` (+``answers`` [{text, start}] or a plain ``answer`` string, converted to its
    first occurrence in the context). Empty cells and JSON nulls count as absent. Records
    without ``id`` get ``FILENAME:LINE``; other fields are kept.

    Args:
        path: the file.
        task: a ``memgpt.tasks.registry.TASK_DEFS`` key.
        need_targets: require the task's target field on every record (fine-tuning).

    Raises:
        DataError: one line, ``path:LINE: reason`` (lines are 1-based; a CSV header is line 1).
    """
    task_def(task)  # an unknown task is a ValueError naming the tasks
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv", ".tsv"):
        raise DataError(f"{path}:1: unsupported file type {suffix or '(none)'!r}; "
                        "use .jsonl, .csv or .tsv")
    try:
        text = _decode(path.read_bytes(), path)
    except OSError as e:
        raise DataError(f"{path}:1: cannot read the file ({e.strerror})") from None
    if not text.strip():
        raise DataError(f"{path}:1: the file is empty")
    rows = _jsonl_rows(text, path) if suffix == ".jsonl" else _table_rows(text, path, task)
    records, first_line = [], {}
    for line, row in rows:
        rec = _record(row, task, need_targets, f"{path}:{line}")
        rec["id"] = str(rec.get("id", f"{path.name}:{line}"))
        if rec["id"] in first_line:
            raise DataError(f"{path}:{line}: duplicate id {_short(rec['id'])} "
                            f"(first on line {first_line[rec['id']]})")
        first_line[rec["id"]] = line
        records.append(rec)
    if not records:
        raise DataError(f"{path}:1: no records (only a header or blank lines)")
    return records
