"""Export a task (backbone + merged adapter + head) to a self-contained ONNX folder; validate it.

``export_task`` writes, atomically (a temp folder renamed into place):

    model.onnx       the graph (``memgpt.export.specs``), weights inside the file
    tokenizer.json   the tokenizer
    settings.json    task, prompt template, generation settings or labels, ids, graph spec,
                     precision, source hashes and the validation report
    manifest.json    sha256 and size of every other file (checked by the runtime on load)

Steps: load the task folder on the backbone, merge its adapter, give the LM head its own
weight matrix (the embedding stays a Gather; an untied head is what lets int8/int4 quantize it),
drop memory reads whose gate is closed when no bank is exported (their output is exactly 0),
export with the TorchScript-based exporter at ``specs.OPSET``, quantize if asked, then validate
against torch: shapes, max |Δ| per output, identical greedy text / labels / spans on a sample.
A failed validation fails the export and nothing is written.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from memgpt.eval.report import write_json
from memgpt.export import specs
from memgpt.export.samples import random_bank, tracing_feeds
from memgpt.model import MemGPT, MemoryState
from memgpt.paths import make_temp_dir, remove_stale_temps, replace_dir, sha256_file, temp_prefix
from memgpt.tasks.registry import CHAT_TASK, TASK_DEFS, task_folder_hash

log = logging.getLogger(__name__)

class ExportError(RuntimeError):
    """An export that could not be written or did not validate."""


# ----------------------------------------------------------------------------- wrappers


class DecoderGraph(nn.Module):
    """``(input_ids, attention_mask, position_ids, past..., [memory_keys, memory_values])`` ->
    ``(logits [B, V], present..., [memory_indices...])``."""

    def __init__(self, model: MemGPT, *, bank: bool) -> None:
        super().__init__()
        self.model, self.bank = model, bank
        self.n_layers = model.config.n_layers
        if bank:  # the graph reads the bank and returns the retrieved indices, gates closed or not
            for m in model.modules():
                if hasattr(m, "skip_when_closed"):
                    m.skip_when_closed = False

    def forward(self, input_ids, attention_mask, position_ids, *rest):
        n = self.n_layers
        past = tuple((rest[2 * i], rest[2 * i + 1]) for i in range(n))
        memory = MemoryState(rest[2 * n], rest[2 * n + 1]) if self.bank else None
        out = self.model(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=past, memory=memory, num_logits=1)
        flat = [out.logits[:, -1]] + [t for kv in out.past_key_values for t in kv]
        if self.bank:
            flat += list(out.memory_indices)
        return tuple(flat)


class HeadGraph(nn.Module):
    """``(input_ids, attention_mask)`` -> classify logits, or (start, end) span logits."""

    def __init__(self, task_model: nn.Module) -> None:
        super().__init__()
        self.task_model = task_model

    def forward(self, input_ids, attention_mask):
        return self.task_model(input_ids, attention_mask=attention_mask)


def prepare_backbone(backbone: MemGPT, *, bank: bool) -> MemGPT:
    """In place: merged LoRA adapters (bottleneck adapters are exported as they are), fused
    q/k/v and gate/up matmuls, an untied LM head, closed-gate memory dropped (without bank)."""
    from memgpt.tasks.adapters import LoRALinear, adapter_modules

    for m in adapter_modules(backbone):  # bottleneck adapters (non-linear) stay as nodes
        if isinstance(m, LoRALinear):
            m.merge()
    if backbone.lm_head is None:
        c = backbone.config
        head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        head.weight = nn.Parameter(backbone.embed.weight.detach().clone(), requires_grad=False)
        backbone.lm_head = head
    for block in backbone.layers:  # after merging: fused weights include the adapter update
        attn, mlp = _inner(block.attn), _inner(block.mlp)
        attn.fuse_projections()
        mlp.fuse_projections()
        if not bank and attn.memory is not None and not bool(attn.memory.gate.abs().any()):
            attn.memory = None  # tanh(0) * anything = 0: exact
    return backbone


# ----------------------------------------------------------------------------- export


def _onnx_export(module: nn.Module, feeds: dict[str, np.ndarray], spec: specs.GraphSpec,
                 path: Path) -> None:
    import warnings

    args = tuple(torch.from_numpy(feeds[n]) for n in spec.inputs)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about Python-side shape checks
        torch.onnx.export(module, args, str(path), input_names=list(spec.inputs),
                          output_names=list(spec.outputs), dynamic_axes=spec.dynamic_axes,
                          opset_version=specs.OPSET, do_constant_folding=True, dynamo=False)


def quantize(src: Path, dst: Path, precision: str) -> None:
    """Write ``src`` (fp32 graph) as ``precision`` to ``dst``."""
    if precision == "fp32":
        shutil.copyfile(src, dst)
    elif precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
    elif precision in ("int4", "int8w"):
        # Weight-only: 4 or 8-bit weights in blocks of 32 along the input dimension, symmetric,
        # int8 activations inside the kernel (accuracy_level 4) — onnxruntime's MatMulNBits.
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        q = MatMulNBitsQuantizer(onnx.load(str(src)), bits=4 if precision == "int4" else 8,
                                 block_size=32, is_symmetric=True, accuracy_level=4,
                                 op_types_to_quantize=("MatMul",))
        q.process()
        q.model.save_model_to_file(str(dst), use_external_data_format=False)
    elif precision == "fp16":
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
        onnx.save(model, str(dst))
    else:
        raise ValueError(f"precision must be one of {specs.PRECISIONS}, got {precision!r}")


def export_task(task: str, out_dir: str | os.PathLike, *, weights: str = "smollm2-135m",
                precision: str = "fp32", device: str = "cpu", bank_entries: int = 0,
                sample_size: int = 2, backbone: MemGPT | None = None, tokenizer: Any = None,
                threads: int | None = None, min_agreement: float = specs.MIN_AGREEMENT) -> dict:
    """Export the task folder ``task`` (a shipped name or a path) to ``out_dir``.

    Args:
        task: task folder name or path (``memgpt.tasks.artifacts.resolve_task``).
        weights: the backbone (ignored when ``backbone``/``tokenizer`` are given).
        precision: fp32 | fp16 | int8 | int4.
        device: execution provider the validation runs on (``cpu`` or ``cuda``).
        bank_entries: > 0 exports a decoder with memory-bank inputs, validated on a random
            bank of that many entries (needs memory layers).
        sample_size: validation examples.
        min_agreement: a quantized export is written only if it agrees with torch this often on
            the agreement sample (``memgpt.export.validate``); 0 writes it whatever it says.

    Returns:
        The validation report (also stored in settings.json).
    """
    from memgpt.checkpoint import backbone_hash, load_model, load_tokenizer
    from memgpt.tasks.adapters import remove_adapters
    from memgpt.tasks.artifacts import load_task, resolve_task

    if precision not in specs.PRECISIONS:
        raise ValueError(f"precision must be one of {specs.PRECISIONS}, got {precision!r}")
    if precision == "fp16" and device != "cuda":
        raise ValueError("fp16 exports are for the CUDA provider: add --device cuda")
    chat = str(task) == CHAT_TASK
    folder = None if chat else resolve_task(task)
    if backbone is None:
        backbone, tokenizer = load_model(weights), load_tokenizer(weights)
    backbone = copy.deepcopy(backbone).float().eval()
    remove_adapters(backbone)  # the plain backbone's hash: the one task.json records
    source_hash = backbone_hash(backbone)
    if chat:  # the plain instruct backbone: a decoder for `memgpt-task chat`
        spec, task_model = chat_spec(backbone)
        kind = "decoder"
    else:
        spec, task_model = load_task(folder, backbone)
        kind = TASK_DEFS[spec.task].graph
    bank = kind == "decoder" and bank_entries > 0
    if bank_entries > 0 and not backbone.config.memory.layers:
        raise ValueError("this backbone has no memory layers: a bank cannot be exported")
    prepare_backbone(backbone, bank=bank)
    cfg = backbone.config
    gspec = specs.graph_spec(kind, n_layers=cfg.n_layers,
                             n_memory_layers=len(cfg.memory.layers), bank=bank)
    out_dir = Path(out_dir)
    remove_stale_temps(out_dir.parent, out_dir.name)
    tmp = make_temp_dir(out_dir.parent, temp_prefix(out_dir.name))
    try:
        bank_state = random_bank(cfg, bank_entries) if bank else None
        trace_feeds = tracing_feeds(cfg, kind, tokenizer, bank_state)
        module = DecoderGraph(backbone, bank=bank) if kind == "decoder" else HeadGraph(task_model)
        t0 = time.perf_counter()
        fp32 = tmp / "fp32.onnx"
        _onnx_export(module.eval(), trace_feeds, gspec, fp32)
        quantize(fp32, tmp / specs.GRAPH_FILE, precision)
        fp32.unlink()
        export_s = time.perf_counter() - t0
        tokenizer.save(tmp / specs.TOKENIZER_FILE)
        settings = {
            "format": specs.FORMAT, "version": specs.FORMAT_VERSION,
            "task": CHAT_TASK if chat else spec.task,
            "graph": gspec.to_dict(), "opset": specs.OPSET, "precision": precision,
            "template": spec.template, "chat": spec.chat,
            # For other languages: the model input is before + template.format(...) + after.
            "prompt": _prompt_frame(tokenizer, spec.chat),
            "max_input_tokens": spec.max_input_tokens, "generation": spec.generation,
            "labels": list(spec.labels), "info": spec.info,
            "head": asdict(spec.head) | {"labels": list(spec.labels)},
            "model": {"n_layers": cfg.n_layers, "n_kv_heads": cfg.n_kv_heads,
                      "head_dim": cfg.head_dim, "vocab_size": cfg.vocab_size,
                      "max_seq_len": cfg.max_seq_len, "n_heads": cfg.n_heads,
                      "memory_layers": list(cfg.memory.layers), "top_k": cfg.memory.top_k},
            "tokens": {"bos_id": tokenizer.bos_id, "eos_id": tokenizer.eos_id,
                       "pad_id": tokenizer.pad_id, "im_end_id": tokenizer.im_end_id},
            "source": {"task_folder": CHAT_TASK if chat else str(folder),
                       "task_hash": source_hash if chat else task_folder_hash(folder),
                       "exporter_revision": specs.EXPORTER_REVISION,
                       "backbone_hash": source_hash, "weights": str(weights)},
        }
        write_json(tmp / specs.SETTINGS_FILE, settings)
        write_manifest(tmp)
        from memgpt.export.validate import validate

        report = validate(tmp, backbone=backbone, task_model=task_model, spec=spec,
                          tokenizer=tokenizer, device=device, bank=bank_state,
                          sample_size=sample_size, threads=threads,
                          min_agreement=min_agreement)
        report["export_seconds"] = round(export_s, 2)
        settings["validation"] = report
        write_json(tmp / specs.SETTINGS_FILE, settings)
        write_manifest(tmp)
        if not report["passed"]:
            raise ExportError("validation failed: " + "; ".join(report["failures"]))
        _publish(tmp, out_dir)
        return report
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def chat_spec(backbone: MemGPT) -> tuple[Any, Any]:
    """The spec and model of a ``chat`` export: the backbone as it is (no adapter, no head),
    validated on chat-wrapped sample texts."""
    from memgpt.tasks.artifacts import TaskSpec
    from memgpt.tasks.heads import HeadSpec, TaskModel

    head = HeadSpec("lm", backbone.config.d_model)
    spec = TaskSpec("summarize", head, template="{text}", chat=True,
                    info={"note": "the plain backbone, for memgpt-task chat"})
    return spec, TaskModel(backbone, head, None).eval()


def _inner(part: nn.Module) -> nn.Module:
    """A block's attention or MLP, inside a bottleneck adapter if one wraps it."""
    while not hasattr(part, "fuse_projections"):
        part = part.base
    return part


def _prompt_frame(tok, chat: bool) -> dict[str, str]:
    if not chat:
        return {"before": "", "after": ""}
    marker = "\x00BODY\x00"
    before, after = tok.apply_chat([{"role": "user", "content": marker}]).split(marker)
    return {"before": before, "after": after}


def write_manifest(folder: Path) -> None:
    files = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
             for p in sorted(folder.iterdir()) if p.is_file() and p.name != specs.MANIFEST_FILE}
    write_json(folder / specs.MANIFEST_FILE, {"format": specs.FORMAT, "files": files})


def _publish(tmp: Path, out_dir: Path) -> None:
    """Move the finished folder into place; an older export there is replaced only now."""
    if (out_dir.exists() and not (out_dir / specs.SETTINGS_FILE).is_file()
            and any(out_dir.iterdir())):
        raise ExportError(f"{out_dir} exists and is not an export folder; not replacing it")
    replace_dir(tmp, out_dir)
