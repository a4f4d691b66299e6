"""``memgpt-task generate``: free text from a prompt, optionally reading a memory bank."""

from __future__ import annotations

import logging
import time

import click

from memgpt.cli.common import (
    CountingTokenizer,
    emit_json,
    generation_settings,
    load_bank,
    load_model_and_tokenizer,
    model_options,
    read_text,
    sampling_options,
    stream_to_stdout,
    threads_option,
)

log = logging.getLogger("memgpt.cli")

@click.command("generate")
@click.argument("prompt")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), default=64, show_default=True)
@sampling_options()
@click.option("--chat", is_flag=True, help="Wrap PROMPT in the chat template as a user message.")
@click.option("--memory", "memory_dir", metavar="BANK_DIR",
              help="Read this memory bank (built with the same weights).")
@click.option("--index", "index_kind", type=click.Choice(["auto", "exact", "ivf", "hnsw"]),
              default="auto", show_default=True,
              help="How memory reads search the bank: exact (every entry), or a faiss vector "
                   "index built at load (ivf, hnsw; needs faiss-cpu); auto = ivf from 50,000 "
                   "entries on when faiss is installed.")
@threads_option
@model_options
def generate_cmd(prompt: str, max_new_tokens: int, strategy: str | None, temperature, top_k,
                 top_p, seed: int, num_beams: int, repetition_penalty: float, stop: tuple,
                 chat: bool, memory_dir: str | None, index_kind: str, weights: str,
                 device: str, as_json: bool) -> None:
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
    memory = None
    if memory_dir:
        from memgpt.index import choose_kind

        bank = load_bank(memory_dir, model)
        kind = choose_kind(index_kind, len(bank))
        if kind is not None:
            log.info("building a %s index over %d bank entries", kind, len(bank))
        memory = bank.state(device, index=kind)
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


