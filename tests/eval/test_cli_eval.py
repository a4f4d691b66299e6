"""`memgpt-task eval` / `bench`: reproducible reports; bad data gives one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from memgpt.cli import cli

pytest.importorskip("sacrebleu")
pytest.importorskip("onnxruntime")


def invoke(env, *args):
    return CliRunner().invoke(cli, list(args), prog_name="memgpt-task", env=env)


@pytest.fixture(scope="module")
def setup(make_task_folder, tmp_path_factory, tiny_weights_dir):
    from memgpt.checkpoint import load_model

    d = tmp_path_factory.mktemp("eval")
    model = load_model(tiny_weights_dir)
    folders = {t: make_task_folder(d, model, t) for t in ("classify", "translate", "qa")}
    words = ["good", "bad", "fine", "great", "awful", "okay"]
    rows = [{"text": f"this is {w} number {i}", "label": ["pos", "neg", "meh"][i % 3]}
            for i, w in enumerate(words * 3)]
    (d / "cls.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    mt = [{"text": f"the cat {i}", "translation": f"el gato {i}"} for i in range(4)]
    (d / "mt.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mt))
    ctx = "Ada Lovelace wrote the first program. Babbage built the engine."
    qa = [{"context": ctx, "question": "Who wrote the first program?",
           "answers": [{"text": "Ada Lovelace", "start": 0}]}]
    (d / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa))
    env = {"MEMGPT_WEIGHTS": tiny_weights_dir, "MEMGPT_CACHE": str(d / "cache")}
    return d, folders, env


@pytest.mark.parametrize("task,data", [("classify", "cls.jsonl"), ("translate", "mt.jsonl"),
                                       ("qa", "qa.jsonl")])
def test_eval_writes_a_reproducible_report(setup, task, data):
    d, folders, env = setup
    outs = []
    for run in ("a", "b"):
        out = d / f"report-{task}-{run}"
        r = invoke(env, "eval", "--task", task, "--data", str(d / data), "--adapter",
                   str(folders[task]), "--runtime", "torch", "-o", str(out))
        assert r.exit_code == 0, r.output
        assert "model − baseline" in r.stdout
        outs.append(out)
    for name in ("results.json", "results.md", "predictions.jsonl", "scores.png"):
        assert (outs[0] / name).is_file()
    a, b = (json.loads((o / "results.json").read_text()) for o in outs)
    for x in (a, b):
        x.pop("timing"), x.pop("run")
    assert a == b  # identical apart from timings and timestamps
    assert (outs[0] / "predictions.jsonl").read_text() == (outs[1] / "predictions.jsonl"
                                                            ).read_text()
    assert (outs[0] / "scores.png").read_bytes() == (outs[1] / "scores.png").read_bytes()
    rows = [json.loads(x) for x in (outs[0] / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == a["n"] and {"id", "prediction", "reference"} <= set(rows[0])
    assert a["baselines"] and a["model"]["signature"] and a["data"]["sha256"]
    assert_hashes_match_the_task_folder(a["model_hashes"], folders[task])
    md = (outs[0] / "results.md").read_text()
    assert a["main_metric"] in md and "Signatures" in md


def test_eval_on_onnx_matches_torch(setup):
    d, folders, env = setup
    assert invoke(env, "export", "--task", str(folders["classify"]), "--precision", "fp32", "-o",
                  str(d / "exp")).exit_code == 0
    res = {}
    for rt, extra in (("torch", ["--runtime", "torch"]), ("onnx", ["--export", str(d / "exp")])):
        r = invoke(env, "eval", "--task", "classify", "--data", str(d / "cls.jsonl"),
                   "--adapter", str(folders["classify"]), *extra, "-o", str(d / f"r-{rt}"),
                   "--json")
        assert r.exit_code == 0, r.output
        res[rt] = json.loads(r.stdout)["model"]
    assert res["torch"] == res["onnx"]
    reports = {rt: json.loads((d / f"r-{rt}" / "results.json").read_text()) for rt in res}
    assert reports["onnx"]["runtime"]["name"] == "onnx"
    assert reports["onnx"]["runtime"]["provider"] == "CPUExecutionProvider"
    for report in reports.values():  # both runtimes name the same backbone and task folder
        assert_hashes_match_the_task_folder(report["model_hashes"], folders["classify"])


def assert_hashes_match_the_task_folder(hashes: dict, folder) -> None:
    """A report's hashes: the backbone's own (task.json's, taken without the adapter) and the
    task folder's (over its files), each recomputed here."""
    from memgpt.tasks.registry import task_folder_hash

    spec = json.loads((folder / "task.json").read_text())
    assert spec["adapter"] is not None  # the case where an attached adapter changed the hash
    assert len(spec["backbone_hash"]) == 64 and hashes["backbone_hash"] == spec["backbone_hash"]
    assert hashes["task_hash"] == task_folder_hash(folder) != spec["backbone_hash"]


def test_plain_backbone_hash_leaves_the_adapters_in_place(setup, tiny_weights_dir):
    from memgpt.checkpoint import backbone_hash, load_model
    from memgpt.tasks.adapters import adapter_modules, plain_backbone_hash, remove_adapters
    from memgpt.tasks.artifacts import load_task

    d, folders, env = setup
    backbone = load_model(tiny_weights_dir)
    want = backbone_hash(backbone)
    _, model = load_task(folders["translate"], backbone)
    ids = torch.tensor([[5, 6, 7, 8]])
    before, with_adapters = model(ids), backbone_hash(backbone)
    assert with_adapters != want
    assert plain_backbone_hash(backbone) == want
    assert adapter_modules(backbone) and backbone_hash(backbone) == with_adapters
    torch.testing.assert_close(model(ids), before, rtol=0, atol=0)
    remove_adapters(backbone)
    assert backbone_hash(backbone) == want


@pytest.mark.parametrize("content,message", [
    ("", "the file is empty"),
    ('{"text": "a"}\n', "label"),
    ('{"text": "a", "label": "pos"}\nnot json\n', ":2:"),
    (b"\xff\xfe\x00bad", "UTF-8"),
])
def test_bad_data_files_give_one_line_errors(setup, content, message):
    d, folders, env = setup
    path = d / "bad.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    r = invoke(env, "eval", "--task", "classify", "--data", str(path), "--adapter",
               str(folders["classify"]), "--runtime", "torch", "-o", str(d / "never"))
    assert r.exit_code == 1, r.output
    assert message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not (d / "never").exists()


def test_references_and_predictions_must_pair_up():
    from memgpt.eval.runner import references, score

    with pytest.raises(ValueError, match="record 2: no 'summary'"):
        references("summarize", [{"text": "a", "summary": "b"}, {"text": "c"}])
    with pytest.raises(ValueError):
        score("classify", ["a", "b"], ["a"])


def test_bench_runs_every_system_and_measures_speed(setup, tmp_path, tiny_weights_dir,
                                                    monkeypatch):
    from memgpt.eval.bench import run_bench

    d, folders, env = setup
    rows = [json.loads(x) for x in (d / "cls.jsonl").read_text().splitlines()]
    mt = [json.loads(x) for x in (d / "mt.jsonl").read_text().splitlines()]
    suites = {"classify": (str(folders["classify"]), rows, None, {"name": "cls", "n": len(rows)}),
              "translate": (str(folders["translate"]), mt, None, {"name": "mt", "n": len(mt)})}
    monkeypatch.setenv("MEMGPT_CACHE", env["MEMGPT_CACHE"])
    summary = run_bench(tmp_path / "bench", tasks=["classify", "translate"],
                        precisions=["fp32", "int8"], limit=10, speed=True, prompt_tokens=16,
                        new_tokens=4, repeats=1, threads=1, gguf=None, weights=tiny_weights_dir,
                        device="cpu", suites=suites)
    assert set(summary["classify"]) == {"torch fp32", "onnx fp32", "onnx int8"}
    res = json.loads((tmp_path / "bench" / "results.json").read_text())
    cls, main = res["tasks"]["classify"]["systems"], res["tasks"]["classify"]["main_metric"]
    ref = cls["torch fp32"]["values"]
    assert cls["onnx fp32"]["values"] == ref and cls["onnx fp32"]["delta_vs_torch_fp32"] == 0
    for s in cls.values():  # every system's delta is its own score minus torch fp32's
        assert s["delta_vs_torch_fp32"] == round(s["values"][main] - ref[main], 4)
    preds: dict[str, list] = {}
    for line in (tmp_path / "bench" / "predictions.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["task"] == "classify":
            preds.setdefault(row["system"], []).append((row["id"], row["prediction"]))
    assert len(preds["torch fp32"]) == len(rows)
    assert preds["onnx fp32"] == preds["torch fp32"]  # record by record, the same label
    speed = res["speed"]
    assert {"torch eager fp32", "onnx fp32", "onnx int8"} <= set(speed["decoder"])
    base = speed["decoder"]["torch eager fp32"]
    for name in ("onnx fp32", "onnx int8"):  # ratios of this run's measured tok/s
        v = speed["decoder"][name]
        assert v["prefill_tok_s"] > 0 and v["decode_tok_s"] > 0
        assert speed["vs_torch"][name] == {
            "prefill": round(v["prefill_tok_s"] / base["prefill_tok_s"], 3),
            "decode": round(v["decode_tok_s"] / base["decode_tok_s"], 3)}
    assert speed["classify_latency_ms"]["onnx fp32"] > 0
    assert set(speed["memory_bank_curve"]["decode_ms_per_token_by_entries"]) == {
        "0", "1000", "10000", "100000"}
    assert (tmp_path / "bench" / "memory_bank_size.png").is_file()
    for name in ("results.md", "predictions.jsonl", "quality_latency_classify.png"):
        assert (tmp_path / "bench" / name).is_file()


def test_eval_defaults_runs_every_default_and_writes_a_summary(setup, monkeypatch):
    import memgpt.cli.eval as E

    d, folders, env = setup
    runs = [("classify", str(d / "cls.jsonl"), str(folders["classify"])),
            ("qa", str(d / "qa.jsonl"), str(folders["qa"]))]
    monkeypatch.setattr(E, "default_runs", lambda: runs)
    out = d / "defaults"
    r = invoke(env, "eval", "--defaults", "--runtime", "torch", "-o", str(out))
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert [(x["task"], x["n"]) for x in summary["results"]] == [("classify", 18), ("qa", 1)]
    for row in summary["results"]:
        report = json.loads((out / row["report"]).read_text())  # each row's own full report
        assert report["model"]["values"][row["metric"]] == row["model"]
        assert row["model_minus_baseline"] == report["model_minus_baseline"]
    md = (out / "summary.md").read_text()
    assert md.count("\n| [") == 2 and "memgpt-task eval --defaults" in md
    bad = invoke(env, "eval", "--defaults", "--task", "qa", "-o", str(out))
    assert bad.exit_code == 2 and "--defaults runs every shipped folder" in bad.output
    assert invoke(env, "eval", "-o", str(out)).exit_code == 2  # no --task/--data, no --defaults


def test_default_runs_cover_every_shipped_folder_and_dataset():
    from memgpt.cli.eval import default_runs
    from memgpt.tasks.registry import DEFAULTS_DIR, TASK_DEFS, shipped_defaults

    runs = default_runs()
    on_disk = {p.parent.name for p in DEFAULTS_DIR.glob("*/task.json")}
    assert {f for _, _, f in runs} == on_disk >= set(shipped_defaults().values())
    assert len(runs) == sum(len(d.datasets) for d in TASK_DEFS.values())
    assert all(data.startswith("builtin:") and data.endswith(":test") for _, data, _ in runs)
