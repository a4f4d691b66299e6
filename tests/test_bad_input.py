"""Bad-input matrix (issue 14): odd and broken inputs across every command, in-process.

Each case runs the CLI through click's CliRunner on the tiny seeded checkpoint with task folders
(and one ONNX export) shared by the module, and checks the contract of README "Command line":
no traceback; exit 0 for valid-but-odd input (emoji, mixed scripts), 1 for runtime errors, with
exactly one ``error:`` line on stderr and nothing on stdout, 2 for usage errors (click's
``Usage:`` + ``Error:``). Generation is capped at 2 new tokens.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from memgpt.cli import cli

WORD = "harbour "
LONG = (WORD * 3000).strip()  # ~10x the tiny model's 256-token context, one line
HUGE = ("lorem ipsum dolor " * 58255).strip()  # ~1 MB, one line, no sentence end
EMOJI = "I love it 🙂🎉👍🏽"
MIXED = "Hello мир 世界 مرحبا שלום नमस्ते"
CONTEXT = "The harbour freezes in January. The first ferry arrives in spring from Oslo."

# name -> bytes; "fifo"/"dir" entries are made specially.
FILES: dict[str, bytes] = {
    "empty.txt": b"",
    "ws.txt": b"  \n\t \n",
    "binary.txt": b"\x00\x01\x02abc\xff",
    "binary.bin": bytes(range(256)),
    "latin1.txt": "café crème\n".encode("latin-1"),
    "mixed.txt": (MIXED + "\n").encode(),
    "emoji.txt": (EMOJI + "\n").encode(),
    "bom.txt": "\ufeffI liked the tea.\r\nIt was hot.\r\n".encode(),
    "long.txt": LONG.encode(),
    "huge.txt": HUGE.encode(),
    "good.jsonl": b'{"text": "good tea"}\n{"text": "bad tea \xf0\x9f\x99\x82"}\n',
    "bad.jsonl": b'{"text": "fine"}\n{not json\n',
    "empty.jsonl": b"",
    "blank.jsonl": b"\n\n  \n",
    "nofield.jsonl": b'{"foo": 1}\n',
    "notobject.jsonl": b"[1, 2]\n",
    "nulltext.jsonl": b'{"text": null}\n',
    "latin1.jsonl": '{"text": "café"}\n'.encode("latin-1"),
    "binary.jsonl": b"\x00\x00\x00",
    "bad.csv": b"text\na,b,c\n",
    "afile.txt": b"an ordinary file\n",
    "nocol.csv": b"foo,bar\n1,2\n",
    "header.csv": b"text\n",
    "good.tsv": "text\nbuenos días 🙂\n".encode(),
    "secret.txt": b"a secret\n",
}

# Input files of the text commands: (name, code as records or lines, code when read as text).
# "records" = classify/translate/summarize(.jsonl); "text" = qa --context (a file is its text).
FILE_KINDS = [
    ("emoji.txt", 0, 0), ("mixed.txt", 0, 0), ("bom.txt", 0, 0), ("long.txt", 0, 0),
    ("huge.txt", 0, 0), ("good.jsonl", 0, 0), ("good.tsv", 0, 0),
    ("empty.txt", 1, 1), ("ws.txt", 1, 1), ("binary.txt", 1, 1), ("binary.bin", 1, 1),
    ("latin1.txt", 1, 1), ("bad.jsonl", 1, 0), ("empty.jsonl", 1, 1), ("blank.jsonl", 1, 1),
    ("nofield.jsonl", 1, 0), ("notobject.jsonl", 1, 0), ("nulltext.jsonl", 1, 0),
    ("latin1.jsonl", 1, 1), ("binary.jsonl", 1, 1), ("bad.csv", 1, 0), ("nocol.csv", 1, 0),
    ("header.csv", 1, 0), ("adir", 1, 1), ("adir.txt", 1, 1), ("fifo", 1, 1),
    ("fifo.txt", 1, 1), ("fifo.jsonl", 1, 1), ("missing.txt", 1, 1), ("missing.jsonl", 1, 1),
    ("missing.md", 1, 1), ("nodir/x.csv", 1, 1), ("secret.txt", 0, 0),
]
# Literal text arguments: (id, text, code).
TEXT_KINDS = [
    ("emoji", EMOJI, 0), ("mixed", MIXED, 0), ("and-or", "and/or", 0), ("fraction", "1/2 cup", 0),
    ("dotted", "a b.c", 0), ("url", "see https://example.com/a?b=1", 0),
    ("lead-space", "  spaced  out  ", 0), ("tab", "tab\tseparated", 0),
    ("two-lines", "first line\nsecond line", 0), ("long-arg", LONG, 0),
    ("dash-word", "-x-", 2),  # click reads it as an option: pass "--" first (a flags case)
    ("empty", "", 1), ("spaces", "   ", 1), ("newlines", "\n\n", 1),
    ("missing-suffix", "notes.txt", 1), ("missing-path", "no/such/doc.md", 1),
]
# stdin contents for "-": (id, bytes, code).
STDIN_KINDS = [
    ("emoji", (EMOJI + "\n").encode(), 0), ("mixed", MIXED.encode(), 0), ("empty", b"", 1),
    ("spaces", b" \n \n", 1), ("binary", b"\x00\xff\x00", 1), ("latin1", "é".encode("latin-1"), 1),
]
TEXT_COMMANDS = {  # command -> argv before the input, with the task folder placeholder
    "classify": ["classify", "--adapter", "{classify}"],
    "translate": ["translate", "--adapter", "{translate}", "--max-new-tokens", "2"],
    "summarize": ["summarize", "--adapter", "{summarize}", "--max-new-tokens", "2"],
}


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_weights_dir, make_task_folder):
    """Input files, task folders, a memory bank and (with onnx) a classify export, made once."""
    from memgpt.checkpoint import load_model

    d = tmp_path_factory.mktemp("bad-input")
    for name, data in FILES.items():
        (d / name).write_bytes(data)
    for name in ("adir", "adir.txt", "emptydir"):
        (d / name).mkdir()
    for name in ("fifo", "fifo.txt", "fifo.jsonl"):
        os.mkfifo(d / name)
    os.chmod(d / "secret.txt", 0)
    model = load_model(tiny_weights_dir)
    paths = {t: str(make_task_folder(d, model, t)) for t in ("summarize", "translate",
                                                            "classify", "qa")}
    env = {"MEMGPT_WEIGHTS": tiny_weights_dir, "MEMGPT_CACHE": str(d / "cache")}
    r = CliRunner().invoke(cli, ["memory", "build", str(d / "emoji.txt"), str(d / "mixed.txt"),
                                 "-o", str(d / "bank")], env=env)
    assert r.exit_code == 0, r.output
    paths.update(bank=str(d / "bank"), weights=tiny_weights_dir, dir=str(d))
    try:
        import onnx  # noqa: F401

        from memgpt.checkpoint import load_tokenizer
        from memgpt.export.exporter import export_task

        export_task(paths["classify"], d / "export", backbone=load_model(tiny_weights_dir),
                    tokenizer=load_tokenizer(tiny_weights_dir))
        paths["export"] = str(d / "export")
    except ImportError:
        pass
    return d, paths, env


def root_reads_anything(d: Path) -> bool:
    try:
        (d / "secret.txt").read_bytes()
    except PermissionError:
        return False
    return True


def resolve(arg: str, d: Path, paths: dict) -> str:
    """``@name`` -> a file in the module folder; ``{key}`` -> a task folder, bank, export."""
    if arg.startswith("@"):
        return str(d / arg[1:])
    if arg.startswith("{") and arg.endswith("}") and arg[1:-1] in paths:
        return paths[arg[1:-1]]
    return arg


class FifoWatchdog:
    """Unblocks a command that opened a FIFO (by opening its write end and closing it) after
    ``seconds``, so a regression fails the test instead of hanging the suite.

    ``fired`` is set only when a FIFO really was open for reading: a non-blocking write-open
    of a FIFO succeeds only then (else ENXIO), so a command that is merely slow (a long input
    on a loaded machine) is not mistaken for one that opened the FIFO.
    """

    def __init__(self, fifos: list[Path], seconds: float = 10.0):
        self.fifos, self.fired, self._stop = fifos, False, threading.Event()
        self._thread = threading.Thread(target=self._run, args=(seconds,), daemon=True)

    def _run(self, seconds: float) -> None:
        if not self.fifos or self._stop.wait(seconds):
            return
        while not self._stop.is_set():
            for f in self.fifos:
                try:
                    os.close(os.open(f, os.O_WRONLY | os.O_NONBLOCK))
                    self.fired = True
                except OSError:
                    pass
            self._stop.wait(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_case(world, argv: list[str], stdin: bytes | None = None):
    d, paths, env = world
    args = [resolve(a, d, paths) for a in argv]
    if any("secret.txt" in a for a in argv) and root_reads_anything(d):
        pytest.skip("running as root: chmod 000 does not stop reads")
    fifos = [d / a[1:] for a in argv if a.startswith("@fifo")]
    with FifoWatchdog(fifos) as dog:
        result = CliRunner().invoke(cli, args, input=stdin, prog_name="memgpt-task", env=env)
    assert not dog.fired, f"{argv} opened a FIFO (it should be refused unopened)"
    return result


def check(result, code: int) -> None:
    out, err = result.stdout, result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code == code, (result.exit_code, out[-500:], err[-500:])
    if code == 0:
        assert not any(line.startswith("error:") for line in err.splitlines()), err
    elif code == 1:
        assert out == "", out[-500:]
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error:")]
        assert len(errors) == 1 and lines[-1] == errors[0], err
        assert len(errors[0]) < 2000, "one short line, not the input echoed back"
    else:
        assert out == "" and "Usage:" in err and "Error:" in err, err


def check_hygiene(result) -> None:
    """Plain results on stdout: no leading or trailing whitespace on any line."""
    for line in result.stdout.splitlines():
        assert line == line.strip(), repr(line[:80])


# ------------------------------------------------------------------- the text commands
def _text_cases():
    for cmd, pre in TEXT_COMMANDS.items():
        for name, records_code, text_code in FILE_KINDS:
            code = records_code
            if cmd == "summarize" and Path(name).suffix in (".csv", ".tsv"):
                code = text_code  # summarize reads only .jsonl as records
            if name == "huge.txt" and cmd == "translate":
                pre_ = [*pre, "--no-split"]
            else:
                pre_ = pre
            yield pytest.param([*pre_, f"@{name}"], code, None, id=f"{cmd}-file-{name}")
        for name, text, code in TEXT_KINDS:
            yield pytest.param([*pre, text], code, None, id=f"{cmd}-text-{name}")
        for name, data, code in STDIN_KINDS:
            yield pytest.param([*pre, "-"], code, data, id=f"{cmd}-stdin-{name}")
    qa = ["qa", "--adapter", "{qa}"]
    for name, _, text_code in FILE_KINDS:
        if name in ("good.jsonl", "good.tsv", "huge.txt"):  # huge: ~2,600 windows, slow
            continue
        yield pytest.param([*qa, "--context", f"@{name}", "Who?"], text_code, None,
                           id=f"qa-context-file-{name}")
    for name, text, code in TEXT_KINDS:
        yield pytest.param([*qa, "--context", text, "Who?"], 0 if name == "dash-word" else code,
                           None, id=f"qa-context-text-{name}")  # an option's value may start "-"
        if name not in ("missing-suffix", "missing-path"):  # the question is always text
            q_code = 1 if name == "long-arg" else code  # longer than the model's input
            yield pytest.param([*qa, "--context", CONTEXT, text], q_code, None,
                               id=f"qa-question-{name}")
    for name, data, code in STDIN_KINDS:
        yield pytest.param([*qa, "--context", "-", "Who?"], code, data, id=f"qa-stdin-{name}")
    for name in ("bad.jsonl", "empty.jsonl", "nofield.jsonl", "notobject.jsonl", "bad.csv",
                 "nocol.csv", "fifo.jsonl", "missing.jsonl", "good.jsonl"):
        yield pytest.param([*qa, f"@{name}"], 1, None, id=f"qa-records-{name}")
    yield pytest.param([*qa, "@emoji.txt"], 2, None, id="qa-records-not-a-records-file")
    gen = ["generate", "--max-new-tokens", "2"]
    for name, text, code in TEXT_KINDS:
        if name in ("missing-suffix", "missing-path"):
            code = 0  # a prompt is always text
        if name == "long-arg":
            code = 1  # longer than the model's context: a runtime error
        yield pytest.param([*gen, text], code, None, id=f"generate-text-{name}")
    for name, data, code in STDIN_KINDS:
        yield pytest.param([*gen, "-"], code, data, id=f"generate-stdin-{name}")
    ppl = ["perplexity", "--window", "32"]
    for name, _, text_code in FILE_KINDS:  # every file is read as text
        if name != "huge.txt":  # ~250k tokens: minutes, not a bad-input case
            yield pytest.param([*ppl, f"@{name}"], text_code, None, id=f"perplexity-file-{name}")
    for name, text, code in TEXT_KINDS:
        yield pytest.param([*ppl, text], code, None, id=f"perplexity-text-{name}")
    for name, data, code in STDIN_KINDS:
        yield pytest.param([*ppl, "-"], code, data, id=f"perplexity-stdin-{name}")
    chat = ["chat", "--max-new-tokens", "2", "--reader", "none", "--json"]
    for name, text, code in TEXT_KINDS:  # a MESSAGE argument is always the text itself
        if name in ("missing-suffix", "missing-path"):
            code = 0
        if name == "long-arg":
            code = 1  # longer than the window
        if name in ("empty", "spaces", "newlines"):
            code = 1  # an empty message
        yield pytest.param([*chat, text], code, None, id=f"chat-message-{name}")
    for name, data, code in STDIN_KINDS:  # one turn per line; blank lines are skipped
        code = 0 if name in ("empty", "spaces") else code
        yield pytest.param(chat, code, data, id=f"chat-stdin-{name}")
    for name in ("afile.txt", "bad.jsonl", "binary.bin", "latin1.txt", "adir", "missing.txt",
                 "fifo"):
        yield pytest.param([*chat, "--resume", f"@{name}", "hi"], 1, None,
                           id=f"chat-resume-{name}")
    for name in ("missing.txt", "binary.txt", "latin1.txt", "emptydir", "adir", "empty.txt",
                 "fifo"):
        yield pytest.param([*chat, "--memory", f"@{name}", "hi"], 1, None,
                           id=f"chat-memory-{name}")
    for name in ("emoji.txt", "mixed.txt"):  # a text file: notes
        yield pytest.param([*chat, "--memory", f"@{name}", "hi"], 0, None,
                           id=f"chat-memory-{name}")


@pytest.mark.parametrize("argv,code,stdin", list(_text_cases()))
def test_text_commands(world, argv, code, stdin):
    result = run_case(world, argv, stdin)
    check(result, code)
    if code == 0 and argv[0] in ("classify", "summarize", "translate"):
        check_hygiene(result)


# ------------------------------------------------------------------- flags
FLAG_CASES = [
    # translate
    (["translate", "--src", "xx", "hello"], 2), (["translate", "--tgt", "yy", "hello"], 2),
    (["translate", "--src", "xx", "--tgt", "yy", "hello"], 2),
    (["translate", "--src", "", "hello"], 2), (["translate", "--src", "EN", "hello"], 2),
    (["translate", "--src", "es", "--tgt", "en", "hola"], 0),
    (["translate", "--max-new-tokens", "0", "hi"], 2),
    (["translate", "--max-new-tokens", "-3", "hi"], 2),
    (["translate", "--max-new-tokens", "abc", "hi"], 2),
    (["translate", "--max-new-tokens", "5000", "hi"], 2),
    (["translate", "--batch-size", "0", "hi"], 2), (["translate", "--runtime", "tpu", "hi"], 2),
    (["translate", "--device", "tpu", "hi"], 2), (["translate", "--bogus", "hi"], 2),
    (["translate"], 2), (["translate", "a", "b"], 2),
    (["translate", "--adapter", "@missing-folder", "hi"], 1),
    (["translate", "--adapter", "{classify}", "hi"], 1),
    (["translate", "--adapter", "@emoji.txt", "hi"], 1),
    (["translate", "--adapter", "@fifo", "hi"], 1),
    (["translate", "--weights", "no-such-weights", "hi"], 1),
    (["translate", "--weights", "@emptydir", "hi"], 1),
    (["translate", "--weights", "@fifo", "hi"], 1),
    (["translate", "--weights", "@binary.bin", "hi"], 1),
    # classify
    (["classify", "--labels", "colours", "hi"], 2), (["classify", "--labels", "", "hi"], 2),
    (["classify", "--labels", "colours", "hi", "--adapter", "{classify}"], 0),
    (["translate", "--", "-x-"], 0), (["classify", "--", "-x-"], 0),
    (["summarize", "--", "-x-"], 0), (["generate", "--max-new-tokens", "2", "--", "-x-"], 0),
    (["classify", "--batch-size", "999", "hi"], 2), (["classify", "--json", "--json", "hi"], 0),
    (["classify", "--adapter", "{translate}", "hi"], 1),
    (["classify", "--adapter", "@emptydir", "hi"], 1),
    (["classify", "--runtime", "onnx", "hi"], 1),  # no export in the (empty) cache
    # summarize
    (["summarize", "--max-input-tokens", "8", "@emoji.txt"], 2),
    (["summarize", "--max-new-tokens", "250", "@emoji.txt"], 1),  # leaves no room
    (["summarize", "--batch-size", "65", "@emoji.txt"], 2),
    (["summarize", "--adapter", "{qa}", "@emoji.txt"], 1),
    (["summarize", "--json", "@emoji.txt"], 0), (["summarize", "@good.jsonl", "--json"], 0),
    # qa
    (["qa", "--stride", "2000", "--context", CONTEXT, "Who?"], 2),
    (["qa", "--min-score", "1.5", "--context", CONTEXT, "Who?"], 2),
    (["qa", "--min-score", "nan", "--context", CONTEXT, "Who?"], 2),
    (["qa", "--max-answer-tokens", "0", "--context", CONTEXT, "Who?"], 2),
    (["qa", "Who?"], 2), (["qa", "--context", CONTEXT], 2),
    (["qa", "--context", CONTEXT, "Who?", "--json"], 0),
    (["qa", "--context", LONG, "Who?", "--stride", "0"], 0),
    (["qa", "--context", LONG, "Who?", "--stride", "1024"], 0),
    # generate
    (["generate", "--max-new-tokens", "0", "hi"], 2), (["generate", "--top-p", "0", "hi"], 2),
    (["generate", "--top-p", "1.5", "hi"], 2), (["generate", "--temperature", "0", "hi"], 2),
    (["generate", "--temperature", "-1", "hi"], 2), (["generate", "--top-k", "-1", "hi"], 2),
    (["generate", "--strategy", "nucleus", "hi"], 2), (["generate", "--num-beams", "0", "hi"], 2),
    (["generate", "--repetition-penalty", "0", "hi"], 2), (["generate", "--seed", "x", "hi"], 2),
    (["generate", "--threads", "0", "hi"], 2),
    (["generate", "--max-new-tokens", "300", "hi"], 1),  # past the context
    (["generate", "--memory", "@missing-bank", "hi"], 1),
    (["generate", "--memory", "@fifo", "hi"], 1), (["generate", "--memory", "@emptydir", "hi"], 1),
    (["generate", "--strategy", "beam", "--num-beams", "2", "--max-new-tokens", "2", EMOJI], 0),
    (["generate", "--strategy", "sample", "--max-new-tokens", "2", MIXED], 0),
    (["generate", "--stop", "", "--max-new-tokens", "2", "hi"], 0),
    (["generate", "--memory", "{bank}", "--max-new-tokens", "2", EMOJI], 0),
    (["generate", "--chat", "--max-new-tokens", "2", MIXED, "--json"], 0),
    # pretrain (every case fails before training starts)
    (["pretrain", "@missing.txt", "-o", "@out/pt"], 1), (["pretrain", "@fifo", "-o", "@out/pt"], 1),
    (["pretrain", "@adir", "-o", "@out/pt"], 1), (["pretrain", "@empty.txt", "-o", "@out/pt"], 1),
    (["pretrain", "@binary.bin", "-o", "@out/pt"], 1),
    (["pretrain", "@latin1.txt", "-o", "@out/pt"], 1),
    (["pretrain", "@emoji.txt", "-o", "@out/pt", "--eval", "@fifo.txt"], 1),
    (["pretrain", "@emoji.txt", "-o", "@out/pt", "--steps", "0"], 2),
    (["pretrain", "@emoji.txt", "-o", "@out/pt", "--vocab-size", "10"], 2),
    (["pretrain", "-o", "@out/pt"], 2),
    # top level
    (["no-such-command"], 2), (["--bogus"], 2), (["weights", "info", "@emptydir"], 1),
    (["weights", "info", "@fifo"], 1), (["weights", "info", "@emoji.txt"], 1),
]


def _flag_id(argv):
    return "-".join(a if len(a) < 20 else a[:8] + "…" for a in argv)[:60]


@pytest.mark.parametrize("argv,code", [pytest.param(a, c, id=_flag_id(a)) for a, c in FLAG_CASES])
def test_flags(world, argv, code):
    d, paths, env = world
    if argv[0] in TEXT_COMMANDS and "--adapter" not in argv and "--labels" not in argv:
        argv = [*TEXT_COMMANDS[argv[0]], *argv[1:]]
    elif argv[0] == "qa" and "--adapter" not in argv:
        argv = [*argv, "--adapter", "{qa}"]
    if "--device" in argv and "cuda" in argv:
        pytest.skip("cuda")
    check(run_case(world, argv), code)


# ------------------------------------------------------------------- memory
MEMORY_CASES = [
    (["memory", "build", "@emoji.txt", "-o", "@out/b1"], 0),
    (["memory", "build", "@long.txt", "@bom.txt", "-o", "@out/b2", "--window", "64"], 0),
    (["memory", "build", "@emoji.txt", "-o", "@out/b3", "--window", "4"], 2),
    (["memory", "build", "@emoji.txt", "-o", "@out/b3", "--window", "x"], 2),
    (["memory", "build", "-o", "@out/b3"], 2), (["memory", "build", "@emoji.txt"], 2),
    (["memory", "build", "@emoji.txt", "@emoji.txt", "-o", "@out/b4"], 1),  # same source id
    (["memory", "build", "@emoji.txt", "-o", "@afile.txt"], 1),  # -o is a file
    (["memory", "search", "{bank}", EMOJI], 0), (["memory", "search", "{bank}", MIXED], 0),
    (["memory", "search", "{bank}", LONG], 0),
    (["memory", "search", "{bank}", "tea", "--json", "-k", "1000"], 0),
    (["memory", "search", "{bank}", ""], 1), (["memory", "search", "{bank}", "   "], 1),
    (["memory", "search", "{bank}", "tea", "-k", "0"], 2),
    (["memory", "search", "{bank}", "tea", "-k", "x"], 2), (["memory", "search", "{bank}"], 2),
    (["memory", "search", "@missing-bank", "tea"], 1),
    (["memory", "search", "@emptydir", "tea"], 1), (["memory", "search", "@fifo", "tea"], 1),
    (["memory", "search", "@emoji.txt", "tea"], 1), (["memory", "search", "{classify}", "t"], 1),
    (["memory", "info", "{bank}"], 0), (["memory", "info", "{bank}", "--json"], 0),
    (["memory", "info", "@missing-bank"], 1), (["memory", "info", "@emptydir"], 1),
    (["memory", "info", "@fifo"], 1), (["memory", "info", "@emoji.txt"], 1),
    (["memory", "info", "{translate}"], 1), (["memory", "info"], 2), (["memory", "bogus"], 2),
]
for _name in ("empty.txt", "ws.txt", "binary.txt", "binary.bin", "latin1.txt", "adir",
              "adir.txt", "fifo", "fifo.txt", "missing.txt", "secret.txt"):
    MEMORY_CASES.append((["memory", "build", f"@{_name}", "-o", "@out/never"], 1))


@pytest.mark.parametrize("argv,code", [pytest.param(a, c, id=_flag_id(a))
                                       for a, c in MEMORY_CASES])
def test_memory(world, argv, code):
    result = run_case(world, argv)
    check(result, code)
    if "build" in argv and code != 0:
        assert not (world[0] / "out" / "never").exists()


# ------------------------------------------------------------------- finetune and eval
def _records(d: Path) -> str:
    rows = [{"text": t, "label": lab} for t, lab in ((EMOJI, "pos"), (MIXED, "neg"),
                                                       ("fine tea", "pos"), ("bad tea", "neg"))]
    p = d / "train.jsonl"
    if not p.exists():
        p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return str(p)


FT = ["finetune", "--task", "classify", "-o", "@out/ft"]
DATA_FILES_BAD = ["bad.jsonl", "empty.jsonl", "blank.jsonl", "nofield.jsonl", "good.jsonl",
                  "notobject.jsonl", "latin1.jsonl", "binary.jsonl", "bad.csv", "nocol.csv",
                  "header.csv", "fifo.jsonl", "fifo", "adir", "adir.txt", "missing.jsonl",
                  "emoji.txt", "binary.bin"]
FINETUNE_CASES = [([*FT, "--data", f"@{n}"], 1) for n in DATA_FILES_BAD] + [
    ([*FT, "--data", "{train}", "--valid", "@fifo.jsonl"], 1),
    ([*FT, "--data", "{train}", "--valid", "@bad.jsonl"], 1),
    ([*FT, "--data", "builtin:no-such-set:train"], 1),
    ([*FT, "--data", "builtin:"], 1),
    ([*FT, "--data", "{train}", "--epochs", "0"], 2), ([*FT, "--data", "{train}", "--lr", "0"], 2),
    ([*FT, "--data", "{train}", "--lr", "x"], 2), ([*FT, "--data", "{train}", "--rank", "0"], 2),
    ([*FT, "--data", "{train}", "--batch-size", "0"], 2),
    ([*FT, "--data", "{train}", "--limit", "0"], 2),
    ([*FT, "--data", "{train}", "--adapter-kind", "prefix"], 2),
    ([*FT, "--data", "{train}", "--adapt-layers", "a,b"], 2),
    ([*FT, "--data", "{train}", "--adapt-layers", "99", "--adapter-kind", "lora"], 1),
    ([*FT, "--data", "{train}", "--adapt-layers", "-1", "--adapter-kind", "lora"], 1),
    ([*FT, "--data", "{train}", "--max-input-tokens", "4"], 2),
    (["finetune", "--task", "poetry", "--data", "{train}", "-o", "@out/ft"], 2),
    (["finetune", "--task", "classify", "--data", "{train}"], 2),
    (["finetune", "--task", "classify", "-o", "@out/ft"], 2),
    (["finetune", "--task", "classify", "--data", "{train}", "-o", "@afile.txt",
      "--max-steps", "1"], 1),
    ([*FT, "--data", "{train}", "--max-steps", "1", "--batch-size", "2"], 0),
]
EV = ["eval", "--task", "classify", "-o", "@out/ev", "--adapter", "{classify}"]
EVAL_CASES = [([*EV, "--data", f"@{n}"], 1) for n in DATA_FILES_BAD] + [
    ([*EV, "--data", "builtin:no-such-set:test"], 1), ([*EV, "--data", "builtin:x"], 1),
    ([*EV, "--data", "{train}", "--limit", "0"], 2),
    ([*EV, "--data", "{train}", "--batch-size", "0"], 2),
    ([*EV, "--data", "{train}", "--runtime", "gpu"], 2),
    (["eval", "--task", "poetry", "--data", "{train}", "-o", "@out/ev"], 2),
    (["eval", "--task", "classify", "--data", "{train}"], 2),
    ([*EV, "--data", "{train}", "--runtime", "torch"], 0),
    (["eval", "--task", "classify", "-o", "@afile.txt", "--adapter", "{classify}", "--data",
      "{train}", "--runtime", "torch"], 1),  # -o is a file
]


@pytest.mark.parametrize("argv,code", [pytest.param(a, c, id=_flag_id(a))
                                       for a, c in FINETUNE_CASES + EVAL_CASES])
def test_finetune_and_eval(world, argv, code):
    pytest.importorskip("sacrebleu") if argv[0] == "eval" else None
    world[1]["train"] = _records(world[0])
    check(run_case(world, argv), code)


# ------------------------------------------------------------------- export
EXPORT_CASES = [
    (["export", "--task", "@missing-folder", "-o", "@out/x"], 1),
    (["export", "--task", "@emptydir", "-o", "@out/x"], 1),
    (["export", "--task", "@fifo", "-o", "@out/x"], 1),
    (["export", "--task", "@emoji.txt", "-o", "@out/x"], 1),
    (["export", "--task", "no-such-task", "-o", "@out/x"], 1),
    (["export", "--task", "classify", "--labels", "colours", "-o", "@out/x"], 2),
    (["export", "--task", "translate", "--labels", "topic", "-o", "@out/x"], 2),
    (["export", "--task", "{classify}", "--precision", "int3", "-o", "@out/x"], 2),
    (["export", "--task", "{classify}", "--memory-bank", "-1", "-o", "@out/x"], 2),
    (["export", "--task", "{classify}", "--threads", "0", "-o", "@out/x"], 2),
    (["export", "--task", "{classify}", "--device", "tpu", "-o", "@out/x"], 2),
    (["export", "-o", "@out/x"], 2),
    (["export", "--task", "{classify}", "-o", "@afile.txt"], 1),  # -o is a file
]
# The ONNX runtime on the exported classify folder.
ONNX = ["classify", "--export", "{export}"]
ONNX_CASES = [([*ONNX, f"@{n}"], c) for n, c, _ in FILE_KINDS] + \
    [([*ONNX, t], c) for _, t, c in TEXT_KINDS] + [
    (["classify", "--export", "@missing-export", "hi"], 1),
    (["classify", "--export", "@emptydir", "hi"], 1),
    (["classify", "--export", "@emoji.txt", "hi"], 1),
    (["classify", "--export", "@fifo", "hi"], 1),
    (["classify", "--export", "{classify}", "hi"], 1),  # a task folder, not an export
    ([*ONNX, "--runtime", "torch", "hi"], 2), ([*ONNX, "--batch-size", "0", "hi"], 2),
    ([*ONNX, "--runtime", "onnx", EMOJI, "--json"], 0),
    (["translate", "--export", "{export}", "--max-new-tokens", "2", "hi"], 1),
    (["summarize", "--export", "{export}", "--max-new-tokens", "2", "@emoji.txt"], 1),
    (["qa", "--export", "{export}", "--context", CONTEXT, "Who?"], 1),
    (["eval", "--task", "classify", "--export", "{export}", "--data", "{train}", "-o",
      "@out/ev-onnx"], 0),
]


@pytest.mark.parametrize("argv,code", [pytest.param(a, c, id=_flag_id(a))
                                       for a, c in EXPORT_CASES + ONNX_CASES])
def test_export_and_onnx_runtime(world, argv, code):
    if "export" not in world[1]:
        pytest.skip("onnx is not installed")
    if argv[0] == "eval":
        pytest.importorskip("sacrebleu")
        world[1]["train"] = _records(world[0])
    check(run_case(world, argv), code)


def test_the_matrix_has_at_least_200_cases():
    n = (len(list(_text_cases())) + len(FLAG_CASES) + len(MEMORY_CASES) + len(FINETUNE_CASES)
         + len(EVAL_CASES) + len(EXPORT_CASES) + len(ONNX_CASES))
    assert n >= 200, n


def test_streamed_summaries_carry_no_stray_whitespace(capsys):
    """summarize streams tokens as they come; what it prints equals ``" ".join(text.split())``
    (a token's leading space is not printed before the first word)."""
    from memgpt.cli.common import SpacedStream

    pieces = [" ", " The", "  harbour\n", "\tfreezes ", "", " .", "  "]
    stream = SpacedStream()
    for p in pieces:
        stream(p)
    assert capsys.readouterr().out == " ".join("".join(pieces).split()) == "The harbour freezes ."
