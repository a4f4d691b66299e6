"""Run an exported task folder with onnxruntime — no torch needed.

Depends only on numpy, onnxruntime and tokenizers (plus memgpt's torch-free modules: the
tokenizer wrapper, the shared decoding loop and the text helpers). ``tests/export`` proves it
in a virtual environment without torch.

    task = ExportedTask("out/summarize")              # checks the manifest, opens the session
    task.generate(["long article ..."])[0].text
    task.classify(["I loved it"])[0].label            # classify exports
    task.answer("Who?", "context ...").answer         # qa exports

One ``ExportedTask`` may be used from many threads at once: it keeps no per-call state, and
``InferenceSession.run`` is thread-safe.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memgpt.decoding import right_pad
from memgpt.export import specs
from memgpt.export.protoscan import ProtoError, external_locations
from memgpt.paths import sha256_file
from memgpt.tasks.pipeline import TaskPipeline
from memgpt.tasks.registry import CHAT_TASK, TASK_DEFS
from memgpt.threads import session_options

log = logging.getLogger(__name__)
_INT64 = np.int64


class ExportFolderError(ValueError):
    """A missing, corrupt, tampered or unsupported export folder, or bad input to its graph."""


@dataclass(frozen=True)
class Settings:
    """The parts of settings.json the pipelines read (duck-types a ``TaskSpec``)."""

    task: str
    template: str
    chat: bool
    max_input_tokens: int
    generation: dict
    labels: tuple[str, ...]
    info: dict


def _read_json(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportFolderError(f"{path.parent}: not an export folder (no {path.name})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExportFolderError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ExportFolderError(f"{path}: expected a JSON object")
    return obj


def _plain_name(name: Any) -> bool:
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name
            and "\\" not in name and "\0" not in name and not os.path.isabs(name))


def check_folder(folder: str | os.PathLike, *, verify: bool = True) -> tuple[dict, bytes]:
    """Validate an export folder; return its settings and the graph's bytes.

    Checks: the manifest names only plain files inside the folder, each exists with the recorded
    size and (``verify``) sha256; the settings are of a supported format; every external-data
    reference of the graph is a plain file name listed in the manifest.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportFolderError(f"{folder}: no such export folder")
    manifest = _read_json(folder / specs.MANIFEST_FILE)
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ExportFolderError(f"{folder}: manifest.json lists no files")
    seen = _verified(folder) if verify else {}
    for name, meta in files.items():
        if not _plain_name(name):
            raise ExportFolderError(f"{folder}: manifest entry {name!r} is not a file name inside "
                                    "the folder")
        path = folder / name
        if not path.is_file() or path.is_symlink():
            raise ExportFolderError(f"{folder}: {name} is missing (listed in manifest.json)")
        if not isinstance(meta, dict) or path.stat().st_size != meta.get("bytes"):
            raise ExportFolderError(f"{folder}: {name} does not match manifest.json (size)")
        if verify and not seen.get(name) == _stamp(path, meta) and \
                sha256_file(path) != meta.get("sha256"):
            raise ExportFolderError(f"{folder}: {name} does not match manifest.json (sha256); "
                                    "the folder was modified or is corrupt — export it again")
    for need in (specs.SETTINGS_FILE, specs.GRAPH_FILE, specs.TOKENIZER_FILE):
        if need not in files:
            raise ExportFolderError(f"{folder}: manifest.json does not list {need}")
    settings = _read_json(folder / specs.SETTINGS_FILE)
    if settings.get("format") != specs.FORMAT or settings.get("version") != specs.FORMAT_VERSION:
        raise ExportFolderError(f"{folder}: unsupported export format "
                                f"{settings.get('format')!r} v{settings.get('version')!r}")
    task = settings.get("task")
    if not isinstance(task, str) or (task not in TASK_DEFS and task != CHAT_TASK):
        raise ExportFolderError(f"{folder}: unknown task {settings.get('task')!r}")
    data = (folder / specs.GRAPH_FILE).read_bytes()
    try:
        locations = external_locations(data)
    except ProtoError as e:
        raise ExportFolderError(f"{folder}: {specs.GRAPH_FILE} is not a valid ONNX file ({e})"
                                ) from None
    for loc in locations:
        if not _plain_name(loc) or loc not in files:
            raise ExportFolderError(f"{folder}: the graph names external data {loc!r} outside "
                                    "the folder or not in manifest.json; refusing to load it")
    if verify:
        _remember(folder, {name: _stamp(folder / name, meta) for name, meta in files.items()})
    return settings, data


# Verified once, trusted while unchanged: after a folder's files matched their sha256, their
# (size, mtime, ctime, inode, sha256) go into a record in the user cache; a later start hashes
# only files whose stat differs (any write changes mtime and ctime; ctime cannot be set back by
# hand), so an app does not re-hash a 650 MB folder on every launch.
def _stamp(path: Path, meta: dict) -> list:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, meta.get("sha256")]


def _record_path(folder: Path) -> Path:
    import hashlib

    from memgpt.paths import cache_dir

    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:32]
    return cache_dir() / "verified" / f"{key}.json"


def _verified(folder: Path) -> dict:
    try:
        record = json.loads(_record_path(folder).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or record.get("folder") != str(folder.resolve()):
        return {}
    files = record.get("files")
    return files if isinstance(files, dict) else {}


def _remember(folder: Path, stamps: dict) -> None:
    from memgpt.paths import atomic_write_text

    try:
        path = _record_path(folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"folder": str(folder.resolve()), "files": stamps}))
    except OSError as e:  # a read-only cache only costs the next start a re-hash
        log.debug("could not record the verified export %s: %s", folder, e)


def providers_for(device: str) -> list[str]:
    import onnxruntime as ort

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ExportFolderError("--device cuda needs onnxruntime-gpu with a CUDA device "
                                    "(pip install 'memgpt[onnx-gpu]')")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ExportFolderError(f"device must be cpu or cuda, got {device!r}")


class OnnxGraph:
    """One onnxruntime session over an export's graph, with checked inputs."""

    def __init__(self, folder: str | os.PathLike, *, device: str = "cpu",
                 threads: int | None = None, verify: bool = True) -> None:
        import onnxruntime as ort

        self.folder = Path(folder)
        self.settings, data = check_folder(self.folder, verify=verify)
        g = self.settings.get("graph") or {}
        self.kind = g.get("kind")
        self.inputs, self.outputs = tuple(g.get("inputs", ())), tuple(g.get("outputs", ()))
        # threads None: --threads / MEMGPT_THREADS / OMP_NUM_THREADS / physical cores; no spinning
        opts = session_options(threads, ort)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.device = device
        try:
            # The graph bytes already checked are the bytes loaded (no second read to race).
            self.session = ort.InferenceSession(data, sess_options=opts,
                                                providers=providers_for(device))
        except ExportFolderError:
            raise
        except Exception as e:  # onnxruntime raises its own exception types
            raise ExportFolderError(f"{self.folder}: onnxruntime cannot load the graph: "
                                    f"{str(e).splitlines()[0]}") from None
        have_in = tuple(i.name for i in self.session.get_inputs())
        have_out = tuple(o.name for o in self.session.get_outputs())
        if have_in != self.inputs or have_out != self.outputs:
            raise ExportFolderError(f"{self.folder}: the graph's inputs/outputs do not match "
                                    "settings.json")
        self._ranks = {i.name: len(i.shape) for i in self.session.get_inputs()}
        self.provider = self.session.get_providers()[0]

    def _check(self, arrays: dict[str, np.ndarray], bound: dict[str, Any] | None = None) -> None:
        """Every input present (as an array or a bound OrtValue), arrays of the right rank."""
        missing = [n for n in self.inputs if n not in arrays and n not in (bound or {})]
        if missing:
            raise ExportFolderError(f"missing graph inputs: {', '.join(missing)}")
        for name, a in arrays.items():
            if a.ndim != self._ranks[name]:
                raise ExportFolderError(f"input {name} has {a.ndim} dimensions; the graph "
                                        f"wants {self._ranks[name]}")

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._check({n: feeds[n] for n in self.inputs if n in feeds})
        try:
            out = self.session.run(None, {n: feeds[n] for n in self.inputs})
        except Exception as e:
            raise ExportFolderError(f"onnxruntime rejected the inputs: "
                                    f"{str(e).splitlines()[0]}") from None
        return dict(zip(self.outputs, out))


    def run_bound(self, arrays: dict[str, np.ndarray], values: dict[str, Any]) -> dict[str, Any]:
        """Run with I/O binding: ``arrays`` are numpy inputs, ``values`` OrtValues (e.g. the
        previous step's key/value cache, fed back without a copy through numpy). Returns every
        output as an OrtValue left where the provider put it (CPU or GPU memory)."""
        self._check(arrays, values)
        binding = self.session.io_binding()
        for name, a in arrays.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(a))
        for name, v in values.items():
            binding.bind_ortvalue_input(name, v)
        where = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        for name in self.outputs:
            binding.bind_output(name, where)
        try:
            self.session.run_with_iobinding(binding)
        except Exception as e:
            raise ExportFolderError(f"onnxruntime rejected the inputs: "
                                    f"{str(e).splitlines()[0]}") from None
        return dict(zip(self.outputs, binding.get_outputs()))


@dataclass
class OnnxState:
    past: list[Any]  # present_key.0, present_value.0, ... [B, G, S, E]: OrtValues or arrays
    mask: np.ndarray  # [B, S]


class OnnxStepper:
    """A ``memgpt.decoding.Stepper`` over an exported decoder (left-pads batches of prompts)."""

    def __init__(self, graph: OnnxGraph, pad_id: int,
                 bank: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        if graph.kind != "decoder":
            raise ExportFolderError(f"{graph.folder} is a {graph.kind} export, not a decoder")
        self.graph, self.pad_id = graph, pad_id
        m = graph.settings["model"]
        self.n_layers, self.g, self.e = m["n_layers"], m["n_kv_heads"], m["head_dim"]
        self.has_bank = "memory_keys" in graph.inputs
        if self.has_bank:
            if bank is None:
                raise ExportFolderError("this export was made with a memory bank: pass "
                                        "bank=(keys, values)")
            if bank[0].shape[1] < m["top_k"]:
                raise ExportFolderError(f"this export reads a memory bank of at least "
                                        f"{m['top_k']} entries")
        self.bank = bank
        self.last_indices: list[np.ndarray] | None = None

    def _run(self, ids, mask, past):
        """One graph call. The cache stays in onnxruntime's memory between steps (I/O binding):
        no per-step copy of every layer's keys and values into and out of numpy."""
        arrays = {"input_ids": ids, "attention_mask": mask,
                  "position_ids": (np.cumsum(mask, -1) - 1).clip(min=0)[
                      :, mask.shape[1] - ids.shape[1]:].astype(_INT64)}
        names = self.graph.inputs[3:3 + 2 * self.n_layers]
        values = {}
        for n, p in zip(names, past):
            if isinstance(p, np.ndarray):
                arrays[n] = p
            else:
                values[n] = p
        if self.has_bank:
            arrays["memory_keys"], arrays["memory_values"] = self.bank
        out = self.graph.run_bound(arrays, values)
        present = [out[n.replace("past_", "present_")] for n in names]
        if self.has_bank:
            self.last_indices = [out[n].numpy() for n in self.graph.outputs
                                 if n.startswith("memory_")]
        return out["logits"].numpy(), OnnxState(present, mask)

    def prefill(self, prompts: list[list[int]]) -> tuple[np.ndarray, OnnxState]:
        ids, mask = right_pad(prompts, self.pad_id, left=True)
        empty = np.zeros((len(prompts), self.g, 0, self.e), dtype=np.float32)
        return self._run(ids, mask, [empty] * (2 * self.n_layers))

    def step(self, tokens: np.ndarray, state: OnnxState) -> tuple[np.ndarray, OnnxState]:
        mask = np.concatenate([state.mask, np.ones((state.mask.shape[0], 1), _INT64)], 1)
        return self._run(np.asarray(tokens, dtype=_INT64).reshape(-1, 1), mask, state.past)

    def reorder(self, state: OnnxState, rows: np.ndarray) -> OnnxState:
        past = [(p if isinstance(p, np.ndarray) else p.numpy())[rows] for p in state.past]
        return OnnxState(past, state.mask[rows])


class ExportedTask(TaskPipeline):
    """A task run from an export folder: the task pipeline (``memgpt.tasks.pipeline``) over
    onnxruntime, so the same results as the torch backend."""

    runtime = "onnx"

    def __init__(self, folder: str | os.PathLike, *, device: str = "cpu",
                 threads: int | None = None, verify: bool = True) -> None:
        from memgpt.tokenizer import Tokenizer

        self.graph = OnnxGraph(folder, device=device, threads=threads, verify=verify)
        s = self.graph.settings
        self.settings = Settings(s["task"], s.get("template", "{text}"), bool(s.get("chat")),
                                 int(s.get("max_input_tokens", 512)),
                                 dict(s.get("generation") or {}), tuple(s.get("labels") or ()),
                                 dict(s.get("info") or {}))
        t = s.get("tokens") or {}
        self.tokenizer = Tokenizer.from_file(self.graph.folder / specs.TOKENIZER_FILE,
                                             bos_id=t.get("bos_id"), eos_id=t.get("eos_id"),
                                             pad_id=t.get("pad_id"))
        self.task = self.settings.task

    @property
    def precision(self) -> str:
        return self.graph.settings.get("precision", "fp32")

    def _need(self, *tasks: str) -> None:
        if self.task not in tasks:
            raise ExportFolderError(f"{self.graph.folder} is a {self.task} export, not "
                                    f"{' or '.join(tasks)}")

    @property
    def max_seq_len(self) -> int:
        return int(self.graph.settings["model"]["max_seq_len"])

    def stepper(self, *, keep_hidden: bool = False) -> OnnxStepper:
        if keep_hidden:
            raise ValueError("the export gives logits only, not the hidden states a translation "
                             "memory reads: use --runtime torch")
        return OnnxStepper(self.graph, self.tokenizer.pad_id)

    def class_logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.graph.run({"input_ids": ids, "attention_mask": mask})["logits"]

    def span_logits(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self.graph.run({"input_ids": ids, "attention_mask": mask})
        return out["start_logits"], out["end_logits"]
