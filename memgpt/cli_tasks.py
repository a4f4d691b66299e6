"""``memgpt-task`` task commands: summarize, translate, classify, qa and finetune.

Each runs the shared backbone with a task folder (adapter + head + settings, see
``memgpt.tasks.artifacts``): the shipped default unless ``--adapter NAME|PATH`` names another.
Inputs: one text argument, a file (``.txt``: one input per line — for summarize the whole file is
one document; ``.jsonl``/``.csv``/``.tsv``: one record per row with the task's field names) or
``-`` for stdin. ``--json`` prints one object per input, in input order.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from memgpt.cli import (
    TaskChoice,
    emit_json,
    load_model_and_tokenizer,
    model_options,
    read_text,
    threads_option,
)

log = logging.getLogger("memgpt.cli")
RECORD_SUFFIXES = (".jsonl", ".csv", ".tsv")


def adapter_option(default: str | None):
    return click.option(
        "--adapter", "adapter", default=default, show_default=bool(default), metavar="NAME|DIR",
        help="Task folder to use: a shipped default name or a folder written by finetune.")


def batch_option(f):
    return click.option("--batch-size", type=click.IntRange(1, 256), default=8,
                        show_default=True, help="Inputs run together.")(f)


def _is_file_arg(arg: str) -> bool:
    """The one TEXT|FILE|- rule: :func:`memgpt.cli.is_file_arg`."""
    from memgpt.cli import is_file_arg

    return is_file_arg(arg)


def input_path(name: str) -> Path:
    from memgpt.cli import input_path

    return input_path(name)


def read_inputs(arg: str, task: str) -> tuple[list[dict], bool]:
    """Records of an argument that is literal text, ``-`` (stdin) or a file; and whether it was
    a file of many inputs (so plain output prints one line per input)."""
    from memgpt.tasks.data import read_records

    if arg != "-" and Path(arg).suffix.lower() in RECORD_SUFFIXES:
        return read_records(input_path(arg), task=task), True
    if _is_file_arg(arg):
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


@click.command("translate")
@click.argument("text", metavar="TEXT|FILE|-")
@click.option("--src", default=None, help="Source language code (default: the adapter's, en).")
@click.option("--tgt", default=None, help="Target language code (default: the adapter's, es).")
@click.option("--max-new-tokens", type=click.IntRange(1, 1024), default=None,
              help="Longest translation of one sentence in tokens (default: the adapter's, 96).")
@click.option("--split/--no-split", default=True, show_default=True,
              help="Translate multi-sentence input sentence by sentence (line breaks kept; "
                   "numbers, URLs and code-like pieces copied through).")
@adapter_option("translate")
@batch_option
@runtime_options
@threads_option
@model_options
def translate_cmd(text, src, tgt, max_new_tokens, split, adapter, batch_size, runtime,
                  export_dir, weights, device, as_json):
    """Translate text (English → Spanish by default), sentence by sentence.

    TEXT is the text to translate; a .txt file or stdin (-) holds one input a line; a
    .jsonl/.csv/.tsv file holds a "text" field per row. The argument is a file if it exists or
    ends in .txt/.md/.jsonl/.csv/.tsv, else the text. A paragraph is split into sentences,
    each is translated, and they are joined with the input's spacing.
    With --json: {"translation", "input_tokens", "seconds"}.

    \b
    Examples:
      memgpt-task translate "Where is the train station?"
      memgpt-task translate sentences.txt --json > es.jsonl
      echo "I like tea." | memgpt-task translate -
    """
    import time

    from memgpt.tasks.segment import translate_segmented
    from memgpt.tasks.text import LANGUAGES, language_fields

    for code, flag in ((src, "--src"), (tgt, "--tgt")):
        if code is not None and code not in LANGUAGES:
            raise click.BadParameter(f"unknown language code {code!r}; known: "
                                     f"{', '.join(sorted(LANGUAGES))}", param_hint=flag)
    records, many = read_inputs(text, "translate")
    task = open_task("translate", adapter, weights, device, runtime, export_dir)
    info = task.settings.info
    trained = (info.get("src"), info.get("tgt"))
    if trained[0] and (src or trained[0], tgt or trained[1]) != trained:
        log.warning("the model was trained for %s→%s; other languages run on what the "
                    "backbone knows", *trained)
    tokens: list[int] = []

    def run(pieces: list[str]) -> list[str]:
        outs = task.generate(pieces, extra=language_fields(task.settings, src, tgt),
                             max_new_tokens=max_new_tokens, batch_size=batch_size)
        tokens.extend(o.input_tokens for o in outs)
        return [o.text for o in outs]

    inputs = [r["text"] for r in records]
    start = time.perf_counter()
    if split:
        texts = translate_segmented(inputs, run)
    else:
        texts = run(inputs)
    seconds = round((time.perf_counter() - start) / max(1, len(inputs)), 4)
    for i, out in enumerate(texts):
        if as_json:
            n = tokens[i] if not split else len(task.tokenizer.encode(inputs[i]))
            emit_json({"translation": out.strip(), "input_tokens": n, "seconds": seconds})
        else:
            click.echo(out.strip())


def classify_default(labels: str, task: str = "classify") -> str:
    """The shipped folder of ``task``'s label set ``labels`` (``TaskDef.label_sets``)."""
    from memgpt.tasks.registry import task_def

    sets = task_def(task).label_sets
    if labels not in sets:
        raise click.BadParameter(f"unknown label set {labels!r}; shipped: "
                                 f"{', '.join(sorted(sets))}", param_hint="--labels")
    return sets[labels]


@click.command("classify")
@click.argument("text", metavar="TEXT|FILE|-")
@click.option("--labels", default="sentiment", show_default=True,
              help="Shipped label set: sentiment, topic (BBC news) or spam.")
@adapter_option(None)
@batch_option
@runtime_options
@threads_option
@model_options
def classify_cmd(text, labels, adapter, batch_size, runtime, export_dir, weights, device,
                 as_json):
    """Label texts with a shipped classifier or your own (--adapter DIR from finetune).

    TEXT is one text; a .txt file or stdin (-) holds one text a line; a .jsonl/.csv/.tsv file
    holds a "text" field per row (a file: if it exists or ends in .txt/.md/.jsonl/.csv/.tsv).
    Prints "LABEL<TAB>SCORE" per input; with --json
    {"label", "score", "scores"}.

    \b
    Examples:
      memgpt-task classify "I loved it"
      memgpt-task classify --labels topic article.txt
      memgpt-task classify --adapter my-adapter/ reviews.jsonl --json
    """
    records, _ = read_inputs(text, "classify")
    task = open_task("classify", adapter or classify_default(labels), weights, device, runtime,
                     export_dir)
    for r in task.classify([r["text"] for r in records], batch_size=batch_size):
        if as_json:
            emit_json({"label": r.label, "score": r.score, "scores": r.scores})
        else:
            click.echo(f"{r.label}\t{r.score:.4f}")


@click.command("qa")
@click.argument("question", metavar="QUESTION|FILE")
@click.option("--context", "context", metavar="FILE|-|TEXT", default=None,
              help="The text to answer from: a file, - for stdin, or the text itself.")
@click.option("--memory", "memory_dir", metavar="BANK_DIR", default=None,
              help="Answer from a knowledge base (memgpt-task memory build DOCS -o BANK_DIR): "
                   "its best passages are retrieved (BM25) and read.")
@click.option("--top-passages", type=click.IntRange(1, 100), default=5, show_default=True,
              help="With --memory: passages read per question.")
@click.option("--max-answer-tokens", type=click.IntRange(1, 512), default=30, show_default=True)
@click.option("--stride", type=click.IntRange(0, 1024), default=64, show_default=True,
              help="Overlap in tokens between windows of a long context.")
@click.option("--min-score", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Answer only when the span's probability is at least this; below it the "
                   "answer is empty (weak evidence: the context may not hold the answer).")
@adapter_option("qa")
@runtime_options
@threads_option
@model_options
def qa_cmd(question, context, memory_dir, top_passages, max_answer_tokens, stride, min_score,
           adapter, runtime, export_dir, weights, device, as_json):
    """Answer a question with a span of the context (extractive QA).

    With --context, QUESTION is the question. Without it, QUESTION is a .jsonl/.csv/.tsv file
    with "context" and "question" per row. Prints the answer; with --json
    {"answer", "start", "end", "score"} (character offsets into the context; the score is the
    span's probability). Answers are whole words. With --min-score, a span scoring lower gives
    an empty answer (start = end = -1) and the score it had.

    With --memory BANK_DIR (no --context), QUESTION is the question, or a .jsonl/.csv/.tsv file
    with a "question" per row: the bank's --top-passages best passages are read and the best
    span wins (its probability times the softmax of the passages' BM25 scores). Prints
    "ANSWER<TAB>SOURCE:START-END"; with --json {"answer", "source", "start", "end", "score"},
    where the offsets index the source file's text: open(source).read()[start:end] == answer.

    \b
    Examples:
      memgpt-task qa --context doc.txt "Who founded the company?"
      memgpt-task qa --context doc.txt --min-score 0.3 "When did it open?" --json
      memgpt-task qa questions.jsonl --json
      memgpt-task qa --memory kb "When was the bridge opened?" --json
    """
    if memory_dir is not None:
        if context is not None:
            raise click.UsageError("--memory and --context exclude each other")
        return _qa_memory(question, memory_dir, top_passages, min_score, adapter, runtime,
                          export_dir, weights, device, as_json,
                          max_answer_tokens=max_answer_tokens, stride=stride)
    if min_score != min_score:  # FloatRange lets nan through
        raise click.BadParameter("nan is not in the range 0<=x<=1", param_hint="--min-score")
    if context is None:
        if Path(question).suffix.lower() not in RECORD_SUFFIXES:
            raise click.UsageError("give --context FILE|-|TEXT, or a .jsonl/.csv/.tsv file of "
                                   "context + question records")
        records, _ = read_inputs(question, "qa")
    else:
        ctx = read_text(context) if _is_file_arg(context) else context
        if not question.strip():
            raise ValueError("the question is empty")
        records = [{"context": ctx, "question": question}]
    task = open_task("qa", adapter, weights, device, runtime, export_dir)
    for r in records:
        span = task.answer(r["question"], r["context"], max_answer_tokens=max_answer_tokens,
                           stride=stride)
        if span.score < min_score:
            span = type(span)("", -1, -1, span.score)
        if as_json:
            emit_json({"answer": span.answer, "start": span.start, "end": span.end,
                       "score": span.score})
        else:
            click.echo(span.answer)


def read_questions(arg: str) -> list[str]:
    """The questions of a .jsonl/.csv/.tsv file (a "question" field per row), or ``arg`` itself."""
    import csv
    import io

    from memgpt.tasks.data import DataError, _decode, _jsonl_rows

    path = Path(arg)
    suffix = path.suffix.lower()
    if suffix not in RECORD_SUFFIXES:
        if not arg.strip():
            raise ValueError("the question is empty")
        return [arg]
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {arg}")
    text = _decode(path.read_bytes(), path)
    if suffix == ".jsonl":
        rows = list(_jsonl_rows(text, path))
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""),
                                delimiter="\t" if suffix == ".tsv" else ",")
        rows = [(i, r) for i, r in enumerate(reader, 2)]
    out = []
    for line, row in rows:
        q = row.get("question")
        if not isinstance(q, str) or not q.strip():
            raise DataError(f"{path}:{line}: 'question' is missing, empty or not a string")
        out.append(q)
    if not out:
        raise DataError(f"{path}:1: no questions")
    return out


def _qa_memory(question, memory_dir, top_passages, min_score, adapter, runtime, export_dir,
               weights, device, as_json, **reader_kw):
    """``qa --memory``: retrieve passages, read them, answer with the source file's offsets."""
    from memgpt.cli import load_passages, shown_path
    from memgpt.passages import answer_question

    questions = read_questions(question)
    index = load_passages(memory_dir)  # before the model: a bad bank fails fast
    task = open_task("qa", adapter, weights, device, runtime, export_dir)
    for q in questions:
        a = answer_question(task, index, q, top_passages=top_passages, min_score=min_score,
                            **reader_kw)
        source = shown_path(a.path) if a.answer else None
        if as_json:
            emit_json({"answer": a.answer, "source": source, "start": a.start, "end": a.end,
                       "score": a.score})
        else:
            click.echo(f"{a.answer}\t{source}:{a.start}-{a.end}" if a.answer else "")


def load_training_data(spec_or_path: str, task: str) -> list[dict]:
    from memgpt.tasks.data import load_builtin, parse_data_spec, read_records

    if spec_or_path.startswith("builtin:"):
        name, split = parse_data_spec(spec_or_path)
        return load_builtin(name, split)
    return read_records(input_path(spec_or_path), task=task, need_targets=True)


@click.command("finetune")
@click.option("--task", type=TaskChoice(), required=True)
@click.option("--data", required=True, metavar="FILE|builtin:NAME:SPLIT",
              help="Training records (.jsonl/.csv/.tsv with the task's fields + reference).")
@click.option("--valid", default=None, metavar="FILE|builtin:NAME:SPLIT",
              help="Validation records (default: a seeded 10% of --data).")
@click.option("-o", "--output", required=True, metavar="DIR", help="Task folder to write.")
@click.option("--adapter-kind", type=click.Choice(["lora", "bottleneck", "none"]),
              default=None, help="none trains only the head on the frozen backbone (fast). "
              "Default: none for classify and qa, lora for generation.")
@click.option("--rank", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--adapt-layers", default="", help="Comma-separated block indices (default all).")
@click.option("--epochs", type=click.IntRange(1, 1000), default=3, show_default=True)
@click.option("--max-steps", type=click.IntRange(1), default=None)
@click.option("--batch-size", type=click.IntRange(1, 1024), default=8, show_default=True)
@click.option("--grad-accum", type=click.IntRange(1, 1024), default=1, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=None,
              help="Default: 1e-3 head-only, 2e-4 with an adapter.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Use only the first N training records.")
@click.option("--valid-limit", type=click.IntRange(1), default=500, show_default=True,
              help="Score each epoch on at most this many validation records.")
@click.option("--max-input-tokens", type=click.IntRange(16, 8192), default=None,
              help="Input length the task is trained and run with (default per task).")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue from DIR.work/checkpoint when an earlier run left one.")
@click.option("--weights", default="smollm2-135m", show_default=True, envvar="MEMGPT_WEIGHTS",
              metavar="NAME|PATH")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@threads_option
def finetune_cmd(task, data, valid, output, adapter_kind, rank, adapt_layers, epochs, max_steps,
                 batch_size, grad_accum, lr, seed, limit, valid_limit, max_input_tokens, resume,
                 weights, device):
    """Train an adapter and/or head for a task on your data; writes a task folder.

    Training state (resumable checkpoints, train_log.jsonl) goes to DIR.work next to DIR.
    The result is used with --adapter DIR by the task's command.

    \b
    Examples:
      memgpt-task finetune --task classify --data my.csv -o my-adapter/
      memgpt-task classify --adapter my-adapter/ "..."
      memgpt-task finetune --task translate --data builtin:tatoeba-en-es:train -o mt/
    """
    from memgpt.tasks.recipes import run_finetune

    if Path(output).exists() and not Path(output).is_dir():
        raise ValueError(f"{output} exists and is not a folder")
    records = load_training_data(data, task)[:limit]
    valid_records = None
    if valid:
        valid_records = load_training_data(valid, task)[:valid_limit]
    model, tok = load_model_and_tokenizer(weights, device)
    try:
        layers = tuple(int(x) for x in adapt_layers.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter(f"{adapt_layers!r} is not a comma-separated list of block "
                                 "indices", param_hint="--adapt-layers") from None
    summary = run_finetune(model, tok, task=task, records=records, valid_records=valid_records,
                           output=output, adapter_kind=adapter_kind, rank=rank, layers=layers,
                           epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                           grad_accum=grad_accum, lr=lr, seed=seed, resume=resume,
                           max_input_tokens=max_input_tokens,
                           command=" ".join(["memgpt-task", *sys.argv[1:]]))
    emit_json(summary)


@click.command("export")
@click.option("--task", "task", required=True, metavar="TASK|NAME|DIR",
              help="summarize, translate, classify, qa; chat (the plain backbone, for "
                   "memgpt-task chat); a shipped folder name such as classify-topic; or a task "
                   "folder written by finetune.")
@click.option("--labels", default=None,
              help="With --task classify: the shipped label set (sentiment, topic, spam).")
@click.option("-o", "--output", default=None, metavar="DIR",
              help="Folder to write (replaced only after validation passes). Default: the "
                   "cache, where --runtime auto finds it.")
@click.option("--precision", type=click.Choice(["fp32", "int8", "int8w", "int4", "fp16"]),
              default="fp32", show_default=True,
              help="int8: dynamic quantization (int8 weights and activations); int8w / int4: "
                   "8 / 4-bit weight-only (MatMulNBits, blocks of 32); fp16: for --device cuda.")
@click.option("--memory-bank", "bank_entries", type=click.IntRange(0), default=0,
              show_default=True, metavar="N",
              help="Generation tasks: add memory-bank inputs (validated on N random entries).")
@threads_option(expose_value=True)
@model_options
def export_cmd(task, labels, output, precision, bank_entries, threads, weights, device,
               as_json):
    """Export a task to ONNX (adapters merged), validate it against torch, and write it.

    The folder holds model.onnx, tokenizer.json, settings.json (prompt, generation settings or
    labels, validation report) and manifest.json (sha256 of every file). Validation compares
    every output with torch (fp32: max |diff| <= 1e-4, identical greedy text / labels / spans on
    a sample); a failed validation writes nothing and exits non-zero.

    \b
    Examples:
      memgpt-task export --task summarize
      memgpt-task export --task translate --precision int8 -o out/mt-int8
      memgpt-task export --task classify --labels topic -o out/topic
      memgpt-task translate --export out/mt-int8 "Good morning"
      memgpt-task export --task chat --precision int8w
    """
    from memgpt.export.cache import export_dir
    from memgpt.export.exporter import export_task
    from memgpt.tasks.registry import shipped_defaults

    name = task
    if task == "classify":
        name = classify_default(labels or "sentiment")
    elif labels:
        raise click.UsageError("--labels goes with --task classify")
    else:
        name = shipped_defaults().get(task, task)
    out = Path(output) if output else export_dir(name, precision)
    model, tok = load_model_and_tokenizer(weights, "cpu")
    report = export_task(name, out, weights=weights, precision=precision, device=device,
                         bank_entries=bank_entries, backbone=model, tokenizer=tok,
                         threads=threads)
    if as_json:
        emit_json({"output": str(out), **report})
        return
    click.echo(f"exported {name} ({precision}, {report['provider']}) to {out}")
    for k, o in report["outputs"].items():
        if "max_abs_diff" in o and not k.startswith("present_"):
            click.echo(f"  {k:14s} shape {o['shape']}  max |diff| vs torch {o['max_abs_diff']:.2e}")
    kv = [o["max_abs_diff"] for k, o in report["outputs"].items() if k.startswith("present_")]
    if kv:
        click.echo(f"  key/value cache ({len(kv)} outputs)  max |diff| {max(kv):.2e}")
    for key in ("tokens_equal", "labels_equal", "spans_equal", "indices_equal"):
        if key in report:
            click.echo(f"  {key.replace('_', ' ')} on the sample: {'yes' if report[key] else 'no'}")
    click.echo(f"  validation: passed (export {report['export_seconds']} s)")


TASK_COMMANDS: dict[str, Any] = {
    "export": export_cmd,
    "translate": translate_cmd,
    "classify": classify_cmd,
    "qa": qa_cmd,
    "finetune": finetune_cmd,
}
