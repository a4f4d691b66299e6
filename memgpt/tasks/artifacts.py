"""Task artifacts: an adapter + head + settings folder that turns the shared backbone into a task.

A task folder holds

* ``task.json`` — a :class:`TaskSpec` (task, head spec, adapter spec, prompt template, generation
  settings, the hash of the backbone it was trained on, provenance and test scores);
* ``adapter.safetensors`` — only the adapter weights (absent for a head-only task);
* ``head.safetensors`` — the head weights (absent for generation tasks, whose head is the tied
  LM head of the backbone).

Only safetensors and JSON are read, never pickles. Folders are written to a temporary sibling and
renamed into place, so an interrupted save never leaves a half-written artifact. Loading checks the
backbone hash: an adapter trained on other weights is refused with a clear error.

The shipped defaults live in ``memgpt/tasks/defaults/<name>/`` (see
``memgpt.tasks.registry.shipped_defaults``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from memgpt.paths import atomic_dir, file_mode
from memgpt.tasks.adapters import AdapterSpec, adapter_state_dict, add_adapters, remove_adapters
from memgpt.tasks.heads import HeadSpec, TaskModel, build_head
from memgpt.tasks.registry import DEFAULTS_DIR, TASK_DEFS, resolve_task  # noqa: F401

FORMAT = "memgpt-task"
VERSION = 1


@dataclass(frozen=True)
class TaskSpec:
    """Everything but the weights that a task artifact needs.

    Attributes:
        task: a task of ``memgpt.tasks.registry.TASK_DEFS``.
        head: the head's spec (``kind="lm"`` for generation tasks).
        adapter: the adapter's spec, or None for a head-only (frozen backbone) task.
        template: a ``str.format`` template of the model input; fields by task: ``{text}``
            (summarize, translate, classify) or ``{question}`` (qa; the context follows it).
        chat: wrap the formatted template in the chat template as a user message.
        max_input_tokens: longer inputs are truncated (summarize, classify) or windowed (qa).
        generation: ``GenerationConfig`` keyword arguments (generation tasks).
        backbone_hash: ``memgpt.checkpoint.backbone_hash`` of the backbone it was trained on
            ("" = any backbone; zero-shot specs).
        info: provenance: data, command line, training settings, test scores.
    """

    task: str
    head: HeadSpec
    adapter: AdapterSpec | None = None
    template: str = "{text}"
    chat: bool = False
    max_input_tokens: int = 512
    generation: dict = field(default_factory=dict)
    backbone_hash: str = ""
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASK_DEFS:
            raise ValueError(f"task must be one of {tuple(TASK_DEFS)}, got {self.task!r}")
        head = TASK_DEFS[self.task].head
        if self.head.kind != head:
            raise ValueError(f"a {self.task} task needs a {head!r} head, "
                             f"got {self.head.kind!r}")
        if self.max_input_tokens < 8:
            raise ValueError(f"max_input_tokens must be >= 8, got {self.max_input_tokens}")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.head.labels

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["head"] = self.head.to_dict()
        d["adapter"] = None if self.adapter is None else self.adapter.to_dict()
        return {"format": FORMAT, "version": VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskSpec:
        d = dict(d)
        if d.pop("format", None) != FORMAT:
            raise ValueError(f"not a {FORMAT} spec (missing or wrong 'format')")
        if d.pop("version", None) != VERSION:
            raise ValueError(f"unsupported {FORMAT} version (this memgpt reads {VERSION})")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown task.json keys: {sorted(unknown)}")
        d["head"] = HeadSpec.from_dict(d["head"])
        if d.get("adapter") is not None:
            d["adapter"] = AdapterSpec(**d["adapter"])
        return cls(**d)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def save_task(folder: str | os.PathLike, spec: TaskSpec, model: TaskModel) -> Path:
    """Write ``spec`` + the adapter and head weights of ``model`` to ``folder`` atomically."""
    folder = Path(folder)
    # a temporary sibling with the umask's permissions, renamed into place (memgpt.paths)
    with atomic_dir(folder, old=folder.parent / f".{folder.name}.old.{os.getpid()}") as tmp:
        if spec.adapter is not None:
            tensors = {k: v.detach().cpu().contiguous()
                       for k, v in adapter_state_dict(model.backbone).items()}
            save_file(tensors, str(tmp / "adapter.safetensors"), metadata={"format": "pt"})
        if model.head is not None:
            tensors = {k: v.detach().cpu().contiguous()
                       for k, v in model.head.state_dict().items()}
            save_file(tensors, str(tmp / "head.safetensors"), metadata={"format": "pt"})
        _write_json(tmp / "task.json", spec.to_dict())
        for f in tmp.iterdir():
            os.chmod(f, file_mode())
    return folder


def read_spec(name_or_path: str | os.PathLike) -> tuple[Path, TaskSpec]:
    folder = resolve_task(name_or_path)
    try:
        d = json.loads((folder / "task.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{folder}: no task.json (not a task folder)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{folder / 'task.json'}: not valid JSON ({e})") from None
    try:
        return folder, TaskSpec.from_dict(d)
    except (TypeError, KeyError) as e:
        raise ValueError(f"{folder / 'task.json'}: bad task spec ({e})") from None


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise ValueError(f"{path.parent}: missing {path.name}") from None
    except Exception as e:  # safetensors raises its own error type on corrupt files
        raise ValueError(f"{path}: unreadable safetensors file ({e})") from None


def _check_fit(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor], where: Path,
               what: str) -> None:
    """Every tensor of ``state`` is floating point and of the shape of its parameter in ``own``
    (``copy_`` would broadcast a smaller one and cast an integer one silently)."""
    bad = [f"{k} {tuple(v.shape)} {v.dtype} vs {tuple(own[k].shape)}" for k, v in state.items()
           if k in own and (not v.is_floating_point() or v.shape != own[k].shape)]
    if bad:
        raise ValueError(f"{where}: {what} weights do not fit the model ({'; '.join(bad[:3])})")


def check_backbone(spec: TaskSpec, backbone: torch.nn.Module, where: str) -> None:
    """Refuse an artifact trained on other backbone weights."""
    from memgpt.checkpoint import backbone_hash

    remove_adapters(backbone)
    have = backbone_hash(backbone)
    if spec.backbone_hash and spec.backbone_hash != have:
        raise ValueError(f"{where} was trained on another backbone (hash "
                         f"{spec.backbone_hash[:12]}, loaded {have[:12]}); pass the --weights "
                         "it was trained with")


def load_task(name_or_path: str | os.PathLike, backbone: torch.nn.Module) -> tuple[TaskSpec,
                                                                                 TaskModel]:
    """Put a task's adapter on ``backbone`` (replacing any other) and build its head.

    Returns:
        The spec and a ``TaskModel`` in eval mode sharing ``backbone``.
    """
    folder, spec = read_spec(name_or_path)
    check_backbone(spec, backbone, str(folder))
    if spec.head.kind == "lm" and spec.adapter is None:  # a prompt only: fits any backbone
        spec = replace(spec, head=replace(spec.head, d_model=backbone.config.d_model))
    if spec.adapter is not None:
        add_adapters(backbone, spec.adapter)
        state = _load_weights(folder / "adapter.safetensors")
        own = dict(backbone.named_parameters())
        expected = set(adapter_state_dict(backbone))
        missing, unknown = sorted(expected - set(state)), sorted(set(state) - expected)
        if unknown or missing:
            remove_adapters(backbone)
            raise ValueError(f"{folder}: adapter weights do not match the spec "
                             f"(unknown {unknown[:3]}, missing {missing[:3]})")
        try:
            _check_fit(state, own, folder, "adapter")
        except ValueError:
            remove_adapters(backbone)
            raise
        with torch.no_grad():
            for k, v in state.items():
                own[k].copy_(v)
    head = build_head(spec.head)
    if head is not None:
        state, own = _load_weights(folder / "head.safetensors"), head.state_dict()
        missing, unknown = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unknown:
            raise ValueError(f"{folder}: head weights do not match the spec "
                             f"(unknown {unknown[:3]}, missing {missing[:3]})")
        _check_fit(state, own, folder, "head")
        head.load_state_dict(state)
        head.to(next(backbone.parameters()).device)
    return spec, TaskModel(backbone, spec.head, head).eval()
