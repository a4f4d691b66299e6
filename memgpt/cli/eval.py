"""``memgpt-task eval`` and ``memgpt-task bench``: signed, reproducible reports with baselines."""


from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from memgpt.cli.common import (
    TaskChoice,
    classify_default,
    emit_json,
    input_path,
    is_file_arg,
    load_model_and_tokenizer,
    load_training_data,
    model_options,
    open_scaled,
    read_text,
    runtime_options,
    scale_options,
    threads_option,
)
from memgpt.tasks.registry import task_def, task_names

log = logging.getLogger("memgpt.cli")

def load_eval_data(spec: str, task: str, limit: int | None) -> tuple[list[dict], list | None,
                                                                    dict]:
    """Evaluation records, training records for baselines (built-ins), and the data card."""
    from memgpt.paths import sha256_file
    from memgpt.tasks.data import dataset_card, load_builtin, parse_data_spec

    path = Path(spec)
    if not spec.startswith("builtin:"):
        input_path(spec)  # exists, and a regular file (a FIFO would block the read)
    records = load_training_data(spec, task)[:limit]  # references are required either way
    if spec.startswith("builtin:"):
        name, split = parse_data_spec(spec)
        train = load_builtin(name, "train") if task_def(task).baseline_train else None
        card = {**dataset_card(name), "name": spec, "evaluated_split": split, "n": len(records)}
        return records, train, card
    card = {"name": path.name, "path": str(path), "sha256": sha256_file(path),
            "bytes": path.stat().st_size, "n": len(records), "licence": "user data",
            "limit": limit}
    return records, None, card


def model_identity(runner, adapter: str) -> tuple[str, dict]:
    """A short id and the hashes of what ran: the task folder's own hash (``task_hash``) and
    the plain backbone's (``backbone_hash``, adapters removed: the one task.json records), or
    the export's graph hash with the same two hashes of the folder it was exported from."""
    if runner.runtime == "onnx":
        g = runner.graph
        manifest = json.loads((g.folder / "manifest.json").read_text())
        src = g.settings.get("source", {})
        ident = {"export": str(g.folder), "model_onnx_sha256": manifest["files"]["model.onnx"][
            "sha256"], **src}
        return f"onnx:{Path(src.get('task_folder', g.folder)).name}", ident
    from memgpt.tasks.adapters import plain_backbone_hash
    from memgpt.tasks.registry import resolve_task, task_folder_hash

    spec, folder = runner.settings, resolve_task(adapter)
    return (f"torch:{spec.task}", {"task_folder": str(folder),
                                   "task_hash": task_folder_hash(folder),
                                   "backbone_hash": plain_backbone_hash(runner.model.backbone),
                                   "adapter": spec.adapter.to_dict() if spec.adapter else None,
                                   "head": spec.head.kind})


def runtime_info(runner) -> dict:
    if runner.runtime == "onnx":
        return {"name": "onnx", "precision": runner.precision, "provider": runner.graph.provider}
    import torch

    return {"name": "torch", "precision": "fp32", "provider": "torch eager",
            "device": str(next(runner.model.parameters()).device),
            "threads": torch.get_num_threads()}


def task_settings(runner) -> dict:
    s = runner.settings
    return {"template": s.template, "chat": s.chat, "max_input_tokens": s.max_input_tokens,
            "generation": dict(s.generation), "labels": list(getattr(s, "labels", ()))}


def write_eval(out: Path, result: dict) -> None:
    from memgpt.eval import report

    report.write_predictions(out / "predictions.jsonl", result.pop("rows"))
    report.write_json(out / "results.json", result)
    report.atomic_write(out / "results.md", report.eval_markdown(result))
    report.bar_plot(out / "scores.png", result)


def print_table(result: dict) -> None:
    main = result["main_metric"]
    click.echo(f"{result['task']} on {result['data']['name']} (n={result['n']}, "
               f"{result['runtime']['name']} {result['runtime']['precision']})")
    click.echo(f"  model     {main} {result['model']['values'][main]:.2f}   "
               + "  ".join(f"{k} {v:.2f}" for k, v in result["model"]["values"].items()
                           if k != main))
    for name, b in result["baselines"].items():
        click.echo(f"  {name}: {main} {b['values'][main]:.2f} "
                   f"(model − baseline {result['model_minus_baseline'][name]:+.2f})")


def run_eval(task: str, data: str, adapter: str | None, labels: str, limit: int | None,
             batch_size: int, out: Path, runtime: str, export_dir: str | None, weights: str,
             device: str, scale: dict | None = None) -> dict:
    """One evaluation: load the data, run the task, score it against the baselines, write the
    report to ``out``; returns the result (without its per-item rows)."""
    from memgpt.eval import report
    from memgpt.eval.runner import evaluate

    records, train, card = load_eval_data(data, task, limit)
    if not records:
        raise ValueError(f"{data}: no records to evaluate")
    if adapter is None:
        d = task_def(task)
        name = data.split(":")[1] if data.startswith("builtin:") else ""
        adapter = d.datasets.get(name) or (
            classify_default(labels, task) if d.label_sets else d.default)
    runner = open_scaled(task, adapter, weights, device, runtime, export_dir,
                         shard_size=batch_size, **(scale or {}))
    try:
        result = evaluate(runner, task, records, train=train, batch_size=batch_size)
    finally:
        if hasattr(runner, "close"):
            runner.close()
    model_id, ident = model_identity(runner, adapter)
    result.update({"data": card, "runtime": runtime_info(runner), "model_id": model_id,
                   "model_hashes": ident, "settings": task_settings(runner),
                   "libraries": report.library_versions(), "run": report.run_info(),
                   "adapter": str(adapter)})
    if getattr(runner, "workers", 0):
        result["runtime"]["workers"] = runner.workers
        result["runtime"]["ray"] = runner.ray_address
    write_eval(out, result)
    return result


def default_runs() -> list[tuple[str, str, str]]:
    """(task, built-in test split, shipped folder) for every shipped default and every built-in
    dataset it is scored on (``TaskDef.datasets``), in registry order."""
    from memgpt.tasks.registry import TASK_DEFS

    return [(d.name, f"builtin:{ds}:test", folder)
            for d in TASK_DEFS.values() for ds, folder in d.datasets.items()]


def summary_row(result: dict, folder_name: str, report: str) -> dict:
    main = result["main_metric"]
    return {"task": result["task"], "adapter": folder_name, "data": result["data"]["name"],
            "n": result["n"], "metric": main, "model": result["model"]["values"][main],
            "model_values": result["model"]["values"],
            "baselines": {k: b["values"][main] for k, b in result["baselines"].items()},
            "model_minus_baseline": result["model_minus_baseline"],
            "seconds_per_item": result["timing"]["seconds_per_item"],
            "signature": result["model"].get("signature"), "report": report}


def summary_markdown(summary: dict) -> str:
    lines = ["# Shipped defaults on their built-in test splits", "",
             f"One run of `{summary['command']}` ({summary['run'].get('machine', '')}, "
             f"{summary['runtime']}). Each row links its full report.", "",
             "| task folder | data | n | metric | model | baselines | model − best baseline |",
             "| --- | --- | ---: | --- | ---: | --- | ---: |"]
    for r in summary["results"]:
        base = ", ".join(f"{k} {v:.2f}" for k, v in r["baselines"].items()) or "—"
        gap = min(r["model_minus_baseline"].values(), default=None)  # vs the strongest
        lines.append(f"| [{r['adapter']}]({r['report']}) | {r['data']} | {r['n']} | "
                     f"{r['metric']} | {r['model']:.2f} | {base} | "
                     f"{'—' if gap is None else f'{gap:+.2f}'} |")
    return "\n".join(lines) + "\n"


@click.command("eval")
@click.option("--task", type=TaskChoice(), default=None, help="The task (not with --defaults).")
@click.option("--data", default=None, metavar="FILE|builtin:NAME:SPLIT",
              help="JSONL/CSV/TSV with the task's fields + reference (summary, translation, "
                   "label, answers), or a built-in split such as builtin:tatoeba-en-es:test.")
@click.option("--defaults", "all_defaults", is_flag=True,
              help="Score every shipped task folder on the test split of each built-in dataset "
                   "it belongs to: one report per run in OUTPUT/FOLDER-DATASET/ and a summary "
                   "(summary.json, summary.md).")
@click.option("--adapter", default=None, metavar="NAME|DIR",
              help="Task folder (default: the shipped one; classify on a built-in dataset: "
                   "its classifier, else --labels).")
@click.option("--labels", default="sentiment", show_default=True,
              help="classify: the shipped label set when no --adapter is given.")
@click.option("--limit", type=click.IntRange(1), default=None, help="First N records only.")
@click.option("--batch-size", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("-o", "--output", required=True, metavar="DIR",
              help="Report folder: results.json, results.md, predictions.jsonl, scores.png.")
@scale_options
@runtime_options
@threads_option
@model_options
def eval_cmd(task, data, all_defaults, adapter, labels, limit, batch_size, output, workers,
             ray_address, runtime, export_dir, weights, device, as_json):
    """Score a task on labelled data against baselines; write a reproducible report.

    \b
    Examples:
      memgpt-task eval --task translate --data builtin:tatoeba-en-es:test -o reports/mt
      memgpt-task eval --task summarize --data my.jsonl -o reports/sum
      memgpt-task eval --task classify --data builtin:bbc-topic:test --runtime onnx -o r/topic
      memgpt-task eval --defaults -o benchmarks/results/defaults
    """
    out = Path(output)
    scale = {"workers": workers, "ray_address": ray_address}
    if all_defaults:
        if task or data or adapter or export_dir:
            raise click.UsageError("--defaults runs every shipped folder: drop --task, --data, "
                                   "--adapter and --export")
        return _eval_defaults(limit, batch_size, out, runtime, weights, device, as_json,
                              scale)
    if not task or not data:
        raise click.UsageError("give --task and --data (or --defaults)")
    result = run_eval(task, data, adapter, labels, limit, batch_size, out, runtime, export_dir,
                      weights, device, scale)
    if as_json:
        emit_json({"output": str(out), "model": result["model"]["values"],
                   "baselines": {k: v["values"] for k, v in result["baselines"].items()}})
    else:
        print_table(result)
        click.echo(f"report: {out}/results.md")


def _eval_defaults(limit, batch_size, out: Path, runtime, weights, device, as_json,
                   scale=None) -> None:
    from memgpt.eval import report

    rows = []
    for task, data, folder in default_runs():
        dataset = data.split(":")[1] if data.startswith("builtin:") else Path(data).stem
        name = f"{Path(folder).name}-{dataset}"
        result = run_eval(task, data, folder, "", limit, batch_size, out / name, runtime, None,
                          weights, device, scale)
        rows.append(summary_row(result, Path(folder).name, f"{name}/results.json"))
        if as_json:
            emit_json({"output": str(out / name), **rows[-1]})
        else:
            print_table(result)
    command = f"memgpt-task eval --defaults -o {out}" + (f" --limit {limit}" if limit else "")
    summary = {"command": command, "limit": limit, "runtime": runtime,
               "weights": weights, "run": report.run_info(), "results": rows}
    report.write_json(out / "summary.json", summary)
    report.atomic_write(out / "summary.md", summary_markdown(summary))
    if not as_json:
        click.echo(f"summary: {out}/summary.md")


@click.command("bench")
@click.option("-o", "--output", required=True, metavar="DIR")
@click.option("--tasks", default=",".join(task_names()), show_default=True,
              help="Comma-separated tasks.")
@click.option("--precisions", default="fp32,int8,int8w,int4", show_default=True,
              help="ONNX precisions to run (exported into the cache when missing).")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
              help="Test items per task (the first N of the built-in test split).")
@click.option("--speed/--no-speed", default=True, show_default=True,
              help="Also measure decoder prefill/decode tok/s (torch, ONNX, llama.cpp if "
                   "installed) and classify latency.")
@click.option("--prompt-tokens", type=click.IntRange(8), default=128, show_default=True)
@click.option("--new-tokens", type=click.IntRange(1), default=64, show_default=True)
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True)
@threads_option(expose_value=True)
@click.option("--gguf", default=None, help="GGUF for llama.cpp (default: the weights cache).")
@model_options
def bench_cmd(output, tasks, precisions, limit, speed, prompt_tokens, new_tokens, repeats,
              threads, gguf, weights, device, as_json):
    """All tasks × runtimes × precisions on built-in test sets, plus speed; one report.

    Quality per task (model vs baselines, and each precision's delta to torch fp32), seconds per
    item, and (with --speed) decoder tok/s ratios against torch and llama.cpp measured in this
    one run on this machine.

    \b
    Example:
      memgpt-task bench -o reports/bench --limit 50
    """
    from memgpt.eval.bench import run_bench

    wanted = [t.strip() for t in tasks.split(",") if t.strip()]
    bad = [t for t in wanted if t not in task_names()]
    if bad:
        raise click.BadParameter(f"unknown task {bad[0]!r}", param_hint="--tasks")
    precs = [p.strip() for p in precisions.split(",") if p.strip()]
    summary: dict[str, Any] = run_bench(Path(output), tasks=wanted, precisions=precs,
                                        limit=limit, speed=speed, prompt_tokens=prompt_tokens,
                                        new_tokens=new_tokens, repeats=repeats, threads=threads,
                                        gguf=gguf, weights=weights, device=device)
    if as_json:
        emit_json({"output": output, **summary})


@click.command("perplexity")
@click.argument("file", metavar="TEXT|FILE|-")
@click.option("--window", type=click.IntRange(2, 8192), default=256, show_default=True,
              metavar="N", help="Context the model reads: windows of N tokens moved by N/2.")
@click.option("--memory/--no-memory", default=True, show_default=True,
              help="Keep the text that left the window in a memory bank read at every token "
                   "(a neural cache, see above); --no-memory: the window only.")
@click.option("--lam", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Weight of the memory in the mixture [default: the shipped setting].")
@click.option("--theta", type=click.FloatRange(0, min_open=True), default=None,
              help="Sharpness of the memory's similarity softmax [default: the shipped one].")
@click.option("--max-entries", type=click.IntRange(1), default=None, metavar="N",
              help="Keep only the newest N memory entries [default: 8192].")
@click.option("--memory-layers", is_flag=True,
              help="Also read each window through the trained memory layers (the shipped memory "
                   "weights of the default backbone): their bank holds the keys/values of the "
                   "text before the window. Windows then run one at a time.")
@click.option("--batch-size", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Windows per forward pass.")
@threads_option
@model_options
def perplexity_cmd(file: str, window: int, memory: bool, lam, theta, max_entries,
                   memory_layers: bool, batch_size: int, weights: str, device: str,
                   as_json: bool) -> None:
    """Perplexity of a text (a file, stdin with -, or the text itself) read with a WINDOW-token
    context, with or without a memory of what left the window.

    Each token is scored once, with at least half a window of context. With memory (the
    default) every token that leaves the window stays in a bank as (the hidden state that
    predicted it -> the token), and each new token's probability is mixed with a softmax over
    the bank by cosine similarity: (1 - lam) p_model + lam p_memory (a neural cache / kNN-LM
    over the document; no training). lam and theta ship tuned on WikiText-2 valid.

    \b
    Examples:
      memgpt-task perplexity report.txt --window 256 --json
      memgpt-task perplexity report.txt --window 256 --no-memory
      cat notes.md | memgpt-task perplexity - --window 128
    """
    from dataclasses import replace

    from tqdm.auto import tqdm

    from memgpt.perplexity import DEFAULT_CACHE, perplexity, windows_needed


    text = read_text(file) if is_file_arg(file) else file
    if not text.strip():
        raise ValueError("the input text is empty")
    if not memory and any(v is not None for v in (lam, theta, max_entries)):
        raise click.UsageError("--lam, --theta and --max-entries set the memory: drop "
                               "--no-memory")
    cache = None
    if memory:
        cache = replace(DEFAULT_CACHE, **{k: v for k, v in (("lam", lam), ("theta", theta),
                                                            ("max_entries", max_entries))
                                         if v is not None})
    model, tok = load_model_and_tokenizer(weights, device)
    scorer = info = None
    if memory_layers:
        from memgpt.memory_layers import DEFAULT_MEMORY, load_memory, score_through_memory

        info = load_memory(model, DEFAULT_MEMORY)["info"]
        scorer = score_through_memory
    ids = tok.encode(text)
    with tqdm(total=windows_needed(len(ids), window), desc="perplexity", unit="window",
              disable=len(ids) <= window) as bar:
        result = perplexity(model, tok, ids, window=window, cache=cache,
                            batch_size=batch_size, on_window=lambda: bar.update(),
                            scorer=scorer)
    result["memory_layers"] = info
    if memory_layers and "perplexity_without_memory" in result:
        # what the cache adds on top of the memory layers (the window-only figure: --no-memory
        # without --memory-layers)
        result["perplexity_without_cache"] = result.pop("perplexity_without_memory")
    if as_json:
        emit_json(result)
        return
    line = (f"perplexity {result['perplexity']:.3f} over {result['tokens']} tokens (window "
            f"{window}, memory {'on' if memory else 'off'}"
            f"{', memory layers on' if memory_layers else ''})")
    if memory:
        line += (f"; without the cache {result['perplexity_without_cache']:.3f}" if memory_layers
                 else f"; without memory {result['perplexity_without_memory']:.3f}")
    click.echo(line)


