"""``memgpt-task weights``: fetch the default weights, describe a checkpoint."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from memgpt.cli.common import (
    DEFAULT_WEIGHTS,
    emit_json,
)

log = logging.getLogger("memgpt.cli")



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
    from memgpt.checkpoint import fetch_smollm2

    path = fetch_smollm2(progress=True)
    if as_json:
        emit_json({"path": str(path)})
    else:
        click.echo(str(path))


def source_info(weights: str) -> dict | None:
    """The provenance record (source.json) of a checkpoint folder or of the default cache."""
    from memgpt.paths import cache_dir

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
    from memgpt.paths import cache_dir

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


