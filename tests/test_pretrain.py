"""memgpt-task pretrain: tokenizer, training, exact resume, the output folder, perplexity."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

import memgpt.pretrain as pt
from memgpt.checkpoint import load_model
from memgpt.cli import cli

TEXT = (" = First = \n The cat sat on the mat . The dog sat on the log . 今天天气很好 。\n"
        " = = Part = = \n The cat and the dog are friends , and they play all day .\n"
        " = Second = \n Numbers 12 and 345 ; the river runs to the sea , the sea to the sky .\n")
TINY = dict(vocab_size=300, d_model=32, layers=2, heads=4, seq_len=16, steps=6, batch_size=2,
            warmup=2, memory_segments=2, save_every=2)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT * 4, encoding="utf-8")
    return path


def test_documents_and_tokenizer_round_trip():
    docs = pt.split_documents(TEXT)
    assert len(docs) == 2 and docs[1].startswith(" = Second")
    tok = pt.train_tokenizer(docs, 300)
    assert tok.vocab_size <= 300 and tok.eos_id == 0
    for s in ("今天天气很好", "Ünïcödé ✓ 𝄞", "x = 42"):
        assert tok.decode(tok.encode(s)) == s


def test_pretrain_resumes_exactly(corpus, tmp_path, monkeypatch):
    cfg = pt.PretrainConfig(**TINY)
    straight = pt.pretrain([corpus], tmp_path / "a", cfg, progress=False)
    saved = pt._save

    def crash_after_step_4(out, model, opt, streams, banks, step, *rest):
        saved(out, model, opt, streams, banks, step, *rest)
        if step == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(pt, "_save", crash_after_step_4)
    with pytest.raises(KeyboardInterrupt):
        pt.pretrain([corpus], tmp_path / "b", cfg, progress=False)
    assert json.loads((tmp_path / "b" / "pretrain.json").read_text())["step"] == 4
    monkeypatch.setattr(pt, "_save", saved)
    resumed = pt.pretrain([corpus], tmp_path / "b", cfg, progress=False)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="d_model"):
        pt.pretrain([corpus], tmp_path / "b", pt.PretrainConfig(**{**TINY, "d_model": 64}),
                    progress=False)


def test_cli_pretrain_output_is_loadable_and_evaluated(corpus, tmp_path):
    out = tmp_path / "model"
    args = ["pretrain", str(corpus), "-o", str(out), "--vocab-size", "300", "--d-model", "32",
            "--layers", "2", "--heads", "4", "--seq-len", "16", "--steps", "3",
            "--batch-size", "2", "--no-progress", "--eval", str(corpus)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["memory_layers"] == [1]
    assert row["bank"]["bank"] and not row["no_bank"]["bank"]
    assert math.isfinite(row["bank"]["perplexity"]) and row["bank"]["tokens"] > 0
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "pretrain.json"} <= files
    assert not any(p.suffix in (".pt", ".pth", ".bin", ".pkl") for p in out.rglob("*"))
    gen = CliRunner().invoke(cli, ["generate", "--weights", str(out), "The cat",
                                   "--max-new-tokens", "3", "--json"])
    assert gen.exit_code == 0, gen.output
    assert isinstance(json.loads(gen.stdout)["text"], str)
    model = load_model(out)
    assert model.tokenizer is not None and isinstance(model.generate("今天", max_new_tokens=2), str)


def test_no_memory_run_has_no_memory_layers(corpus, tmp_path):
    cfg = pt.PretrainConfig(**{**TINY, "steps": 2, "memory": False})
    model = pt.pretrain([corpus], tmp_path / "base", cfg, progress=False)
    assert model.config.memory.layers == ()
    assert not any(".attn.memory." in k for k in load_file(tmp_path / "base" / "model.safetensors"))
    r = pt.perplexity(model, [TEXT], seq_len=16)
    assert not r["bank"] and math.isfinite(r["perplexity"])


@pytest.mark.parametrize("args, message", [
    (["missing.txt"], "no such file"),
    (["{empty}"], "empty"),
])
def test_bad_input_is_one_error_line(tmp_path, args, message):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    args = [a.format(empty=empty) for a in args]
    result = CliRunner().invoke(cli, ["pretrain", *args, "-o", str(tmp_path / "o"),
                                      "--no-progress"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
