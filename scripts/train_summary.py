"""Train the shipped 1-3 sentence summarizer (`summarize --style summary`) on a 2-core CPU.

LoRA on every projection of blocks SPLIT..29 over cached lower blocks (memgpt.tasks.upper), on
the built-in ``written-summaries`` train split (hand-written summaries of WikiText-2 sections and
BBC articles); the best epoch by loss on its valid split is kept. The test split is never read
here. Checkpoints go to OUT.work (an interrupted run continues with the same command).
``--finish`` writes the task folder from OUT.work's best weights so far without training more
(for a run stopped by hand: it skips re-caching the lower blocks).

    nohup python scripts/train_summary.py --out /tmp/sumtrain/summarize \
        > /tmp/train_summary.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import torch

import memgpt
from memgpt.tasks.data import load_builtin
from memgpt.tasks.recipes import default_spec, make_examples
from memgpt.tasks.upper import finetune_upper
from memgpt.training import TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=None, help="training records (default: all)")
    ap.add_argument("--split", type=int, default=16)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--max-input-tokens", type=int, default=384)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--finish", action="store_true",
                    help="write OUT from OUT.work/best.safetensors; no training")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = memgpt.load("smollm2-135m")
    tok = memgpt.load_tokenizer("smollm2-135m")
    train = load_builtin("written-summaries", "train", limit=args.limit)
    valid = load_builtin("written-summaries", "valid")
    spec = default_spec("summarize", d_model=model.config.d_model, adapter=True)
    spec = replace(spec, adapter=None, max_input_tokens=args.max_input_tokens,
                   generation={"max_new_tokens": 120, "stop_strings": ["\n"],
                               "no_repeat_ngram_size": 3})
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         max_steps=args.max_steps, warmup_steps=20, patience=1, seed=0,
                         save_every=25, log_every=10)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    start = time.time()
    info = {"command": "python scripts/train_summary.py " + " ".join(
                f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                if v is not None and k != "finish"),
            "style": "summary",
              "data": {"train": f"written-summaries:train[:{args.limit or len(train)}]",
                       "valid": "written-summaries:valid"},
            "train_records": len(train), "valid_records": len(valid),
            "train_config": config.__dict__, "code_revision": rev.strip()}
    run(model, tok, spec, train, valid, args, config, info, start)


def run(model, tok, spec, train, valid, args, config, info: dict, start: float) -> None:
    """Train (or, with --finish, only write the folder) and print a one-line JSON summary; shared
    with scripts/train_translate.py."""
    if args.finish:
        return finish(model, spec, args, info)
    spec, _, result = finetune_upper(
        model, tok, spec, make_examples(spec, tok, train), make_examples(spec, tok, valid),
        split=args.split, rank=args.rank, config=config, task_dir=args.out,
        work_dir=args.out + ".work", info=info)
    print(json.dumps({"out": args.out, "steps": result.steps, "epochs": result.epochs_run,
                      "best_valid": result.best_metric,
                      "minutes": round((time.time() - start) / 60, 1)}))


def finish(model, spec, args, info: dict) -> None:
    """The task folder from the best weights of a run stopped by hand (as finetune_upper
    would have saved them)."""
    from memgpt.checkpoint import backbone_hash
    from memgpt.tasks.adapters import LORA_TARGETS, AdapterSpec, add_adapters
    from memgpt.tasks.artifacts import save_task
    from memgpt.tasks.heads import TaskModel
    from memgpt.tasks.recipes import _load_best

    work = Path(args.out + ".work")
    state = json.loads((work / "checkpoint" / "state.json").read_text())["state"]
    n = model.config.n_layers
    adapter = AdapterSpec(kind="lora", rank=args.rank, alpha=2.0 * args.rank,
                          targets=LORA_TARGETS, layers=tuple(range(args.split, n)))
    spec = replace(spec, adapter=adapter, backbone_hash=backbone_hash(model))
    add_adapters(model, adapter)
    task_model = TaskModel(model, spec.head)
    _load_best(task_model, work)
    info = {**info, "train_steps": state["step"], "train_epochs": state["epoch"],
            "valid_score": state.get("best_metric"),
            "stopped": "by hand after the last epoch's validation; folder written by --finish"}
    save_task(args.out, replace(spec, info=info), task_model.eval())
    print(json.dumps({"out": args.out, "steps": state["step"], "epochs": state["epoch"],
                      "best_valid": state.get("best_metric")}))


if __name__ == "__main__":
    main()
