"""Translation memory: kNN-MT (Khandelwal et al. 2021, https://arxiv.org/abs/2010.00710).

``memgpt-task memory build --pairs FILE -o tm`` runs the translation task folder over each
(source, target) pair with the target as the continuation (teacher forcing) and stores, for every
target token, the decoder's final hidden state (the state the LM head reads) as a key and the
token as its value. ``memgpt-task translate --memory tm`` then mixes, at every decoding step, the
model's next-token distribution with a distribution over the values of the ``k`` stored states
nearest to the current one::

    p(y) = (1 - lam) * p_model(y) + lam * sum_{i in kNN, v_i = y} softmax(-d_i / temperature)

so a translation follows the memory's wording where the memory has something close, and the
model's elsewhere — it adapts without retraining. ``lam``, ``k`` and ``temperature`` are stored
with the memory (:data:`DEFAULTS`, chosen on held-out Tatoeba pairs by
``benchmarks/translation_memory.py``).

Pairs files: ``.tsv`` (source TAB target per line) or ``.jsonl`` (``{"source", "target"}``).
A pair of paragraphs is split into sentences (``memgpt.tasks.segment``) and aligned one to one
when both sides have the same number of sentences, else kept whole. Files: ``tm.json``
(format, settings, the backbone's and the task folder's hashes, sources) and ``tm.safetensors``
(keys fp16 [N, D], values int32 [N], pair index int32 [N]), written together atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memgpt.paths import decode_text

FORMAT, VERSION = "memgpt-tm", 1
META_FILE, TENSORS_FILE = "tm.json", "tm.safetensors"
# lam / k / temperature: chosen on Tatoeba valid pairs (benchmarks/translation_memory.py).
DEFAULTS = {"lam": 0.5, "k": 16, "temperature": 30.0}
MAX_PAIRS = 200_000


@dataclass
class Pair:
    source: str
    target: str
    line: int


def align(source: str, target: str) -> list[tuple[str, str]]:
    """Sentence pairs of a paragraph pair: one to one when the sentence counts match, else the
    pair whole."""
    from memgpt.tasks.segment import split_sentences

    a = [s for s, _ in split_sentences(source.strip()) if s.strip()]
    b = [s for s, _ in split_sentences(target.strip()) if s.strip()]
    if len(a) == len(b) and len(a) > 1:
        return list(zip(a, b))
    return [(source.strip(), target.strip())]


def read_pairs(path: str | os.PathLike) -> list[Pair]:
    """The pairs of a ``.tsv`` or ``.jsonl`` file (paragraph pairs aligned, see :func:`align`).

    Raises ``ValueError`` with ``path:LINE: reason`` for a line without two non-empty sides.
    """
    path = Path(path)
    text = decode_text(path.read_bytes(), str(path))
    suffix = path.suffix.lower()
    if suffix not in (".tsv", ".jsonl", ".txt"):
        raise ValueError(f"{path}: a pairs file is .tsv (source<TAB>target) or .jsonl "
                         "({\"source\", \"target\"}), not " + (suffix or "a file without suffix"))
    out: list[Pair] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if suffix == ".jsonl":
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("source"), str) \
                    or not isinstance(row.get("target"), str):
                raise ValueError(f"{path}:{n}: needs string fields \"source\" and \"target\"")
            src, tgt = row["source"], row["target"]
        else:
            cols = line.split("\t")
            if len(cols) < 2:
                raise ValueError(f"{path}:{n}: needs two tab-separated columns, source and "
                                 "target (found one)")
            src, tgt = cols[0], cols[1]
        if not src.strip() or not tgt.strip():
            raise ValueError(f"{path}:{n}: the source or the target is empty")
        out += [Pair(a, b, n) for a, b in align(src, tgt)]
        if len(out) > MAX_PAIRS:
            raise ValueError(f"{path}: more than {MAX_PAIRS} pairs")
    if not out:
        raise ValueError(f"{path}: no pairs")
    return out


class TranslationMemory:
    """Keys (decoder states), values (next target tokens) and the mixing settings."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, pair_ids: np.ndarray,
                 meta: dict[str, Any]) -> None:
        if not len(keys) == len(values) == len(pair_ids) or keys.ndim != 2:
            raise ValueError("a translation memory needs as many keys as values")
        self.keys = keys.astype(np.float32)
        self.values = values.astype(np.int64)
        self.pair_ids = pair_ids
        self.key_norms = (self.keys * self.keys).sum(-1)
        self.meta = meta
        self.settings = {**DEFAULTS, **meta.get("settings", {})}

    def __len__(self) -> int:
        return len(self.values)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, task: Any, pairs: Sequence[Pair], *, batch_size: int = 16,
              progress: bool = True, sources: Sequence[str] = (),
              task_folder: str | os.PathLike | None = None) -> TranslationMemory:
        """Run ``task`` (a torch ``TorchTask`` of a translate folder) over the pairs."""
        import torch
        from tqdm import tqdm

        from memgpt.decoding import right_pad
        from memgpt.tasks.adapters import plain_backbone_hash
        from memgpt.tasks.registry import task_folder_hash
        from memgpt.tasks.text import format_input, language_fields

        tok, spec = task.tokenizer, task.settings
        end = tok.im_end_id if tok.im_end_id is not None else tok.eos_id
        fields = language_fields(spec, None, None)
        rows = []
        for j, p in enumerate(pairs):
            text = format_input(spec, tok, {"text": p.source, **fields})
            prompt = tok.encode(text)[: spec.max_input_tokens]
            sep = "" if text[-1:].isspace() else " "
            target = tok.encode(sep + p.target)[:256] + [end]
            rows.append((j, prompt, target))
        keys, values, ids = [], [], []
        model = task.model.backbone
        device = next(model.parameters()).device
        with tqdm(total=len(rows), desc="translation memory", unit="pair", disable=not progress,
                  leave=False) as bar:
            for i in range(0, len(rows), batch_size):
                group = rows[i:i + batch_size]
                seqs = [pr + tg for _, pr, tg in group]
                x, mask = right_pad(seqs, tok.pad_id)
                with torch.inference_mode():
                    out = model(torch.from_numpy(x).to(device),
                                attention_mask=torch.from_numpy(mask).to(device),
                                output_hidden_states=True, num_logits=1)
                hidden = out.hidden_states[-1].float().cpu().numpy()
                for row, (j, pr, tg) in enumerate(group):
                    pos = np.arange(len(pr) - 1, len(pr) - 1 + len(tg))
                    keys.append(hidden[row, pos].astype(np.float16))
                    values.append(np.asarray(tg, dtype=np.int32))
                    ids.append(np.full(len(tg), j, dtype=np.int32))
                bar.update(len(group))
        meta = {"format": FORMAT, "version": VERSION, "pairs": len(pairs),
                "entries": int(sum(len(v) for v in values)), "settings": dict(DEFAULTS),
                "backbone_hash": plain_backbone_hash(model),
                "task_hash": task_folder_hash(Path(task_folder)) if task_folder else None,
                "sources": list(sources), "d_model": int(hidden.shape[-1])}
        return cls(np.concatenate(keys), np.concatenate(values), np.concatenate(ids), meta)

    # ------------------------------------------------------------------ files
    def save(self, folder: str | os.PathLike) -> Path:
        from safetensors.numpy import save_file

        from memgpt.paths import atomic_dir, atomic_path, atomic_write_text

        with atomic_dir(folder) as tmp:
            with atomic_path(tmp / TENSORS_FILE) as t:
                save_file({"keys": self.keys.astype(np.float16),
                           "values": self.values.astype(np.int32),
                           "pair_ids": np.asarray(self.pair_ids, dtype=np.int32)}, str(t))
            atomic_write_text(tmp / META_FILE,
                              json.dumps({**self.meta, "settings": self.settings}, indent=2,
                                         sort_keys=True) + "\n")
        return Path(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike, *, task: Any = None,
             task_folder: str | os.PathLike | None = None) -> TranslationMemory:
        """Read a memory; with ``task``, refuse one built with other backbone weights, and with
        ``task_folder`` one built with another translation task folder (its decoder states are
        another adapter's, so its neighbours would be meaningless)."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        folder = Path(folder)
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"{folder} is not a translation memory (no {META_FILE}; "
                                    "build one with `memgpt-task memory build --pairs FILE -o "
                                    f"{folder}`)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{meta_path}: not a memgpt translation memory ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{meta_path}: not a memgpt translation memory")
        if meta.get("version", 0) > VERSION:
            raise ValueError(f"{meta_path}: version {meta['version']} is newer than this memgpt "
                             f"reads ({VERSION})")
        try:
            t = load_file(str(folder / TENSORS_FILE))
            keys, values, ids = t["keys"], t["values"], t["pair_ids"]
        except (OSError, SafetensorError, KeyError) as e:
            raise ValueError(f"{folder / TENSORS_FILE}: unreadable or incomplete ({e})") from None
        if len(keys) != meta.get("entries") or keys.ndim != 2:
            raise ValueError(f"{folder}: {len(keys)} entries, but {META_FILE} says "
                             f"{meta.get('entries')} (a truncated or tampered memory)")
        if task is not None:
            from memgpt.tasks.adapters import plain_backbone_hash

            got = plain_backbone_hash(task.model.backbone)
            if meta.get("backbone_hash") != got:
                raise ValueError(f"{folder} was built with other backbone weights than the "
                                 "translation model's; rebuild it with the same --weights")
            if keys.shape[1] != task.model.backbone.config.d_model:
                raise ValueError(f"{folder}: keys of width {keys.shape[1]}, the model's is "
                                 f"{task.model.backbone.config.d_model}")
        if task_folder is not None and meta.get("task_hash") is not None:
            from memgpt.tasks.registry import task_folder_hash

            if meta["task_hash"] != task_folder_hash(Path(task_folder)):
                raise ValueError(f"{folder} was built with another translation task folder than "
                                 f"{task_folder}; rebuild it with the same --adapter")
        return cls(keys, values, ids, meta)

    # ------------------------------------------------------------------ reading
    def neighbours(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices [B, k] and squared L2 distances [B, k] of the nearest keys (exact)."""
        q = np.asarray(queries, dtype=np.float32)
        d = (q * q).sum(-1, keepdims=True) - 2.0 * (q @ self.keys.T) + self.key_norms[None]
        k = min(k, len(self.values))
        idx = np.argpartition(d, k - 1, axis=-1)[:, :k]
        dist = np.take_along_axis(d, idx, -1)
        return idx, np.maximum(dist, 0.0)

    def mix(self, logits: np.ndarray, hidden: np.ndarray) -> np.ndarray:
        """Log-probabilities [B, V] of the model's distribution mixed with the memory's."""
        s = self.settings
        z = logits - logits.max(-1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(-1, keepdims=True)
        idx, dist = self.neighbours(hidden, int(s["k"]))
        w = np.exp(-(dist - dist.min(-1, keepdims=True)) / float(s["temperature"]))
        w /= w.sum(-1, keepdims=True)
        knn = np.zeros_like(p)
        rows = np.repeat(np.arange(len(p)), idx.shape[1])
        np.add.at(knn, (rows, self.values[idx].reshape(-1)), w.reshape(-1))
        lam = float(s["lam"])
        return np.log((1.0 - lam) * p + lam * knn + 1e-12)

    def wrap(self, stepper: Any) -> KnnStepper:
        return KnnStepper(stepper, self)


class KnnStepper:
    """A ``memgpt.decoding.Stepper`` whose logits are the model's mixed with a translation
    memory's (the inner stepper must keep its last hidden state: ``TorchStepper(keep_hidden=
    True)``)."""

    def __init__(self, inner: Any, memory: TranslationMemory) -> None:
        if not getattr(inner, "keep_hidden", False):
            raise ValueError("a translation memory needs the decoder's hidden states, which this "
                             "runtime does not give: use --runtime torch")
        self.inner, self.memory = inner, memory

    def prefill(self, prompts):
        logits, state = self.inner.prefill(prompts)
        return self.memory.mix(logits, self.inner.last_hidden), state

    def step(self, tokens, state):
        logits, state = self.inner.step(tokens, state)
        return self.memory.mix(logits, self.inner.last_hidden), state

    def reorder(self, state, rows):
        return self.inner.reorder(state, rows)
