"""``memgpt-task finetune`` (a task folder from records) and ``memgpt-task pretrain`` (a
from-scratch MemGPT: tokenizer + model, logic in ``memgpt.pretrain``)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from memgpt.cli.common import (
    TaskChoice,
    emit_json,
    input_path,
    load_model_and_tokenizer,
    load_training_data,
    read_text,
    threads_option,
)

log = logging.getLogger("memgpt.cli")

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



@click.command("pretrain")
@click.argument("corpus", nargs=-1, required=True)
@click.option("-o", "--output", required=True, metavar="DIR",
              help="Output folder (loadable with --weights DIR); an existing run there resumes.")
@click.option("--vocab-size", type=click.IntRange(259), default=4096, show_default=True,
              help="Byte-level BPE vocabulary size.")
@click.option("--tokenizer", "tokenizer_file", metavar="FILE",
              help="Reuse this tokenizer.json (from an earlier pretrain run) instead of training "
                   "one: compare runs on the same tokens.")
@click.option("--d-model", type=click.IntRange(8), default=256, show_default=True)
@click.option("--layers", type=click.IntRange(1), default=4, show_default=True)
@click.option("--heads", type=click.IntRange(1), default=4, show_default=True)
@click.option("--seq-len", type=click.IntRange(8), default=128, show_default=True,
              help="Tokens per segment.")
@click.option("--steps", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True)
@click.option("--warmup", type=click.IntRange(0), default=100, show_default=True)
@click.option("--no-memory", is_flag=True, help="No memory layers (the baseline).")
@click.option("--memory-segments", type=click.IntRange(1), default=8, show_default=True,
              help="Earlier segments of the same document kept in the bank.")
@click.option("--memory-slots", type=click.IntRange(0), default=16, show_default=True)
@click.option("--memory-top-k", type=click.IntRange(1), default=8, show_default=True)
@click.option("--save-every", type=click.IntRange(1), default=200, show_default=True,
              help="Steps between checkpoints.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--eval", "eval_files", multiple=True, metavar="FILE",
              help="Held-out text: print its perplexity (with and without the bank) as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@threads_option
def pretrain_cmd(corpus: tuple, output: str, vocab_size: int, tokenizer_file: str | None,
                 d_model: int, layers: int, heads: int, seq_len: int, steps: int,
                 batch_size: int, lr: float, warmup: int, no_memory: bool, memory_segments: int,
                 memory_slots: int, memory_top_k: int, save_every: int, seed: int,
                 eval_files: tuple, no_progress: bool) -> None:
    """Train a byte-level BPE tokenizer on CORPUS files, then a MemGPT from scratch.

    Memory on by default: each segment reads learned slots and a bank of the keys/values of the
    earlier segments of its document (Memorizing Transformers). Progress on stderr; with --eval,
    one JSON line per file on stdout.

    \b
    Examples:
      memgpt-task pretrain wiki.train.txt -o my-model/ --steps 2000
      memgpt-task pretrain wiki.train.txt -o base/ --no-memory --tokenizer my-model/tokenizer.json
      memgpt-task generate --weights my-model/ "The history of"
      memgpt-task pretrain wiki.train.txt -o my-model/ --steps 2000 --eval wiki.test.txt
    """
    import torch

    from memgpt.pretrain import PretrainConfig, perplexity, pretrain

    cfg = PretrainConfig(
        vocab_size=vocab_size, d_model=d_model, layers=layers, heads=heads, seq_len=seq_len,
        steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, memory=not no_memory,
        memory_slots=memory_slots, memory_top_k=memory_top_k, memory_segments=memory_segments,
        save_every=save_every, seed=seed)
    for f in corpus:
        input_path(f)  # a missing file, a folder or a FIFO: one clear error, nothing opened
    held_out = {f: read_text(f) for f in eval_files}  # fail on a bad file before training
    model = pretrain(corpus, output, cfg, tokenizer=tokenizer_file, progress=not no_progress)
    torch.manual_seed(0)
    for name, text in held_out.items():
        row = {"file": name, "memory_layers": list(model.config.memory.layers)}
        for bank in (True, False) if model.config.memory.layers else (False,):
            r = perplexity(model, [text], seq_len=seq_len, memory_segments=memory_segments,
                           bank=bank, progress=not no_progress)
            row["bank" if bank else "no_bank"] = r
        click.echo(json.dumps(row))


