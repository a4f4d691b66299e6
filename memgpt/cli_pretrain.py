"""``memgpt-task pretrain``: a from-scratch MemGPT (tokenizer + model) into a checkpoint folder.

The training logic is in ``memgpt.pretrain``; torch is imported inside the command.
"""

from __future__ import annotations

import json

import click

from memgpt.cli import threads_option


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

    from memgpt.cli import input_path, read_text
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


PRETRAIN_COMMANDS = {"pretrain": pretrain_cmd}
