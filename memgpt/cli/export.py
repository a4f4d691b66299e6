"""``memgpt-task export``: a task folder (or the plain backbone, for chat) to a validated ONNX
folder."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from memgpt.cli.common import (
    classify_default,
    emit_json,
    load_model_and_tokenizer,
    model_options,
    threads_option,
)

log = logging.getLogger("memgpt.cli")

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
              default="int8w", show_default=True,
              help="int8w (the recommended default): 8-bit weight-only MatMulNBits, blocks of "
                   "32, within about 1 point of fp32 on the shipped tasks "
                   "(README: quality, disk and memory of each); fp32: exactly torch; int8: "
                   "dynamic quantization (int8 weights and activations); int4: 4-bit "
                   "weight-only; fp16: for --device cuda.")
@click.option("--memory-bank", "bank_entries", type=click.IntRange(0), default=0,
              show_default=True, metavar="N",
              help="Generation tasks: add memory-bank inputs (validated on N random entries).")
@click.option("--min-agreement", type=click.FloatRange(0, 1), default=None, metavar="F",
              help="Quantized precisions: write the export only if it agrees with torch on at "
                   "least this share of the sample inputs [default: 0.5; 0 writes it anyway].")
@threads_option(expose_value=True)
@model_options
def export_cmd(task, labels, output, precision, bank_entries, min_agreement, threads, weights,
               device, as_json):
    """Export a task to ONNX (adapters merged), validate it against torch, and write it.

    The folder holds model.onnx, tokenizer.json, settings.json (prompt, generation settings or
    labels, validation report) and manifest.json (sha256 of every file). Validation compares
    every output with torch (fp32: max |diff| <= 1e-4, identical greedy text / labels / spans on
    a sample; int8, int8w, int4: finite outputs and the same greedy tokens / labels / spans as
    torch on at least --min-agreement of 8 varied sample inputs); a failed validation writes
    nothing and exits non-zero.

    \b
    Examples:
      memgpt-task export --task summarize
      memgpt-task export --task translate -o out/mt
      memgpt-task export --task translate --precision fp32 -o out/mt-fp32
      memgpt-task export --task classify --labels topic -o out/topic
      memgpt-task translate --export out/mt "Good morning"
      memgpt-task export --task chat --precision int8w
    """
    from memgpt.export import specs
    from memgpt.export.cache import export_dir
    from memgpt.export.exporter import export_task
    from memgpt.tasks.registry import shipped_defaults

    if min_agreement is not None and precision in ("fp32", "fp16"):
        raise click.UsageError("--min-agreement is for the quantized precisions (int8, int8w, "
                               "int4)")

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
                         threads=threads,
                         min_agreement=specs.MIN_AGREEMENT if min_agreement is None
                         else min_agreement)
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
    if "agreement" in report:
        a = report["agreement"]
        click.echo(f"  {a['what']} agree with torch on {100 * a['value']:.0f}% of {a['n']} sample "
                   f"inputs (tolerance {100 * report['min_agreement']:.0f}%)")
    click.echo(f"  validation: passed (export {report['export_seconds']} s)")


