"""Write evaluation and benchmark reports: results.json, results.md, predictions.jsonl, PNG plots.

Everything except ``timing`` sections and ``run.timestamp`` is a pure function of the inputs, so
two runs on the same inputs give identical files apart from those (``tests/eval`` checks it).
Writes are atomic (temp file + rename); plots need matplotlib (the ``eval`` extra) and are
skipped with a warning without it.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from memgpt.paths import atomic_path
from memgpt.paths import atomic_write_text as atomic_write

log = logging.getLogger(__name__)
LIBRARIES = ("memgpt", "torch", "numpy", "onnxruntime", "onnxruntime-gpu", "tokenizers",
             "sacrebleu", "rouge-score", "scikit-learn", "llama_cpp_python")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def code_revision() -> str:
    """The git revision of the memgpt checkout that is running (``+dirty`` when it has
    uncommitted changes to tracked files), or "" when memgpt is not run from a git checkout."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return ""
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{rev}+dirty" if rev and dirty else rev


def run_info() -> dict[str, Any]:
    """Where and with which code a report was made: time, machine, memgpt version, the git
    revision of the checkout and the exporter revision (``memgpt.export.specs``)."""
    from memgpt import __version__
    from memgpt.export.specs import EXPORTER_REVISION

    return {"timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": platform.machine(), "platform": platform.system(),
            "cpu_count": os.cpu_count(), "memgpt": __version__,
            "code_revision": code_revision(), "exporter_revision": EXPORTER_REVISION}


def write_predictions(path: Path, rows: list[dict]) -> None:
    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n"
                               for r in rows))


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _fmt(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def eval_markdown(result: dict) -> str:
    """The human report of one ``memgpt-task eval`` run."""
    main = result["main_metric"]
    m = result["model"]
    names = list(m["values"])
    lines = [f"# Evaluation: {result['task']} on {result['data']['name']}", "",
             f"{result['n']} items; runtime {result['runtime']['name']}"
             f" ({result['runtime'].get('precision', 'fp32')}, "
             f"{result['runtime'].get('provider', 'torch')}); model {result['model_id']}.", "",
             "| system | " + " | ".join(names) + f" | model − baseline ({main}) |",
             "|---|" + "---:|" * (len(names) + 1)]
    lines.append("| **model** | " + " | ".join(_fmt(m["values"][k]) for k in names) + " | |")
    for name, b in result["baselines"].items():
        delta = result["model_minus_baseline"][name]
        lines.append(f"| {name} | " + " | ".join(_fmt(b["values"].get(k, "")) for k in names)
                     + f" | {delta:+.2f} |")
    ci = m.get("ci95", {}).get(main)
    if ci:
        lines += ["", f"{main} 95% interval: [{ci[0]:.2f}, {ci[1]:.2f}] "
                      f"({m['ci95']['method']})."]
    lines += ["", "## Signatures", ""] + [f"* {k}: `{v}`" for k, v in m["signature"].items()]
    lines += ["", "## Data", "", "```json", json.dumps(result["data"], indent=2,
                                                         sort_keys=True), "```"]
    settings = json.dumps(result["settings"], sort_keys=True)
    lines += ["", "## Setup", "", f"* generation / task settings: `{settings}`",
              f"* libraries: `{json.dumps(result['libraries'], sort_keys=True)}`",
              f"* seconds per item: {result['timing']['seconds_per_item']}", ""]
    return "\n".join(lines)


def bar_plot(path: Path, result: dict) -> bool:
    """Model vs baselines on the main metric."""
    plt = _pyplot()
    if plt is None:
        return False
    main = result["main_metric"]
    names = ["model", *result["baselines"]]
    values = [result["model"]["values"][main]] + [b["values"][main]
                                                  for b in result["baselines"].values()]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh(names[::-1], values[::-1], color=["#999"] * (len(names) - 1) + ["#2a6"])
    ax.set_xlabel(main)
    ax.set_title(f"{result['task']} — {result['data']['name']}")
    _save(fig, path, plt)
    return True


def quality_latency_plot(path: Path, rows: list[dict], metric: str, title: str) -> bool:
    """One point per runtime/precision: task metric against seconds per item."""
    plt = _pyplot()
    if plt is None or not rows:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        ax.scatter(r["seconds_per_item"], r["value"], s=40)
        ax.annotate(r["label"], (r["seconds_per_item"], r["value"]), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("seconds per item (lower is better)")
    ax.set_ylabel(metric)
    ax.set_title(title)
    _save(fig, path, plt)
    return True


def memory_curve_plot(path: Path, ms_by_entries: dict[str, float]) -> bool:
    """Decode latency against memory-bank size (log x axis; N=0 drawn at 1)."""
    plt = _pyplot()
    if plt is None or not ms_by_entries:
        return False
    xs = [max(1, int(k)) for k in ms_by_entries]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(xs, list(ms_by_entries.values()), marker="o")
    ax.set_xscale("log")
    ax.set_xlabel("memory bank entries (0 drawn at 1)")
    ax.set_ylabel("decode ms/token (torch)")
    ax.set_title("Decode cost of reading an external memory bank")
    _save(fig, path, plt)
    return True


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no plots (pip install 'memgpt[eval]')")
        return None
    return plt


def _save(fig, path: Path, plt) -> None:
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            # Fixed metadata: the PNG bytes depend only on the numbers plotted.
            fig.savefig(tmp, dpi=100, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
