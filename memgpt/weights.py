"""Pretrained weights: import llama.cpp GGUF files and Hugging Face Llama folders.

Every importer returns ``(ModelConfig, state_dict, Tokenizer)`` with fp32 tensors named as in
``memgpt.model.MemGPT`` (no memory parameters: they keep their closed-gate initialisation).

llama.cpp's HF->GGUF converter stores the q/k projection rows permuted for the interleaved-pair
rotary layout; our model uses the Hugging Face half-split ("rotate_half") layout, so the GGUF
importer undoes that permutation (:func:`unpermute_rotary`); ``tests/test_weights.py`` proves it
on a tiny GGUF file written by the test.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from memgpt.config import MemoryConfig, ModelConfig, get_preset
from memgpt.tokenizer import Tokenizer

log = logging.getLogger(__name__)


# GGUF tensor name -> our name (per block) ; q/k additionally need the rotary un-permutation.
_GGUF_BLOCK = {
    "attn_norm": "attn_norm", "ffn_norm": "mlp_norm",
    "attn_q": "attn.q_proj", "attn_k": "attn.k_proj", "attn_v": "attn.v_proj",
    "attn_output": "attn.o_proj",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}
_GGUF_TOP = {"token_embd.weight": "embed.weight", "output_norm.weight": "norm.weight",
             "output.weight": "lm_head.weight"}


# ---------------------------------------------------------------------- rotary layout
def permute_rotary(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """llama.cpp's converter permutation: half-split rows -> interleaved pairs, per head."""
    out, din = w.shape
    return w.reshape(n_heads, 2, out // n_heads // 2, din).transpose(1, 2).reshape(out, din)


def unpermute_rotary(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Inverse of :func:`permute_rotary`: interleaved-pair rows -> half-split rows."""
    out, din = w.shape
    return w.reshape(n_heads, out // n_heads // 2, 2, din).transpose(1, 2).reshape(out, din)


def _with_memory(config: ModelConfig) -> ModelConfig:
    """The smollm2-135m preset's memory settings when the shapes are that preset's."""
    preset = get_preset("smollm2-135m")
    same_shapes = config.replace(memory=MemoryConfig()) == preset.replace(memory=MemoryConfig())
    return config.replace(memory=preset.memory if same_shapes else MemoryConfig())


# ---------------------------------------------------------------------- GGUF
def _gguf_config(reader: Any) -> ModelConfig:
    def field(key: str, default: Any = None) -> Any:
        f = reader.fields.get(key)
        return default if f is None else f.contents()

    arch = field("general.architecture")
    if arch != "llama":
        raise ValueError(f"unsupported GGUF architecture {arch!r} (only 'llama' is supported)")
    if field("llama.rope.scaling.type") not in (None, "none"):
        raise ValueError("GGUF files with rope scaling are not supported")
    d, heads = int(field("llama.embedding_length")), int(field("llama.attention.head_count"))
    tokens = field("tokenizer.ggml.tokens") or []
    eos = int(field("tokenizer.ggml.eos_token_id", 2))
    names = {t.name for t in reader.tensors}
    return _with_memory(ModelConfig(
        vocab_size=int(field("llama.vocab_size", len(tokens))), d_model=d,
        n_layers=int(field("llama.block_count")), n_heads=heads,
        n_kv_heads=int(field("llama.attention.head_count_kv", heads)),
        head_dim=int(field("llama.attention.key_length", d // heads)),
        ffn_dim=int(field("llama.feed_forward_length")),
        max_seq_len=int(field("llama.context_length", 2048)),
        rope_theta=float(field("llama.rope.freq_base", 10000.0)),
        # stored as float32: 1e-5 reads back as 9.99999975e-06; keep float32 precision only
        norm_eps=float(f"{field('llama.attention.layer_norm_rms_epsilon', 1e-5):.7g}"),
        tie_embeddings="output.weight" not in names,
        bos_id=int(field("tokenizer.ggml.bos_token_id", eos)), eos_id=eos,
        pad_id=int(field("tokenizer.ggml.padding_token_id", eos))))


def _gguf_name(name: str) -> tuple[str, str | None]:
    """(our name, 'q'/'k' when the rotary un-permutation applies)."""
    if name in _GGUF_TOP:
        return _GGUF_TOP[name], None
    m = re.fullmatch(r"blk\.(\d+)\.(\w+)\.weight", name)
    if m is None or m.group(2) not in _GGUF_BLOCK:
        raise ValueError(f"unsupported GGUF tensor {name!r}")
    kind = {"attn_q": "q", "attn_k": "k"}.get(m.group(2))
    return f"layers.{m.group(1)}.{_GGUF_BLOCK[m.group(2)]}.weight", kind


def load_gguf(path: str | os.PathLike, *, progress: bool = False
              ) -> tuple[ModelConfig, dict[str, torch.Tensor], Tokenizer]:
    """Import a llama-architecture GGUF file (any quantization ``gguf`` can dequantize).

    Args:
        path: the ``.gguf`` file.
        progress: show a tqdm bar over tensors.

    Returns:
        (config, fp32 state dict in our names with q/k un-permuted, tokenizer).
    """
    import gguf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such GGUF file: {path}")
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as e:
        raise ValueError(f"cannot read GGUF file {path}: {e}") from None
    config = _gguf_config(reader)
    state: dict[str, torch.Tensor] = {}
    for t in tqdm(reader.tensors, desc="converting", unit="tensor", disable=not progress):
        name, rot = _gguf_name(t.name)
        arr = gguf.quants.dequantize(t.data, t.tensor_type)
        arr = np.array(arr, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
        w = torch.from_numpy(arr)
        if rot is not None:
            w = unpermute_rotary(w, config.n_heads if rot == "q" else config.n_kv_heads)
        state[name] = w.contiguous()
    return config, state, Tokenizer.from_gguf(reader)


# ---------------------------------------------------------------------- Hugging Face folders
def _hf_config(folder: Path) -> ModelConfig:
    try:
        hf = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {folder / 'config.json'}: {e}") from None
    if hf.get("model_type", "llama") != "llama":
        raise ValueError(f"unsupported model_type {hf.get('model_type')!r} in {folder} "
                         "(only 'llama' is supported)")
    if hf.get("rope_scaling") or hf.get("attention_bias") or hf.get("mlp_bias") \
            or hf.get("hidden_act", "silu") != "silu":
        raise ValueError(f"unsupported Llama variant in {folder} (rope scaling, biases or "
                         "a non-silu activation)")
    try:
        d, heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
        eos = hf.get("eos_token_id", 2)
        eos = int(eos[0] if isinstance(eos, list) else eos)
        pad = hf.get("pad_token_id")
        return _with_memory(ModelConfig(
            vocab_size=int(hf["vocab_size"]), d_model=d, n_layers=int(hf["num_hidden_layers"]),
            n_heads=heads, n_kv_heads=int(hf.get("num_key_value_heads") or heads),
            head_dim=int(hf.get("head_dim") or d // heads),
            ffn_dim=int(hf["intermediate_size"]),
            max_seq_len=int(hf.get("max_position_embeddings", 2048)),
            rope_theta=float(hf.get("rope_theta", 10000.0)),
            norm_eps=float(hf.get("rms_norm_eps", 1e-5)),
            tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
            bos_id=int(hf.get("bos_token_id") or eos), eos_id=eos,
            pad_id=eos if pad is None else int(pad)))
    except KeyError as e:
        raise ValueError(f"{folder / 'config.json'} lacks the key {e.args[0]!r}") from None


def _hf_name(name: str) -> str | None:
    """Our name for an HF Llama tensor name (None: drop it)."""
    if name.endswith("rotary_emb.inv_freq"):
        return None
    name = name.removeprefix("model.")
    name = name.replace("embed_tokens.", "embed.").replace(".self_attn.", ".attn.")
    name = name.replace(".input_layernorm.", ".attn_norm.")
    return name.replace(".post_attention_layernorm.", ".mlp_norm.")


def _hf_tensors(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (folder / "model.safetensors").is_file():
        shards = ["model.safetensors"]
    else:
        raise FileNotFoundError(f"no model.safetensors (or index) in {folder}")
    out: dict[str, torch.Tensor] = {}
    for shard in shards:
        try:
            out.update(load_file(str(folder / shard)))
        except Exception as e:  # safetensors raises its own error type on corrupt files
            raise ValueError(f"cannot read {folder / shard}: {e}") from None
    return out


def load_hf_folder(path: str | os.PathLike
                   ) -> tuple[ModelConfig, dict[str, torch.Tensor], Tokenizer]:
    """Import a Hugging Face Llama-layout folder (config.json, safetensors, tokenizer.json).

    No rotary permutation is needed: HF checkpoints already use the half-split layout.
    """
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {folder}")
    config = _hf_config(folder)
    state = {}
    for name, t in _hf_tensors(folder).items():
        ours = _hf_name(name)
        if ours is not None:
            state[ours] = t.to(torch.float32).contiguous()
    if config.tie_embeddings:
        state.pop("lm_head.weight", None)
    tok = Tokenizer.from_file(folder / "tokenizer.json", bos_id=config.bos_id,
                              eos_id=config.eos_id, pad_id=config.pad_id)
    return config, state, tok
