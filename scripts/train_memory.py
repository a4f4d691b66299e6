"""Train the memory layers of SmolLM2-135M (gates and slots only) on WikiText-2 train articles.

Each article is read in 256-token windows moved by 128, the text that has left the window in the
memory bank (as ``memgpt-task perplexity`` reads a text); only the memory parameters learn.
Selection on WikiText-2 *valid* articles; the test file is never read here. Resumable: rerun the
same command. The shipped file was written by

    nohup python scripts/train_memory.py --out /tmp/memtrain --threads 2 > /tmp/memtrain.log 2>&1 &
    cp /tmp/memtrain/memory.safetensors memgpt/defaults/memory/smollm2-135m.safetensors
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import subprocess
import sys

import torch

import memgpt
from memgpt.tasks.corpora import _articles
from memgpt.tasks.data import wikitext_folder
from memgpt.tasks.splits import _unit
from memgpt.training.memory import train_memory


def wikitext(split: str) -> list[dict]:
    if split not in ("train", "valid"):
        raise ValueError("only WikiText-2 train and valid are read for training")
    raw = gzip.open(wikitext_folder() / f"{split}.raw.gz", "rt", encoding="utf-8").read()
    return sorted(_articles(raw, split, keep_title=True), key=lambda a: _unit(a["id"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=600, help="optimizer steps")
    ap.add_argument("--accum", type=int, default=4, help="windows per optimizer step")
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--max-tokens", type=int, default=6144, help="tokens kept per article")
    ap.add_argument("--valid", type=int, default=6, help="WikiText-2 valid articles")
    ap.add_argument("--valid-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = memgpt.load("smollm2-135m")
    tok = memgpt.load_tokenizer("smollm2-135m")
    enc = lambda arts, cap: [tok.encode(a["text"])[:cap] for a in arts]  # noqa: E731
    docs = [d for d in enc(wikitext("train"), args.max_tokens) if len(d) > 2 * args.window]
    valid = enc(wikitext("valid")[:args.valid], 3072)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    print(f"{len(docs)} train articles ({sum(map(len, docs)):,} tokens), {len(valid)} valid",
          file=sys.stderr)
    result = train_memory(
        model, docs, valid, args.out, window=args.window, steps=args.steps, accum=args.accum,
        lr=args.lr, valid_every=args.valid_every,
        info={"command": "python scripts/train_memory.py " + " ".join(sys.argv[1:]),
              "code_revision": rev.strip(), "data": "WikiText-2 train articles (raw, titles kept)",
              "valid": f"WikiText-2 valid, first {len(valid)} articles by hash"})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
