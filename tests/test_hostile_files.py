"""Hostile files (issue 14): only safetensors + JSON are ever loaded.

* A pickle whose unpickling would create a marker file, put wherever a loader looks for weights
  (checkpoint, Hugging Face folder, task folder, memory bank, passage index, chat save file,
  export folder), is refused with a one-line ``ValueError``/``OSError`` and the marker never
  appears; through the CLI it is exit 1 and one ``error:`` line.
* Malformed safetensors headers (truncated, header longer than the file, not JSON, offsets out
  of range, wrong dtype/shape) in a checkpoint, a task folder and a bank: one-line errors.
* A ``tokenizer.json`` with a regex other than the known byte-level one is refused at load
  (``tokenizers`` uses Oniguruma, a backtracking engine: ``(a+)+$`` on 26 ``a``s already hits its
  retry limit and panics, and a 20 kB adversarial input would run for minutes); the shipped
  byte-level pre-tokenizer encodes 20 kB adversarial strings in bounded time (subprocess test).
* Task folders and banks from another backbone are refused through the CLI too.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import pickle
import pickletools
import shutil
import struct
import subprocess
import sys
import textwrap

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from memgpt.cli import cli

ONE_LINE_ERRORS = (ValueError, OSError)


class _Payload:
    """Unpickling this calls ``pathlib.Path(marker).touch()``."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def pickle_payload(marker: pathlib.Path) -> bytes:
    data = pickle.dumps({"weight": _Payload(marker)}, protocol=4)
    # The payload is live (it names Path.touch and the marker), proven without loading it.
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    assert ("SHORT_BINUNICODE", "Path.touch") in ops or ("BINUNICODE", "Path.touch") in ops, ops
    assert any(arg == str(marker) or arg == marker.name for _, arg in ops) or \
        str(marker).encode() in data
    return data


def torch_payload(marker: pathlib.Path, tmp: pathlib.Path) -> bytes:
    """The same payload in torch.save's zip format (what ``torch.load`` would execute)."""
    path = tmp / "payload.pt"
    torch.save({"weight": _Payload(marker)}, path)
    data = path.read_bytes()
    assert data[:2] == b"PK" and b"touch" in data
    return data


PAYLOADS = {"pickle": lambda marker, tmp: pickle_payload(marker), "torch-zip": torch_payload}


def check_one_line(excinfo) -> None:
    exc = excinfo.value
    assert isinstance(exc, ONE_LINE_ERRORS), type(exc)
    msg = str(exc)
    assert msg and "\n" not in msg and len(msg) < 2000, msg


def check_cli_error(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code == 1, (result.exit_code, result.output[-800:])
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert result.stdout == ""


# ------------------------------------------------------------------ shared artifacts
@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_weights_dir, make_task_folder):
    """Pristine artifacts made once: a checkpoint, task folders, a bank, a chat file, an export
    folder (hand-made: manifest + settings + tokenizer + graph bytes)."""
    from memgpt.chat.saved import save_conversation
    from memgpt.checkpoint import load_model

    d = tmp_path_factory.mktemp("hostile")
    model = load_model(tiny_weights_dir)
    tasks = {t: make_task_folder(d, model, t) for t in ("classify", "qa")}
    (d / "notes.txt").write_text("The harbour freezes in January. Ferries stop.\n\n"
                                 "In spring the first ferry comes from Oslo.\n")
    env = {"MEMGPT_WEIGHTS": tiny_weights_dir, "MEMGPT_CACHE": str(d / "cache")}
    r = CliRunner().invoke(cli, ["memory", "build", str(d / "notes.txt"), "-o", str(d / "bank")],
                           env=env)
    assert r.exit_code == 0, r.output
    save_conversation(d / "chat.json", [{"role": "user", "content": "hi"},
                                        {"role": "assistant", "content": "hello"}], None, None)
    export = d / "export"
    export.mkdir()
    (export / "settings.json").write_text(json.dumps(
        {"format": "memgpt-onnx", "version": 1, "task": "classify", "graph": {}}))
    shutil.copy(pathlib.Path(tiny_weights_dir) / "tokenizer.json", export / "tokenizer.json")
    (export / "model.onnx").write_bytes(b"")
    write_manifest(export)
    return {"dir": d, "ckpt": pathlib.Path(tiny_weights_dir), "env": env,
            "bank": d / "bank", "chat": d / "chat.json", "export": export, **tasks}


def write_manifest(folder: pathlib.Path) -> None:
    files = {p.name: {"bytes": p.stat().st_size,
                      "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted(folder.iterdir()) if p.name != "manifest.json"}
    (folder / "manifest.json").write_text(json.dumps({"files": files}))


def copy_of(world, key: str, tmp_path) -> pathlib.Path:
    dst = tmp_path / key
    shutil.copytree(world[key], dst)
    return dst


def update_passage_digest(bank: pathlib.Path, name: str) -> None:
    """Make passages.json's checksum match a replaced file, so the parser itself is reached."""
    meta = json.loads((bank / "passages.json").read_text())
    meta["sha256"][name] = hashlib.sha256((bank / name).read_bytes()).hexdigest()
    (bank / "passages.json").write_text(json.dumps(meta))


# ------------------------------------------------------------------ the loaders, one per target
def load_checkpoint(folder, world):
    from memgpt.checkpoint import load_model

    return load_model(folder)


def load_task_folder(folder, world):
    from memgpt.checkpoint import load_model
    from memgpt.tasks.artifacts import load_task

    return load_task(folder, load_model(str(world["ckpt"])))


def load_bank(folder, world):
    from memgpt.memory import MemoryBank

    return MemoryBank.load(folder)


def load_passages(folder, world):
    from memgpt.passages import PassageIndex

    return PassageIndex.load(folder)


# (id, artifact key, file replaced, loader, fix-up after replacing)
TARGETS = [
    ("checkpoint-weights", "ckpt", "model.safetensors", load_checkpoint, None),
    ("task-adapter", "classify", "adapter.safetensors", load_task_folder, None),
    ("task-head", "classify", "head.safetensors", load_task_folder, None),
    ("qa-head", "qa", "head.safetensors", load_task_folder, None),
    ("bank-tensors", "bank", "bank.safetensors", load_bank, None),
    ("passage-index", "bank", "passages.safetensors", load_passages, None),
    ("passage-index-digest-updated", "bank", "passages.safetensors", load_passages,
     lambda f: update_passage_digest(f, "passages.safetensors")),
    ("passage-rows-digest-updated", "bank", "passages.jsonl", load_passages,
     lambda f: update_passage_digest(f, "passages.jsonl")),
]


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
@pytest.mark.parametrize("target", TARGETS, ids=[t[0] for t in TARGETS])
def test_pickle_payload_is_refused_unexecuted(world, tmp_path, target, payload):
    _, key, name, loader, fix = target
    folder = copy_of(world, key, tmp_path)
    marker = tmp_path / "PWNED"
    (folder / name).write_bytes(PAYLOADS[payload](marker, tmp_path))
    if fix:
        fix(folder)
    with pytest.raises(ONE_LINE_ERRORS) as excinfo:
        loader(folder, world)
    check_one_line(excinfo)
    assert not marker.exists(), "the pickle was executed"


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_pickle_in_a_hugging_face_folder_is_refused(world, tmp_path, payload):
    from memgpt.checkpoint import load_model

    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(
        {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
         "num_hidden_layers": 2, "intermediate_size": 128, "vocab_size": 512}))
    shutil.copy(world["ckpt"] / "tokenizer.json", folder / "tokenizer.json")
    marker = tmp_path / "PWNED"
    data = PAYLOADS[payload](marker, tmp_path)
    (folder / "pytorch_model.bin").write_bytes(data)  # the classic pickle checkpoint: ignored
    with pytest.raises(FileNotFoundError) as excinfo:
        load_model(folder)
    check_one_line(excinfo)
    assert "model.safetensors" in str(excinfo.value)
    (folder / "model.safetensors").write_bytes(data)
    with pytest.raises(ONE_LINE_ERRORS) as excinfo:
        load_model(folder)
    check_one_line(excinfo)
    assert not marker.exists()


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_pickle_as_a_chat_save_file_is_refused(tmp_path, payload):
    from memgpt.chat.saved import load_conversation

    marker = tmp_path / "PWNED"
    (tmp_path / "chat.json").write_bytes(PAYLOADS[payload](marker, tmp_path))
    with pytest.raises(ONE_LINE_ERRORS) as excinfo:
        load_conversation(tmp_path / "chat.json")
    check_one_line(excinfo)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["model.onnx", "settings.json", "manifest.json"])
@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_pickle_in_an_export_folder_is_refused(world, tmp_path, payload, name):
    from memgpt.export.runtime import ExportFolderError, check_folder

    folder = copy_of(world, "export", tmp_path)
    marker = tmp_path / "PWNED"
    (folder / name).write_bytes(PAYLOADS[payload](marker, tmp_path))
    with pytest.raises(ExportFolderError) as excinfo:
        check_folder(folder)  # the manifest's checksum no longer matches
    check_one_line(excinfo)
    if name != "manifest.json":
        write_manifest(folder)  # tampered consistently: the parsers themselves must refuse
        with pytest.raises(ExportFolderError) as excinfo:
            if name == "model.onnx":
                pytest.importorskip("onnxruntime")
                from memgpt.export.runtime import OnnxGraph

                OnnxGraph(folder)
            else:
                check_folder(folder)
        check_one_line(excinfo)
    assert not marker.exists()


def test_cli_refuses_pickled_weights_and_task_folders(world, tmp_path):
    marker = tmp_path / "PWNED"
    data = pickle_payload(marker)
    ckpt = copy_of(world, "ckpt", tmp_path)
    (ckpt / "model.safetensors").write_bytes(data)
    task = copy_of(world, "classify", tmp_path)
    (task / "head.safetensors").write_bytes(torch_payload(marker, tmp_path))
    bank = copy_of(world, "bank", tmp_path)
    (bank / "passages.safetensors").write_bytes(data)
    update_passage_digest(bank, "passages.safetensors")
    chat = tmp_path / "chat.json"
    chat.write_bytes(data)
    env = world["env"]
    cases = [  # (argv, what the error line names)
        (["classify", "--weights", str(ckpt), "--adapter", str(world["classify"]), "good tea"],
         "model.safetensors"),
        (["classify", "--adapter", str(task), "good tea"], "head.safetensors"),
        (["memory", "search", str(bank), "ferry"], "corrupt passage index"),
        (["qa", "--adapter", str(world["qa"]), "--memory", str(bank), "Who?"],
         "corrupt passage index"),
        (["chat", "--resume", str(chat), "--max-new-tokens", "2", "--reader", "none", "hi"],
         "not a saved conversation"),
    ]
    for argv, named in cases:
        result = CliRunner().invoke(cli, argv, env=env, prog_name="memgpt-task")
        check_cli_error(result)
        assert named in result.stderr, (argv, result.stderr)
    assert not marker.exists()


# ------------------------------------------------------------------ malformed safetensors
def header_of(data: bytes) -> tuple[int, dict]:
    n = struct.unpack("<Q", data[:8])[0]
    return n, json.loads(data[8:8 + n])


def with_header(data: bytes, header: dict) -> bytes:
    n, _ = header_of(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data[8 + n:]


def _first(header: dict) -> str:
    return next(k for k in header if k != "__metadata__")


def _offsets_out_of_range(data: bytes) -> bytes:
    _, h = header_of(data)
    k = _first(h)
    a, b = h[k]["data_offsets"]
    h[k]["data_offsets"] = [a, b + 10_000_000]
    return with_header(data, h)


def _offsets_reversed(data: bytes) -> bytes:
    _, h = header_of(data)
    k = _first(h)
    a, b = h[k]["data_offsets"]
    h[k]["data_offsets"] = [b, a]
    return with_header(data, h)


def _shape_lies(data: bytes) -> bytes:
    _, h = header_of(data)
    k = _first(h)
    h[k]["shape"] = [int(x) * 2 for x in h[k]["shape"]] or [2]
    return with_header(data, h)


def _dtype_unknown(data: bytes) -> bytes:
    _, h = header_of(data)
    h[_first(h)]["dtype"] = "Q17"
    return with_header(data, h)


MALFORMED = {
    "empty": lambda b: b"",
    "seven-bytes": lambda b: b[:7],
    "truncated-header": lambda b: b[:8 + header_of(b)[0] // 2],
    "truncated-data": lambda b: b[:len(b) - max(1, (len(b) - 8 - header_of(b)[0]) // 2)],
    "header-longer-than-file": lambda b: struct.pack("<Q", len(b) * 4) + b[8:],
    "header-length-2^63": lambda b: struct.pack("<Q", 2 ** 63) + b[8:],
    "header-not-json": lambda b: struct.pack("<Q", 16) + b"{not json!!}    " + b[8:],
    "header-a-list": lambda b: with_header(b, {}).replace(b"{}", b"[]", 1),
    "header-not-utf8": lambda b: struct.pack("<Q", 8) + b"\xff\xfe{}\x00\x00\x00\x00" + b[8:],
    "offsets-out-of-range": _offsets_out_of_range,
    "offsets-reversed": _offsets_reversed,
    "shape-does-not-fit-the-data": _shape_lies,
    "unknown-dtype": _dtype_unknown,
}


def _retyped(dtype: torch.dtype):
    def f(path: pathlib.Path) -> None:
        from safetensors.torch import load_file

        t = load_file(str(path))
        k = sorted(n for n in t if t[n].is_floating_point())[0]
        t[k] = t[k].to(dtype) if dtype != torch.bool else t[k] > 0
        save_file(t, str(path))
    return f


def _reshaped(path: pathlib.Path) -> None:
    from safetensors.torch import load_file

    t = load_file(str(path))
    k = max(sorted(t), key=lambda n: t[n].numel())
    t[k] = t[k].reshape(-1)[: max(1, t[k].numel() // 2)].clone()
    save_file(t, str(path))


def _dropped(path: pathlib.Path) -> None:
    from safetensors.torch import load_file

    t = load_file(str(path))
    del t[sorted(t)[-1]]
    save_file(t, str(path))


WELL_FORMED_BUT_WRONG = {"wrong-shape": _reshaped, "int64-tensor": _retyped(torch.int64),
                         "bool-tensor": _retyped(torch.bool), "missing-tensor": _dropped}
HEADER_TARGETS = [t for t in TARGETS if t[0] in ("checkpoint-weights", "task-adapter",
                                                 "task-head", "bank-tensors",
                                                 "passage-index-digest-updated")]


def _header_cases():
    for target in HEADER_TARGETS:
        for kind in sorted(MALFORMED) + sorted(WELL_FORMED_BUT_WRONG):
            if target[0] == "passage-index-digest-updated" and kind in WELL_FORMED_BUT_WRONG:
                continue  # its tensors are integer arrays checked against each other (_check)
            yield pytest.param(target, kind, id=f"{target[0]}-{kind}")


HEADER_CASES = list(_header_cases())


@pytest.mark.parametrize("target,kind", HEADER_CASES)
def test_malformed_safetensors_give_one_line_errors(world, tmp_path, target, kind):
    _, key, name, loader, fix = target
    folder = copy_of(world, key, tmp_path)
    path = folder / name
    if kind in MALFORMED:
        path.write_bytes(MALFORMED[kind](path.read_bytes()))
    else:
        WELL_FORMED_BUT_WRONG[kind](path)
    if fix:
        fix(folder)
    with pytest.raises(ONE_LINE_ERRORS) as excinfo:
        loader(folder, world)
    check_one_line(excinfo)


def test_cli_malformed_weights_and_head_are_one_error_line(world, tmp_path):
    ckpt = copy_of(world, "ckpt", tmp_path)
    w = ckpt / "model.safetensors"
    w.write_bytes(MALFORMED["header-longer-than-file"](w.read_bytes()))
    task = copy_of(world, "classify", tmp_path)
    _reshaped(task / "head.safetensors")
    for argv, named in (
            (["classify", "--weights", str(ckpt), "--adapter", str(world["classify"]), "x"],
             "invalid header length"),
            (["classify", "--adapter", str(task), "x"], "head weights do not fit")):
        result = CliRunner().invoke(cli, argv, env=world["env"], prog_name="memgpt-task")
        check_cli_error(result)
        assert named in result.stderr, result.stderr


# ------------------------------------------------------------------ tokenizer.json regexes
def tokenizer_with(world, tmp_path, part: str, value) -> pathlib.Path:
    d = json.loads((world["ckpt"] / "tokenizer.json").read_text())
    d[part] = value
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(d))
    return path


SPLIT = {"type": "Split", "behavior": "Isolated", "invert": False}
EVIL = ["(a+)+$", "(a|aa)+$", "(a*)*b", r"(\w+\s?)+$", "^(([a-z])+.)+[A-Z]([a-z])+$"]


@pytest.mark.parametrize("pattern", EVIL)
def test_tokenizer_with_a_pathological_pre_tokenizer_regex_is_refused(world, tmp_path, pattern):
    from memgpt.tokenizer import Tokenizer

    for value in ({**SPLIT, "pattern": {"Regex": pattern}},
                  {"type": "Sequence", "pretokenizers": [
                      {"type": "Digits", "individual_digits": True},
                      {**SPLIT, "pattern": {"Regex": pattern}}]}):
        path = tokenizer_with(world, tmp_path, "pre_tokenizer", value)
        with pytest.raises(ValueError, match="regular expression") as excinfo:
            Tokenizer.from_file(path)
        check_one_line(excinfo)


def test_regexes_elsewhere_in_tokenizer_json_are_refused_too(world, tmp_path):
    from memgpt.tokenizer import Tokenizer

    for part, value in (
            ("normalizer", {"type": "Replace", "pattern": {"Regex": "(a+)+$"}, "content": "x"}),
            ("decoder", {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"Regex": "(a|aa)+$"}, "content": ""},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                 "use_regex": True}]})):
        with pytest.raises(ValueError, match="regular expression") as excinfo:
            Tokenizer.from_file(tokenizer_with(world, tmp_path, part, value))
        check_one_line(excinfo)


def test_known_byte_level_tokenizers_still_load(world, tmp_path):
    from memgpt.tokenizer import GPT2_PATTERN, Tokenizer

    shipped = Tokenizer.from_file(world["ckpt"] / "tokenizer.json")
    assert shipped.decode(shipped.encode("Hello there, 123!")) == "Hello there, 123!"
    for value in (  # GPT-2's own layout: its regex spelled out in a Split, or a literal split
            {"type": "Sequence", "pretokenizers": [
                {**SPLIT, "pattern": {"Regex": GPT2_PATTERN}},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                 "use_regex": False}]},
            {"type": "Sequence", "pretokenizers": [
                {**SPLIT, "pattern": {"String": " "}},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                 "use_regex": True}]}):
        tok = Tokenizer.from_file(tokenizer_with(world, tmp_path, "pre_tokenizer", value))
        assert tok.decode(tok.encode("Hello there, 123!")) == "Hello there, 123!"
        if value["pretokenizers"][0]["pattern"].get("Regex"):  # the same words as shipped
            assert tok.encode("Hello there") == shipped.encode("Hello there")


def test_the_shipped_pre_tokenizer_is_bounded_on_adversarial_input(world):
    """20 kB strings that are worst cases for backtracking (long runs of one class, whitespace
    runs before a non-space for ``\\s+(?!\\S)``) encode in a few seconds, in a subprocess
    that is killed if it hangs."""
    code = textwrap.dedent(f"""
        import time
        from memgpt.tokenizer import Tokenizer
        tok = Tokenizer.from_file({str(world["ckpt"] / "tokenizer.json")!r})
        worst = 0.0
        for s in [" " * 20000 + "a", " \\t" * 10000 + "x", "a" * 20000 + "!", "'" * 20000,
                  "'s" * 10000, "1" * 20000, "\\u00a0" * 20000 + "b", "a " * 10000 + "  !",
                  "é" * 10000, "🙂" * 5000]:
            t0 = time.perf_counter()
            n = len(tok.encode(s))
            assert n > 0
            worst = max(worst, time.perf_counter() - t0)
        print(round(worst, 3))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip()) < 5.0, out.stdout


# ------------------------------------------------------------------ another backbone
@pytest.fixture(scope="module")
def other_world(tmp_path_factory, make_task_folder):
    """A checkpoint of the tiny preset with other weights (seed 7), its task folder and bank."""
    from memgpt.checkpoint import load_model, save_checkpoint
    from memgpt.config import get_preset
    from memgpt.model import MemGPT
    from memgpt.tokenizer import build_test_tokenizer

    d = tmp_path_factory.mktemp("other")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        model = MemGPT(get_preset("tiny")).eval()
    ckpt = save_checkpoint(model, build_test_tokenizer(), d / "ckpt")
    task = make_task_folder(d, load_model(ckpt), "classify")
    (d / "notes.txt").write_text("Ferries leave from the harbour at noon.\n")
    r = CliRunner().invoke(cli, ["memory", "build", str(d / "notes.txt"), "-o", str(d / "bank"),
                                 "--weights", str(ckpt)])
    assert r.exit_code == 0, r.output
    return {"ckpt": ckpt, "classify": task, "bank": d / "bank"}


def test_cli_refuses_task_folders_and_banks_of_another_backbone(world, other_world):
    env = world["env"]  # the tiny seed-0 weights
    r = CliRunner().invoke(cli, ["classify", "--adapter", str(other_world["classify"]), "x"],
                           env=env)
    check_cli_error(r)
    assert "another backbone" in r.stderr
    r = CliRunner().invoke(cli, ["generate", "--max-new-tokens", "2", "--memory",
                                 str(other_world["bank"]), "hi"], env=env)
    check_cli_error(r)
    assert "backbone" in r.stderr
    # and the right pairing runs
    r = CliRunner().invoke(cli, ["classify", "--adapter", str(other_world["classify"]),
                                 "--weights", str(other_world["ckpt"]), "x"], env=env)
    assert r.exit_code == 0, r.output


def test_a_bank_of_another_architecture_is_refused(world, tmp_path):
    """A bank whose metadata claims another head size than its tensors / the model."""
    from memgpt.checkpoint import load_model
    from memgpt.memory import MemoryBank

    bank = copy_of(world, "bank", tmp_path)
    meta = json.loads((bank / "bank.json").read_text())
    (bank / "bank.json").write_text(json.dumps({**meta, "n_kv_heads": meta["n_kv_heads"] * 2}))
    with pytest.raises(ValueError) as excinfo:
        MemoryBank.load(bank, model=load_model(str(world["ckpt"])))
    check_one_line(excinfo)
