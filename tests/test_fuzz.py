"""Property-based tests (issue 14, fuzzing) with hypothesis: tokenizer round trips, QA span
decoding and offsets, the user data readers, the CLI's argument handling, and a short fuzz of the
loaders (safetensors, bank, passage index, export manifest/settings).

Deterministic (``derandomize=True``, no example database) and small, so the fast suite stays fast.
Every property states what must hold for *every* input: an exact value, or one of the one-line
error types (never a traceback, never another exception type).
"""

from __future__ import annotations

import json
import shutil
import string
import types
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memgpt.tokenizer import TEST_SPECIALS, build_test_tokenizer

FAST = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ONE_LINE_ERRORS = (ValueError, OSError)


def fast(n: int) -> settings:
    return settings(FAST, max_examples=n)


TOK = build_test_tokenizer()


def one_line(exc: BaseException) -> None:
    assert isinstance(exc, ONE_LINE_ERRORS), repr(exc)
    msg = str(exc)
    assert msg and "\n" not in msg, msg


# ------------------------------------------------------------------ tokenizer round trips
# st.text() never yields lone surrogates (not encodable as UTF-8, refused by tokenizers).
TEXT = st.text(max_size=200)
WITH_SPECIALS = st.lists(st.one_of(st.text(max_size=30), st.sampled_from(TEST_SPECIALS)),
                         max_size=8).map("".join)


@fast(200)
@given(TEXT)
def test_tokenizer_round_trips_any_text(text):
    """Byte-level BPE: any unicode text comes back exactly; offsets lie inside the text."""
    ids = TOK.encode(text)
    assert TOK.decode(ids, skip_special=False) == text
    if not any(s in text for s in TEST_SPECIALS):
        assert TOK.decode(ids) == text  # the default drops special tokens, nothing else
    ids2, offsets = TOK.encode_with_offsets(text)
    assert ids2 == ids and len(offsets) == len(ids)
    assert all(0 <= a <= b <= len(text) for a, b in offsets), offsets
    assert TOK.encode_batch([text, text]) == [ids, ids]


@fast(100)
@given(WITH_SPECIALS)
def test_special_token_strings_encode_as_one_id_and_only_they_are_dropped(text):
    """The documented exception: a special-token string in the text is its single id, and
    ``decode`` (skip_special=True) drops it; skip_special=False gives the text back."""
    ids = TOK.encode(text)
    assert TOK.decode(ids, skip_special=False) == text
    dropped = text
    for s in TEST_SPECIALS:
        dropped = dropped.replace(s, "")
    specials = TOK.special_ids
    assert TOK.decode([i for i in ids if i not in specials]) == TOK.decode(ids)
    if dropped == text:
        assert not specials & set(ids)


# ------------------------------------------------------------------ QA spans and offsets
QA_SPEC = types.SimpleNamespace(template="Question: {question}\nContext:", chat=False,
                                max_input_tokens=48)
WORD = st.text(alphabet=string.ascii_letters + string.digits + "éßж", min_size=1, max_size=6)
SEP = st.sampled_from([" ", "  ", ", ", ". ", "\n", " (", ") ", "-", " 🙂 ", "\t"])
WORDY = st.lists(st.tuples(WORD, SEP), min_size=1, max_size=60).map(
    lambda parts: "".join(w + s for w, s in parts))


def _decode_span(context: str, question: str, seed: int, max_answer_tokens: int,
                 stride: int):
    from memgpt.tasks.text import char_span, pick_span, qa_windows

    wins, offsets = qa_windows(QA_SPEC, TOK, question, context, stride=stride)
    rng = np.random.default_rng(seed)
    best = None
    for i in range(0, len(wins), 3):  # batches of 3 windows, right-padded as the pipelines do
        group = wins[i:i + 3]
        width = max(len(w.ids) for w in group)
        start = rng.normal(0, 3, (len(group), width)).astype(np.float32)
        end = rng.normal(0, 3, (len(group), width)).astype(np.float32)
        best = pick_span(best, group, start, end, max_answer_tokens)
    prob, t0, t1 = best
    s, e = char_span(context, offsets, t0, t1)
    return wins, offsets, prob, t0, t1, s, e


def _has_whole_word_span(w, max_answer_tokens: int) -> bool:
    return any(w.starts[i] and w.ends[j] for i in range(len(w.starts))
               for j in range(i, min(i + max_answer_tokens, len(w.ends))))


def _whole_word(context: str, s: int, e: int) -> bool:
    left = s == 0 or not (context[s - 1].isalnum() and context[s].isalnum())
    right = e == len(context) or not (context[e - 1].isalnum() and context[e].isalnum())
    return left and right


@fast(150)
@given(context=WORDY, question=st.text(min_size=1, max_size=20).filter(str.strip),
       seed=st.integers(0, 2**32 - 1), max_answer_tokens=st.integers(6, 30),
       stride=st.integers(0, 64))
def test_decoded_span_is_an_exact_whole_word_slice(context, question, seed, max_answer_tokens,
                                                   stride):
    """Whatever the logits: the answer is ``context[start:end]``, inside the context, made of
    whole words, non-empty, without outer whitespace, at most ``max_answer_tokens`` tokens."""
    if len(TOK.encode(QA_SPEC.template.format(question=question))) > QA_SPEC.max_input_tokens - 16:
        return  # a too-long question is refused (tested below)
    if not context.strip():
        return
    wins, offsets, prob, t0, t1, s, e = _decode_span(context, question, seed,
                                                     max_answer_tokens, stride)
    assert 0 <= t0 <= t1 < len(offsets)
    assert t1 - t0 < max_answer_tokens
    assert 0 <= s < e <= len(context), (s, e)
    answer = context[s:e]
    assert answer == answer.strip() and answer
    assert 0.0 <= prob <= 1.0
    # Whole words, except (documented fallback) from a window with no whole-word span at all,
    # such as the short last window cut inside a word.
    if not _whole_word(context, s, e):
        inside = [w for w in wins if w.a <= t0 and t1 < w.b]
        assert any(not _has_whole_word_span(w, max_answer_tokens) for w in inside), \
            (context, answer)
    # The windows cover every context token, consecutive ones overlapping by the same stride.
    assert wins[0].a == 0 and wins[-1].b == len(offsets)


@fast(150)
@given(context=st.text(min_size=1, max_size=300), seed=st.integers(0, 2**32 - 1),
       max_answer_tokens=st.integers(1, 30))
def test_decoded_span_of_any_text_is_an_exact_slice(context, seed, max_answer_tokens):
    """Arbitrary unicode (emoji split over byte tokens, lone punctuation, whitespace runs): the
    span is still an exact slice of the context inside its bounds."""
    from memgpt.tasks.text import word_bounds

    if not context.strip():
        with pytest.raises(ValueError, match="context is empty"):
            _decode_span(context, "Who?", seed, max_answer_tokens, 8)
        return
    _, offsets, _, t0, t1, s, e = _decode_span(context, "Who?", seed, max_answer_tokens, 8)
    assert 0 <= t0 <= t1 < len(offsets) and 0 <= s <= e <= len(context)
    assert offsets[t0][0] <= s and e <= offsets[t1][1]
    assert context[s:e] == context[s:e].strip()
    starts, ends = word_bounds(context, offsets)
    assert starts.shape == ends.shape == (len(offsets),)
    for i, (a, b) in enumerate(offsets):  # a whitespace-only token can neither start nor end
        if not context[a:b].strip():
            assert not starts[i] and not ends[i]


def test_a_question_too_long_for_the_input_is_a_one_line_error():
    from memgpt.tasks.text import qa_windows

    with pytest.raises(ValueError, match="question is too long") as excinfo:
        qa_windows(QA_SPEC, TOK, "why " * 40, "Some context.")
    one_line(excinfo.value)


# ------------------------------------------------------------------ user data readers
@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


NASTY = st.sampled_from([b"\x00", b"\xff", b"\xef\xbb\xbf", b"\r\n", b"\n", b'"', b",", b"\t",
                         b"{", b"}", b"[", b"]", b"\\", b"\xc3", b"\xed\xa0\x80", b"1e999",
                         b"9" * 5000, b"[" * 3000, b"a" * 140_000, b"null", b'"text"',
                         b'"answers"', b'"start"', b":", b"\xf0\x9f\x99\x82"])
JSON_ISH = st.lists(st.one_of(NASTY, st.binary(max_size=20)), max_size=12).map(b"".join)
FIELD = st.sampled_from(["text", "label", "summary", "translation", "context", "question",
                         "answers", "answer", "answer_start", "id", "start"])
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(FIELD | st.text(max_size=5), kids,
                                                              max_size=4),
    max_leaves=12)
RECORD = st.dictionaries(FIELD, JSON_VALUE, max_size=6)


def _read(path: Path, task: str, need: bool):
    from memgpt.tasks.readers import DataError, read_records

    try:
        records = read_records(path, task=task, need_targets=need)
    except DataError as e:
        one_line(e)
        assert str(e).startswith(f"{path}:"), str(e)
        return None
    assert isinstance(records, list) and records
    assert all(isinstance(r, dict) and isinstance(r["id"], str) for r in records)
    ids = [r["id"] for r in records]
    assert len(set(ids)) == len(ids)
    return records


TASKS = st.sampled_from(["classify", "translate", "summarize", "qa"])


@fast(200)
@given(data=JSON_ISH, suffix=st.sampled_from([".jsonl", ".csv", ".tsv"]), task=TASKS,
       need=st.booleans())
def test_readers_on_random_bytes_return_records_or_a_data_error(scratch, data, suffix, task,
                                                                need):
    path = scratch / f"random{suffix}"
    header = {"qa": b"context,question,answers\n", "classify": b"text,label\n"}.get(
        task, b"text\n") if suffix != ".jsonl" else b""
    path.write_bytes(header.replace(b",", b"\t") if suffix == ".tsv" else header)
    with path.open("ab") as f:
        f.write(data)
    _read(path, task, need)


@fast(100)
@given(rows=st.lists(RECORD, min_size=1, max_size=4), task=TASKS, need=st.booleans(),
       junk=st.one_of(st.none(), NASTY))
def test_readers_on_random_records_return_valid_records_or_a_data_error(scratch, rows, task,
                                                                        need, junk):
    lines = [json.dumps(r, allow_nan=True).encode() for r in rows]
    if junk is not None:
        lines.insert(len(lines) // 2, junk)
    path = scratch / "records.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    records = _read(path, task, need)
    if records is None:
        return
    from memgpt.tasks.registry import task_def

    d = task_def(task)
    for r in records:
        assert all(isinstance(r[f], str) and r[f].strip() for f in d.inputs)
        if task == "qa":
            for a in r.get("answers", []):
                assert r["context"][a["start"]:a["start"] + len(a["text"])] == a["text"]
        elif d.target in r:
            assert isinstance(r[d.target], str) and r[d.target].strip()
        if need:
            assert d.target in r or (task == "qa" and "answers" in r)


def test_reader_regressions_found_by_fuzzing(scratch):
    """Inputs that used to escape as RecursionError / ValueError / OverflowError."""
    from memgpt.tasks.readers import DataError, read_records

    for name, data, task in (
            ("deep.jsonl", b"[" * 100_000 + b"\n", "classify"),
            ("bigint.jsonl", b'{"text": "a", "id": ' + b"1" * 5000 + b"}\n", "classify"),
            ("inf.jsonl", b'{"context": "abc", "question": "q", "answers": '
                          b'[{"text": "a", "start": 1e999}]}\n', "qa"),
            ("inf.csv", b'context,question,answers\nabc,q,"[{""text"": ""a"", '
                        b'""start"": 1e999}]"\n', "qa"),
            ("deep.csv", b'context,question,answers\nabc,q,' + b"[" * 100_000 + b"\n", "qa")):
        (scratch / name).write_bytes(data)
        with pytest.raises(DataError) as excinfo:
            read_records(scratch / name, task=task)
        one_line(excinfo.value)


# ------------------------------------------------------------------ the CLI's argument rule
@fast(200)
@given(st.text(max_size=40))
def test_is_file_arg_follows_the_documented_rule(arg):
    """A file iff ``-``, an existing path, or a name ending in a file suffix — and never a text
    with a line break; it never raises (NUL bytes, 40 kB names)."""
    import os

    from memgpt.cli.common import FILE_SUFFIXES, is_file_arg

    got = is_file_arg(arg)
    if arg == "-":
        assert got is True
    elif "\n" in arg or "\0" in arg:
        assert got is False
    else:
        assert got == (os.path.lexists(arg) or Path(arg).suffix.lower() in FILE_SUFFIXES)
    assert is_file_arg(arg * 1000) in (True, False)


@pytest.fixture(scope="module")
def cli_world(tmp_path_factory, tiny_weights_dir, make_task_folder):
    from memgpt.checkpoint import load_model

    d = tmp_path_factory.mktemp("fuzz-cli")
    model = load_model(tiny_weights_dir)
    folders = {t: str(make_task_folder(d, model, t)) for t in ("classify", "translate", "qa")}
    env = {"MEMGPT_WEIGHTS": tiny_weights_dir, "MEMGPT_CACHE": str(d / "cache")}
    return d, folders, env


ARG = st.one_of(st.text(max_size=30), st.sampled_from(
    ["-", "--", "-x", "--json", "a.txt", "no/such.md", "and/or", ".", "..", "/", "~", "\n",
     " ", "", "--help", "1/2", "x.CSV", "\x00", "🙂", "C:\\a.txt", "-5", "0", "99999"]))
OPTIONS = {"classify": ["--labels", "--batch-size", "--runtime"],
           "translate": ["--src", "--tgt", "--max-new-tokens", "--batch-size", "--runtime"],
           "qa": ["--context", "--max-answer-tokens", "--runtime"]}


@fast(60)
@given(command=st.sampled_from(sorted(OPTIONS)), args=st.lists(ARG, min_size=0, max_size=3),
       opts=st.lists(st.tuples(st.sampled_from(sum(OPTIONS.values(), [])), ARG), max_size=2),
       data=st.data())
def test_cli_arguments_never_give_a_traceback(cli_world, command, args, opts, data):
    from memgpt.cli import cli

    d, folders, env = cli_world
    argv = [command, "--adapter", folders[command]]
    if command == "translate":
        argv += ["--max-new-tokens", "2"]
    if command == "qa" and data.draw(st.booleans(), label="with a context"):
        argv += ["--context", "The ferry leaves Oslo at noon."]
    for flag, value in opts:
        argv += [flag, value]
    argv += args
    result = CliRunner().invoke(cli, argv, env=env, prog_name="memgpt-task")
    assert "Traceback" not in result.output, result.output[-2000:]
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code in (0, 1, 2), (argv, result.exit_code, result.output[-500:])
    if result.exit_code == 1:
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("error:")]
        assert len(errors) == 1 and lines[-1] == errors[0], (argv, result.stderr)
        assert result.stdout == ""
    elif result.exit_code == 2:
        assert "Error:" in result.stderr and result.stdout == "", (argv, result.output)


# ------------------------------------------------------------------ loader fuzz
MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("set"), st.floats(0, 1), st.integers(0, 255)),
)
# Most of the interest is in the header (the first ~200 bytes): bias positions towards it.
HEAD_BIAS = st.booleans()


def mutate(data: bytes, ops, head: bool) -> bytes:
    b = bytearray(data)
    for kind, where, arg in ops:
        span = min(len(b), 256) if head else len(b)
        i = min(int(where * span), max(len(b) - 1, 0))
        if kind == "truncate":
            del b[i:]
        elif kind == "insert":
            b[i:i] = arg
        elif not b:
            continue
        elif kind == "flip":
            b[i] ^= 1 << arg
        else:
            b[i] = arg
    return bytes(b)


@pytest.fixture(scope="module")
def loader_world(tmp_path_factory, tiny_weights_dir, make_task_folder):
    """Pristine artifacts: a task folder (adapter + head), a bank with passages, an export
    folder's manifest/settings (hand-made around a dummy graph)."""
    from memgpt.checkpoint import load_model
    from memgpt.cli import cli

    d = tmp_path_factory.mktemp("fuzz-loaders")
    model = load_model(tiny_weights_dir)
    task = make_task_folder(d, model, "classify")
    (d / "notes.txt").write_text("Ferries leave the harbour at noon.\n\nThe ice comes in May.\n")
    r = CliRunner().invoke(cli, ["memory", "build", str(d / "notes.txt"), "-o", str(d / "bank")],
                           env={"MEMGPT_WEIGHTS": tiny_weights_dir})
    assert r.exit_code == 0, r.output
    export = d / "export"
    export.mkdir()
    (export / "settings.json").write_text(json.dumps(
        {"format": "memgpt-onnx", "version": 1, "task": "classify", "graph": {}}))
    shutil.copy(Path(tiny_weights_dir) / "tokenizer.json", export / "tokenizer.json")
    (export / "model.onnx").write_bytes(b"")
    write_manifest(export)
    return {"dir": d, "model": model, "classify": task, "bank": d / "bank", "export": export}


def write_manifest(folder: Path) -> None:
    import hashlib

    files = {p.name: {"bytes": p.stat().st_size,
                      "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted(folder.iterdir()) if p.name != "manifest.json"}
    (folder / "manifest.json").write_text(json.dumps({"files": files}))


def fresh(world, key: str) -> Path:
    dst = world["dir"] / f"work-{key}"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(world[key], dst)
    return dst


def expect_one_line_or_ok(fn, *error_types):
    try:
        return fn()
    except ONE_LINE_ERRORS as e:
        if error_types:
            assert isinstance(e, error_types), repr(e)
        one_line(e)
        return None


@fast(80)
@given(name=st.sampled_from(["adapter.safetensors", "head.safetensors", "task.json"]),
       ops=st.lists(MUTATION, min_size=1, max_size=3), head=HEAD_BIAS)
def test_mutated_task_folders_load_or_give_one_line_errors(loader_world, name, ops, head):
    from memgpt.tasks.artifacts import load_task

    folder = fresh(loader_world, "classify")
    path = folder / name
    path.write_bytes(mutate(path.read_bytes(), ops, head))
    expect_one_line_or_ok(lambda: load_task(folder, loader_world["model"]))


@fast(80)
@given(name=st.sampled_from(["bank.safetensors", "bank.json"]),
       ops=st.lists(MUTATION, min_size=1, max_size=3), head=HEAD_BIAS)
def test_mutated_banks_load_or_give_one_line_errors(loader_world, name, ops, head):
    from memgpt.memory import MemoryBank

    folder = fresh(loader_world, "bank")
    path = folder / name
    path.write_bytes(mutate(path.read_bytes(), ops, head))
    expect_one_line_or_ok(lambda: MemoryBank.load(folder, model=loader_world["model"]))


@fast(80)
@given(name=st.sampled_from(["passages.safetensors", "passages.jsonl", "passages.json"]),
       ops=st.lists(MUTATION, min_size=1, max_size=3), head=HEAD_BIAS,
       fix_digest=st.booleans())
def test_mutated_passage_indexes_load_or_give_one_line_errors(loader_world, name, ops, head,
                                                              fix_digest):
    """With ``fix_digest`` the checksum in passages.json is updated after the mutation, so the
    safetensors / JSONL parsers and the index checks are reached, not only the checksum."""
    import hashlib

    from memgpt.passages import PassageIndex

    folder = fresh(loader_world, "bank")
    path = folder / name
    path.write_bytes(mutate(path.read_bytes(), ops, head))
    if fix_digest and name != "passages.json":
        meta = json.loads((folder / "passages.json").read_text())
        meta["sha256"][name] = hashlib.sha256(path.read_bytes()).hexdigest()
        (folder / "passages.json").write_text(json.dumps(meta))
    index = expect_one_line_or_ok(lambda: PassageIndex.load(folder))
    if index is not None:
        index.search("ferry harbour", k=3)  # a loaded index must also be usable


@fast(80)
@given(name=st.sampled_from(["manifest.json", "settings.json"]),
       ops=st.lists(MUTATION, min_size=1, max_size=3), head=HEAD_BIAS)
def test_mutated_export_manifests_and_settings_give_export_folder_errors(loader_world, name,
                                                                          ops, head):
    from memgpt.export.runtime import ExportFolderError, check_folder

    folder = fresh(loader_world, "export")
    path = folder / name
    path.write_bytes(mutate(path.read_bytes(), ops, head))
    if name == "settings.json":
        write_manifest(folder)  # consistently tampered: the settings checks must catch it
    expect_one_line_or_ok(lambda: check_folder(folder), ExportFolderError)


@fast(80)
@given(settings_extra=st.dictionaries(st.sampled_from(["task", "format", "version", "graph"]),
                                      JSON_VALUE, max_size=3),
       files=st.one_of(JSON_VALUE, st.dictionaries(st.text(max_size=8), JSON_VALUE, max_size=3)))
def test_structured_export_json_gives_export_folder_errors(loader_world, settings_extra, files):
    """Well-formed JSON of the wrong shapes: in settings.json (format/version right, other fields
    anything) and as the manifest's ``files``."""
    from memgpt.export.runtime import ExportFolderError, check_folder

    folder = fresh(loader_world, "export")
    base = json.loads((folder / "settings.json").read_text())
    (folder / "settings.json").write_text(json.dumps({**base, **settings_extra}))
    write_manifest(folder)
    expect_one_line_or_ok(lambda: check_folder(folder), ExportFolderError)
    (folder / "manifest.json").write_text(json.dumps({"files": files}))
    expect_one_line_or_ok(lambda: check_folder(folder), ExportFolderError)
