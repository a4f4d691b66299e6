"""The task registry and where task folders are (torch-free: the ONNX runtime imports it).

Every fact about a task lives in its :class:`TaskDef` in :data:`TASK_DEFS`; the task tables
elsewhere (record fields, head and graph kinds, metrics, shipped defaults, the CLI's task
choices) are lookups in it. Adding a task = one entry here + its module (see
``docs/architecture.md#add-a-task``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from memgpt.paths import sha256_file


@dataclass(frozen=True)
class TaskDef:
    """What a task is, as data.

    Attributes:
        name: the task's name (``TaskSpec.task``, ``--task``).
        inputs: the record fields a model input is made of (required in user files).
        target: the reference field: required to train or evaluate.
        head: the ``HeadSpec.kind`` its task folders use.
        graph: the exported graph kind (``memgpt.export.specs.graph_spec``).
        metrics: names in ``memgpt.eval.metrics.METRICS`` that score it; the first one's
            ``score`` is the main value and gets the bootstrap interval.
        values: the reported values, in order: a metric's name (its ``score``) or a key of a
            metric's ``details``.
        main_metric: the value the task is ranked by (the first metric's ``score``).
        default: the shipped folder used when none is named ("" when a label set picks it).
        label_sets: ``--labels`` name -> shipped folder (classify).
        datasets: built-in datasets of the task -> the shipped folder evaluated on it.
        bench: the built-in dataset ``memgpt-task bench`` scores it on (a key of ``datasets``).
        baseline_train: its baseline learns from the dataset's training split.
        prompt: the default (zero-shot) prompt template; ``str.format`` fields: the inputs
            (qa: ``{question}``, the context follows it; translate also ``{src}``, ``{tgt}``).
    """

    name: str
    inputs: tuple[str, ...]
    target: str
    head: str
    graph: str
    metrics: tuple[str, ...]
    values: tuple[str, ...]
    main_metric: str
    datasets: Mapping[str, str]
    bench: str
    prompt: str
    default: str = ""
    label_sets: Mapping[str, str] = field(default_factory=dict)
    baseline_train: bool = False

    def __post_init__(self) -> None:
        if self.main_metric not in self.values:
            raise ValueError(f"{self.name}: main_metric {self.main_metric!r} is not in values")
        if self.bench not in self.datasets:
            raise ValueError(f"{self.name}: bench dataset {self.bench!r} is not in datasets")
        if not self.default and not self.label_sets:
            raise ValueError(f"{self.name}: needs a default folder or label sets")


TASK_DEFS: dict[str, TaskDef] = {d.name: d for d in (
    TaskDef("summarize", inputs=("text",), target="summary", head="lm", graph="decoder",
            metrics=("rouge",), values=("rouge1", "rouge2", "rougeL", "rougeLsum"),
            main_metric="rougeL", default="summarize",
            datasets={"written-summaries": "summarize", "bbc-headline": "summarize-headline"},
            bench="bbc-headline",
            prompt="Summarize the following text in two or three sentences.\n\n{text}"),
    TaskDef("translate", inputs=("text",), target="translation", head="lm", graph="decoder",
            metrics=("bleu", "chrf"), values=("bleu", "chrf"), main_metric="bleu",
            default="translate-en-es", datasets={"tatoeba-en-es": "translate-en-es"},
            bench="tatoeba-en-es", baseline_train=True,
            prompt="Translate this {src} text into {tgt}. Reply with the translation only."
                   "\n\n{text}"),
    TaskDef("classify", inputs=("text",), target="label", head="classify", graph="classifier",
            metrics=("accuracy",), values=("accuracy", "macro_f1"), main_metric="accuracy",
            label_sets={"sentiment": "classify-sentiment", "topic": "classify-topic",
                        "spam": "classify-spam"},
            datasets={"bbc-topic": "classify-topic", "sentiment": "classify-sentiment",
                      "sms-spam": "classify-spam"},
            bench="bbc-topic", baseline_train=True, prompt="{text}"),
    TaskDef("qa", inputs=("context", "question"), target="answers", head="span", graph="span",
            metrics=("squad",), values=("f1", "em"), main_metric="f1", default="qa",
            datasets={"wiki-qa": "qa", "bbc-qa": "qa", "bbc-cloze": "qa"}, bench="wiki-qa",
            prompt="Question: {question}\nContext:\n"),
)}


# Not a task of the registry: `memgpt-task export --task chat` exports the plain backbone as a
# decoder for `memgpt-task chat` (no adapter, no head, no datasets); its settings name it so.
CHAT_TASK = "chat"


def task_def(task: str) -> TaskDef:
    """The :class:`TaskDef` of ``task``; a one-line error naming the tasks otherwise."""
    try:
        return TASK_DEFS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASK_DEFS)}") from None


def task_names() -> tuple[str, ...]:
    """The registered tasks, in registry order (read at call time: the CLI's choices)."""
    return tuple(TASK_DEFS)


def shipped_defaults() -> dict[str, str]:
    """Shipped default folders by name: ``TASK`` or ``TASK:LABELS`` -> folder name."""
    out: dict[str, str] = {}
    for d in TASK_DEFS.values():
        if d.label_sets:
            out.update({f"{d.name}:{k}": v for k, v in d.label_sets.items()})
        else:
            out[d.name] = d.default
    return out


DEFAULTS_DIR = Path(__file__).parent / "defaults"


def resolve_task(name_or_path: str | os.PathLike) -> Path:
    """A task folder: a path, or the name of a shipped default (:func:`shipped_defaults`)."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    defaults = shipped_defaults()
    name = defaults.get(str(name_or_path), str(name_or_path))
    shipped = DEFAULTS_DIR / name
    if "/" not in name and (shipped / "task.json").is_file():
        return shipped
    if path.exists():
        raise ValueError(f"{path}: not a task folder (expected a folder with task.json)")
    names = sorted(p.parent.name for p in DEFAULTS_DIR.glob("*/task.json"))
    raise FileNotFoundError(f"no task folder or shipped default named {str(name_or_path)!r} "
                            f"(shipped: {', '.join(names)})")


def task_folder_hash(folder: str | os.PathLike) -> str:
    """sha256 over a task folder's files (names + contents): tells whether an export is stale."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(Path(folder).iterdir()):
        if p.is_file():
            h.update(p.name.encode() + b"\0" + sha256_file(p).encode() + b"\n")
    return h.hexdigest()
