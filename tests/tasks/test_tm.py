"""memgpt.tasks.tm: the translation memory (kNN-MT) on the tiny model."""

import json

import numpy as np
import pytest

from memgpt.tasks.tm import KnnStepper, Pair, TranslationMemory, align, read_pairs

PAIRS = [("the cat sleeps", "el gato duerme"), ("I drink green tea", "bebo té verde"),
         ("where is the station", "dónde está la estación")]


@pytest.fixture(scope="module")
def task(make_task_folder, tmp_path_factory, tiny_weights_dir):
    from memgpt.checkpoint import load_model, load_tokenizer
    from memgpt.tasks.artifacts import load_task
    from memgpt.tasks.pipelines import TorchTask

    d = tmp_path_factory.mktemp("tm")
    model = load_model(tiny_weights_dir)
    folder = make_task_folder(d, model, "translate")
    spec, task_model = load_task(folder, model)
    return TorchTask(spec, task_model, load_tokenizer(tiny_weights_dir)), folder


@pytest.fixture(scope="module")
def memory(task):
    t, folder = task
    return TranslationMemory.build(t, [Pair(a, b, i) for i, (a, b) in enumerate(PAIRS)],
                                   progress=False, task_folder=folder)


def test_one_entry_per_target_token(task, memory):
    t, _ = task
    end = t.tokenizer.im_end_id if t.tokenizer.im_end_id is not None else t.tokenizer.eos_id
    lens = [len(t.tokenizer.encode(" " + b)) + 1 for _, b in PAIRS]
    assert len(memory) == sum(lens) == memory.meta["entries"]
    assert memory.values[lens[0] - 1] == end  # each target ends with the end token
    assert memory.pair_ids.tolist() == [i for i, n in enumerate(lens) for _ in range(n)]
    assert memory.keys.shape[1] == t.model.backbone.config.d_model


def test_pure_memory_reproduces_the_stored_translation(task, memory):
    """With lam = 1 the next token is the value of the nearest stored state; on the source of a
    stored pair every state on the path is stored exactly (distance 0), so greedy decoding
    writes the stored target — whatever the tiny model would say on its own."""
    t, _ = task
    memory.settings.update(lam=1.0, temperature=1e-4, k=4)
    try:
        got = [g.text for g in t.generate([a for a, _ in PAIRS], memory=memory,
                                          max_new_tokens=24)]
        plain = [g.text for g in t.generate([a for a, _ in PAIRS], max_new_tokens=24)]
    finally:
        memory.settings.update(lam=0.5, temperature=10.0, k=16)
    assert got == [b for _, b in PAIRS]
    assert plain != got


def test_mixing_is_a_distribution_and_lam_zero_is_the_model(memory):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, int(memory.values.max()) + 5)).astype(np.float32)
    hidden = memory.keys[:2]
    memory.settings.update(lam=0.0)
    p0 = np.exp(memory.mix(logits, hidden))
    z = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(p0, z / z.sum(-1, keepdims=True), rtol=1e-4, atol=1e-6)
    memory.settings.update(lam=0.5)
    p = np.exp(memory.mix(logits, hidden))
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-4)
    assert (p.argmax(-1) == memory.values[:2]).all()  # the exact neighbour's token dominates


def test_save_load_round_trip_and_refusals(task, memory, tmp_path, tiny_weights_dir):
    t, folder = task
    memory.save(tmp_path / "tm")
    back = TranslationMemory.load(tmp_path / "tm", task=t)
    assert np.array_equal(back.values, memory.values)
    np.testing.assert_allclose(back.keys, memory.keys, rtol=1e-3, atol=1e-3)  # stored fp16
    assert back.settings == memory.settings
    meta = json.loads((tmp_path / "tm" / "tm.json").read_text())
    meta["entries"] += 1
    (tmp_path / "tm" / "tm.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="truncated or tampered"):
        TranslationMemory.load(tmp_path / "tm")
    meta["entries"] -= 1
    meta["backbone_hash"] = "0" * 64
    (tmp_path / "tm" / "tm.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="other backbone weights"):
        TranslationMemory.load(tmp_path / "tm", task=t)
    meta["backbone_hash"] = memory.meta["backbone_hash"]
    meta["task_hash"] = "1" * 64
    (tmp_path / "tm" / "tm.json").write_text(json.dumps(meta))
    assert len(TranslationMemory.load(tmp_path / "tm", task=t)) == len(memory)
    with pytest.raises(ValueError, match="another translation task folder"):
        TranslationMemory.load(tmp_path / "tm", task=t, task_folder=folder)
    (tmp_path / "tm" / "tm.json").write_text("{")
    with pytest.raises(ValueError, match="not a memgpt translation memory"):
        TranslationMemory.load(tmp_path / "tm")
    with pytest.raises(FileNotFoundError, match="memory build --pairs"):
        TranslationMemory.load(tmp_path)


def test_onnx_runtime_is_refused():
    class Plain:
        pass

    with pytest.raises(ValueError, match="--runtime torch"):
        KnnStepper(Plain(), None)


def test_read_pairs(tmp_path):
    tsv = tmp_path / "g.tsv"
    tsv.write_text("Hello.\tHola.\n\nThe pump. It stops.\tLa bomba. Se para.\n"
                   "Two sentences. Here.\tUna frase.\n", encoding="utf-8")
    pairs = read_pairs(tsv)
    assert [(p.source, p.target, p.line) for p in pairs] == [
        ("Hello.", "Hola.", 1), ("The pump.", "La bomba.", 3), ("It stops.", "Se para.", 3),
        ("Two sentences. Here.", "Una frase.", 4)]  # counts differ: kept whole
    js = tmp_path / "g.jsonl"
    js.write_text('{"source": "a", "target": "b"}\n')
    assert [(p.source, p.target) for p in read_pairs(js)] == [("a", "b")]


@pytest.mark.parametrize("name,content,message", [
    ("a.tsv", "only one column\n", "two tab-separated columns"),
    ("a.tsv", "x\t \n", "empty"),
    ("a.jsonl", '{"source": "a"}\n', "\"source\" and \"target\""),
    ("a.jsonl", "{nope\n", "not JSON"),
    ("a.csv", "a,b\n", "a pairs file is .tsv"),
    ("a.tsv", "", "no pairs"),
])
def test_bad_pairs_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_pairs(path)
    (tmp_path / "b.tsv").write_bytes(b"\xff\xfe bad\tx\n")
    with pytest.raises(ValueError, match="UTF-8"):
        read_pairs(tmp_path / "b.tsv")


def test_align():
    assert align("The pump stops. It is cold.", "La bomba se para. Hace frío.") == [
        ("The pump stops.", "La bomba se para."), ("It is cold.", "Hace frío.")]
    assert align("One.", "Uno. Dos.") == [("One.", "Uno. Dos.")]


def test_cli_build_and_translate_with_a_memory(task, tmp_path, tiny_weights_dir):
    from click.testing import CliRunner

    from memgpt.cli import cli

    _, folder = task
    env = {"MEMGPT_WEIGHTS": tiny_weights_dir}
    tsv = tmp_path / "glossary.tsv"
    tsv.write_text("".join(f"{a}\t{b}\n" for a, b in PAIRS))
    r = CliRunner().invoke(cli, ["memory", "build", "--pairs", str(tsv), "--adapter",
                                 str(folder), "-o", str(tmp_path / "tm"), "--json"], env=env)
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["pairs"] == 3 and info["entries"] == len(TranslationMemory.load(tmp_path / "tm"))
    args = ["translate", "--adapter", str(folder), "--max-new-tokens", "8", "--json"]
    with_tm = CliRunner().invoke(cli, [*args, "--memory", str(tmp_path / "tm"), PAIRS[0][0]],
                                 env=env)
    assert with_tm.exit_code == 0, with_tm.output
    assert "translation" in json.loads(with_tm.stdout)
    bad = CliRunner().invoke(cli, [*args, "--memory", str(tmp_path), "x"], env=env)
    assert bad.exit_code == 1 and "memory build --pairs" in bad.stderr
    onnx = CliRunner().invoke(cli, [*args, "--memory", str(tmp_path / "tm"), "--runtime", "onnx",
                                    "x"], env=env)
    assert onnx.exit_code == 2 and "--memory reads the decoder" in onnx.output
    both = CliRunner().invoke(cli, ["memory", "build", "--pairs", str(tsv), str(tsv), "-o",
                                    str(tmp_path / "x")], env=env)
    assert both.exit_code == 2
    missing = CliRunner().invoke(cli, ["memory", "build", "--pairs", str(tmp_path / "no.tsv"),
                                       "-o", str(tmp_path / "y")], env=env)
    assert missing.exit_code == 1 and not (tmp_path / "y").exists()


def test_the_shipped_settings_are_the_benchmarks_choice():
    from pathlib import Path

    from memgpt.tasks.tm import DEFAULTS

    results = "benchmarks/results/translation-memory/results.json"
    path = Path(__file__).resolve().parents[2] / results
    chosen = json.loads(path.read_text())["meta"]["chosen"]
    assert {k: chosen[k] for k in ("lam", "k", "temperature")} == DEFAULTS
    assert "valid" in chosen["on"]
