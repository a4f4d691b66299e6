"""Pretraining a from-scratch MemGPT with memory (``memgpt-task pretrain``).

1. A byte-level BPE tokenizer is trained on the corpus with ``tokenizers`` (SmolLM2's layout:
   digits split, GPT-2 byte-level pre-tokenization; any script, CJK included, round-trips).
2. Documents (one per file, or per WikiText ``= Title =`` heading) become ``[eos] + ids + [eos]``
   and are cut into segments of ``seq_len`` tokens. ``batch_size`` streams walk through the
   documents, one segment per step each, so consecutive segments of a document meet in order.
3. Memory (Memorizing Transformers, Wu et al. 2022, https://arxiv.org/abs/2203.08913): after each
   step the memory layers' pre-rotary keys/values of every segment go, detached, into its
   stream's bank (the last ``memory_segments`` segments of the same document; cleared at a new
   document). The next segment's queries retrieve their top-k from the bank and read the
   learned slots. The model's bank has no batch axis, so the rows of a batch share one bank made
   of all streams' entries: another document's entries are distractors, never future tokens.
   Evaluation reads each document's own bank only.
4. Maximum likelihood (AdamW, warmup then cosine decay, gradient clipping). Every
   ``save_every`` steps ``DIR/checkpoint/`` (weights, optimizer, banks: safetensors; the rest:
   JSON) is replaced atomically and ``DIR`` is rewritten as a checkpoint folder that every command
   loads with ``--weights DIR``. Running again on the same ``DIR`` resumes exactly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer as _HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, processors, trainers

from memgpt.checkpoint import write_checkpoint
from memgpt.config import scratch_config
from memgpt.model import MemGPT, MemoryState
from memgpt.paths import atomic_dir
from memgpt.tokenizer import Tokenizer, _pre_tokenizer
from memgpt.training.checkpoints import _flatten_optimizer, _unflatten_optimizer

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")  # ids 0, 1, 2
CHECKPOINT = "checkpoint"
# Fields a resumed run may change; the others decide the model, the data order and optimisation.
RESUMABLE = ("steps", "save_every")
_HEADING = re.compile(r"^ ?= [^=].* = ?$")  # WikiText article title: " = Title = "


@dataclass(frozen=True)
class PretrainConfig:
    """Model size and training budget (``memory=False``: no memory layers, the baseline)."""

    vocab_size: int = 4096
    d_model: int = 256
    layers: int = 4
    heads: int = 4
    seq_len: int = 128
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    warmup: int = 100
    memory: bool = True
    memory_slots: int = 16
    memory_top_k: int = 8
    memory_segments: int = 8
    save_every: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.type in ("int", "float") and not (v > 0 or f.name in ("warmup", "seed")):
                raise ValueError(f"{f.name} must be > 0, got {v}")
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ValueError(f"d_model ({self.d_model}) / heads ({self.heads}) must be an even "
                             "integer")


# ----------------------------------------------------------------------------- data
def split_documents(text: str) -> list[str]:
    """WikiText articles (split before each ``= Title =`` line), else the whole text as one."""
    docs, cur = [], []
    for line in text.splitlines(keepends=True):
        if _HEADING.match(line.rstrip("\n")) and any(s.strip() for s in cur):
            docs.append("".join(cur))
            cur = []
        cur.append(line)
    docs.append("".join(cur))
    return [d for d in docs if d.strip()]


def read_corpus(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Documents of UTF-8 text files (one-line errors for missing, binary or empty files)."""
    if not paths:
        raise ValueError("no corpus files given")
    docs = []
    for p in map(Path, paths):
        if not p.is_file():
            raise FileNotFoundError(f"no such file: {p}")
        data = p.read_bytes()
        if b"\x00" in data:
            raise ValueError(f"{p} looks like a binary file (it contains NUL bytes)")
        try:
            docs += split_documents(data.decode("utf-8-sig"))
        except UnicodeDecodeError as e:
            raise ValueError(f"{p} is not UTF-8 text (invalid byte at offset {e.start})") from None
    if not docs:
        raise ValueError("the corpus is empty")
    return docs


def train_tokenizer(docs: Sequence[str], vocab_size: int) -> Tokenizer:
    """Byte-level BPE of at most ``vocab_size`` tokens; ``<|endoftext|>`` (id 0) is bos/eos/pad."""
    if vocab_size < 256 + len(SPECIALS):
        raise ValueError(f"vocab size must be >= {256 + len(SPECIALS)} (bytes + specials)")
    tok = _HFTokenizer(models.BPE(fuse_unk=False))
    tok.pre_tokenizer = _pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(docs, trainer)
    return Tokenizer(tok, bos_id=0, eos_id=0, pad_id=0)


def encode_documents(tok: Tokenizer, docs: Sequence[str]) -> list[list[int]]:
    return [[tok.eos_id, *ids, tok.eos_id] for ids in tok.encode_batch(list(docs))]


def n_segments(doc: list[int], t: int) -> int:
    return max(0, math.ceil((len(doc) - 1) / t))


class Streams:
    """``batch`` deterministic walks over the documents: stream b reads documents b, b+B, ... of
    each epoch's seeded permutation, segment by segment. ``state`` is plain JSON (resume)."""

    def __init__(self, docs: list[list[int]], batch: int, seq_len: int, seed: int) -> None:
        self.docs = [d for d in docs if len(d) > 1]
        if not self.docs:
            raise ValueError("the corpus has no document of two tokens or more")
        self.batch, self.t, self.seed = batch, seq_len, seed
        self.state = [[0, b, 0] for b in range(batch)]  # per stream: epoch, order index, segment

    def _order(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(len(self.docs), generator=g).tolist()

    def next(self, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, list[bool]]:
        """(inputs [B, T], targets [B, T] with -100 at padding, new-document flag per row)."""
        x = torch.full((self.batch, self.t), pad_id, dtype=torch.long)
        y = torch.full((self.batch, self.t), -100, dtype=torch.long)
        new = []
        for b, st in enumerate(self.state):
            epoch, pos, seg = st
            while pos >= len(self.docs):
                epoch, pos = epoch + 1, pos - len(self.docs)
            doc = self.docs[self._order(epoch)[pos]]
            piece = doc[seg * self.t: (seg + 1) * self.t + 1]
            x[b, :len(piece) - 1] = torch.tensor(piece[:-1])
            y[b, :len(piece) - 1] = torch.tensor(piece[1:])
            new.append(seg == 0)
            seg += 1
            if seg >= n_segments(doc, self.t):
                pos, seg = pos + self.batch, 0
            st[:] = [epoch, pos, seg]
        return x, y, new


# ----------------------------------------------------------------------------- memory
def memory_entries(model: MemGPT, hidden: tuple[torch.Tensor, ...]):
    """Detached pre-rotary (keys, values) [L, B, T, G, E] of the memory layers."""
    c = model.config
    ks, vs = [], []
    with torch.no_grad():
        for layer in c.memory.layers:
            block = model.layers[layer]
            x = block.attn_norm(hidden[layer].detach())
            b, t, _ = x.shape
            ks.append(block.attn.k_proj(x).view(b, t, c.n_kv_heads, c.head_dim))
            vs.append(block.attn.v_proj(x).view(b, t, c.n_kv_heads, c.head_dim))
    return torch.stack(ks), torch.stack(vs)


def bank_state(banks: Sequence[Sequence[tuple[torch.Tensor, torch.Tensor]]]):
    """One ``MemoryState`` of every (keys, values) [L, n, G, E] piece, or None when empty."""
    pieces = [p for bank in banks for p in bank]
    if not pieces:
        return None
    return MemoryState(torch.cat([k for k, _ in pieces], 1), torch.cat([v for _, v in pieces], 1))


# ----------------------------------------------------------------------------- model
def build_model(cfg: PretrainConfig, tok: Tokenizer) -> MemGPT:
    mc = scratch_config(
        vocab_size=tok.vocab_size, d_model=cfg.d_model, nhead=cfg.heads, num_layers=cfg.layers,
        dim_feedforward=int(8 * cfg.d_model / 3 / 64 + 0.999) * 64,  # Llama's 8/3 d, rounded
        max_seq_len=max(2048, cfg.seq_len), memory_layers=None if cfg.memory else (),
        memory_slots=cfg.memory_slots, memory_top_k=cfg.memory_top_k,
        bos_id=tok.bos_id, eos_id=tok.eos_id, pad_id=tok.pad_id)
    g = torch.Generator().manual_seed(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
        model = MemGPT(mc)
    model.tokenizer = tok
    return model


def _lr(cfg: PretrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def _save(out: Path, model: MemGPT, opt, streams: Streams, banks, step: int,
          cfg: PretrainConfig, losses: list[float]) -> None:
    """Replace ``out/checkpoint`` atomically, then rewrite the loadable folder ``out``."""
    with atomic_dir(out / CHECKPOINT, old=out / f"{CHECKPOINT}.old") as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  tmp / "weights.safetensors")
        opt_tensors, opt_meta = _flatten_optimizer(opt.state_dict())
        save_file(opt_tensors, tmp / "optimizer.safetensors")
        bank_tensors = {f"{b}.{j}.{kv}": t.contiguous() for b, bank in enumerate(banks)
                        for j, pair in enumerate(bank) for kv, t in zip("kv", pair)}
        save_file(bank_tensors, tmp / "bank.safetensors")
        meta = {"format": 1, "step": step, "config": dataclasses.asdict(cfg),
                "optimizer": opt_meta, "streams": streams.state,
                "bank_sizes": [len(b) for b in banks], "losses": losses}
        (tmp / "state.json").write_text(json.dumps(meta))
    info = {"step": step, "config": dataclasses.asdict(cfg),
            "parameters": model.num_parameters(), "last_loss": losses[-1] if losses else None}
    write_checkpoint(out, model.config, model.state_dict(), model.tokenizer,
                     extra={"pretrain.json": info})


def _resume(out: Path, model: MemGPT, opt, streams: Streams, cfg: PretrainConfig):
    d = next((d for d in (out / CHECKPOINT, out / f"{CHECKPOINT}.old")
              if (d / "state.json").is_file()), None)
    if d is None:
        return 0, [[] for _ in range(cfg.batch_size)], []
    meta = json.loads((d / "state.json").read_text())
    saved = {k: v for k, v in meta["config"].items() if k not in RESUMABLE}
    now = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RESUMABLE}
    diff = sorted(k for k in now if saved.get(k) != now[k])
    if diff:
        raise ValueError(f"cannot resume {d}: settings {', '.join(diff)} differ from the saved "
                         "run; use another output folder")
    model.load_state_dict(load_file(d / "weights.safetensors"))
    opt.load_state_dict(_unflatten_optimizer(load_file(d / "optimizer.safetensors"),
                                             meta["optimizer"]))
    streams.state = meta["streams"]
    t = load_file(d / "bank.safetensors")
    banks = [[(t[f"{b}.{j}.k"], t[f"{b}.{j}.v"]) for j in range(n)]
             for b, n in enumerate(meta["bank_sizes"])]
    return meta["step"], banks, meta["losses"]


def pretrain(corpus: Sequence[str | os.PathLike], out: str | os.PathLike, cfg: PretrainConfig,
             *, tokenizer: str | os.PathLike | None = None, progress: bool = True) -> MemGPT:
    """Train (or resume) into folder ``out``; returns the model (with ``model.tokenizer``)."""
    from tqdm import tqdm

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder")
    docs = read_corpus(corpus)
    out.mkdir(parents=True, exist_ok=True)
    tok_file = out / "tokenizer.json"
    source = tok_file if tok_file.is_file() else tokenizer
    if source is not None:
        tok = Tokenizer.from_file(source, bos_id=0, eos_id=0, pad_id=0)
    else:
        tok = train_tokenizer(docs, cfg.vocab_size)
    tok.save(tok_file)
    model = build_model(cfg, tok).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.1)
    streams = Streams(encode_documents(tok, docs), cfg.batch_size, cfg.seq_len, cfg.seed)
    step, banks, losses = _resume(out, model, opt, streams, cfg)
    use_memory = bool(model.config.memory.layers)
    bar = tqdm(total=cfg.steps, initial=step, file=sys.stderr, disable=not progress,
               desc="pretrain", unit="step", dynamic_ncols=True)
    while step < cfg.steps:
        x, y, new = streams.next(tok.pad_id)
        for b, is_new in enumerate(new):
            if is_new:
                banks[b] = []
        out_ = model(x, memory=bank_state(banks) if use_memory else None,
                     output_hidden_states=use_memory)
        loss = F.cross_entropy(out_.logits.flatten(0, 1), y.flatten(), ignore_index=-100)
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if use_memory:
            keys, values = memory_entries(model, out_.hidden_states)
            for b in range(cfg.batch_size):
                real = int((y[b] != -100).sum())
                banks[b] = [*banks[b], (keys[:, b, :real], values[:, b, :real])]
                banks[b] = banks[b][-cfg.memory_segments:]
        opt.step()
        step += 1
        losses.append(round(loss.item(), 4))
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if step % cfg.save_every == 0 or step == cfg.steps:
            _save(out, model, opt, streams, banks, step, cfg, losses)
    bar.close()
    if not (out / "model.safetensors").is_file():  # resumed a finished run
        _save(out, model, opt, streams, banks, step, cfg, losses)
    return model.eval()


@torch.no_grad()
def perplexity(model: MemGPT, texts: Sequence[str], *, seq_len: int, memory_segments: int = 8,
               bank: bool = True, progress: bool = False) -> dict[str, Any]:
    """Token perplexity of ``texts`` (split into documents as in training), segment by segment;
    with ``bank`` each segment reads its own document's previous ``memory_segments`` segments."""
    from tqdm import tqdm

    tok = model.tokenizer
    if tok is None:
        raise ValueError("the model has no tokenizer; load it from a pretrain folder")
    docs = encode_documents(tok, [d for t in texts for d in split_documents(t)])
    use_bank = bank and bool(model.config.memory.layers)
    nll, count = 0.0, 0
    for doc in tqdm(docs, file=sys.stderr, disable=not progress, desc="eval", unit="doc"):
        past: list[tuple[torch.Tensor, torch.Tensor]] = []
        for s in range(n_segments(doc, seq_len)):
            piece = torch.tensor(doc[s * seq_len: (s + 1) * seq_len + 1]).view(1, -1)
            out = model(piece[:, :-1], memory=bank_state([past]) if use_bank else None,
                        output_hidden_states=use_bank)
            nll += F.cross_entropy(out.logits[0].float(), piece[0, 1:], reduction="sum").item()
            count += piece.shape[1] - 1
            if use_bank:
                keys, values = memory_entries(model, out.hidden_states)
                past = [*past, (keys[:, 0], values[:, 0])][-memory_segments:]
    if not count:
        raise ValueError("nothing to evaluate: the text has no document of two tokens or more")
    return {"tokens": count, "nll": nll / count, "perplexity": math.exp(nll / count),
            "bank": use_bank, "documents": len(docs)}
