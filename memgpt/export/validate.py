"""Validation of an export against torch: shapes, max |Δ| per output, same decoded results.

Runs the written folder through ``memgpt.export.runtime`` (the code users run) and the torch
model the graph came from on the same sample inputs, and reports:

* ``outputs``: per graph output, its shape check and max |torch - onnxruntime|;
* ``tokens_equal`` / ``labels_equal`` / ``spans_equal``: greedy generations (token ids), labels
  or answer spans identical on the sample;
* ``indices_equal``: for exports with a memory bank, the retrieved bank indices identical at
  every step compared (the prompt pass and each decode step);
* ``agreement``: for quantized exports, the share of ``specs.AGREEMENT_SAMPLE`` varied inputs on
  which onnxruntime agrees with torch — for a decoder the mean fraction of torch's greedy tokens
  produced before the first difference, for a classifier the labels, for qa the answer spans;
* ``passed`` and ``failures``: fp32 must stay within ``specs.TOLERANCE`` and give identical
  results; quantized exports must give finite outputs of the right shapes and an agreement of at
  least ``min_agreement`` (``specs.MIN_AGREEMENT``); the task-metric delta of a precision is
  measured by ``memgpt-task bench``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from memgpt.decoding import GenerationConfig, decode, right_pad
from memgpt.export import specs
from memgpt.export.runtime import ExportedTask, OnnxStepper
from memgpt.export.samples import (
    AGREEMENT_QA,
    AGREEMENT_TEXTS,
    SAMPLE_QA,
    SAMPLE_TEXTS,
    decoder_feeds,
)
from memgpt.generate import TorchStepper
from memgpt.model import MemoryState
from memgpt.tasks.text import classify_ids, format_input


def _compare(name: str, ref: np.ndarray, got: np.ndarray, report: dict, step: int = 0) -> None:
    """Compare one output at one step and fold it into ``report["outputs"][name]``, keeping the
    worst over every step (prompt pass = step 0, then each decode step): the largest |Δ|, and
    for integer outputs (retrieved indices) ``equal`` only if every step was equal, with the
    steps that were not in ``unequal_steps``."""
    entry: dict[str, Any] = {"shape": list(got.shape),
                             "shape_ok": list(ref.shape) == list(got.shape), "steps": 1}
    if ref.dtype.kind == "f":
        if entry["shape_ok"]:
            entry["max_abs_diff"] = float(np.abs(ref.astype(np.float64) - got).max()) \
                if ref.size else 0.0
            entry["finite"] = bool(np.isfinite(got).all())
    else:
        entry["equal"] = entry["shape_ok"] and bool((ref == got).all())
        entry["unequal_steps"] = [] if entry["equal"] else [step]
    prev = report["outputs"].get(name)
    if prev is not None:
        entry["shape_ok"] = entry["shape_ok"] and prev["shape_ok"]
        entry["steps"] += prev["steps"]
        for key, worst in (("max_abs_diff", max), ("finite", min), ("equal", min)):
            if key in prev:
                entry[key] = worst(entry.get(key, prev[key]), prev[key])
        if "unequal_steps" in prev:
            entry["unequal_steps"] = prev["unequal_steps"] + entry.get("unequal_steps", [])
    report["outputs"][name] = entry


@torch.inference_mode()
def validate(folder, *, backbone, task_model, spec, tokenizer, device: str = "cpu",
             bank: MemoryState | None = None, sample_size: int = 2,
             threads: int | None = None, min_agreement: float = specs.MIN_AGREEMENT
             ) -> dict[str, Any]:
    task = ExportedTask(folder, device=device, threads=threads)
    precision = task.precision
    tol = specs.TOLERANCE[precision]
    report: dict[str, Any] = {"precision": precision, "tolerance": tol,
                              "provider": task.graph.provider, "outputs": {}}
    if tol is None:
        report["agreement"] = _agreement(task, backbone, task_model, spec, tokenizer, bank)
        report["min_agreement"] = min_agreement
    texts = list(SAMPLE_TEXTS[:max(1, sample_size)])
    tok, cfg = tokenizer, backbone.config
    if task.graph.kind == "decoder":
        extra = {"src": "English", "tgt": "Spanish"}
        prompts = [tok.encode(format_input(spec, tok, {"text": t, **extra})) for t in texts]
        ids, mask = right_pad(prompts, tok.pad_id, left=True)
        bank_np = None if bank is None else (bank.keys.numpy(), bank.values.numpy())
        stepper = OnnxStepper(task.graph, tok.pad_id, bank=bank_np)
        feeds = decoder_feeds(cfg, ids, mask, None, bank)
        past = None
        for step in range(3):  # the prompt pass, then two decode steps on the torch argmax
            got = task.graph.run(feeds)
            ref = _torch_decoder(backbone, feeds, bank)
            for name in task.graph.outputs:
                _compare(name, ref[name], got[name], report, step)
            past = [ref[n] for n in task.graph.outputs if n.startswith("present_")]
            nxt = ref["logits"].argmax(-1)[:, None]
            mask = np.concatenate([feeds["attention_mask"], np.ones_like(nxt)], 1)
            feeds = decoder_feeds(cfg, nxt.astype(np.int64), mask, past, bank)
        gcfg = GenerationConfig(max_new_tokens=16, eos_ids=(tok.eos_id,))
        ref_tokens = decode(TorchStepper(backbone, memory=bank), prompts, gcfg)
        got_tokens = decode(stepper, prompts, gcfg)
        report["tokens_equal"] = ref_tokens == got_tokens
        report["sample"] = {"torch": [tok.decode(t) for t in ref_tokens],
                            "onnx": [tok.decode(t) for t in got_tokens]}
        if bank is not None:
            report["indices_equal"] = all(
                report["outputs"][n].get("equal", False) for n in task.graph.outputs
                if n.startswith("memory_indices"))
    elif task.graph.kind == "classifier":
        rows = [classify_ids(spec, tok, t) for t in texts]
        ids, mask = right_pad(rows, tok.pad_id)
        ref = task_model(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        got = task.graph.run({"input_ids": ids, "attention_mask": mask})
        _compare("logits", ref.float().numpy(), got["logits"], report)
        report["labels_equal"] = bool((ref.argmax(-1).numpy() == got["logits"].argmax(-1)).all())
    else:
        from memgpt.tasks.pipelines import answer
        from memgpt.tasks.text import qa_windows

        wins, _ = qa_windows(spec, tok, *SAMPLE_QA)
        ids, mask = right_pad([w.ids for w in wins], tok.pad_id)
        s, e = task_model(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        got = task.graph.run({"input_ids": ids, "attention_mask": mask})
        _compare("start_logits", s.float().numpy(), got["start_logits"], report)
        _compare("end_logits", e.float().numpy(), got["end_logits"], report)
        ref_span = answer(task_model, tok, spec, *SAMPLE_QA)
        got_span = task.answer(*SAMPLE_QA)
        report["spans_equal"] = (ref_span.start, ref_span.end) == (got_span.start, got_span.end)
    report["failures"] = _failures(report, tol)
    if tol is None and report["agreement"]["value"] < min_agreement:
        a = report["agreement"]
        report["failures"].append(
            f"{a['what']} agree with torch on {100 * a['value']:.0f}% of {a['n']} sample inputs "
            f"(the tolerance is {100 * min_agreement:.0f}%)")
    report["passed"] = not report["failures"]
    return report


def _agreement(task, backbone, task_model, spec, tok, bank) -> dict[str, Any]:
    """How often the quantized export gives torch's result on the agreement sample."""
    from memgpt.tasks.pipelines import answer, classify

    texts = list(AGREEMENT_TEXTS[:specs.AGREEMENT_SAMPLE])
    if task.graph.kind == "decoder":
        extra = {"src": "English", "tgt": "Spanish"}
        prompts = [tok.encode(format_input(spec, tok, {"text": t, **extra})) for t in texts]
        gcfg = GenerationConfig(max_new_tokens=16, eos_ids=(tok.eos_id,))
        bank_np = None if bank is None else (bank.keys.numpy(), bank.values.numpy())
        ref = decode(TorchStepper(backbone, memory=bank), prompts, gcfg)
        got = decode(OnnxStepper(task.graph, tok.pad_id, bank=bank_np), prompts, gcfg)
        shares = []
        for r, g in zip(ref, got):
            same = next((i for i, (a, b) in enumerate(zip(r, g)) if a != b), min(len(r), len(g)))
            shares.append(1.0 if r == g else same / max(len(r), 1))
        return {"what": "greedy tokens", "value": float(np.mean(shares)), "n": len(texts),
                "per_input": [round(x, 4) for x in shares]}
    if task.graph.kind == "classifier":
        ref = [x.label for x in classify(task_model, tok, spec, texts)]
        got = [x.label for x in task.classify(texts)]
        same = [a == b for a, b in zip(ref, got)]
        return {"what": "labels", "value": float(np.mean(same)), "n": len(texts)}
    items = AGREEMENT_QA[:specs.AGREEMENT_SAMPLE]
    same = []
    for q, ctx in items:
        a, b = answer(task_model, tok, spec, q, ctx), task.answer(q, ctx)
        same.append((a.start, a.end) == (b.start, b.end))
    return {"what": "answer spans", "value": float(np.mean(same)), "n": len(items)}


def _torch_decoder(backbone, feeds: dict[str, np.ndarray], bank) -> dict[str, np.ndarray]:
    n = backbone.config.n_layers
    names = specs.graph_spec("decoder", n_layers=n).inputs[3:]
    past = tuple((torch.from_numpy(feeds[names[2 * i]]), torch.from_numpy(feeds[names[2 * i + 1]]))
                 for i in range(n))
    out = backbone(torch.from_numpy(feeds["input_ids"]),
                   attention_mask=torch.from_numpy(feeds["attention_mask"]),
                   position_ids=torch.from_numpy(feeds["position_ids"]), past_key_values=past,
                   memory=bank, num_logits=1)
    res = {"logits": out.logits[:, -1].float().numpy()}
    for i, (k, v) in enumerate(out.past_key_values):
        res[f"present_key.{i}"], res[f"present_value.{i}"] = k.numpy(), v.numpy()
    for j, idx in enumerate(out.memory_indices or ()):
        res[f"memory_indices.{j}"] = idx.numpy()
    return res


def _failures(report: dict, tol: float | None) -> list[str]:
    bad = []
    for name, o in report["outputs"].items():
        if not o["shape_ok"]:
            bad.append(f"{name}: shape {o['shape']} differs from torch")
        elif not o.get("finite", True):
            bad.append(f"{name}: non-finite values")
        elif tol is not None and o.get("max_abs_diff", 0.0) > tol:
            bad.append(f"{name}: max |Δ| {o['max_abs_diff']:.2e} > {tol:.0e}")
        elif tol is not None and "equal" in o and not o["equal"]:
            steps = ", ".join(map(str, o["unequal_steps"]))
            bad.append(f"{name}: retrieved indices differ from torch at step {steps} "
                       "(0 = the prompt pass)")
    if tol is not None:
        for key in ("tokens_equal", "labels_equal", "spans_equal"):
            if report.get(key) is False:
                bad.append(f"{key.replace('_', ' ')}: no")
    return bad
