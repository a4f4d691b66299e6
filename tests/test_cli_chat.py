"""``memgpt-task chat`` through click's CliRunner on the tiny checkpoint: piped mode, MESSAGE
arguments, --save/--resume, --memory notes, the ONNX runtime and the interactive loop."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from memgpt.cli import cli
from memgpt.cli.chat import interactive

TURNS = "My name is Ada.\n\nWhat is my name?\n"


@pytest.fixture
def run(tiny_weights_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("MEMGPT_WEIGHTS", tiny_weights_dir)
    monkeypatch.setenv("MEMGPT_CACHE", str(tmp_path / "cache"))

    def invoke(*args: str, input: str | bytes | None = None):
        return CliRunner().invoke(cli, ["chat", "--max-new-tokens", "4", *args], input=input,
                                  prog_name="memgpt-task")

    return invoke


def rows(result) -> list[dict]:
    assert result.exit_code == 0, (result.output, result.exception)
    return [json.loads(line) for line in result.stdout.splitlines()]


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_piped_json_is_one_object_per_turn(run):
    out = rows(run("--json", input=TURNS))
    assert [r["user"] for r in out] == ["My name is Ada.", "What is my name?"]  # blank skipped
    for r in out:
        assert {"user", "reply", "seconds", "new_tokens", "prompt_tokens",
                "recalled_turns"} <= set(r)
        assert isinstance(r["reply"], str) and r["seconds"] >= 0 and r["new_tokens"] <= 4
    assert out[1]["prompt_tokens"] > out[0]["prompt_tokens"]  # the history is in the prompt


def test_piped_plain_and_message_arguments(run):
    r = run(input=TURNS)
    assert r.exit_code == 0, r.output
    assert len(r.stdout.splitlines()) >= 2
    out = rows(run("--json", "Hello", "And again"))
    assert [o["user"] for o in out] == ["Hello", "And again"]


def test_small_window_recalls_and_no_recall_does_not(run):
    lines = ["My dog is called Biscuit.", *[f"Tell me about topic {i}." for i in range(8)],
             "What is my dog called?"]
    text = "\n".join(lines) + "\n"
    out = rows(run("--json", "--window", "200", input=text))
    assert out[-1]["recalled_turns"] == [0]
    out = rows(run("--json", "--window", "200", "--no-recall", input=text))
    assert out[-1]["recalled_turns"] == []


def test_save_then_resume_continues_the_conversation(run, tmp_path):
    f = tmp_path / "talk.json"
    rows(run("--json", "--save", str(f), "--window", "200", input=TURNS))
    saved = json.loads(f.read_text())
    assert saved["format"] == "memgpt-chat" and saved["window"] == 200
    assert [t["role"] for t in saved["turns"]] == ["user", "assistant"] * 2
    out = rows(run("--json", "--resume", str(f), "--save", str(f), "One more."))
    assert out[0]["prompt_tokens"] > 0
    again = json.loads(f.read_text())
    assert again["turns"][:4] == saved["turns"] and len(again["turns"]) == 6
    assert again["window"] == 200  # the saved window is kept


def test_slash_commands_in_piped_mode(run, tmp_path):
    f = tmp_path / "s.json"
    out = rows(run("--json", input=f"Hello\n/save {f}\n/reset\nAgain\n/quit\nNever\n"))
    assert [o["user"] for o in out] == ["Hello", "Again"]
    assert len(json.loads(f.read_text())["turns"]) == 2
    assert out[1]["prompt_tokens"] <= out[0]["prompt_tokens"] + 2  # reset: no history


@pytest.mark.parametrize("content", ["not json", '{"format": "other"}', "[]"])
def test_bad_resume_files_are_one_line_errors(run, tmp_path, content):
    f = tmp_path / "bad.json"
    f.write_text(content)
    one_line_error(run("--resume", str(f), "hi"))


def test_bad_input_is_a_one_line_error(run, tmp_path):
    assert "no such file" in one_line_error(run("--resume", str(tmp_path / "x.json"), "hi"))
    assert "no such bank" in one_line_error(run("--memory", str(tmp_path / "nope"), "hi"))
    assert "binary" in one_line_error(run("--json", input=b"hi\x00there\n"))
    assert "not UTF-8" in one_line_error(run("--json", input="caf\xe9\n".encode("latin-1")))
    assert "exceeds" in one_line_error(run("--window", "100000", "hi"))
    assert "chat export" in one_line_error(run("--runtime", "onnx", "hi"))
    assert "no such folder" in one_line_error(run("--save", str(tmp_path / "a" / "b.json"), "hi"))
    assert "no task folder" in one_line_error(run("--reader", "nosuchtask", "hi"))
    assert run("--window", "3", "hi").exit_code == 2  # a usage error


def test_notes_are_cited(run, tmp_path):
    d = tmp_path / "notes"
    d.mkdir()
    (d / "harbour.txt").write_text("The harbour was built in 1854 by the council.\n")
    (d / "tea.md").write_text("Green tea is brewed at 80 degrees.\n")
    out = rows(run("--json", "--memory", str(d), "When was the harbour built?"))
    assert "source" in out[0]  # present; null when the reply used no note's words
    src = out[0]["source"]
    assert src is None or src["source"] == "harbour.txt"


def test_onnx_runtime_from_an_export(run, tiny_weights_dir, tmp_path):
    exp = tmp_path / "chat-export"
    r = CliRunner().invoke(cli, ["export", "--task", "chat", "--precision", "fp32", "-o", str(exp),
                                 "--json"],
                           prog_name="memgpt-task")
    assert r.exit_code == 0, r.output
    torch_rows = rows(run("--json", "--runtime", "torch", input=TURNS))
    onnx_rows = rows(run("--json", "--export", str(exp), input=TURNS))
    assert [o["reply"] for o in onnx_rows] == [t["reply"] for t in torch_rows]
    assert run("--runtime", "torch", "--export", str(exp), "hi").exit_code == 2


class FakeSession:
    def __init__(self) -> None:
        self.turns, self.asked = [], []

    def ask(self, line, on_text=None):
        from memgpt.chat import Reply

        if line == "boom":
            raise ValueError("bad message")
        if line == "stop":
            raise KeyboardInterrupt
        self.asked.append(line)
        if on_text is not None:
            on_text("ok")
        self.turns += [{"role": "user", "content": line}, {"role": "assistant", "content": "ok"}]
        return Reply(line, "ok", 0.0, 1, 1)

    def reset(self):
        self.turns = []

    def save(self, path):
        from memgpt.chat import save_conversation

        save_conversation(path, self.turns, None, None)


def test_the_interactive_loop(tmp_path, capsys):
    f = tmp_path / "i.json"
    script = iter(["hello", "", KeyboardInterrupt, "boom", "stop", "/save", "/bogus",
                   f"/save {f}", "/help", "/reset", "after", "/quit", "never"])

    def read_line(prompt):
        item = next(script)
        if item is KeyboardInterrupt:
            raise KeyboardInterrupt
        return item

    s = FakeSession()
    interactive(s, read_line=read_line)
    out, err = capsys.readouterr()
    assert s.asked == ["hello", "after"] and next(script) == "never"
    assert "error: bad message" in err and "Ctrl-D or /quit" in err and "/reset" in err
    assert "error: /save needs a file name" in err and "unknown command /bogus" in err
    assert "[interrupted]" in out
    assert len(json.loads(f.read_text())["turns"]) == 2
    s2 = FakeSession()
    interactive(s2, read_line=lambda p: (_ for _ in ()).throw(EOFError))  # Ctrl-D leaves
    s3 = FakeSession()
    lines = iter(["hi", "/save", "/quit"])
    interactive(s3, read_line=lambda p: next(lines), as_json=True)  # an error does not end it
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[-1])["user"] == "hi" and "error: /save" in err
