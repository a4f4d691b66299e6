"""The ``memgpt-task`` CLI through click's CliRunner, on a tiny seeded checkpoint (no network)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from memgpt.cli import COMMANDS, cli

TEXT_A = ("Green tea is made from leaves that are steamed or pan-fired soon after picking. "
          "It tastes grassy and is brewed with water below boiling.\n")
TEXT_B = ("The harbour freezes in January. Fishing boats stay in the shed until the ice breaks "
          "and the first ferry arrives in spring.\n")


@pytest.fixture(scope="module")
def weights(tiny_weights_dir) -> str:
    return tiny_weights_dir


@pytest.fixture(scope="module")
def zero_shot_summarizer(tmp_path_factory, tiny_model_module) -> str:
    """A prompted (untrained) summarize task folder: it runs on any backbone, the tiny one too
    (the shipped summarizer is a LoRA adapter tied to the SmolLM2 weights)."""
    from memgpt.tasks.artifacts import save_task
    from memgpt.tasks.heads import TaskModel
    from memgpt.tasks.recipes import default_spec

    spec = default_spec("summarize", d_model=tiny_model_module.config.d_model)
    path = tmp_path_factory.mktemp("zs") / "summarize"
    return str(save_task(path, spec, TaskModel(tiny_model_module, spec.head)))


@pytest.fixture(scope="module")
def tiny_model_module(tiny_weights_dir):
    from memgpt.checkpoint import load_model

    return load_model(tiny_weights_dir)


@pytest.fixture
def run(weights, monkeypatch, zero_shot_summarizer):
    """Invoke the CLI with the tiny checkpoint as the default weights (via MEMGPT_WEIGHTS);
    ``summarize`` gets the zero-shot task folder unless the test names an --adapter."""
    monkeypatch.setenv("MEMGPT_WEIGHTS", weights)
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None):
        args = list(args)
        if args[:1] == ["summarize"] and "--adapter" not in args and len(args) > 1 \
                and "--help" not in args:
            args += ["--adapter", zero_shot_summarizer]
        return runner.invoke(cli, args, input=input, prog_name="memgpt-task")

    return invoke


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def json_lines(result) -> list[dict]:
    return [json.loads(line) for line in ok(result).splitlines() if line.strip()]


def assert_one_line_error(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return result.stderr


# ----------------------------------------------------------------------------- help, registry


README = Path(__file__).resolve().parents[1] / "README.md"


def command_paths(cmd: click.Command = cli, path: tuple[str, ...] = ()):
    """Every command path the click group serves, the group itself first: (), ("generate",),
    ("weights",), ("weights", "fetch"), ..."""
    yield path
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            yield from command_paths(cmd.get_command(ctx, name), (*path, name))


ALL_COMMANDS = list(command_paths())


def help_text(path) -> str:
    return ok(CliRunner().invoke(cli, [*path, "--help"], prog_name="memgpt-task"))


def examples(text: str) -> list[list[str]]:
    """The argument lists of the ``memgpt-task ...`` lines of a help text's Example(s) block."""
    block = re.search(r"^  Examples?:\n((?:    .+\n)+)", text, re.M)
    lines = block.group(1).splitlines() if block else []
    return [shlex.split(re.split(r"[|>]", ln.split("memgpt-task ", 1)[1])[0])
            for ln in lines if "memgpt-task " in ln]


def parse_example(args: list[str]) -> None:
    """Parse an example's arguments as the CLI would (options, choices, ranges), running nothing."""
    cmd, rest, name = cli, list(args), "memgpt-task"
    while isinstance(cmd, click.Group):
        assert rest and rest[0] in cmd.commands, f"{args}: no such command"
        name = rest.pop(0)
        cmd = cmd.commands[name]
    cmd.make_context(name, rest)


def readme_commands() -> set[str]:
    """The commands the README's "Command line" section documents (its ### headings)."""
    section = README.read_text(encoding="utf-8").split("\n## Command line\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    return {word.strip() for heading in re.findall(r"^### (.+)$", section, re.M)
            for word in heading.split(",") if not word.strip().startswith("-")}


def test_registry_matches_the_group_its_help_and_the_readme():
    ctx = click.Context(cli)
    served = {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}
    assert served == COMMANDS  # the same names and the same command objects
    listed = re.search(r"^Commands:\n((?:  .+\n?)+)", help_text([]), re.M).group(1)
    assert {ln.split()[0] for ln in listed.splitlines()} == set(served)
    assert readme_commands() == set(served)
    readme = README.read_text(encoding="utf-8")
    for path in ALL_COMMANDS[1:]:  # every command and subcommand has a README example
        assert "memgpt-task " + " ".join(path) in readme, path


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "memgpt-task")
def test_every_command_has_help_with_usage_and_examples(path):
    out = help_text(path)
    assert out.startswith(" ".join(["Usage: memgpt-task", *path, ""])), out[:80]
    own = examples(out)
    if len(path) <= 1:  # the group and each top-level command show examples of themselves
        assert own and (not path or any(e[:1] == list(path) for e in own)), out
    else:  # a subcommand is shown in its group's examples
        assert any(e[:len(path)] == list(path) for e in examples(help_text(path[:-1])))
    for args in own:
        parse_example(args)


def test_version():
    assert "0.1.0" in ok(CliRunner().invoke(cli, ["--version"]))


# ----------------------------------------------------------------------------- generate


def test_generate_json_fields(run):
    [row] = json_lines(run("generate", "Hello there", "--max-new-tokens", "12", "--json"))
    assert row["prompt"] == "Hello there"
    assert isinstance(row["text"], str) and 0 <= row["new_tokens"] <= 12
    assert row["seconds"] >= 0


def test_generate_streams_the_same_text_as_json(run):
    [row] = json_lines(run("generate", "Hello there", "--max-new-tokens", "12", "--json"))
    assert ok(run("generate", "Hello there", "--max-new-tokens", "12")) == row["text"] + "\n"


def test_generate_reads_stdin(run):
    [row] = json_lines(run("generate", "-", "--max-new-tokens", "5", "--json", input="Hi you"))
    assert row["prompt"] == "Hi you"


def test_seeded_sampling_is_reproducible(run):
    args = ("generate", "Once", "--max-new-tokens", "16", "--strategy", "sample",
            "--temperature", "1.5", "--top-k", "50", "--top-p", "0.95", "--json")
    a = json_lines(run(*args, "--seed", "7"))[0]["text"]
    assert a == json_lines(run(*args, "--seed", "7"))[0]["text"]
    others = {json_lines(run(*args, "--seed", str(s)))[0]["text"] for s in range(1, 5)}
    assert others - {a}, "different seeds should not all give the same text"


def test_beam_and_chat_run(run):
    [row] = json_lines(run("generate", "Hi", "--chat", "--strategy", "beam", "--num-beams", "2",
                           "--max-new-tokens", "6", "--json"))
    assert row["new_tokens"] <= 6


def test_stop_string_cuts_the_text(run):
    base = "Hello there"
    full = json_lines(run("generate", base, "--max-new-tokens", "24", "--json"))[0]["text"]
    stops = [c for c in full[1:] if c.strip() and c != "\ufffd"]
    if not stops:
        pytest.skip(f"the tiny model generated no usable stop text: {full!r}")
    stop = stops[0]
    cut = json_lines(run("generate", base, "--max-new-tokens", "24", "--json",
                         "--stop", stop))[0]["text"]
    assert cut == full[: full.index(stop)]


@pytest.mark.parametrize("flags", [
    ["--max-new-tokens", "0"], ["--max-new-tokens", "5000"], ["--temperature", "0"],
    ["--temperature", "-1"], ["--top-p", "0"], ["--top-p", "1.5"], ["--top-k", "-1"],
    ["--num-beams", "0"], ["--strategy", "magic"], ["--device", "tpu"],
])
def test_absurd_flags_are_usage_errors(run, flags):
    result = run("generate", "Hello", *flags)
    assert_one_line_error(result, code=2)
    assert "Usage:" in result.stderr


def test_missing_weights_is_one_line_error(run, tmp_path):
    result = run("generate", "Hi", "--weights", str(tmp_path / "nope"))
    assert_one_line_error(result)


def test_keyboard_interrupt_is_one_line(run, monkeypatch):
    import memgpt.generate

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(memgpt.generate, "generate", interrupted)
    assert "interrupted" in assert_one_line_error(run("generate", "Hi"))


# ----------------------------------------------------------------------------- summarize


def test_summarize_file_text_and_json(run, tmp_path):
    f = tmp_path / "a.txt"
    f.write_text(TEXT_A, encoding="utf-8")
    assert ok(run("summarize", str(f), "--max-new-tokens", "8")).endswith("\n")
    [row] = json_lines(run("summarize", str(f), "--max-new-tokens", "8", "--json"))
    assert set(row) == {"summary", "input_tokens", "truncated", "seconds"}
    assert row["input_tokens"] > 0 and row["truncated"] is False


def test_summarize_stdin(run):
    [row] = json_lines(run("summarize", "-", "--max-new-tokens", "8", "--json", input=TEXT_B))
    assert row["input_tokens"] > 0


def test_summarize_truncates_long_input_with_a_warning(run, tmp_path):
    f = tmp_path / "long.txt"
    f.write_text(TEXT_A * 40, encoding="utf-8")
    result = run("summarize", str(f), "--max-new-tokens", "8", "--max-input-tokens", "64",
                 "--json")
    [row] = json_lines(result)
    assert row["truncated"] is True and row["input_tokens"] > 64
    assert "truncat" in result.stderr.lower() or "only the first" in result.stderr


def test_summarize_jsonl(run, tmp_path):
    f = tmp_path / "docs.jsonl"
    f.write_text(json.dumps({"text": TEXT_A}) + "\n\n" + json.dumps({"text": TEXT_B}) + "\n",
                 encoding="utf-8")
    rows = json_lines(run("summarize", str(f), "--max-new-tokens", "6", "--json"))
    assert len(rows) == 2 and all("summary" in r for r in rows)
    plain = ok(run("summarize", str(f), "--max-new-tokens", "6"))
    assert len(plain.splitlines()) == 2


@pytest.mark.parametrize("name,content", [
    ("empty.txt", b""),
    ("blank.txt", b"  \n\t \n"),
    ("binary.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    ("latin1.txt", "caf\xe9 au lait".encode("latin-1")),
    ("bad.jsonl", b'{"text": "fine"}\nnot json\n'),
    ("nofield.jsonl", b'{"body": "no text field"}\n'),
])
def test_summarize_bad_input_is_one_line_error(run, tmp_path, name, content):
    f = tmp_path / name
    f.write_bytes(content)
    assert_one_line_error(run("summarize", str(f)))


def test_summarize_missing_file_and_empty_stdin(run, tmp_path):
    assert "no such file" in assert_one_line_error(run("summarize", str(tmp_path / "x.txt")))
    assert "empty" in assert_one_line_error(run("summarize", "-", input=""))
    assert_one_line_error(run("summarize", str(tmp_path)))  # a directory


# ----------------------------------------------------------------------------- weights


def test_weights_info_on_a_checkpoint(run, weights):
    [row] = json_lines(run("weights", "info", weights, "--json"))
    assert row["n_layers"] == 2 and row["parameters"] > 0 and row["vocab_size"] == 512
    assert "parameters:" in ok(run("weights", "info", weights))


def test_weights_info_unknown_is_one_line_error(run, tmp_path):
    assert_one_line_error(run("weights", "info", str(tmp_path / "missing.gguf")))


def test_weights_fetch_and_info_use_a_complete_cache_offline(weights, tmp_path, monkeypatch):
    """A cache folder holding a complete checkpoint (here the tiny one, with a source.json that
    names the pinned GGUF) is reused: `weights fetch` prints it without downloading, and
    `weights info` describes the default weights from it, source record included."""
    import shutil

    from memgpt.checkpoint import GGUF_SHA256

    cached = tmp_path / "cache" / "smollm2-135m"
    shutil.copytree(weights, cached)
    (cached / "source.json").write_text(json.dumps({"gguf_sha256": GGUF_SHA256, "origin": "t"}))
    monkeypatch.setenv("MEMGPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MEMGPT_WEIGHTS", raising=False)
    runner = CliRunner()
    [row] = json_lines(runner.invoke(cli, ["weights", "fetch", "--json"]))
    assert row == {"path": str(cached)}
    assert ok(runner.invoke(cli, ["weights", "fetch"])).strip() == str(cached)
    [info] = json_lines(runner.invoke(cli, ["weights", "info", "--json"]))
    assert info["weights"] == "smollm2-135m" and info["n_layers"] == 2
    assert info["source"]["origin"] == "t" and info["cache_dir"] == str(tmp_path / "cache")


def test_main_entry_point_runs_the_group(monkeypatch, capsys):
    from memgpt.cli import main

    monkeypatch.setattr("sys.argv", ["memgpt-task", "--version"])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 0 and "memgpt-task" in capsys.readouterr().out


# ----------------------------------------------------------------------------- memory


def test_memory_build_info_search_and_generate(run, tmp_path):
    a, b = tmp_path / "tea.txt", tmp_path / "harbour.txt"
    a.write_text(TEXT_A, encoding="utf-8")
    b.write_text(TEXT_B, encoding="utf-8")
    bank = tmp_path / "notes.bank"
    [built] = json_lines(run("memory", "build", str(a), str(b), "-o", str(bank), "--window",
                             "32", "--json"))
    assert built["entries"] > 0 and built["sources"] == ["harbour.txt", "tea.txt"]

    info = ok(run("memory", "info", str(bank)))
    assert "tea.txt" in info and "harbour.txt" in info

    # passages (BM25), not tokens: only the tea file shares words with the query
    hits = json_lines(run("memory", "search", str(bank), "green tea leaves", "-k", "3", "--json"))
    assert [Path(h["source"]).name for h in hits] == ["tea.txt"]
    assert hits[0]["text"] == TEXT_A.strip() and (hits[0]["start"], hits[0]["end"]) == (
        0, len(TEXT_A.strip()))
    plain = ok(run("memory", "search", str(bank), "green tea leaves", "-k", "2"))
    assert plain.startswith(f"{a}:0-{len(TEXT_A.strip())}  ") and "Green tea" in plain

    [row] = json_lines(run("generate", "Tea?", "--memory", str(bank), "--max-new-tokens", "5",
                           "--json"))
    assert row["new_tokens"] <= 5
    for kind in ("exact", "ivf", "hnsw"):  # a vector index over the bank: the same text here
        [same] = json_lines(run("generate", "Tea?", "--memory", str(bank), "--max-new-tokens",
                                "5", "--index", kind, "--json"))
        assert same["text"] == row["text"]


def test_memory_errors(run, tmp_path):
    assert_one_line_error(run("memory", "info", str(tmp_path / "none")))
    assert_one_line_error(run("memory", "search", str(tmp_path / "none"), "q"))
    assert_one_line_error(run("generate", "Hi", "--memory", str(tmp_path / "none")))
    assert_one_line_error(run("memory", "build", str(tmp_path / "none.txt"), "-o",
                              str(tmp_path / "b")))


@pytest.mark.parametrize("style,folder", [("summary", "summarize"),
                                          ("headline", "summarize-headline")])
def test_summarize_style_picks_its_shipped_folder(weights, monkeypatch, style, folder):
    """The shipped summarizers are tied to the SmolLM2 weights: on the tiny checkpoint each
    style's folder is refused, by name, in one line."""
    monkeypatch.setenv("MEMGPT_WEIGHTS", weights)
    result = CliRunner().invoke(cli, ["summarize", "--style", style, TEXT_A],
                                prog_name="memgpt-task")
    assert result.exit_code != 0
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:")
    assert f"defaults/{folder} was trained on another backbone" in err, err
