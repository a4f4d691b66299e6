"""Train the shipped extractive-QA task folder (memgpt/tasks/defaults/qa) on a 2-core CPU.

Recipe (memgpt.tasks.upper): LoRA (rank 16) on every projection of blocks SPLIT..29 plus a
span head; blocks 0..SPLIT-1 are frozen and run once per example (cached), so each epoch
runs only the upper blocks. Data: the hand-written questions of written-qa:train (worded as
people ask, over WikiText-2 train sections and BBC train articles) plus SQuAD-style questions
written by the rules of memgpt.tasks.qagen over WikiText-2 and BBC train articles (wiki-qa:train,
bbc-qa:train); model selection on written-qa:valid (hand-written questions over the WikiText-2
valid articles of wiki-qa's valid half; the other half holds the held-out test questions).
Training windows are --train-tokens long (the window holding the answer); the shipped spec
reads 384-token windows. bf16 autocast unless --no-bf16.

The defaults are the shipped recipe (7,281 examples, 912 steps, 68 minutes on 2 cores: 13 of
them caching blocks 0-11). Run (background, resumable: re-running continues from
OUT.work/checkpoint):
    nohup python scripts/train_qa.py --out memgpt/tasks/defaults/qa > /tmp/train_qa.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import time
from dataclasses import replace

import torch

import memgpt
from memgpt.tasks.data import load_builtin
from memgpt.tasks.recipes import default_spec, make_examples
from memgpt.tasks.upper import finetune_upper
from memgpt.training import TrainConfig


def balance(records: list[dict], n: int, max_share: float) -> list[dict]:
    """The first ``n`` records (in the dataset's fixed order), no question type above
    ``max_share`` of them."""
    cap, seen, out = max(1, int(n * max_share)), {}, []
    for r in records:
        if len(out) == n:
            break
        if seen.get(r["qtype"], 0) < cap:
            seen[r["qtype"]] = seen.get(r["qtype"], 0) + 1
            out.append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="memgpt/tasks/defaults/qa")
    ap.add_argument("--written", type=int, default=100000, help="written-qa:train items")
    ap.add_argument("--wiki", type=int, default=2000, help="wiki-qa:train items")
    ap.add_argument("--bbc", type=int, default=400, help="bbc-qa:train items")
    ap.add_argument("--valid", type=int, default=245, help="items of the selection set")
    ap.add_argument("--valid-data", default="written-qa", choices=("written-qa", "wiki-qa"),
                    help="built-in whose valid split selects the model")
    ap.add_argument("--no-bf16", dest="bf16", action="store_false",
                    help="fp32 training (bf16 autocast is ~1.6x faster on AVX512-BF16 CPUs)")
    ap.add_argument("--split", type=int, default=12)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--train-tokens", type=int, default=160)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-share", type=float, default=0.35,
                    help="largest share of one question type (the rules write many 'when')")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = memgpt.load("smollm2-135m")
    tok = memgpt.load_tokenizer("smollm2-135m")
    records = load_builtin("written-qa", "train")[:args.written] if args.written else []
    records += balance(load_builtin("wiki-qa", "train"), args.wiki, args.max_share)
    records += balance(load_builtin("bbc-qa", "train"), args.bbc, args.max_share)
    random.Random(0).shuffle(records)
    valid = load_builtin(args.valid_data, "valid", limit=args.valid)
    spec = default_spec("qa", d_model=model.config.d_model)
    train_spec = replace(spec, max_input_tokens=args.train_tokens)
    examples = make_examples(train_spec, tok, records)
    valid_examples = make_examples(train_spec, tok, valid)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         warmup_steps=20, patience=1, seed=0, save_every=50, log_every=10,
                         bf16=args.bf16)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    start = time.time()
    spec, _, result = finetune_upper(
        model, tok, spec, examples, valid_examples, split=args.split, rank=args.rank,
        config=config, task_dir=args.out, work_dir=args.out + ".work",
        info={"command": "python scripts/train_qa.py " + " ".join(
                  f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "bf16")
                  + ("" if args.bf16 else " --no-bf16"),
              "data": {"train": f"written-qa:train[:{args.written}] + wiki-qa:train[:{args.wiki}]"
                                f" + bbc-qa:train[:{args.bbc}]",
                       "valid": f"{args.valid_data}:valid[:{args.valid}]"},
              "train_examples": len(examples), "valid_examples": len(valid_examples),
              "train_config": config.__dict__, "code_revision": rev.strip()})
    print(json.dumps({"out": args.out, "steps": result.steps, "epochs": result.epochs_run,
                      "best_valid_token_f1": result.best_metric,
                      "minutes": round((time.time() - start) / 60, 1)}))


if __name__ == "__main__":
    main()
