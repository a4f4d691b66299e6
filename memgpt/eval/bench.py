"""``memgpt-task bench``: every task × runtime × precision on built-in test sets, plus speed.

For each task, the shipped folder runs on torch (fp32) and on its ONNX exports (exported into
the cache when missing); each system's scores, seconds per item and its main-metric delta to
torch fp32 are reported with the baselines. With ``speed``: decoder prefill/decode tok/s of
torch, every ONNX precision and llama.cpp (same SmolLM2 GGUF, when llama-cpp-python is
installed), and classify latency — all measured in this one run, printed as ratios.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path
from typing import Any

import click

from memgpt.eval import report
from memgpt.eval.runner import evaluate
from memgpt.tasks.registry import task_def

log = logging.getLogger(__name__)


def bench_data(task: str) -> tuple[str, str]:
    """The built-in dataset ``bench`` scores ``task`` on and the shipped folder it runs."""
    d = task_def(task)
    return d.bench, d.datasets[d.bench]


def _export(folder: str, precision: str, backbone, tok, threads) -> Path:
    from memgpt.export.cache import export_dir, find_export
    from memgpt.export.exporter import export_task

    found = find_export(folder, precision)
    if found is not None:
        return found
    out = export_dir(folder, precision)
    log.info("exporting %s (%s) to %s", folder, precision, out)
    # the bench measures each precision's metric delta itself: it exports whatever the agreement
    export_task(folder, out, backbone=backbone, tokenizer=tok, precision=precision,
                threads=threads, min_agreement=0.0)
    return out


def run_bench(out: Path, *, tasks: list[str], precisions: list[str], limit: int, speed: bool,
              prompt_tokens: int, new_tokens: int, repeats: int, threads: int | None,
              gguf: str | None, weights: str, device: str,
              suites: dict[str, tuple[str, list[dict], list[dict] | None, dict]] | None = None,
              ) -> dict[str, Any]:
    """Run the benchmark and write the report to ``out``.

    ``suites`` (tests, custom runs): task -> (task folder, records, training records or None,
    data card); default: the shipped folders on the built-in test splits (``bench_data``).
    """
    import torch

    from memgpt.checkpoint import load_model, load_tokenizer
    from memgpt.export.runtime import ExportedTask
    from memgpt.tasks.artifacts import load_task
    from memgpt.tasks.pipelines import TorchTask

    if threads:
        torch.set_num_threads(threads)
    backbone, tok = load_model(weights, device=device), load_tokenizer(weights)
    results: dict[str, Any] = {"tasks": {}, "settings": {
        "limit": limit, "precisions": precisions, "threads": threads or torch.get_num_threads(),
        "weights": weights, "device": device}}
    rows: list[dict] = []
    exports: dict[tuple[str, str], Path] = {}
    suites = suites or {}
    for task in tasks:
        folder, records, train, card = suites.get(task) or builtin_suite(task, limit)
        systems: dict[str, Any] = {}
        for p in precisions:
            exports[(task, p)] = _export(folder, p, backbone, tok, threads)
        spec, tm = load_task(folder, backbone)
        systems["torch fp32"] = TorchTask(spec, tm, tok)
        for p in precisions:
            systems[f"onnx {p}"] = ExportedTask(exports[(task, p)], threads=threads)
        entry: dict[str, Any] = {"data": card,
                                 "main_metric": task_def(task).main_metric, "systems": {},
                                 "baselines": {}}
        for name, runner in systems.items():
            r = evaluate(runner, task, records, train=train, with_baselines=not entry["baselines"])
            if not entry["baselines"]:
                entry["baselines"] = r["baselines"]
            entry["systems"][name] = {"values": r["model"]["values"],
                                      "ci95": r["model"].get("ci95"),
                                      "signature": r["model"]["signature"],
                                      "timing": r["timing"]}
            rows += [{"task": task, "system": name, **row} for row in r["rows"]]
        main = entry["main_metric"]
        ref = entry["systems"]["torch fp32"]["values"][main]
        for s in entry["systems"].values():
            s["delta_vs_torch_fp32"] = round(s["values"][main] - ref, 4)
            s["minus_baselines"] = {b: round(s["values"][main] - v["values"][main], 4)
                                    for b, v in entry["baselines"].items()}
        results["tasks"][task] = entry
        _print_task(task, entry)
    if speed:
        classify_folder = (suites.get("classify") or (bench_data("classify")[1],))[0]
        results["speed"] = _speed(backbone, tok, exports, precisions, prompt_tokens, new_tokens,
                                  repeats, threads, gguf, classify_folder)
    results["libraries"] = report.library_versions()
    results["run"] = report.run_info()
    out.mkdir(parents=True, exist_ok=True)
    report.write_predictions(out / "predictions.jsonl", rows)
    report.write_json(out / "results.json", results)
    report.atomic_write(out / "results.md", bench_markdown(results))
    for task, entry in results["tasks"].items():
        main = entry["main_metric"]
        pts = [{"label": n, "value": s["values"][main],
                "seconds_per_item": s["timing"]["seconds_per_item"]}
               for n, s in entry["systems"].items()]
        report.quality_latency_plot(out / f"quality_latency_{task}.png", pts, main,
                                    f"{task}: {main} vs latency")
    curve = (results.get("speed") or {}).get("memory_bank_curve")
    if curve:
        report.memory_curve_plot(out / "memory_bank_size.png",
                                 curve["decode_ms_per_token_by_entries"])
    click.echo(f"report: {out}/results.md")
    return {t: {n: s["values"] for n, s in e["systems"].items()}
            for t, e in results["tasks"].items()}


def builtin_suite(task: str, limit: int) -> tuple[str, list[dict], list[dict] | None, dict]:
    """The shipped folder of ``task`` and the first ``limit`` items of its built-in test split."""
    from memgpt.tasks.data import dataset_card, load_builtin

    dataset, folder = bench_data(task)
    records = load_builtin(dataset, "test", limit=limit)
    train = load_builtin(dataset, "train") if task_def(task).baseline_train else None
    card = {**dataset_card(dataset), "name": f"builtin:{dataset}:test", "evaluated_split": "test",
            "n": len(records)}
    return folder, records, train, card


def _print_task(task: str, entry: dict) -> None:
    main = entry["main_metric"]
    click.echo(f"{task} (n={entry['data']['n']}): {main}")
    for name, s in entry["systems"].items():
        click.echo(f"  {name:12s} {s['values'][main]:7.2f}  Δ vs torch "
                   f"{s['delta_vs_torch_fp32']:+6.2f}  "
                   f"{s['timing']['seconds_per_item']:.3f} s/item")
    for name, b in entry["baselines"].items():
        click.echo(f"  baseline {name}: {b['values'][main]:.2f}")


def _speed(backbone, tok, exports, precisions, prompt_tokens, new_tokens, repeats, threads,
           gguf, classify_folder) -> dict[str, Any]:
    import torch

    from memgpt.eval.speed import llama_runner, measure, prompt_ids, run_stepper
    from memgpt.export.runtime import ExportedTask, OnnxStepper
    from memgpt.generate import TorchStepper
    from memgpt.tasks.adapters import remove_adapters

    remove_adapters(backbone)
    ids = prompt_ids(tok, prompt_tokens)
    runners = {"torch eager fp32": lambda i, n: run_stepper(TorchStepper(backbone), i, n)}
    gen_task = next((t for t in ("translate", "summarize") if (t, precisions[0]) in exports),
                    None) if precisions else None
    for p in precisions if gen_task else ():
        g = ExportedTask(exports[(gen_task, p)], threads=threads).graph
        runners[f"onnx {p}"] = (lambda graph: lambda i, n: run_stepper(
            OnnxStepper(graph, tok.pad_id), i, n))(g)
    path = _find_gguf(gguf)
    if path is not None:
        try:
            runners["llama.cpp (GGUF)"] = llama_runner(path, prompt_tokens + new_tokens + 8,
                                                       threads or torch.get_num_threads())
        except ImportError:
            log.warning("llama-cpp-python is not installed: no llama.cpp row "
                        "(pip install 'memgpt[bench]')")
    m = measure(runners, ids, new_tokens, repeats)
    res = {"decoder": m["backends"], "decoder_graph": f"{gen_task} export (adapter merged; "
           "same shapes and cost as the plain backbone)" if gen_task else None,
           "prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "repeats": repeats,
           "gguf": path.name if path else None}
    base = m["backends"]
    for k, ref in (("vs_torch", "torch eager fp32"), ("vs_llama_cpp", "llama.cpp (GGUF)")):
        if ref in base:
            res[k] = {n: {"prefill": round(v["prefill_tok_s"] / base[ref]["prefill_tok_s"], 3),
                          "decode": round(v["decode_tok_s"] / base[ref]["decode_tok_s"], 3)}
                      for n, v in base.items()}
    if backbone.config.memory.layers:
        res["memory_bank_curve"] = _memory_curve(backbone, ids[:32], min(new_tokens, 16))
    if any(t == "classify" for t, _ in exports):
        res["classify_latency_ms"] = _classify_latency(backbone, tok, exports, precisions,
                                                       repeats, threads, classify_folder)
    _print_speed(res)
    return res


def _memory_curve(backbone, ids: list[int], new: int,
                  sizes: tuple[int, ...] = (0, 1_000, 10_000, 100_000)) -> dict:
    """Torch decode ms/token while reading an external bank of N entries (random keys/values:
    the cost of retrieval does not depend on what the entries hold)."""
    import torch

    from memgpt.eval.speed import run_stepper
    from memgpt.generate import TorchStepper
    from memgpt.model import MemoryState

    c = backbone.config
    g = torch.Generator().manual_seed(0)
    out = {}
    for n in sizes:
        shape = (len(c.memory.layers), n, c.n_kv_heads, c.head_dim)
        bank = MemoryState(torch.randn(shape, generator=g), torch.randn(shape, generator=g)) \
            if n else None
        run_stepper(TorchStepper(backbone, memory=bank), ids, 2)  # warm-up
        _, dec, _ = run_stepper(TorchStepper(backbone, memory=bank), ids, new)
        out[str(n)] = round(1000 * dec / new, 3)
    return {"decode_ms_per_token_by_entries": out, "top_k": c.memory.top_k,
            "memory_layers": list(c.memory.layers)}


def _classify_latency(backbone, tok, exports, precisions, repeats, threads, folder) -> dict:
    from memgpt.eval.speed import TEXT
    from memgpt.export.runtime import ExportedTask
    from memgpt.tasks.artifacts import load_task
    from memgpt.tasks.pipelines import TorchTask

    text = (TEXT * 3).strip()
    spec, tm = load_task(folder, backbone)
    runners = {"torch eager fp32": TorchTask(spec, tm, tok)}
    for p in precisions:
        if ("classify", p) in exports:
            runners[f"onnx {p}"] = ExportedTask(exports[("classify", p)], threads=threads)
    out = {}
    for name, r in runners.items():
        r.classify([text])
        times = []
        for _ in range(max(5, repeats * 3)):
            t0 = time.perf_counter()
            r.classify([text])
            times.append(time.perf_counter() - t0)
        out[name] = round(1000 * statistics.median(times), 2)
    out["input_tokens"] = len(tok.encode(text))
    return out


def _find_gguf(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    from memgpt.paths import cache_dir

    found = sorted(Path(cache_dir()).rglob("*.gguf"))
    return found[0] if found else None


def _print_speed(res: dict) -> None:
    click.echo(f"decoder speed (batch 1, prompt {res['prompt_tokens']}, "
               f"{res['new_tokens']} new tokens):")
    for name, v in res["decoder"].items():
        extra = ""
        if "vs_llama_cpp" in res:
            r = res["vs_llama_cpp"][name]
            extra = f"  ×llama.cpp prefill {r['prefill']:.2f} decode {r['decode']:.2f}"
        click.echo(f"  {name:18s} prefill {v['prefill_tok_s']:8.1f} tok/s  decode "
                   f"{v['decode_tok_s']:6.1f} tok/s{extra}")
    if "classify_latency_ms" in res:
        click.echo(f"classify latency (ms, {res['classify_latency_ms']['input_tokens']} tokens): "
                   + ", ".join(f"{k} {v}" for k, v in res["classify_latency_ms"].items()
                               if k != "input_tokens"))


def bench_markdown(results: dict) -> str:
    lines = ["# memgpt benchmark", "",
             f"Settings: `{results['settings']}`; libraries: `{results['libraries']}`.", ""]
    for task, e in results["tasks"].items():
        main = e["main_metric"]
        names = list(next(iter(e["systems"].values()))["values"])
        lines += [f"## {task} — {e['data']['name']} test (n={e['data']['n']})", "",
                  "| system | " + " | ".join(names) + " | Δ " + main
                  + " vs torch | s/item |", "|---|" + "---:|" * (len(names) + 2)]
        for n, s in e["systems"].items():
            lines.append(f"| {n} | " + " | ".join(f"{s['values'][k]:.2f}" for k in names)
                         + f" | {s['delta_vs_torch_fp32']:+.2f} | "
                           f"{s['timing']['seconds_per_item']:.3f} |")
        for n, b in e["baselines"].items():
            lines.append(f"| baseline: {n} | " + " | ".join(
                f"{b['values'].get(k, 0):.2f}" for k in names) + " | | |")
        lines += ["", f"Signatures: `{next(iter(e['systems'].values()))['signature']}`", ""]
    sp = results.get("speed")
    if sp:
        lines += ["## Speed (this machine, one run)", "",
                  "| backend | prefill tok/s | decode tok/s | ms/token | prefill × llama.cpp |"
                  " decode × llama.cpp |", "|---|---:|---:|---:|---:|---:|"]
        for n, v in sp["decoder"].items():
            r = sp.get("vs_llama_cpp", {}).get(n, {})
            lines.append(f"| {n} | {v['prefill_tok_s']:.1f} | {v['decode_tok_s']:.1f} | "
                         f"{v['decode_ms_per_token']:.2f} | {r.get('prefill', '')} | "
                         f"{r.get('decode', '')} |")
        if "memory_bank_curve" in sp:
            m = sp["memory_bank_curve"]["decode_ms_per_token_by_entries"]
            lines += ["", "Torch decode ms/token while reading a memory bank of N entries: "
                      + ", ".join(f"N={k}: {v}" for k, v in m.items())]
        if "classify_latency_ms" in sp:
            c = sp["classify_latency_ms"]
            lines += ["", f"Classify latency, one {c['input_tokens']}-token text (ms): "
                      + ", ".join(f"{k} {v}" for k, v in c.items() if k != "input_tokens")]
        lines.append("")
    return "\n".join(lines)
