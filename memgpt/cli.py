"""The ``memgpt-task`` command line: generation, summarization, weights and memory banks.

Results go to stdout (plain text, or one JSON object per line with ``--json``); progress bars and
logs go to stderr. Errors from library code become one ``error: ...`` line on stderr and exit
code 1; bad flag values are click usage errors (exit code 2). Heavy imports (torch, the model)
happen inside the commands so that ``--help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from memgpt import __version__
from memgpt.paths import atomic_write_text, decode_text

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


# ----------------------------------------------------------------------------- the group


@click.group(cls=TaskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="memgpt-task")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv: debug).")
def cli(verbose: int) -> None:
    """Offline NLP tasks on a memory-augmented GPT backbone (SmolLM2-135M-Instruct by default).

    \b
    Examples:
      memgpt-task summarize article.txt
      memgpt-task translate "Where is the train station?"
      memgpt-task classify --labels topic article.txt
      memgpt-task qa --context doc.txt "Who founded the company?"
      memgpt-task finetune --task classify --data my.csv -o my-adapter/
      memgpt-task generate "Write a haiku about the sea" --max-new-tokens 40 --chat
      memgpt-task chat --memory notes/
      memgpt-task weights fetch
      memgpt-task memory build notes/*.txt -o notes.bank

    Results go to stdout, progress and logs to stderr. Exit codes: 0 success, 1 runtime error
    (one "error: ..." line on stderr), 2 usage error (a bad flag value).

    A TEXT|FILE|- argument is a file if it exists or ends in .txt, .md, .jsonl, .csv or .tsv
    (a missing one is an error), stdin if it is -, else the text itself.
    """
    level = logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s: %(message)s",
                        force=True)


# ----------------------------------------------------------------------------- generate

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


@click.command("generate")
@click.argument("prompt")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), default=64, show_default=True)
@sampling_options()
@click.option("--chat", is_flag=True, help="Wrap PROMPT in the chat template as a user message.")
@click.option("--memory", "memory_dir", metavar="BANK_DIR",
              help="Read this memory bank (built with the same weights).")
@threads_option
@model_options
def generate_cmd(prompt: str, max_new_tokens: int, strategy: str | None, temperature, top_k,
                 top_p, seed: int, num_beams: int, repetition_penalty: float, stop: tuple,
                 chat: bool, memory_dir: str | None, weights: str, device: str,
                 as_json: bool) -> None:
    """Continue PROMPT (or stdin with -), printing tokens as they are generated.

    \b
    Examples:
      memgpt-task generate "The capital of France is" --max-new-tokens 10
      memgpt-task generate "Write a haiku about the sea" --chat --strategy sample --seed 1
      echo "Once upon a time" | memgpt-task generate - --json
      memgpt-task generate "What do my notes say about tea?" --chat --memory notes.bank
    """
    from memgpt.generate import generate

    text = read_text("-") if prompt == "-" else prompt
    if not text.strip():
        raise ValueError("the prompt is empty")
    settings = generation_settings(max_new_tokens, strategy, temperature, top_k, top_p, seed,
                                   num_beams, repetition_penalty, stop)
    model, tok = load_model_and_tokenizer(weights, device)
    memory = load_bank(memory_dir, model).state(device) if memory_dir else None
    full = tok.apply_chat([{"role": "user", "content": text}]) if chat else text
    counting = CountingTokenizer(tok)
    start = time.perf_counter()
    out = generate(model, counting, full, memory=memory,
                   on_text=None if as_json else stream_to_stdout, **settings)
    seconds = time.perf_counter() - start
    if as_json:
        emit_json({"prompt": text, "text": out, "new_tokens": counting.last_len,
                   "seconds": round(seconds, 3)})
    else:
        click.echo()
    log.info("%d new tokens in %.2f s", counting.last_len, seconds)


# ----------------------------------------------------------------------------- summarize


def read_documents(name: str) -> tuple[list[str], bool]:
    """The documents to summarize and whether they came from a JSONL file (``text`` per line)."""
    if not is_file_arg(name):
        if not name.strip():
            raise ValueError("the input text is empty")
        return [name], False
    if not name.endswith(".jsonl"):
        return [read_text(name)], False
    from memgpt.tasks.data import read_records

    return [r["text"] for r in read_records(input_path(name), task="summarize")], True


def _runtime_options(f: Callable) -> Callable:
    from memgpt.cli_tasks import runtime_options

    return runtime_options(f)


@click.command("summarize")
@click.argument("file", metavar="TEXT|FILE|-")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), default=None,
              help="Longest summary in tokens (default: the adapter's, 48).")
@click.option("--max-input-tokens", type=click.IntRange(16), default=None,
              help="Longer input is truncated, with a warning (default: the adapter's, 192).")
@click.option("--adapter", "adapter", default="summarize", show_default=True, metavar="NAME|DIR",
              help="Task folder: the shipped default or a folder written by finetune.")
@click.option("--batch-size", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Documents of a .jsonl file summarized together.")
@_runtime_options
@threads_option
@model_options
def summarize_cmd(file: str, max_new_tokens: int | None, max_input_tokens: int | None,
                  adapter: str, batch_size: int, runtime: str, export_dir: str | None,
                  weights: str, device: str, as_json: bool) -> None:
    """Summarize a text, a UTF-8 text file or stdin (-): a one-line, headline-style summary.

    The argument is a file if it exists or ends in .txt/.md/.jsonl/.csv/.tsv, else the text
    itself (see memgpt-task --help). A .jsonl file is read as one document per line
    ({"text": ...}) and gives one summary per line. The shipped summarizer is a LoRA adapter
    trained on BBC article -> headline pairs; it reads the first 192 tokens (--max-input-tokens)
    and decodes greedily. --adapter DIR uses one trained by finetune; --runtime onnx /
    --export DIR run an ONNX export (memgpt-task export).

    \b
    Examples:
      memgpt-task summarize article.txt
      cat article.txt | memgpt-task summarize - --max-new-tokens 60
      memgpt-task summarize articles.jsonl --json > summaries.jsonl
    """
    from memgpt.cli_tasks import open_task

    docs, is_jsonl = read_documents(file)
    task = open_task("summarize", adapter, weights, device, runtime, export_dir)
    stream = not as_json and not is_jsonl
    for i in range(0, len(docs), batch_size):
        outs = task.generate(docs[i:i + batch_size], max_new_tokens=max_new_tokens,
                             max_input_tokens=max_input_tokens, batch_size=batch_size,
                             on_text=SpacedStream() if stream else None)
        for o in outs:
            if as_json:
                emit_json({"summary": o.text, "input_tokens": o.input_tokens,
                           "truncated": o.truncated, "seconds": o.seconds})
            elif is_jsonl:
                click.echo(o.text)
            else:
                click.echo()


# ----------------------------------------------------------------------------- weights


@click.group("weights")
def weights_group() -> None:
    """Fetch the default weights ahead of time or describe a model.

    \b
    Examples:
      memgpt-task weights fetch
      memgpt-task weights info
      memgpt-task weights info ./my-checkpoint --json
    """


@weights_group.command("fetch")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def weights_fetch(as_json: bool) -> None:
    """Download and convert SmolLM2-135M-Instruct into the user cache; print the cache folder.

    Later commands then run offline. The cache folder is printed on stdout.
    """
    from memgpt.weights import fetch_smollm2

    path = fetch_smollm2(progress=True)
    if as_json:
        emit_json({"path": str(path)})
    else:
        click.echo(str(path))


def source_info(weights: str) -> dict | None:
    """The provenance record (source.json) of a checkpoint folder or of the default cache."""
    from memgpt.weights import cache_dir

    folder = Path(weights)
    candidates = [folder] if folder.is_dir() else []
    if weights == DEFAULT_WEIGHTS:
        candidates += [cache_dir(), *sorted(p for p in cache_dir().glob("*") if p.is_dir())]
    for c in candidates:
        if (c / "source.json").is_file():
            return json.loads((c / "source.json").read_text(encoding="utf-8"))
    return None


@weights_group.command("info")
@click.argument("name", metavar="[NAME|PATH]", required=False, envvar="MEMGPT_WEIGHTS",
                default=DEFAULT_WEIGHTS)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def weights_info(name: str, as_json: bool) -> None:
    """Describe a model: config summary, parameter count, cache folder and source.json.

    NAME|PATH defaults to smollm2-135m (fetched first if it is not cached yet).
    """
    from memgpt.checkpoint import load_model
    from memgpt.weights import cache_dir

    model = load_model(name)
    c = model.config
    info = {"weights": name, "parameters": model.num_parameters(), "vocab_size": c.vocab_size,
            "d_model": c.d_model, "n_layers": c.n_layers, "n_heads": c.n_heads,
            "n_kv_heads": c.n_kv_heads, "max_seq_len": c.max_seq_len,
            "memory_layers": list(c.memory.layers), "memory_slots": c.memory.num_slots,
            "cache_dir": str(cache_dir()), "source": source_info(name)}
    if as_json:
        emit_json(info)
        return
    for key, value in info.items():
        if key == "source":
            value = json.dumps(value, ensure_ascii=False) if value else "-"
        click.echo(f"{key}: {value}")


# ----------------------------------------------------------------------------- memory

SOURCES_FILE = "cli_sources.json"  # source id -> the file's absolute path, for snippets


@click.group("memory")
def memory_group() -> None:
    """Build, inspect and search external memory banks.

    \b
    Examples:
      memgpt-task memory build notes/*.txt -o notes.bank
      memgpt-task memory build docs/ -o kb
      memgpt-task memory info notes.bank
      memgpt-task memory search notes.bank "green tea" -k 3
      memgpt-task qa --memory kb "When was the bridge opened?" --json
      memgpt-task generate "What do my notes say about tea?" --chat --memory notes.bank
    """


TEXT_SUFFIXES = (".txt", ".md")


def text_files(args: tuple[str, ...]) -> dict[str, Path]:
    """Source id -> file for ``memory build``: named files as they are (id = file name); folders
    searched recursively for .txt and .md files (id = path inside the folder; other files and
    hidden ones are skipped with a note)."""
    found: dict[str, Path] = {}
    skipped: list[str] = []

    def add(source: str, path: Path) -> None:
        if source in found:
            raise ValueError(f"two files are named {source}; source ids must be unique")
        found[source] = path

    for arg in args:
        root = Path(arg)
        if not root.is_dir():
            add(root.name, root)  # read_text reports a missing or unreadable file
            continue
        members = [p for p in sorted(root.rglob("*")) if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts)]
        for p in members:
            if p.suffix.lower() in TEXT_SUFFIXES and p.stat().st_size:
                add(p.relative_to(root).as_posix(), p)
            else:
                skipped.append(str(p))
        if not any(p.suffix.lower() in TEXT_SUFFIXES for p in members):
            raise ValueError(f"{arg} holds no .txt or .md files")
    if skipped:
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        log.warning("skipped %d files (not .txt or .md, or empty): %s%s", len(skipped),
                    ", ".join(skipped[:3]), more)
    return found


def file_text(path: Path) -> str:
    """A file's text as ``open(path, encoding="utf-8").read()`` gives it (universal newlines,
    a BOM kept): passage offsets index exactly that."""
    return path.read_text(encoding="utf-8")


@memory_group.command("build")
@click.argument("files", nargs=-1, required=True, metavar="FILE|DIR...")
@click.option("-o", "--output", required=True, metavar="DIR", help="Folder to write the bank to.")
@click.option("--window", type=click.IntRange(8, 8192), default=512, show_default=True,
              help="Tokens per pass of the backbone over a text.")
@threads_option
@model_options
def memory_build(files: tuple, output: str, window: int, weights: str, device: str,
                 as_json: bool) -> None:
    """Build a memory bank from UTF-8 text files and folders of them (.txt and .md, recursively).

    Source id: the file name, or for a file found in a folder its path inside the folder. Besides
    the key/value entries the bank holds the documents' passages (about 1,000 characters, cut at
    paragraphs or sentences) and a BM25 index of them, for `memory search` and `qa --memory`.
    """
    import hashlib

    from memgpt.memory import MemoryBank
    from memgpt.passages import PassageIndex

    texts, paths, docs = {}, {}, {}
    for name, f in text_files(files).items():
        texts[name], paths[name] = read_text(str(f)), str(f.resolve())
        sha = hashlib.sha256(f.read_bytes()).hexdigest()
        docs[name] = (file_text(f), paths[name], sha)
    index = PassageIndex.build(docs)
    model, tok = load_model_and_tokenizer(weights, device)
    bank = MemoryBank.build(model, tok, texts, window=window, context=min(64, window // 4),
                            progress=True)
    bank.save(output)
    atomic_write_text(Path(output) / SOURCES_FILE, json.dumps(paths, indent=2))
    index.save(output)
    if as_json:
        emit_json({"path": output, "entries": len(bank), "passages": len(index),
                   "sources": sorted(texts)})
    else:
        click.echo(f"{output}: {len(bank)} entries, {len(index)} passages from {len(texts)} "
                   "files")


@memory_group.command("info")
@click.argument("bank_dir", metavar="DIR")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def memory_info(bank_dir: str, as_json: bool) -> None:
    """Describe a memory bank: entries, sources, layers and the backbone it was built with."""
    from memgpt.memory import MemoryBank
    from memgpt.passages import INDEX_META

    meta = MemoryBank.load(bank_dir).metadata()
    info = {"path": bank_dir, "entries": meta["counts"]["entries"], "sources": meta["sources"],
            **{k: meta[k] for k in ("layers", "similarity", "dtype", "backbone_hash",
                                    "memgpt_version") if k in meta}}
    passages = Path(bank_dir) / INDEX_META
    if passages.is_file():
        info["passages"] = json.loads(passages.read_text(encoding="utf-8")).get("passages")
    if as_json:
        emit_json(info)
        return
    for key, value in info.items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        click.echo(f"{key}: {value}")


def snippet(bank_dir: str, source: str, start: int, end: int, around: int = 80) -> str | None:
    """The text around a hit, the hit in [brackets], if the source file still exists (banks
    store character offsets only)."""
    paths_file = Path(bank_dir) / SOURCES_FILE
    paths = json.loads(paths_file.read_text(encoding="utf-8")) if paths_file.is_file() else {}
    path = Path(paths.get(source, source))
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    left, right = max(0, start - around), min(len(text), end + around)
    parts = (text[left:start], f"[{text[start:end]}]", text[end:right])
    out = " ".join("".join(parts).split())
    return ("…" if left else "") + out + ("…" if right < len(text) else "")


def shown_path(path: str) -> str:
    """A source file's path as results show it: relative to the current folder when inside it
    (so ``open(source)`` works from here), else absolute."""
    try:
        return Path(path).relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path


def load_passages(bank_dir: str) -> Any:
    """The bank's passage index; a warning for source files changed since the build."""
    from memgpt.passages import PassageIndex

    index = PassageIndex.load(bank_dir)
    stale = index.check_sources()
    if stale:
        log.warning("%d source files changed or went missing since the bank was built (%s): "
                    "their offsets may be stale; rebuild the bank", len(stale),
                    ", ".join(stale[:3]))
    return index


@memory_group.command("search")
@click.argument("bank_dir", metavar="DIR")
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=5, show_default=True)
@threads_option
@model_options
def memory_search(bank_dir: str, query: str, k: int, weights: str, device: str,
                  as_json: bool) -> None:
    """Show the K passages of a bank that best match QUERY (BM25): "source:start-end  score",
    then the passage. With --json {"source", "start", "end", "score", "text"}, the offsets
    indexing the source file's text. Only passages sharing a word with QUERY are shown.

    A bank built before passages existed is searched token by token (with a warning), by
    similarity of the backbone's keys; that needs --weights.

    \b
    Examples:
      memgpt-task memory search kb "green tea" -k 3
      memgpt-task memory search kb "green tea" --json
    """
    from memgpt.passages import INDEX_META

    if not query.strip():
        raise ValueError("the query is empty")
    if not (Path(bank_dir) / INDEX_META).is_file() and (Path(bank_dir) / "bank.json").is_file():
        log.warning("%s has no passages (built before passage search): searching its tokens; "
                    "rebuild it with `memgpt-task memory build` for passages", bank_dir)
        return _token_search(bank_dir, query, k, weights, device, as_json)
    for hit in load_passages(bank_dir).search(query, k=k):
        p = hit.passage
        row = {"source": shown_path(p.path), "start": p.start, "end": p.end,
               "score": round(hit.score, 6), "text": p.text}
        if as_json:
            emit_json(row)
        else:
            click.echo(f"{row['source']}:{p.start}-{p.end}  {hit.score:.4f}")
            click.echo(f"    {' '.join(p.text.split())}")


def _token_search(bank_dir: str, query: str, k: int, weights: str, device: str,
                  as_json: bool) -> None:
    model, tok = load_model_and_tokenizer(weights, device)
    bank = load_bank(bank_dir, model)
    for hit in bank.search(model, tok, query, k=k):
        text = snippet(bank_dir, hit.source, hit.start, hit.end)
        if as_json:
            emit_json({"source": hit.source, "start": hit.start, "end": hit.end,
                       "score": round(float(hit.score), 6), "index": hit.index, "text": text})
        else:
            click.echo(f"{hit.source}:{hit.start}-{hit.end}\t{float(hit.score):.4f}")
            if text:
                click.echo(f"    {text}")


# ----------------------------------------------------------------------------- registry

# Every command of the CLI, in one place (docs/architecture.md#cli); tests keep it in sync.
COMMANDS: dict[str, click.Command] = {
    "generate": generate_cmd,
    "summarize": summarize_cmd,
    "weights": weights_group,
    "memory": memory_group,
}
from memgpt.cli_tasks import TASK_COMMANDS  # noqa: E402  (it imports helpers from here)

COMMANDS.update(TASK_COMMANDS)
from memgpt.cli_eval import EVAL_COMMANDS  # noqa: E402

COMMANDS.update(EVAL_COMMANDS)
from memgpt.cli_pretrain import PRETRAIN_COMMANDS  # noqa: E402

COMMANDS.update(PRETRAIN_COMMANDS)
from memgpt.cli_chat import CHAT_COMMANDS  # noqa: E402

COMMANDS.update(CHAT_COMMANDS)
for _name, _command in COMMANDS.items():
    cli.add_command(_command, _name)


def main() -> None:
    """Console-script entry point (``memgpt-task``)."""
    from memgpt.threads import quiet_openmp_env

    quiet_openmp_env()  # before anything imports torch (memgpt/__init__ did it too)
    cli(prog_name="memgpt-task")
