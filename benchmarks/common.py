"""Shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import subprocess


def git_revision() -> str:
    """The short revision of the checkout, or "" outside git."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=False).stdout.strip()
    except OSError:
        return ""


def run_meta(argv, threads: int, **extra) -> dict:
    """The ``meta`` block of a results file: command line, revision, threads, machine."""
    import platform
    import sys

    return {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
            "revision": git_revision(), "threads": threads,
            "machine": f"{platform.machine()} {platform.processor()}".strip(), **extra}


def write_results(out_dir, res: dict) -> None:
    """``OUT/results.json`` (the folder is created)."""
    import json
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")


def memory_model_and_articles(threads: int, articles: int):
    """SmolLM2 with the shipped memory weights loaded, its tokenizer, the weights' metadata and
    the first ``articles`` held-out WikiText-2 test articles (only ever scored)."""
    import torch

    from memgpt.checkpoint import load_model, load_tokenizer
    from memgpt.memory_layers import DEFAULT_MEMORY, load_memory
    from memgpt.tasks.corpora import wikitext_heldout_articles
    from memgpt.tasks.data import wikitext_folder

    torch.set_num_threads(threads)
    model, tok = load_model("smollm2-135m"), load_tokenizer("smollm2-135m")
    meta = load_memory(model, DEFAULT_MEMORY)
    return model, tok, meta, wikitext_heldout_articles(wikitext_folder())[:articles]
