"""``memgpt.chat``: the window, conversation memory, notes, saving, Ctrl-C, and the ONNX backend."""

from __future__ import annotations

import json

import pytest

from memgpt.chat import (
    RECALL_HEADER,
    ChatSession,
    Note,
    OnnxChat,
    TorchChat,
    cited_note,
    load_conversation,
    notes_index,
    save_conversation,
)
from memgpt.decoding import GenerationConfig

FACT = "My dog is called Biscuit."
FILLERS = ["How do rainbows form?", "What is the largest ocean?", "Why do cats purr?",
           "How should I water a cactus?", "What is a haiku?", "How far is the Moon?",
           "Explain what a volcano is.", "Give me an idea for a weekend trip."]
WINDOW = 200  # the test tokenizer spends ~70 tokens on the template and a short message


@pytest.fixture
def backend(tiny_model, tiny_tokenizer):
    return TorchChat(tiny_model, tiny_tokenizer)


def session(backend, **kw) -> ChatSession:
    kw.setdefault("settings", GenerationConfig(max_new_tokens=6))
    return ChatSession(backend, **kw)


def prompt_text(s: ChatSession, user: str) -> tuple[str, list[int]]:
    ids, recalled, _ = s.prompt(user)
    return s.tok.decode(ids, skip_special=False), recalled


def test_history_is_kept_as_alternating_turns(backend):
    s = session(backend)
    r = s.ask("Hello there")
    s.ask("And again")
    assert [t["role"] for t in s.turns] == ["user", "assistant"] * 2
    assert s.turns[0]["content"] == "Hello there" and s.turns[1]["content"] == r.reply
    assert r.prompt_tokens > 0 and r.new_tokens <= 6 and r.seconds >= 0
    text, _ = prompt_text(s, "third")
    assert "Hello there" in text and "And again" in text  # a big window shows everything
    s.reset()
    assert s.turns == [] and "Hello there" not in prompt_text(s, "x")[0]


def test_the_window_bounds_every_prompt_and_old_turns_are_recalled(backend):
    s = session(backend, window=WINDOW)
    for u in [FACT, *FILLERS]:
        s.ask(u)
        assert s.prompt("next")[0] and len(s.prompt("next")[0]) <= WINDOW
    text, recalled = prompt_text(s, "What is my dog called?")
    assert s.visible_from > 0  # the fact's exchange has left the window ...
    assert recalled == [0]  # ... and the memory brings it back
    assert RECALL_HEADER in text and FACT in text
    assert len(s.prompt("What is my dog called?")[0]) <= WINDOW
    r = s.ask("What is my dog called?")
    assert r.recalled == [0] and r.prompt_tokens <= WINDOW


def test_without_recall_the_old_turn_is_gone(backend):
    s = session(backend, window=WINDOW, memory=False)
    for u in [FACT, *FILLERS]:
        s.ask(u)
    text, recalled = prompt_text(s, "What is my dog called?")
    assert recalled == [] and FACT not in text and RECALL_HEADER not in text


def test_a_turn_in_the_window_is_not_recalled_twice(backend):
    s = session(backend)
    s.ask(FACT)
    text, recalled = prompt_text(s, "What is my dog called?")
    assert recalled == [] and text.count(FACT) == 1


def test_a_message_longer_than_the_window_is_a_clear_error(backend):
    s = session(backend, window=16)
    with pytest.raises(ValueError, match="more than the 16-token window"):
        s.ask("word " * 40)
    with pytest.raises(ValueError, match="empty"):
        s.ask("   ")
    with pytest.raises(ValueError, match="exceeds the model's"):
        session(backend, window=10_000)


def test_ctrl_c_stops_the_reply_not_the_session(backend, monkeypatch):
    s = session(backend, settings=GenerationConfig(max_new_tokens=20))
    seen, steps = [], []
    make = backend.stepper

    def stepper():  # Ctrl-C arrives during the third decoding step
        inner = make()

        class Interrupting:
            def prefill(self, prompts):
                return inner.prefill(prompts)

            def step(self, tokens, state):
                steps.append(1)
                if len(steps) == 3:
                    raise KeyboardInterrupt
                return inner.step(tokens, state)

        return Interrupting()

    monkeypatch.setattr(backend, "stepper", stepper)
    r = s.ask("Tell me a story", on_text=seen.append)
    assert r.interrupted and r.reply == "".join(seen).strip()
    assert s.turns[-1] == {"role": "assistant", "content": r.reply}
    monkeypatch.setattr(backend, "stepper", make)
    r2 = s.ask("Go on")
    assert not r2.interrupted and r2.new_tokens == 20  # the session goes on
    assert r.to_dict()["interrupted"] is True and "interrupted" not in r2.to_dict()


def test_save_and_resume_round_trip(backend, tmp_path):
    s = session(backend, system="Be brief.", window=WINDOW)
    for u in [FACT, *FILLERS[:2]]:
        s.ask(u)
    f = tmp_path / "talk.json"
    s.save(f)
    saved = load_conversation(f)
    assert saved == {"system": "Be brief.", "window": WINDOW, "turns": s.turns}
    t = session(backend, window=saved["window"])
    t.load(saved)
    assert t.system == "Be brief." and t.turns == s.turns
    assert t.prompt("What is my dog called?") == s.prompt("What is my dog called?")
    d = session(backend)  # the default window is not written down: a resume may change it
    d.ask("hi")
    d.save(f)
    assert load_conversation(f)["window"] is None and d.window == min(
        backend.max_seq_len - 6, 2048)


@pytest.mark.parametrize("content, match", [
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b'{"turns": []}', "not a memgpt chat file"),
    (b'[1, 2]', "not a memgpt chat file"),
    (b'{"format": "memgpt-chat", "version": 9, "turns": []}', "unsupported chat file version"),
    (b'{"format": "memgpt-chat", "version": 1, "turns": {}}', "must be a list"),
    (b'{"format": "memgpt-chat", "version": 1, "turns": [{"role": "bot", "content": "x"}]}',
     "turn 0 must be"),
    (b'{"format": "memgpt-chat", "version": 1, "turns": [{"role": "assistant", "content": "x"},'
     b' {"role": "user", "content": "y"}]}', "turn 0 should be a user turn"),
    (b'{"format": "memgpt-chat", "version": 1, "turns": [{"role": "user", "content": "x"}]}',
     "no reply"),
    (b'{"format": "memgpt-chat", "version": 1, "turns": [], "window": "big"}', "window"),
    (b'{"format": "memgpt-chat", "version": 1, "turns": [], "system": 3}', "system"),
])
def test_bad_or_foreign_conversation_files_are_refused(tmp_path, content, match):
    f = tmp_path / "bad.json"
    f.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load_conversation(f)


def test_missing_conversation_files_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_conversation(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="not a regular file"):
        load_conversation(tmp_path)
    with pytest.raises(ValueError, match="is a directory"):
        save_conversation(tmp_path, [], None, None)
    with pytest.raises(ValueError, match="no such folder"):  # no folder is created
        save_conversation(tmp_path / "no" / "such" / "t.json", [], None, None)
    assert not (tmp_path / "no").exists()
    (tmp_path / "f.json").write_text("{}")
    with pytest.raises(ValueError, match="is not a folder"):
        save_conversation(tmp_path / "f.json" / "t.json", [], None, None)


def test_save_is_atomic_and_replaces_whole(tmp_path):
    f = tmp_path / "talk.json"
    save_conversation(f, [{"role": "user", "content": "a"}, {"role": "assistant",
                                                            "content": "b"}], None, 64)
    assert json.loads(f.read_text())["turns"][1]["content"] == "b"
    save_conversation(f, [], "sys", None)
    assert load_conversation(f) == {"system": "sys", "window": None, "turns": []}
    assert [p.name for p in tmp_path.iterdir()] == ["talk.json"]  # no temporary left behind


# ----------------------------------------------------------------------------- notes

NOTES = {"tea.md": "Green tea is brewed at 80 degrees for two minutes.\n",
         "harbour.txt": "The harbour was built in 1854 by the town council.\n"}


@pytest.fixture
def notes_dir(tmp_path):
    d = tmp_path / "notes"
    (d / "sub").mkdir(parents=True)
    (d / "tea.md").write_text(NOTES["tea.md"])
    (d / "sub" / "harbour.txt").write_text(NOTES["harbour.txt"])
    (d / "image.png").write_bytes(b"\x89PNG\x00")
    return d


def test_notes_from_a_folder_a_file_and_a_bank(notes_dir, tmp_path):
    from memgpt.passages import PassageIndex

    idx = notes_index(notes_dir)
    assert sorted(p.source for p in idx.passages) == ["sub/harbour.txt", "tea.md"]
    assert notes_index(notes_dir / "tea.md").passages[0].text == NOTES["tea.md"].strip()
    bank = tmp_path / "bank"
    PassageIndex.build({"a.txt": ("Oolong is half oxidised.", "/x/a.txt", "")}).save(bank)
    assert notes_index(bank).search("oolong")[0].passage.source == "a.txt"


def test_bad_notes_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such bank"):
        notes_index(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .txt or .md files"):
        notes_index(tmp_path / "empty")
    (tmp_path / "bin.txt").write_bytes(b"a\x00b")
    with pytest.raises(ValueError, match="binary"):
        notes_index(tmp_path / "bin.txt")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        notes_index(tmp_path / "latin.txt")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "bank.json").write_text("{}")
    with pytest.raises(ValueError, match="rebuild it"):
        notes_index(tmp_path / "old")


def test_notes_go_into_the_prompt_and_the_reply_cites_one(backend, notes_dir):
    s = session(backend, notes=notes_index(notes_dir))
    text, _ = prompt_text(s, "When was the harbour built?")
    assert "[sub/harbour.txt] The harbour was built in 1854" in text
    assert "Green tea" not in text  # only notes that match the message
    r = s.ask("When was the harbour built?")
    assert [n.source for n in r.notes] == ["sub/harbour.txt"]
    assert "source" in r.to_dict()
    r = s.ask("Why is the sky blue?")  # no note matches: "source" is still there, null
    assert r.notes == [] and r.to_dict()["source"] is None


def test_cited_note_is_the_one_the_reply_used():
    a = Note("tea.md", "/n/tea.md", 0, 40, "Green tea is brewed at 80 degrees.", 2.0)
    b = Note("harbour.txt", "/n/h.txt", 0, 40, "The harbour was built in 1854.", 1.0)
    assert cited_note("It was built in 1854.", "When was the harbour built?", [a, b]) is b
    assert cited_note("Brew it at 80 degrees.", "How do I make tea?", [b, a]) is a
    assert cited_note("I do not know.", "When was the harbour built?", [a, b]) is None
    # words of the question do not count as using a note, nor does one common word
    assert cited_note("The harbour?", "When was the harbour built?", [a, b]) is None
    assert cited_note("Green is a colour.", "What is it?", [a, b]) is None
    assert cited_note("Green tea is nice.", "What is it?", [a, b]) is a


# ----------------------------------------------------------------------------- onnx


def test_the_onnx_backend_gives_the_torch_replies(backend, tiny_model, tiny_tokenizer, tmp_path):
    from memgpt.export.exporter import export_task

    out = tmp_path / "chat-export"
    report = export_task("chat", out, backbone=tiny_model, tokenizer=tiny_tokenizer,
                         weights="tiny-test")
    assert report["passed"] and report["tokens_equal"]
    settings = json.loads((out / "settings.json").read_text())
    assert settings["task"] == "chat" and settings["chat"] is True
    onnx = OnnxChat(out)
    cfg = GenerationConfig(max_new_tokens=8)
    a, b = session(backend, window=WINDOW, settings=cfg), session(onnx, window=WINDOW, settings=cfg)
    for u in [FACT, *FILLERS, "What is my dog called?"]:
        ra, rb = a.ask(u), b.ask(u)
        assert (ra.reply, ra.recalled, ra.prompt_tokens) == (rb.reply, rb.recalled,
                                                             rb.prompt_tokens)
    assert a.turns == b.turns and ra.recalled == [0]


# ----------------------------------------------------------------------------- the reader


class FakeReader:
    """Answers with the word after "called", at a set probability."""

    def __init__(self, score: float) -> None:
        self.score, self.calls = score, []

    def answer(self, question, context):
        from memgpt.tasks.text import Span

        self.calls.append((question, context))
        start = context.index("Biscuit")
        return Span("Biscuit", start, start + 7, self.score)


def evicted_session(backend, **kw) -> ChatSession:
    s = session(backend, window=WINDOW, **kw)
    for u in [FACT, *FILLERS]:
        s.ask(u)
    return s


def test_a_confident_reader_answer_is_quoted_in_the_reply(backend):
    reader = FakeReader(0.9)
    opened = []
    s = session(backend, window=WINDOW, reader=lambda: opened.append(1) or reader,
                reader_scope="said")
    s.ask(FACT)
    assert opened == []  # opened only when a question first has something to read
    for u in FILLERS:
        s.ask(u)
    assert opened == [1]
    seen = []
    r = s.ask("What is my dog called?", on_text=seen.append)
    question, context = reader.calls[-1]
    # it reads what the user told (not what they asked), in the window or not
    assert question == "What is my dog called?" and context.split("\n") == [
        FACT, "Explain what a volcano is.", "Give me an idea for a weekend trip."]
    assert r.reply.startswith(f'You told me earlier: "{FACT}"') and seen[0].startswith("You told")
    assert r.remembered == {"turn": 0, "answer": "Biscuit", "score": 0.9,
                            "start": FACT.index("Biscuit"), "end": FACT.index("Biscuit") + 7}
    assert FACT[r.remembered["start"]:r.remembered["end"]] == "Biscuit"
    assert r.to_dict()["remembered"]["answer"] == "Biscuit"
    assert opened == [1]  # opened once
    n = len(reader.calls)
    assert s.ask("My cat is black.").remembered is None and len(reader.calls) == n  # no question


def test_the_reader_can_read_only_the_recalled_turns(backend):
    reader = FakeReader(0.9)
    s = evicted_session(backend, reader=lambda: reader, reader_scope="recalled")
    r = s.ask("What is my dog called?")
    assert r.recalled == [0] and reader.calls[-1] == ("What is my dog called?", FACT)
    with pytest.raises(ValueError, match="reader_scope"):
        session(backend, reader_scope="all")


def test_by_default_the_reader_reads_matching_statements_in_the_window_too(backend):
    reader = FakeReader(0.9)
    s = session(backend, reader=lambda: reader)  # a big window: the fact is in view
    s.ask(FACT)
    s.ask("Explain what a volcano is.")
    r = s.ask("What is my dog called?")
    assert r.recalled == [] and reader.calls[-1] == ("What is my dog called?", FACT)
    assert r.remembered["turn"] == 0


def test_an_unsure_reader_or_none_quotes_nothing(backend):
    s = evicted_session(backend, reader=lambda: FakeReader(0.05))
    r = s.ask("What is my dog called?")
    assert r.recalled == [0] and r.remembered is None and not r.reply.startswith("You told")
    s = evicted_session(backend, reader=lambda: None)  # could not be opened: off
    assert s.ask("What is my dog called?").remembered is None and s._reader_factory is None


@pytest.mark.parametrize("text, yes", [("What is my name?", True), ("where do I live", True),
                                       ("Tell me my name.", True), ("Do you know it", True),
                                       ("My name is Ada.", False), ("I live in Ghent.", False),
                                       ("", False), ("Explain volcanoes.", False)])
def test_is_question(text, yes):
    from memgpt.chat import is_question

    assert is_question(text) is yes
