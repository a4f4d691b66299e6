"""The MemGPT quick start, runnable: build a from-scratch model, train it a little, generate.

    python examples/quickstart.py                       # the built-in toy corpus
    python examples/quickstart.py --corpus my.txt --steps 200

The snippet people arrive with is

    model = MemGPT(vocab_size=10000, d_model=512, nhead=8, num_layers=2, dim_feedforward=2048)
    criterion = nn.CrossEntropyLoss(); optimizer = Adam(model.parameters(), lr=0.001)
    outputs = model(inputs); loss = criterion(outputs, targets); loss.backward(); optimizer.step()
    output_text = model.generate("今天天气很好")

and it runs below almost as written. Where it is not coherent on its own, the loop says what was
adapted and why (look for "ADAPTED"). For real pretraining (memory bank over earlier segments,
checkpoints, resume) use ``memgpt-task pretrain``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn
from torch.optim import Adam

from memgpt import MemGPT
from memgpt.pretrain import train_tokenizer

TOY_CORPUS = """\
The quick brown fox jumps over the lazy dog. The lazy dog sleeps in the sun all day long.
Memory helps a model remember what it read long ago, so that it can answer questions about it.
The weather is very nice today, and the children are playing in the garden with their dog.
今天天气很好，我们去公园散步吧。公园里有很多花，孩子们在草地上玩。
明天可能会下雨，所以我们今天去公园。天气好的时候，大家都喜欢出去走走。
Le temps est très beau aujourd'hui. Nous allons nous promener dans le parc.
"""


def batches(ids: list[int], batch_size: int, seq_len: int, generator: torch.Generator):
    """Random windows of ``seq_len + 1`` tokens: [B, T + 1] (inputs and their next tokens)."""
    data = torch.tensor(ids)
    while True:
        start = torch.randint(0, len(data) - seq_len - 1, (batch_size,), generator=generator)
        yield torch.stack([data[s: s + seq_len + 1] for s in start.tolist()])


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, nargs="*", help="UTF-8 text files (default: a toy text)")
    p.add_argument("--vocab-size", type=int, default=10000)
    p.add_argument("--d-model", type=int, default=512)
    p.add_argument("--nhead", type=int, default=8)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--dim-feedforward", type=int, default=2048)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=20)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    text = "\n".join(f.read_text(encoding="utf-8") for f in args.corpus) if args.corpus \
        else TOY_CORPUS * 20

    # ADAPTED: the snippet assumes a tokenizer of 10,000 tokens. We train a byte-level BPE on the
    # corpus (any script, CJK included, round-trips; a small corpus yields fewer tokens than
    # asked) and size the model's vocabulary to it.
    tokenizer = train_tokenizer([text], args.vocab_size)
    ids = tokenizer.encode(text)

    model = MemGPT(vocab_size=tokenizer.vocab_size, d_model=args.d_model, nhead=args.nhead,
                   num_layers=args.num_layers, dim_feedforward=args.dim_feedforward)
    model.tokenizer = tokenizer  # what model.generate(text) encodes and decodes with
    print(f"MemGPT: {model.num_parameters() / 1e6:.1f}M parameters, memory layers "
          f"{list(model.config.memory.layers)}, vocab {tokenizer.vocab_size}")

    criterion = nn.CrossEntropyLoss()
    optimizer = Adam(model.parameters(), lr=0.001)
    data = batches(ids, args.batch_size, args.seq_len, torch.Generator().manual_seed(0))
    model.train()
    for step in range(args.steps):
        window = next(data)  # [B, T + 1] token ids
        # ADAPTED: a language model's target is the next token, so inputs and targets are one
        # window shifted by one position (the snippet leaves `inputs`/`targets` undefined).
        inputs, targets = window[:, :-1], window[:, 1:]
        outputs = model(inputs)
        # ADAPTED: model(inputs) returns a ModelOutput, not a tensor: outputs.logits is
        # [B, T, V] and logits[:, t] scores token t + 1. nn.CrossEntropyLoss wants [N, V] scores
        # and [N] class ids, so both are flattened over batch and time.
        loss = criterion(outputs.logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad()  # ADAPTED: without it gradients add up across steps
        loss.backward()
        optimizer.step()
        if step % max(1, args.steps // 10) == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {loss.item():.3f}")

    model.eval()
    output_text = model.generate("今天天气很好", max_new_tokens=args.max_new_tokens)
    print("今天天气很好 ->", output_text)
    return output_text


if __name__ == "__main__":
    main()
