"""Continued training of the memory parameters alone on long documents (Memorizing Transformers).

Every backbone weight stays frozen; only the gates and slots of the memory layers learn. Each
document is read as ``memgpt.memory_layers.read_windows`` reads it at inference (windows of
``window`` tokens moved by half a window; the bank holds what has left the window), and the loss
is the next-token cross-entropy of the tokens each window scores. Lower layers carry no gradient
(no trainable tensor below the first memory layer), so autograd only records the upper layers.

Resumable: every ``save_every`` optimizer steps ``OUT/checkpoint/`` holds the memory weights,
Adam's state and the position (JSON + safetensors, replaced atomically); a rerun of the same
command continues at the next document. ``OUT/memory.safetensors`` is the best weights on the
validation documents so far; ``OUT/log.jsonl`` the curve.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from memgpt.memory_layers import memory_parameters, read_windows, save_memory
from memgpt.paths import atomic_write_text
from memgpt.training.checkpoints import _flatten_optimizer, _save_tensors, _unflatten_optimizer

log = logging.getLogger(__name__)


def document_nll(model, ids: list[int], window: int, *, max_entries: int | None = 8192
                 ) -> tuple[float, int]:
    """(sum of next-token NLL, tokens scored) of one document read through the memory."""
    total, n = 0.0, 0
    with torch.no_grad():
        for w in read_windows(model, ids, window, max_entries=max_entries):
            tgt = torch.tensor(ids[w["first"] + 1:w["end"]])
            total += float(F.cross_entropy(w["logits"].float(), tgt, reduction="sum"))
            n += len(tgt)
    return total, n


def perplexity_over(model, docs: Sequence[list[int]], window: int,
                    max_entries: int | None = 8192) -> float:
    parts = [document_nll(model, d, window, max_entries=max_entries) for d in docs]
    return math.exp(sum(p[0] for p in parts) / max(1, sum(p[1] for p in parts)))


@contextmanager
def _closed(model):
    """Every memory gate set to 0 (the backbone alone) inside the block, restored after."""
    gates = {n: p for n, p in memory_parameters(model).items() if n.endswith(".gate")}
    saved = {n: p.detach().clone() for n, p in gates.items()}
    with torch.no_grad():
        for p in gates.values():
            p.zero_()
    try:
        yield
    finally:
        with torch.no_grad():
            for n, p in gates.items():
                p.copy_(saved[n])


def train_memory(model, docs: Sequence[list[int]], valid: Sequence[list[int]], out: Path, *,
                 window: int = 256, steps: int = 500, accum: int = 4, lr: float = 5e-3,
                 valid_every: int = 100, save_every: int = 25, seed: int = 0,
                 max_entries: int | None = 8192, info: dict | None = None,
                 progress: bool = True) -> dict:
    """Train the memory parameters of ``model`` (token-id documents) into ``out``.

    Returns ``{"steps", "valid_perplexity", "valid_perplexity_closed", "best_step"}``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for p in model.parameters():
        p.requires_grad_(False)
    params = memory_parameters(model)
    if not params:
        raise ValueError("the model has no memory layers")
    for p in params.values():
        p.requires_grad_(True)
    names = sorted(params)
    opt = torch.optim.Adam([params[n] for n in names], lr=lr)
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    state = {"step": 0, "doc": 0, "best": None, "best_step": None, "closed": None,
             "seconds": 0.0}
    ck = out / "checkpoint"
    if (ck / "state.json").exists():  # resume
        state = json.loads((ck / "state.json").read_text())
        from safetensors.torch import load_file

        w = load_file(str(ck / "memory.safetensors"))
        with torch.no_grad():
            for n in names:
                params[n].copy_(w[n])
        opt.load_state_dict(_unflatten_optimizer(load_file(str(ck / "optim.safetensors")),
                                                 state["optim"]))
        log.info("resumed at step %d (document %d)", state["step"], state["doc"])
    if state["closed"] is None:
        with _closed(model):
            state["closed"] = perplexity_over(model, valid, window, max_entries)
        log.info("validation perplexity, gates closed: %.3f", state["closed"])

    def checkpoint() -> None:
        ck.mkdir(exist_ok=True)
        tensors, meta = _flatten_optimizer(opt.state_dict())
        _save_tensors({n: params[n].detach().cpu().contiguous() for n in names},
                      ck / "memory.safetensors")
        _save_tensors(tensors, ck / "optim.safetensors")
        atomic_write_text(ck / "state.json", json.dumps({**state, "optim": meta}))

    def record(entry: dict) -> None:
        with open(out / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    started, pending, losses = time.time() - state["seconds"], 0, []
    from tqdm import tqdm

    bar = tqdm(total=steps, initial=state["step"], disable=not progress, desc="memory training",
               unit="step")
    try:
        while state["step"] < steps:
            ids = docs[order[state["doc"] % len(order)]]
            state["doc"] += 1
            for w in read_windows(model, ids, window, max_entries=max_entries):
                tgt = torch.tensor(ids[w["first"] + 1:w["end"]])
                loss = F.cross_entropy(w["logits"].float(), tgt)
                (loss / accum).backward()
                losses.append(float(loss.detach()))
                pending += 1
                if pending < accum:
                    continue
                opt.step()
                opt.zero_grad(set_to_none=True)
                pending = 0
                state["step"] += 1
                state["seconds"] = time.time() - started
                bar.update(1)
                entry = {"step": state["step"], "loss": sum(losses) / len(losses),
                         "seconds": round(state["seconds"], 1)}
                losses = []
                if state["step"] % valid_every == 0 or state["step"] == steps:
                    entry["valid_perplexity"] = perplexity_over(model, valid, window, max_entries)
                    entry["gates"] = {n: [round(math.tanh(g), 4) for g in params[n].tolist()]
                                      for n in names if n.endswith(".gate")}
                    if state["best"] is None or entry["valid_perplexity"] < state["best"]:
                        state["best"], state["best_step"] = entry["valid_perplexity"], state["step"]
                        save_memory(model, out / "memory.safetensors", {
                            **(info or {}), "step": state["step"],
                            "valid_perplexity": entry["valid_perplexity"],
                            "valid_perplexity_closed": state["closed"], "window": window})
                    log.info("step %d: valid perplexity %.3f (closed gates %.3f)",
                             state["step"], entry["valid_perplexity"], state["closed"])
                record(entry)
                if state["step"] % save_every == 0 or state["step"] == steps:
                    checkpoint()
                if state["step"] >= steps:
                    break
    except KeyboardInterrupt:
        checkpoint()
        raise
    finally:
        bar.close()
    return {"steps": state["step"], "valid_perplexity": state["best"],
            "valid_perplexity_closed": state["closed"], "best_step": state["best_step"]}
