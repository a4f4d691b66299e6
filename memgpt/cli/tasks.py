"""``memgpt-task`` task commands: summarize, translate, classify and qa.

Each runs the shared backbone with a task folder (adapter + head + settings, see
``memgpt.tasks.artifacts``): the shipped default unless ``--adapter NAME|PATH`` names another.
Inputs: one text argument, a file (``.txt``: one input per line — for summarize the whole file is
one document; ``.jsonl``/``.csv``/``.tsv``: one record per row with the task's field names) or
``-`` for stdin. ``--json`` prints one object per input, in input order.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from memgpt.cli.common import (
    RECORD_SUFFIXES,
    SpacedStream,
    adapter_option,
    batch_option,
    classify_default,
    emit_json,
    input_path,
    is_file_arg,
    model_options,
    open_scaled,
    open_task,
    read_inputs,
    read_text,
    runtime_options,
    scale_options,
    threads_option,
)

log = logging.getLogger("memgpt.cli")



def read_documents(name: str) -> tuple[list[str], bool]:
    """The documents to summarize and whether they came from a JSONL file (``text`` per line)."""
    if not is_file_arg(name):
        if not name.strip():
            raise ValueError("the input text is empty")
        return [name], False
    if not name.endswith(".jsonl"):
        return [read_text(name)], False
    from memgpt.tasks.readers import read_records

    return [r["text"] for r in read_records(input_path(name), task="summarize")], True


STYLES = {"summary": "summarize", "headline": "summarize-headline"}


@click.command("summarize")
@click.argument("file", metavar="TEXT|FILE|-")
@click.option("--style", type=click.Choice(list(STYLES)), default="summary", show_default=True,
              help="summary: 1-3 sentences on the whole text (up to 384 tokens read); "
                   "headline: one line from the first 192 tokens.")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), default=None,
              help="Longest summary in tokens (default: the adapter's: 120 summary, "
                   "48 headline).")
@click.option("--max-input-tokens", type=click.IntRange(16), default=None,
              help="Longer input is truncated, with a warning (default: the adapter's: 384 "
                   "summary, 192 headline).")
@click.option("--adapter", "adapter", default=None, metavar="NAME|DIR",
              help="Task folder: a shipped one or a folder written by finetune (default: the "
                   "--style's shipped folder, summarize or summarize-headline).")
@click.option("--batch-size", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Documents of a .jsonl file summarized together.")
@scale_options
@runtime_options
@threads_option
@model_options
def summarize_cmd(file: str, style: str, max_new_tokens: int | None,
                  max_input_tokens: int | None, adapter: str | None, batch_size: int,
                  workers: int | None, ray_address: str | None, runtime: str,
                  export_dir: str | None, weights: str, device: str, as_json: bool) -> None:
    """Summarize a text, a UTF-8 text file or stdin (-) in 1-3 sentences (--style summary) or
    one headline-style line (--style headline).

    The argument is a file if it exists or ends in .txt/.md/.jsonl/.csv/.tsv, else the text
    itself (see memgpt-task --help). A .jsonl file is read as one document per line
    ({"text": ...}) and gives one summary per line. The shipped summarizers are LoRA adapters
    on the SmolLM2 backbone: `summarize` trained on hand-written 1-3 sentence summaries of
    encyclopedia sections and news articles (the built-in written-summaries set),
    `summarize-headline` on BBC article -> headline pairs. Decoding is greedy. --adapter DIR
    uses one trained by finetune (then --style is not used); --runtime onnx / --export DIR run
    an ONNX export (memgpt-task export).

    \b
    Examples:
      memgpt-task summarize article.txt
      memgpt-task summarize article.txt --style headline
      cat article.txt | memgpt-task summarize - --max-new-tokens 60
      memgpt-task summarize articles.jsonl --json > summaries.jsonl
    """
    adapter = adapter or STYLES[style]
    docs, is_jsonl = read_documents(file)
    task = open_scaled("summarize", adapter, weights, device, runtime, export_dir,
                       workers=workers, ray_address=ray_address, shard_size=batch_size)
    sharded = hasattr(task, "imap")
    stream = not as_json and not is_jsonl and not sharded
    kw = {"max_new_tokens": max_new_tokens, "max_input_tokens": max_input_tokens,
          "batch_size": batch_size}
    batches = [task.imap("generate", docs, kw)] if sharded else (
        task.generate(docs[i:i + batch_size], on_text=SpacedStream() if stream else None, **kw)
        for i in range(0, len(docs), batch_size))
    for outs in batches:
        for o in outs:
            if as_json:
                emit_json({"summary": o.text, "input_tokens": o.input_tokens,
                           "truncated": o.truncated, "seconds": o.seconds})
            else:
                click.echo("" if stream else o.text)


@click.command("translate")
@click.argument("text", metavar="TEXT|FILE|-")
@click.option("--src", default=None, help="Source language code (default: the adapter's, en).")
@click.option("--tgt", default=None, help="Target language code (default: the adapter's, es).")
@click.option("--max-new-tokens", type=click.IntRange(1, 1024), default=None,
              help="Longest translation of one sentence in tokens (default: the adapter's, 96).")
@click.option("--split/--no-split", default=True, show_default=True,
              help="Translate multi-sentence input sentence by sentence (line breaks kept; "
                   "numbers, URLs and code-like pieces copied through).")
@click.option("--memory", "memory_dir", default=None, metavar="TM_DIR",
              help="A translation memory (memgpt-task memory build --pairs FILE -o TM_DIR): "
                   "its wording is mixed into every decoding step (kNN-MT). Runs on torch.")
@adapter_option("translate")
@batch_option
@scale_options
@runtime_options
@threads_option
@model_options
def translate_cmd(text, src, tgt, max_new_tokens, split, memory_dir, adapter, batch_size, workers,
                  ray_address, runtime, export_dir, weights, device, as_json):
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
      memgpt-task translate --memory tm manual.txt
    """

    from memgpt.tasks.segment import translate_segmented
    from memgpt.tasks.text import LANGUAGES, language_fields

    for code, flag in ((src, "--src"), (tgt, "--tgt")):
        if code is not None and code not in LANGUAGES:
            raise click.BadParameter(f"unknown language code {code!r}; known: "
                                     f"{', '.join(sorted(LANGUAGES))}", param_hint=flag)
    records, many = read_inputs(text, "translate")
    if memory_dir is not None and (runtime == "onnx" or export_dir):
        raise click.UsageError("--memory reads the decoder's hidden states, which an export "
                               "does not give: drop --runtime onnx / --export")
    if memory_dir is not None and (workers or ray_address):
        raise click.UsageError("--memory runs in one process: drop --workers / --ray")
    task = open_scaled("translate", adapter, weights, device,
                       "torch" if memory_dir is not None else runtime, export_dir,
                       workers=workers, ray_address=ray_address, shard_size=batch_size)
    memory = None
    if memory_dir is not None:
        from memgpt.tasks.registry import resolve_task
        from memgpt.tasks.tm import TranslationMemory

        memory = TranslationMemory.load(memory_dir, task=task,
                                        task_folder=resolve_task(adapter or "translate"))
    info = task.settings.info
    trained = (info.get("src"), info.get("tgt"))
    if trained[0] and (src or trained[0], tgt or trained[1]) != trained:
        log.warning("the model was trained for %s→%s; other languages run on what the "
                    "backbone knows", *trained)
    tokens: list[int] = []

    def run(pieces: list[str]) -> list[str]:
        kw = {"memory": memory} if memory is not None else {}
        outs = task.generate(pieces, extra=language_fields(task.settings, src, tgt),
                             max_new_tokens=max_new_tokens, batch_size=batch_size, **kw)
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


@click.command("classify")
@click.argument("text", metavar="TEXT|FILE|-")
@click.option("--labels", default="sentiment", show_default=True,
              help="Shipped label set: sentiment, topic (BBC news) or spam.")
@click.option("--examples", "examples_file", default=None, metavar="FILE",
              help="Labelled examples (a \"text\" and a \"label\" per row; .jsonl/.csv/.tsv): "
                   "label texts by their similarity to them, with any labels and no training; "
                   "averaged with the classifier's head when all their labels are its labels.")
@adapter_option(None)
@batch_option
@scale_options
@runtime_options
@threads_option
@model_options
def classify_cmd(text, labels, examples_file, adapter, batch_size, workers, ray_address, runtime,
                 export_dir, weights, device, as_json):
    """Label texts with a shipped classifier or your own (--adapter DIR from finetune).

    TEXT is one text; a .txt file or stdin (-) holds one text a line; a .jsonl/.csv/.tsv file
    holds a "text" field per row (a file: if it exists or ends in .txt/.md/.jsonl/.csv/.tsv).
    Prints "LABEL<TAB>SCORE" per input; with --json
    {"label", "score", "scores"}; with --examples also "source" ("examples", or
    "examples+head") and "nearest" (the most similar example: its row, label, similarity).

    \b
    Examples:
      memgpt-task classify "I loved it"
      memgpt-task classify --labels topic article.txt
      memgpt-task classify --adapter my-adapter/ reviews.jsonl --json
      memgpt-task classify --examples examples.jsonl "The striker scored twice" --json
    """
    records, _ = read_inputs(text, "classify")
    if examples_file is not None and (workers or ray_address):
        raise click.UsageError("--examples runs in one process: drop --workers / --ray")
    if examples_file is not None:
        return _classify_by_examples([r["text"] for r in records], examples_file,
                                     adapter or classify_default(labels), batch_size, runtime,
                                     export_dir, weights, device, as_json)
    task = open_scaled("classify", adapter or classify_default(labels), weights, device, runtime,
                       export_dir, workers=workers, ray_address=ray_address,
                       shard_size=batch_size)
    for r in task.classify([r["text"] for r in records], batch_size=batch_size):
        if as_json:
            emit_json({"label": r.label, "score": r.score, "scores": r.scores})
        else:
            click.echo(f"{r.label}\t{r.score:.4f}")


def _classify_by_examples(texts, examples_file, adapter, batch_size, runtime, export_dir, weights,
                          device, as_json) -> None:
    """``classify --examples``: the example memory (``memgpt.tasks.examples``), and the head."""
    import numpy as np

    from memgpt.tasks.examples import ExampleMemory, combine, feature_layer, read_examples

    if runtime == "onnx" or export_dir:
        raise click.UsageError("--examples reads the backbone's features, which an export does "
                               "not give: drop --runtime onnx / --export")
    ex_texts, ex_labels = read_examples(input_path(examples_file))
    from memgpt.tasks.adapters import adapters_off

    task = open_task("classify", adapter, weights, device, "torch")
    layer = feature_layer(task.model.backbone.config.n_layers)
    with adapters_off(task.model):  # the plain backbone's features, whatever the folder adapts
        memory = ExampleMemory(task.embed(ex_texts, layers=[layer], batch_size=batch_size)[0],
                               ex_labels)
        feats = task.embed(texts, layers=[layer], batch_size=batch_size)[0]
    probs, used_head = memory.probs(feats), False
    head_labels = list(task.settings.labels)
    if set(memory.labels) <= set(head_labels):
        head = task.classify(texts, batch_size=batch_size)
        head_probs = np.array([[h.scores[lab] for lab in head_labels] for h in head])
        probs, used_head = combine(probs, memory.labels, head_probs, head_labels)
    near, sims = memory.nearest(feats)
    for p, j, sim in zip(probs, near, sims):
        k = int(p.argmax())
        label, score = memory.labels[k], round(float(p[k]), 6)
        if as_json:
            emit_json({"label": label, "score": score,
                       "scores": {lab: round(float(v), 6) for lab, v in zip(memory.labels, p)},
                       "source": "examples+head" if used_head else "examples",
                       "nearest": {"row": int(j) + 1, "label": ex_labels[j],
                                   "similarity": round(float(sim), 6)}})
        else:
            click.echo(f"{label}\t{score:.4f}")


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
@scale_options
@runtime_options
@threads_option
@model_options
def qa_cmd(question, context, memory_dir, top_passages, max_answer_tokens, stride, min_score,
           adapter, workers, ray_address, runtime, export_dir, weights, device, as_json):
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
        if workers or ray_address:
            raise click.UsageError("--memory runs in one process: drop --workers / --ray")
        from memgpt.cli.memory import qa_from_memory

        return qa_from_memory(question, memory_dir, top_passages, min_score, adapter, runtime,
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
        ctx = read_text(context) if is_file_arg(context) else context
        if not question.strip():
            raise ValueError("the question is empty")
        records = [{"context": ctx, "question": question}]
    task = open_scaled("qa", adapter, weights, device, runtime, export_dir, workers=workers,
                       ray_address=ray_address)
    kw = {"max_answer_tokens": max_answer_tokens, "stride": stride}
    spans = task.imap("answer_many", [(r["question"], r["context"]) for r in records], kw) \
        if hasattr(task, "imap") else (task.answer(r["question"], r["context"], **kw)
                                       for r in records)
    for span in spans:
        if span.score < min_score:
            span = type(span)("", -1, -1, span.score)
        if as_json:
            emit_json({"answer": span.answer, "start": span.start, "end": span.end,
                       "score": span.score})
        else:
            click.echo(span.answer)
