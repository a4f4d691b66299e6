"""What every ``memgpt-task`` command shares: the error rule, common options, the
TEXT|FILE|- rule and input readers, output helpers, opening a model or a task on a runtime.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from memgpt.paths import decode_text

log = logging.getLogger("memgpt.cli")

DEFAULT_WEIGHTS = "smollm2-135m"
# Errors that library code raises on bad input or environment; anything else is a bug and keeps
# its traceback.
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, RuntimeError, OSError, UnicodeDecodeError)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    lines = [s.strip() for s in str(msg).splitlines() if s.strip()]
    return "; ".join(lines) or type(exc).__name__


class TaskGroup(click.Group):
    """A click group that turns library errors into a single ``error:`` line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # --help, --version and usage errors (click's Exit is a RuntimeError)
        except (*USER_ERRORS, KeyboardInterrupt) as exc:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("traceback", exc_info=exc)
            click.echo(f"error: {_one_line(exc)}", err=True)
            ctx.exit(1)


# ----------------------------------------------------------------------------- shared helpers


class TaskChoice(click.Choice):
    """``--task``: the tasks of ``memgpt.tasks.registry.TASK_DEFS``, read when the option is."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from memgpt.tasks.registry import task_names

        return task_names()

    @choices.setter
    def choices(self, value) -> None:  # click.Choice.__init__ assigns; the registry decides
        pass


def model_options(f: Callable) -> Callable:
    """``--weights``, ``--device`` and ``--json``, shared by every command that runs the model."""
    f = click.option("--json", "as_json", is_flag=True,
                     help="Print one JSON object per line instead of plain text.")(f)
    f = click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu",
                     show_default=True, help="Where the model runs.")(f)
    return click.option(
        "--weights", "weights", default=DEFAULT_WEIGHTS, show_default=True,
        envvar="MEMGPT_WEIGHTS", metavar="NAME|PATH",
        help="smollm2-135m (fetched on first use), a preset such as tiny, a .gguf file, a "
             "safetensors folder or a memgpt checkpoint folder. Env: MEMGPT_WEIGHTS.")(f)


def _threads_callback(ctx: click.Context, param: click.Parameter, value: int | None) -> int:
    from memgpt.threads import resolve_threads, set_threads

    try:
        return set_threads(resolve_threads(value))
    except ValueError as e:  # a bad MEMGPT_THREADS / OMP_NUM_THREADS: a usage error (exit 2)
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


def threads_option(f: Callable | None = None, *, expose_value: bool = False) -> Callable:
    """``--threads N``, shared by every command that runs a model: resolved (N, else
    MEMGPT_THREADS, else OMP_NUM_THREADS, else the physical cores) and applied to torch and to the
    onnxruntime sessions opened afterwards before the command runs (``memgpt.threads``)."""
    option = click.option(
        "--threads", type=click.IntRange(1), default=None, metavar="N",
        expose_value=expose_value, callback=_threads_callback,
        help="CPU threads for torch and onnxruntime (default: MEMGPT_THREADS, else "
             "OMP_NUM_THREADS, else the physical cores).")
    return option if f is None else option(f)


def load_model_and_tokenizer(weights: str, device: str) -> tuple[Any, Any]:
    import torch

    from memgpt.checkpoint import load_model, load_tokenizer

    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but torch sees no CUDA device")
    log.info("loading %s on %s", weights, device)
    return load_model(weights, device=device), load_tokenizer(weights)


# The one rule for TEXT|FILE|- arguments (README "Command line", `memgpt-task --help`).
FILE_SUFFIXES = (".txt", ".md", ".jsonl", ".csv", ".tsv")


def is_file_arg(arg: str) -> bool:
    """Whether a TEXT|FILE|- argument names a file: ``-`` (stdin), anything that exists on disk,
    or a name ending in .txt, .md, .jsonl, .csv or .tsv (which must then exist). Anything else,
    and anything with a line break, is the text itself."""
    if arg == "-":
        return True
    if "\n" in arg or "\0" in arg:
        return False
    return os.path.lexists(arg) or Path(arg).suffix.lower() in FILE_SUFFIXES


def input_path(name: str) -> Path:
    """``name`` as an input file that exists and is a regular file, checked without opening it
    (a FIFO or a device would block the read)."""
    path = Path(name)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {name}")
    if path.is_dir():
        raise ValueError(f"{name} is a directory, not a text file")
    if not path.is_file():
        raise ValueError(f"{name} is not a regular file")
    return path


def read_text(name: str) -> str:
    """UTF-8 text of a file, or of stdin for ``-``; one-line errors for unusable input."""
    if name == "-":
        stdin = sys.stdin
        data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()
        label = "stdin"
    else:
        data, label = input_path(name).read_bytes(), name
    text = decode_text(data, label)
    if not text.strip():
        raise ValueError(f"{label} is empty")
    return text


def emit_json(obj: dict) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


def stream_to_stdout(piece: str) -> None:
    click.echo(piece, nl=False)  # click.echo flushes, so tokens appear as they come


class SpacedStream:
    """Streams text to stdout as ``" ".join(text.split())`` prints it: no leading or trailing
    whitespace, a run of whitespace as one space (held back until a word follows it)."""

    def __init__(self) -> None:
        self.started = self.gap = False

    def __call__(self, piece: str) -> None:
        out = []
        for ch in piece:
            if ch.isspace():
                self.gap = self.started
                continue
            if self.gap:
                out.append(" ")
            out.append(ch)
            self.started, self.gap = True, False
        if out:
            stream_to_stdout("".join(out))


class CountingTokenizer:
    """Wraps a tokenizer to learn how many tokens ``generate`` produced (its last decode call)."""

    def __init__(self, tok: Any) -> None:
        self._tok, self.last_len = tok, 0

    def decode(self, ids: list[int]) -> str:
        self.last_len = len(ids)
        return self._tok.decode(ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tok, name)


def load_bank(path: str, model: Any) -> Any:
    from memgpt.memory import MemoryBank

    return MemoryBank.load(path, model=model)  # refuses a bank built with other weights



# ----------------------------------------------------------------------------- generation settings

SAMPLING_FLAGS = ("temperature", "top_k", "top_p")


def sampling_options(repetition_penalty: float = 1.0) -> Callable[[Callable], Callable]:
    """``--strategy``, ``--temperature``, ``--top-k``, ``--top-p``, ``--seed``, ``--num-beams``,
    ``--repetition-penalty`` and ``--stop``, shared by ``generate`` and ``chat``; the command
    turns them into a ``GenerationConfig`` with :func:`generation_settings`."""

    def add(f: Callable) -> Callable:
        for option in reversed((
            click.option("--strategy", type=click.Choice(["greedy", "sample", "beam"]),
                         default=None, help="Decoding strategy [default: greedy, or sample "
                                            "when a sampling flag is set]."),
            click.option("--temperature", type=click.FloatRange(0, min_open=True), default=None,
                         help="Sampling temperature (> 0) [default: 1.0]."),
            click.option("--top-k", type=click.IntRange(0), default=None,
                         help="Keep the k most likely tokens (0: off) [default: 0]."),
            click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=None,
                         help="Nucleus sampling mass in (0, 1] [default: 1.0]."),
            click.option("--seed", type=int, default=0, show_default=True,
                         help="Sampling seed."),
            click.option("--num-beams", type=click.IntRange(1, 64), default=4,
                         show_default=True),
            click.option("--repetition-penalty", type=click.FloatRange(0, min_open=True),
                         default=repetition_penalty, show_default=True),
            click.option("--stop", multiple=True,
                         help="Stop when this text appears (repeatable)."),
        )):
            f = option(f)
        return f

    return add


def generation_settings(max_new_tokens: int, strategy: str | None, temperature, top_k, top_p,
                        seed: int, num_beams: int, repetition_penalty: float,
                        stop: tuple) -> dict:
    """``GenerationConfig`` keyword arguments from the :func:`sampling_options` values."""
    sampling = {k: v for k, v in zip(SAMPLING_FLAGS, (temperature, top_k, top_p)) if v is not None}
    return dict(max_new_tokens=max_new_tokens, strategy=strategy or (
        "sample" if sampling else "greedy"), seed=seed, num_beams=num_beams,
        repetition_penalty=repetition_penalty, stop_strings=stop, **sampling)



# ----------------------------------------------------------------------------- tasks

RECORD_SUFFIXES = (".jsonl", ".csv", ".tsv")


def adapter_option(default: str | None):
    return click.option(
        "--adapter", "adapter", default=default, show_default=bool(default), metavar="NAME|DIR",
        help="Task folder to use: a shipped default name or a folder written by finetune.")


def batch_option(f):
    return click.option("--batch-size", type=click.IntRange(1, 256), default=8,
                        show_default=True, help="Inputs run together.")(f)


def read_inputs(arg: str, task: str) -> tuple[list[dict], bool]:
    """Records of an argument that is literal text, ``-`` (stdin) or a file; and whether it was
    a file of many inputs (so plain output prints one line per input)."""
    from memgpt.tasks.readers import read_records

    if arg != "-" and Path(arg).suffix.lower() in RECORD_SUFFIXES:
        return read_records(input_path(arg), task=task), True
    if is_file_arg(arg):
        lines = [s.strip() for s in read_text(arg).splitlines()]
        return [{"text": s} for s in lines if s], True
    if not arg.strip():
        raise ValueError("the input text is empty")
    return [{"text": arg}], False


def runtime_options(f):
    """``--runtime`` and ``--export``, shared by the task commands."""
    f = click.option("--export", "export_dir", default=None, metavar="DIR",
                     help="An export folder (memgpt-task export) to run; implies --runtime "
                          "onnx. Needs no torch.")(f)
    return click.option(
        "--runtime", type=click.Choice(["auto", "torch", "onnx"]), default="auto",
        show_default=True,
        help="torch, or onnx (--export DIR, else the cached export of the task folder). auto: "
             "onnx when --export is given or an up-to-date cached export exists, else torch.")(f)


def scale_options(f):
    """``--workers N`` and ``--ray ADDRESS``, shared by the batch commands (``memgpt.scale``)."""
    f = click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
                     help="Run the shards on a Ray cluster: local (start one here), auto (join "
                          "the running one) or its address; --workers actors (default 2). Needs "
                          "pip install 'memgpt[ray]'.")(f)
    return click.option("--workers", type=click.IntRange(1, 256), default=None, metavar="N",
                        help="Split the inputs among N worker processes (each loads the model "
                             "once and gets threads/N threads); results come back in input "
                             "order, the same as one process.")(f)


def open_scaled(task: str, adapter: str, weights: str, device: str, runtime: str = "torch",
                export_dir: str | None = None, *, workers: int | None = None,
                ray_address: str | None = None, shard_size: int = 8):
    """``open_task``, or a ``memgpt.scale.ShardedTask`` over it with --workers / --ray."""
    local = open_task(task, adapter, weights, device, runtime, export_dir)
    if not ray_address and (workers or 1) == 1:
        return local
    from memgpt.scale import ShardedTask
    from memgpt.threads import effective_threads

    n = workers or 2
    # the workers open exactly what ran here: an export folder if one was chosen
    folder = getattr(getattr(local, "graph", None), "folder", None)
    args = {"task": task, "adapter": adapter, "weights": weights, "device": device,
            "runtime": "onnx" if folder else "torch",
            "export_dir": str(folder) if folder else None}
    log.info("running on %d %s", n, "Ray actors" if ray_address else "worker processes")
    return ShardedTask(local, open_task, args, workers=n, threads=effective_threads(),
                       ray_address=ray_address, shard_size=shard_size)


def open_task(task: str, adapter: str, weights: str, device: str, runtime: str = "torch",
              export_dir: str | None = None):
    """The task on the asked runtime: a ``TorchTask`` or an ``ExportedTask`` (same methods)."""
    if export_dir and runtime == "torch":
        raise click.UsageError("--export DIR runs with onnxruntime; drop --runtime torch")
    if runtime != "torch":
        from memgpt.export.cache import find_export

        folder = export_dir or find_export(adapter)
        if folder is None and runtime == "onnx":
            raise FileNotFoundError(f"no up-to-date export of {adapter!r} in the cache: run "
                                    f"`memgpt-task export --task {adapter}` or pass --export DIR")
        if folder is not None:
            from memgpt.export.runtime import ExportedTask

            t = ExportedTask(folder, device=device)
            if t.task != task:
                raise ValueError(f"{folder} is a {t.task} export, not {task}")
            log.info("runtime: onnxruntime (%s, %s) from %s", t.precision, t.graph.provider, folder)
            return t
    from memgpt.tasks.pipelines import TorchTask

    return TorchTask(*load_for_task(task, adapter, weights, device))


def load_for_task(task: str, adapter: str, weights: str, device: str):
    from memgpt.tasks.artifacts import load_task

    model, tok = load_model_and_tokenizer(weights, device)
    spec, task_model = load_task(adapter, model)
    if spec.task != task:
        raise ValueError(f"{adapter} is a {spec.task} task folder, not {task}")
    return spec, task_model, tok


def load_training_data(spec_or_path: str, task: str) -> list[dict]:
    from memgpt.tasks.data import load_builtin, parse_data_spec
    from memgpt.tasks.readers import read_records

    if spec_or_path.startswith("builtin:"):
        name, split = parse_data_spec(spec_or_path)
        return load_builtin(name, split)
    return read_records(input_path(spec_or_path), task=task, need_targets=True)


def classify_default(labels: str, task: str = "classify") -> str:
    """The shipped folder of ``task``'s label set ``labels`` (``TaskDef.label_sets``)."""
    from memgpt.tasks.registry import task_def

    sets = task_def(task).label_sets
    if labels not in sets:
        raise click.BadParameter(f"unknown label set {labels!r}; shipped: "
                                 f"{', '.join(sorted(sets))}", param_hint="--labels")
    return sets[labels]
