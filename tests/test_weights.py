"""memgpt.weights: the GGUF and Hugging Face importers on tiny files written here (offline).

A tiny seeded model is written as llama.cpp writes a GGUF (q/k rows in the interleaved-pair
rotary layout, the tokenizer in the metadata) and as a Hugging Face Llama folder; importing
either must give back the same weights, the same tokenizer and the same logits.
"""

import json

import pytest
import torch
from safetensors.torch import save_file

from memgpt.checkpoint import load_model, load_tokenizer
from memgpt.tokenizer import CONTROL, TEST_SPECIALS, Tokenizer, _test_vocab
from memgpt.weights import load_gguf, load_hf_folder, permute_rotary, unpermute_rotary

gguf = pytest.importorskip("gguf")

_BLOCK = {"attn_norm": "attn_norm", "mlp_norm": "ffn_norm", "attn.q_proj": "attn_q",
          "attn.k_proj": "attn_k", "attn.v_proj": "attn_v", "attn.o_proj": "attn_output",
          "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
_TOP = {"embed.weight": "token_embd.weight", "norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight"}


def backbone_state(model) -> dict[str, torch.Tensor]:
    """The non-memory weights, fused projections split back (as a checkpoint stores them)."""
    return {k: v for k, v in model.state_dict().items() if ".memory." not in k}


def write_gguf(path, model, *, arch="llama", tokenizer_model="gpt2", rope_scaling=None):
    c = model.config
    w = gguf.GGUFWriter(str(path), arch)
    w.add_context_length(c.max_seq_len)
    w.add_embedding_length(c.d_model)
    w.add_block_count(c.n_layers)
    w.add_feed_forward_length(c.ffn_dim)
    w.add_head_count(c.n_heads)
    w.add_head_count_kv(c.n_kv_heads)
    w.add_key_length(c.head_dim)
    w.add_rope_freq_base(c.rope_theta)
    w.add_layer_norm_rms_eps(c.norm_eps)
    if rope_scaling:
        w.add_rope_scaling_type(getattr(gguf.RopeScalingType, rope_scaling))
    tokens, merges = _test_vocab()
    w.add_tokenizer_model(tokenizer_model)
    w.add_token_list(list(tokens))
    w.add_token_merges(list(merges))
    w.add_token_types([CONTROL] * len(TEST_SPECIALS) + [1] * (len(tokens) - len(TEST_SPECIALS)))
    w.add_bos_token_id(c.bos_id)
    w.add_eos_token_id(c.eos_id)
    w.add_pad_token_id(c.pad_id)
    for name, t in backbone_state(model).items():
        if name.startswith("layers."):
            _, i, rest = name.split(".", 2)
            part = rest.removesuffix(".weight")
            if part in ("attn.q_proj", "attn.k_proj"):  # llama.cpp's converter permutes q/k
                t = permute_rotary(t, c.n_heads if part == "attn.q_proj" else c.n_kv_heads)
            gname = f"blk.{i}.{_BLOCK[part]}.weight"
        else:
            gname = _TOP[name]
        w.add_tensor(gname, t.float().numpy())
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def hf_name(ours: str) -> str:
    name = ours.replace("embed.", "embed_tokens.").replace(".attn.", ".self_attn.")
    name = name.replace(".attn_norm.", ".input_layernorm.")
    name = name.replace(".mlp_norm.", ".post_attention_layernorm.")
    return name if name == "lm_head.weight" else f"model.{name}"


def write_hf(folder, model, tokenizer, **overrides):
    c = model.config
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_type": "llama", "hidden_size": c.d_model, "num_hidden_layers": c.n_layers,
              "num_attention_heads": c.n_heads, "num_key_value_heads": c.n_kv_heads,
              "head_dim": c.head_dim, "intermediate_size": c.ffn_dim, "vocab_size": c.vocab_size,
              "max_position_embeddings": c.max_seq_len, "rope_theta": c.rope_theta,
              "rms_norm_eps": c.norm_eps, "tie_word_embeddings": c.tie_embeddings,
              "bos_token_id": c.bos_id, "eos_token_id": [c.eos_id], "pad_token_id": c.pad_id,
              "hidden_act": "silu", **overrides}
    (folder / "config.json").write_text(json.dumps(config))
    tensors = {hf_name(k): v.contiguous() for k, v in backbone_state(model).items()}
    tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(4)  # dropped on import
    save_file(tensors, str(folder / "model.safetensors"))
    tokenizer.save(folder / "tokenizer.json")
    return folder


def logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits


def test_rotary_permutation_round_trips_and_is_not_the_identity():
    w = torch.arange(8 * 3, dtype=torch.float32).reshape(8, 3)
    p = permute_rotary(w, 2)
    assert not torch.equal(p, w)
    assert torch.equal(unpermute_rotary(p, 2), w)
    # per head of 4 rows [a0 a1 b0 b1] (half-split) -> [a0 b0 a1 b1] (interleaved pairs)
    assert p[:4, 0].tolist() == [w[0, 0], w[2, 0], w[1, 0], w[3, 0]]


def test_gguf_import_gives_back_the_weights_tokenizer_and_logits(tmp_path, tiny_model,
                                                                 tiny_tokenizer):
    path = write_gguf(tmp_path / "tiny.gguf", tiny_model)
    config, state, tok = load_gguf(path)
    c = tiny_model.config
    assert (config.d_model, config.n_layers, config.n_heads, config.n_kv_heads, config.head_dim,
            config.ffn_dim, config.vocab_size, config.tie_embeddings) == (
        c.d_model, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_dim, c.vocab_size, True)
    assert (config.bos_id, config.eos_id, config.pad_id) == (c.bos_id, c.eos_id, c.pad_id)
    want = backbone_state(tiny_model)
    assert state.keys() == want.keys()
    for k in want:  # q/k un-permuted back to the half-split layout, exactly
        torch.testing.assert_close(state[k], want[k], rtol=0, atol=0)
    text = "Hello there, general Kenobi!"
    assert tok.encode(text) == tiny_tokenizer.encode(text)
    assert Tokenizer.from_gguf(path).encode(text) == tiny_tokenizer.encode(text)
    model = load_model(path)  # checkpoint name resolution: a .gguf file
    ids = tiny_tokenizer.encode(text)
    torch.testing.assert_close(logits(model, ids), logits(tiny_model, ids), rtol=1e-5, atol=1e-5)
    assert load_tokenizer(path).encode(text) == tiny_tokenizer.encode(text)


@pytest.mark.parametrize("kw,message", [({"arch": "gpt2"}, "unsupported GGUF architecture"),
                                        ({"rope_scaling": "LINEAR"}, "rope scaling"),
                                        ({"tokenizer_model": "llama"}, "tokenizer model")])
def test_gguf_variants_we_cannot_run_are_refused(tmp_path, tiny_model, kw, message):
    path = write_gguf(tmp_path / "bad.gguf", tiny_model, **kw)
    with pytest.raises(ValueError, match=message):
        load_gguf(path)


def test_gguf_errors_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_gguf(tmp_path / "missing.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\x00" * 12)
    with pytest.raises(ValueError, match="cannot read GGUF file"):
        load_gguf(junk)


@pytest.mark.parametrize("tied", [True, False])
def test_hf_folder_import_gives_back_the_weights_and_logits(tmp_path, tiny_config, tiny_tokenizer,
                                                            tied):
    from memgpt.model import MemGPT

    torch.manual_seed(1)
    model = MemGPT(tiny_config.replace(tie_embeddings=tied)).eval()
    folder = write_hf(tmp_path / "hf", model, tiny_tokenizer)
    config, state, tok = load_hf_folder(folder)
    assert config.tie_embeddings is tied and config.eos_id == tiny_config.eos_id
    want = backbone_state(model)
    assert state.keys() == want.keys()  # rotary inv_freq dropped; lm_head only when untied
    assert all(torch.equal(state[k], want[k]) for k in want)
    loaded = load_model(folder)  # checkpoint name resolution: a folder with hidden_size
    ids = tiny_tokenizer.encode("the harbour was built in 1854")
    torch.testing.assert_close(logits(loaded, ids), logits(model, ids), rtol=1e-5, atol=1e-5)
    assert load_tokenizer(folder).encode("abc") == tok.encode("abc")


def test_hf_sharded_folder(tmp_path, tiny_model, tiny_tokenizer):
    folder = write_hf(tmp_path / "hf", tiny_model, tiny_tokenizer)
    tensors = {}
    from safetensors.torch import load_file

    tensors = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    names = sorted(tensors)
    half = len(names) // 2
    shards = {"a.safetensors": names[:half], "b.safetensors": names[half:]}
    for shard, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, str(folder / shard))
    index = {"weight_map": {k: s for s, keys in shards.items() for k in keys}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    _, state, _ = load_hf_folder(folder)
    assert all(torch.equal(state[k], v) for k, v in backbone_state(tiny_model).items())


@pytest.mark.parametrize("overrides,message", [
    ({"model_type": "mistral"}, "unsupported model_type"),
    ({"rope_scaling": {"type": "linear", "factor": 2.0}}, "unsupported Llama variant"),
    ({"hidden_act": "gelu"}, "unsupported Llama variant"),
    ({"attention_bias": True}, "unsupported Llama variant"),
])
def test_hf_variants_we_cannot_run_are_refused(tmp_path, tiny_model, tiny_tokenizer, overrides,
                                               message):
    folder = write_hf(tmp_path / "hf", tiny_model, tiny_tokenizer, **overrides)
    with pytest.raises(ValueError, match=message):
        load_hf_folder(folder)


def test_hf_folder_errors(tmp_path, tiny_model, tiny_tokenizer):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_hf_folder(tmp_path)
    folder = write_hf(tmp_path / "hf", tiny_model, tiny_tokenizer)
    cfg = json.loads((folder / "config.json").read_text())
    del cfg["intermediate_size"]
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="lacks the key 'intermediate_size'"):
        load_hf_folder(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read"):
        load_hf_folder(folder)
    folder2 = write_hf(tmp_path / "hf2", tiny_model, tiny_tokenizer)
    (folder2 / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        load_hf_folder(folder2)


def test_smollm2_shapes_get_the_presets_memory():
    """A GGUF/HF import with the smollm2-135m shapes gets that preset's memory layers."""
    from memgpt.config import get_preset
    from memgpt.weights import _with_memory

    preset = get_preset("smollm2-135m")
    assert _with_memory(preset.replace(memory=type(preset.memory)())).memory == preset.memory
    other = preset.replace(n_layers=4, memory=type(preset.memory)())
    assert _with_memory(other).memory == type(preset.memory)()  # other shapes: no memory layers
