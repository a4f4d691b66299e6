"""External key/value memory bank, written by running the backbone over text.

A bank is an artifact like an adapter. Every token of every source text becomes one entry; its key
and value in memory layer ``l`` are that token's pre-rotary key and value in layer ``l``::

    x = layers[l].attn_norm(hidden_states[l]);  key = k_proj(x),  value = v_proj(x)   # [G, E]

Entries keep provenance (source id and character offsets), and the bank records the hash of the
backbone it was built with so that a mismatched bank is refused. On disk a bank is a folder with
``bank.safetensors`` (tensors) and ``bank.json`` (metadata) — never pickle.

Retrieval is exact and chunked (``memgpt.retrieval.topk_search``): no score matrix larger than
``queries x chunk_size`` is ever built, so ~1M entries fit in bounded memory.

How memory fits the model (slots, bank, gate, explicit state): docs/architecture.md#memory.

Shape legend: L memory layers, N entries, G KV heads, E head width, R query heads per KV head.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from memgpt.checkpoint import backbone_hash
from memgpt.paths import atomic_path, atomic_update_dir, atomic_write_text
from memgpt.retrieval import topk_search

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
TENSORS_FILE, META_FILE = "bank.safetensors", "bank.json"
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_TENSOR_NAMES = ("keys", "values", "source_index", "starts", "ends")


@dataclass(frozen=True)
class Hit:
    """One search result: entry ``index`` covers ``source``'s characters [start, end)."""

    source: str
    start: int
    end: int
    score: float
    index: int


def _memory_layers(model: torch.nn.Module) -> tuple[int, ...]:
    layers = tuple(model.config.memory.layers)
    if not layers:
        raise ValueError("model has no memory layers (config.memory.layers is empty)")
    return layers


def _spans(n: int, window: int, context: int) -> list[tuple[int, int, int]]:
    """Split n tokens into (run_start, store_start, end) windows of at most ``window`` tokens.

    Each window after the first re-runs up to ``context`` tokens of left overlap that are not
    stored again, so every stored token (but the first ``context``) has left context.
    """
    spans, start = [], 0
    while start < n:
        run = max(0, start - context)
        end = min(n, run + window)
        spans.append((run, start, end))
        start = end
    return spans


def _plan(tokenizer: Any, texts: Mapping[str, str] | Sequence[str], window: int, context: int):
    """Tokenize ``texts`` into windows.

    Returns:
        (sources, source_index, starts, ends, jobs): per-entry lists of length N, and one job
        (window ids, tokens to skip, index of its first stored entry) per forward window.
    """
    items = texts.items() if isinstance(texts, Mapping) else (
        (str(i), t) for i, t in enumerate(texts))
    sources: list[str] = []
    src, starts, ends, jobs, skipped = [], [], [], [], 0
    for sid, text in items:
        ids, offsets = tokenizer.encode_with_offsets(text) if text else ([], [])
        if not ids:
            skipped += 1
            continue
        sources.append(str(sid))
        for run, start, end in _spans(len(ids), window, context):
            jobs.append((list(ids[run:end]), start - run, len(starts)))
            starts += [int(o[0]) for o in offsets[start:end]]
            ends += [int(o[1]) for o in offsets[start:end]]
        src += [len(sources) - 1] * len(ids)
    if skipped:
        log.info("memory bank: skipped %d empty text(s)", skipped)
    return sources, src, starts, ends, jobs


@torch.inference_mode()
def _encode_windows(model, layers, jobs, keys, values, batch_size: int, progress: bool) -> None:
    """Fill ``keys``/``values`` [L, N, G, E] in place from ``jobs`` (ids, skip, first entry).

    Windows are batched longest first and right-padded: with causal attention the padding never
    influences a real token, so no attention mask is needed.
    """
    cfg = model.config
    device = next(model.parameters()).device
    order = sorted(range(len(jobs)), key=lambda j: -len(jobs[j][0]))
    with tqdm(total=len(jobs), disable=not progress, desc="memory bank", unit="window") as bar:
        for b0 in range(0, len(order), batch_size):
            batch = [jobs[j] for j in order[b0:b0 + batch_size]]
            b, t = len(batch), len(batch[0][0])
            ids = torch.full((b, t), cfg.pad_id, dtype=torch.long)
            for r, (tok, _, _) in enumerate(batch):
                ids[r, :len(tok)] = torch.tensor(tok, dtype=torch.long)
            out = model(ids.to(device), output_hidden_states=True, num_logits=1)
            for j, layer in enumerate(layers):
                block = model.layers[layer]
                x = block.attn_norm(out.hidden_states[layer])  # [B, T, D]
                k = block.attn.k_proj(x).view(b, t, cfg.n_kv_heads, cfg.head_dim).cpu()
                v = block.attn.v_proj(x).view(b, t, cfg.n_kv_heads, cfg.head_dim).cpu()
                for r, (tok, skip, pos) in enumerate(batch):
                    m = len(tok) - skip
                    keys[j, pos:pos + m] = k[r, skip:len(tok)].to(keys.dtype)
                    values[j, pos:pos + m] = v[r, skip:len(tok)].to(values.dtype)
            bar.update(b)


@dataclass
class MemoryBank:
    """Key/value entries for the memory layers of one backbone, with provenance.

    Attributes:
        keys: [L, N, G, E] pre-rotary keys, one slice per memory layer (in ``layers`` order).
        values: [L, N, G, E].
        source_index: [N] int64 index into ``sources``.
        starts / ends: [N] int64 character offsets of each entry's token in its source text.
        sources: source ids.
        backbone_hash: hash of the non-memory weights the bank was built with.
        layers: model layer index of each L slice.
        similarity: the model's ``config.memory.similarity`` at build time (informational).
    """

    keys: torch.Tensor
    values: torch.Tensor
    source_index: torch.Tensor
    starts: torch.Tensor
    ends: torch.Tensor
    sources: list[str]
    backbone_hash: str
    layers: tuple[int, ...]
    similarity: str = "dot"

    def __len__(self) -> int:
        return self.keys.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.keys.dtype

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, model: torch.nn.Module, *, dtype: torch.dtype = torch.float32) -> MemoryBank:
        """A bank with no entries for ``model`` (its hash, layers and head shapes)."""
        layers, c = _memory_layers(model), model.config
        kv = torch.zeros(len(layers), 0, c.n_kv_heads, c.head_dim, dtype=dtype)
        z = torch.zeros(0, dtype=torch.long)
        return cls(kv, kv.clone(), z, z.clone(), z.clone(), [], backbone_hash(model), layers,
                   c.memory.similarity)

    @classmethod
    def build(cls, model: torch.nn.Module, tokenizer: Any,
              texts: Mapping[str, str] | Sequence[str], *, window: int = 512, context: int = 64,
              batch_size: int = 8, dtype: torch.dtype = torch.float32,
              progress: bool = True) -> MemoryBank:
        """Run the backbone (no bank) over ``texts`` and store every token as an entry.

        Args:
            model: a ``MemGPT`` with memory layers.
            tokenizer: has ``encode_with_offsets(text) -> (ids, [(start, end), ...])``.
            texts: {source id: text}, or a sequence of texts (ids "0", "1", ...). Empty texts
                are skipped.
            window: most tokens per forward pass (clipped to ``config.max_seq_len``).
            context: left-overlap tokens re-run (not stored) when a text spans several windows.
            batch_size: windows per forward pass.
            dtype: storage dtype of keys and values.
            progress: show a tqdm bar.

        Returns:
            The bank, entries in source order then token order.
        """
        layers, c = _memory_layers(model), model.config
        if isinstance(texts, str):
            raise TypeError("texts must be a mapping or a sequence of texts, not one string")
        window = min(window, c.max_seq_len)
        if not 0 <= context < window or batch_size < 1:
            raise ValueError(f"need 0 <= context < window and batch_size >= 1, got context="
                             f"{context}, window={window}, batch_size={batch_size}")
        sources, src, starts, ends, jobs = _plan(tokenizer, texts, window, context)
        keys = torch.zeros(len(layers), len(starts), c.n_kv_heads, c.head_dim, dtype=dtype)
        values = torch.zeros_like(keys)
        _encode_windows(model, layers, jobs, keys, values, batch_size, progress)
        log.info("memory bank: %d entries from %d source(s)", len(starts), len(sources))
        as_long = lambda x: torch.tensor(x, dtype=torch.long)
        return cls(keys, values, as_long(src), as_long(starts), as_long(ends), sources,
                   backbone_hash(model), layers, c.memory.similarity)

    def merge(self, other: MemoryBank) -> MemoryBank:
        """A new bank with ``other``'s entries after this one's (same backbone and layers)."""
        if (other.backbone_hash, other.layers) != (self.backbone_hash, self.layers):
            raise ValueError("cannot merge memory banks built with different backbones or layers")
        if other.keys.shape[2:] != self.keys.shape[2:]:
            raise ValueError(f"cannot merge banks with head shapes {tuple(self.keys.shape[2:])} "
                             f"and {tuple(other.keys.shape[2:])}")
        cat = lambda a, b: torch.cat([a, b.to(a.dtype)], 1)
        return MemoryBank(
            cat(self.keys, other.keys), cat(self.values, other.values),
            torch.cat([self.source_index, other.source_index + len(self.sources)]),
            torch.cat([self.starts, other.starts]), torch.cat([self.ends, other.ends]),
            self.sources + other.sources, self.backbone_hash, self.layers, self.similarity)

    def extend(self, model: torch.nn.Module, tokenizer: Any,
               texts: Mapping[str, str] | Sequence[str], **build_kwargs: Any) -> MemoryBank:
        """``self.merge(MemoryBank.build(model, tokenizer, texts, ...))`` in this bank's dtype."""
        build_kwargs.setdefault("dtype", self.dtype)
        return self.merge(MemoryBank.build(model, tokenizer, texts, **build_kwargs))

    # ------------------------------------------------------------------ use
    def state(self, device: torch.device | str | None = None, *, index: str | None = None,
              **options: Any):
        """The bank as ``memgpt.model.MemoryState`` (the model's ``memory=`` argument); with
        ``index`` (``hnsw`` / ``ivf``, options as ``memgpt.index.KeyIndex``), memory reads search
        a vector index built now over the keys instead of every entry."""
        from memgpt.model import MemoryState

        keys = self.keys.to(device)
        if index is None:
            return MemoryState(keys, self.values.to(device))
        from memgpt.index import BankIndex

        built = BankIndex.build(keys.cpu(), similarity=self.similarity, kind=index, **options)
        return MemoryState(keys, self.values.to(device), built)

    def provenance(self, indices: Sequence[int] | torch.Tensor) -> list[tuple[str, int, int]]:
        """(source id, start, end) for flat entry indices (any shape; flattened)."""
        idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1).tolist()
        return [(self.sources[int(self.source_index[i])], int(self.starts[i]), int(self.ends[i]))
                for i in idx]

    def check_compatible(self, model: torch.nn.Module, *, what: str = "memory bank") -> None:
        """Raise ValueError (one line) unless this bank was built for ``model``'s backbone."""
        c = model.config
        mine = (self.layers, self.keys.shape[2], self.keys.shape[3])
        theirs = (tuple(c.memory.layers), c.n_kv_heads, c.head_dim)
        if mine != theirs:
            raise ValueError(f"{what} has (layers, n_kv_heads, head_dim) = {mine} but the model "
                             f"has {theirs}; rebuild the bank for this model")
        h = backbone_hash(model)
        if h != self.backbone_hash:
            raise ValueError(f"{what} was built for backbone {self.backbone_hash[:12]}, model is "
                             f"{h[:12]}; rebuild the bank for this model")

    def search(self, model: torch.nn.Module, tokenizer: Any, query: str, *, k: int = 5,
               layer: int | None = None) -> list[Hit]:
        """Entries nearest to ``query``, embedded by the same model.

        The query vector of KV group g is the mean over g's query heads of the pre-rotary query
        (``q_proj(attn_norm(h))``) of the query's last token in ``layer`` (default: the last
        memory layer). See ``search_vectors`` for the scoring.
        """
        self.check_compatible(model)
        layer = self.layers[-1] if layer is None else layer
        if layer not in self.layers:
            raise ValueError(f"layer {layer} is not a memory layer of this bank {self.layers}")
        c = model.config
        ids = list(tokenizer.encode(query))[-c.max_seq_len:]
        if not ids:
            raise ValueError("cannot search with an empty query")
        device = next(model.parameters()).device
        with torch.inference_mode():
            out = model(torch.tensor([ids], device=device), output_hidden_states=True, num_logits=1)
            block = model.layers[layer]
            q = block.attn.q_proj(block.attn_norm(out.hidden_states[layer][0, -1]))  # [H*E]
            q = q.view(c.n_kv_heads, c.n_groups, c.head_dim).float().mean(1).cpu()  # [G, E]
        return self.search_vectors(q, k=k, layer=layer, similarity=c.memory.similarity,
                                   chunk_size=c.memory.chunk_size)

    def search_vectors(self, query: torch.Tensor, *, k: int = 5, layer: int | None = None,
                       similarity: str | None = None, chunk_size: int = 65536) -> list[Hit]:
        """Exact top-k unique entries for one query vector per KV group.

        An entry's score is the max over groups g of ``similarity(query[g], keys[layer, n, g])``.
        The global top-k by that score lies in the union of the per-group top-k, so this is
        exact while scoring at most ``chunk_size`` entries at a time.

        Args:
            query: [G, E].
            k: results wanted (fewer when the bank is smaller).
            layer: model layer index (default: the last memory layer).
            similarity: ``dot``, ``cosine`` or ``l2`` (default: the bank's).

        Returns:
            Hits, best first.
        """
        layer = self.layers[-1] if layer is None else layer
        similarity = similarity or self.similarity
        keys = self.keys[self.layers.index(layer)].transpose(0, 1)  # [G, N, E]
        q = query.float().unsqueeze(1)  # [G, 1, E]
        _, idx = topk_search(q, keys, k, similarity=similarity, chunk_size=chunk_size)
        cand = idx.reshape(-1).unique()  # [C] <= G*k candidates
        if cand.numel() == 0:
            return []
        s, i = topk_search(q, keys[:, cand], cand.numel(), similarity=similarity)  # [G, 1, C]
        scores = torch.empty(s.shape[0], cand.numel()).scatter_(1, i[:, 0], s[:, 0].float())
        best, order = scores.max(0).values.topk(min(k, cand.numel()))
        entries = cand[order].tolist()
        return [Hit(*p, score=float(sc), index=e)
                for p, sc, e in zip(self.provenance(entries), best.tolist(), entries)]

    # ------------------------------------------------------------------ persistence
    def metadata(self) -> dict[str, Any]:
        """The ``bank.json`` contents."""
        from memgpt import __version__

        dtype = next(n for n, d in _DTYPES.items() if d == self.dtype)
        return {"format_version": FORMAT_VERSION, "layers": list(self.layers),
                "n_kv_heads": self.keys.shape[2], "head_dim": self.keys.shape[3],
                "dtype": dtype, "backbone_hash": self.backbone_hash, "sources": self.sources,
                "similarity": self.similarity,
                "counts": {"entries": len(self), "sources": len(self.sources)},
                "memgpt_version": __version__}

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path/bank.safetensors`` and ``path/bank.json``, published together
        (``memgpt.paths.atomic_update_dir``: other files in ``path`` are kept); returns ``path``."""
        if self.dtype not in _DTYPES.values():
            raise ValueError(f"cannot save a bank of dtype {self.dtype}")
        path = Path(path)
        tensors = {n: getattr(self, n).contiguous().cpu() for n in _TENSOR_NAMES}
        with atomic_update_dir(path) as folder:
            with atomic_path(folder / TENSORS_FILE) as tmp:
                save_file(tensors, str(tmp))
            atomic_write_text(folder / META_FILE, json.dumps(self.metadata(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, model: torch.nn.Module | None = None,
             map_location: str | torch.device = "cpu") -> MemoryBank:
        """Read a bank saved by ``save``; with ``model``, refuse a bank built for another one."""
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"memory bank folder not found: {path}")
        for name in (META_FILE, TENSORS_FILE):
            if not (path / name).is_file():
                raise FileNotFoundError(f"memory bank {path} is missing {name}")
        try:
            meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"corrupt {path / META_FILE}: {e}") from None
        try:
            tensors = load_file(str(path / TENSORS_FILE), device=str(map_location))
        except Exception as e:  # safetensors raises its own error type for corrupt headers
            raise ValueError(f"corrupt {path / TENSORS_FILE}: {e}") from None
        bank = cls._from_parts(tensors, meta, path)
        if model is not None:
            bank.check_compatible(model, what=f"memory bank {path}")
        return bank

    @classmethod
    def _from_parts(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any],
                    path: Path) -> MemoryBank:
        """Validate loaded tensors against the metadata and assemble the bank."""
        where = f"memory bank {path}"
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{where}: unsupported format_version {meta.get('format_version')!r}"
                             f" (expected {FORMAT_VERSION})")
        try:
            layers = tuple(int(i) for i in meta["layers"])
            g, e, dtype = int(meta["n_kv_heads"]), int(meta["head_dim"]), _DTYPES[meta["dtype"]]
            sources, bhash = [str(s) for s in meta["sources"]], str(meta["backbone_hash"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{where}: bad or missing metadata field {err}") from None
        missing = [n for n in _TENSOR_NAMES if n not in tensors]
        if missing:
            raise ValueError(f"{where}: {TENSORS_FILE} lacks tensors {missing}")
        k, v = tensors["keys"], tensors["values"]
        n = k.shape[1] if k.dim() == 4 else -1
        expect = (len(layers), n, g, e)
        bad_dtype = k.dtype != dtype or v.dtype != dtype
        if tuple(k.shape) != expect or tuple(v.shape) != expect or bad_dtype:
            raise ValueError(f"{where}: keys/values {tuple(k.shape)}/{tuple(v.shape)} "
                             f"{k.dtype} do not match metadata (L, N, G, E) = {expect} {dtype}")
        for name in ("source_index", "starts", "ends"):
            if tuple(tensors[name].shape) != (n,) or tensors[name].dtype != torch.long:
                raise ValueError(f"{where}: {name} must be int64 [{n}]")
        si = tensors["source_index"]
        if n and (int(si.min()) < 0 or int(si.max()) >= len(sources)):
            raise ValueError(f"{where}: source_index out of range for {len(sources)} sources")
        return cls(k, v, si, tensors["starts"], tensors["ends"], sources, bhash, layers,
                   str(meta.get("similarity", "dot")))
