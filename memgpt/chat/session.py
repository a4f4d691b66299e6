"""The chat session: turns in a token window, conversation memory, the memory reader and notes
(see memgpt.chat).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from memgpt.chat.notes import Note, cited_note
from memgpt.chat.saved import save_conversation
from memgpt.decoding import GenerationConfig, cut_at_stop, decode
from memgpt.passages import PassageIndex

RECALL_HEADER = "Earlier in this conversation (no longer in view):"
NOTES_HEADER = ("The user's notes that may help (answer from them when they do; the bracket "
                "names the note):")
RECALL_K, NOTES_K = 2, 2
MEMORY_CHARS = 300  # each recalled exchange / note is cut to this many characters in the prompt
QUOTE = 'You told me earlier: "{said}"'
READ_TURNS = 64  # the memory reader reads at most this many of the newest user turns
# The default window: the whole prompt is run again every turn, so on a CPU a window of the
# model's full context (8,192 for SmolLM2) would make every turn slow.
DEFAULT_WINDOW = 2048
# The reader's answer probability from which a reply quotes the recalled turn: chosen on the
# 16 dev conversations of benchmarks/chat_recall.py (seed 1; 0.1 and 0.15 tie there: 15 of 16
# facts, 1 of 16 control questions quoted), not on the reported ones (seed 0).
READER_THRESHOLD = 0.15


@dataclass
class Reply:
    """One answered turn."""

    user: str
    reply: str
    seconds: float
    new_tokens: int
    prompt_tokens: int
    interrupted: bool = False
    recalled: list[int] = field(default_factory=list)  # turn indices brought back from memory
    notes: list[Note] = field(default_factory=list)
    cited: Note | None = None
    remembered: dict | None = None  # the reader's answer from memory, quoted in the reply
    notes_on: bool = False  # the session reads notes ("source" is then always in to_dict)

    def to_dict(self) -> dict:
        d = {"user": self.user, "reply": self.reply, "seconds": round(self.seconds, 3),
             "new_tokens": self.new_tokens, "prompt_tokens": self.prompt_tokens,
             "recalled_turns": self.recalled}
        if self.notes or self.notes_on:
            d["source"] = self.cited.to_dict() if self.cited else None
        if self.remembered is not None:
            d["remembered"] = self.remembered
        if self.interrupted:
            d["interrupted"] = True
        return d


class ChatSession:
    """A conversation with a backend (see the module docstring).

    Args:
        backend: :class:`TorchChat` or :class:`OnnxChat`.
        system: the system prompt (None: the model's default).
        window: prompt tokens the model sees per turn (None: ``DEFAULT_WINDOW``, or the
            model's context less the reply budget when that is smaller).
        memory: recall exchanges that left the window (conversation memory).
        notes: a :class:`PassageIndex` of the user's notes, or None.
        settings: decoding settings (``max_new_tokens`` is the reply budget).
        reader: the memory reader, a callable returning an object with ``answer(question,
            context)`` (the extractive QA task: ``TorchTask`` or ``ExportedTask``), or None.
            Called once, when a message first recalls an exchange.
        reader_threshold: the reader's answer probability from which the reply quotes it.
    """

    def __init__(self, backend: Any, *, system: str | None = None, window: int | None = None,
                 memory: bool = True, notes: PassageIndex | None = None,
                 settings: GenerationConfig | None = None,
                 reader: Callable[[], Any] | None = None,
                 reader_threshold: float = READER_THRESHOLD,
                 reader_scope: str = "matched") -> None:
        if reader_scope not in ("said", "recalled", "matched"):
            raise ValueError(f"reader_scope must be 'recalled', 'matched' or 'said', got "
                             f"{reader_scope!r}")
        self.backend, self.tok = backend, backend.tokenizer
        self.system, self.memory, self.notes = system, memory, notes
        self._reader_factory, self._reader = reader, None
        self.reader_threshold, self.reader_scope = reader_threshold, reader_scope
        cfg = settings or GenerationConfig(max_new_tokens=256)
        if not cfg.eos_ids:
            eos = {self.tok.eos_id}
            if getattr(self.tok, "im_end_id", None) is not None:
                eos.add(self.tok.im_end_id)
            cfg = GenerationConfig(**{**cfg.__dict__, "eos_ids": tuple(sorted(eos))})
        self.cfg = cfg
        room = backend.max_seq_len - cfg.max_new_tokens
        if room < 16:
            raise ValueError(f"--max-new-tokens {cfg.max_new_tokens} leaves no room for the "
                             f"conversation in the model's {backend.max_seq_len} positions")
        if window is not None and window > room:
            raise ValueError(f"--window {window} plus --max-new-tokens {cfg.max_new_tokens} "
                             f"exceeds the model's {backend.max_seq_len} positions")
        self.window_arg = window  # what a saved conversation records (None: the default)
        self.window = window or min(room, DEFAULT_WINDOW)
        self.turns: list[dict] = []
        self.visible_from = 0  # the first turn the last prompt showed in its window

    # ------------------------------------------------------------------ state

    def reset(self) -> None:
        self.turns = []

    def load(self, saved: dict) -> None:
        self.turns = [dict(t) for t in saved["turns"]]
        if saved.get("system") is not None and self.system is None:
            self.system = saved["system"]

    def save(self, path: str | os.PathLike) -> None:
        save_conversation(path, self.turns, self.system, self.window_arg)

    # ------------------------------------------------------------------ prompts

    def _system_text(self, recalled: list[int], notes: list[Note], replies: bool) -> str | None:
        parts = [self.system] if self.system else []
        if recalled:
            lines = [RECALL_HEADER]
            for i in recalled:
                lines.append(_exchange_text(self.turns, i, replies))
            parts.append("\n".join(lines))
        if notes:
            lines = [NOTES_HEADER]
            for n in notes:
                lines.append(f"[{n.source}] {_clip(n.text)}")
            parts.append("\n".join(lines))
        if not parts:
            return None
        if not self.system:
            from memgpt.tokenizer import DEFAULT_SYSTEM

            parts.insert(0, DEFAULT_SYSTEM)
        return "\n\n".join(parts)

    def _render(self, first: int, user: str, recalled: list[int], notes: list[Note],
                replies: bool = True) -> list[int]:
        msgs = []
        system = self._system_text(recalled, notes, replies)
        if system is not None:
            msgs.append({"role": "system", "content": system})
        msgs += self.turns[first:] + [{"role": "user", "content": user}]
        return self.tok.encode(self.tok.apply_chat(msgs))

    def _first_visible(self, user: str, recalled: list[int], notes: list[Note],
                       replies: bool = True) -> int | None:
        """The first turn (a user turn) of the newest exchanges that fit the window with the
        new message, or None when not even the new message fits."""
        best = None
        for first in range(len(self.turns), -1, -2):
            if len(self._render(first, user, recalled, notes, replies)) > self.window:
                break
            best = first
        return best

    def _recall(self, user: str, before: int, *, statements: bool = False) -> list[int]:
        """Indices of the exchanges (their user turns) before turn ``before`` that best match
        ``user``, in conversation order; with ``statements``, of the user turns that are not
        questions, matched on the user turn alone."""
        if not self.memory or before < 2:
            return []
        docs = {str(i): (self.turns[i]["content"] if statements else
                         _exchange_text(self.turns, i), "", "") for i in range(0, before, 2)
                if not (statements and is_question(self.turns[i]["content"]))}
        if not docs:
            return []
        hits = PassageIndex.build(docs, max_chars=10 ** 9).search(user, k=RECALL_K)
        return sorted(int(h.passage.source) for h in hits)

    def _notes(self, user: str) -> list[Note]:
        if self.notes is None:
            return []
        return [Note(h.passage.source, h.passage.path, h.passage.start, h.passage.end,
                     h.passage.text, h.score) for h in self.notes.search(user, k=NOTES_K)]

    def prompt(self, user: str) -> tuple[list[int], list[int], list[Note]]:
        """The model input for a new user message: token ids, the recalled turn indices and
        the notes used. The window holds the newest exchanges that fit with the message, the
        recalled exchanges and the notes; when the recalled exchanges do not fit, only their
        user turns are recalled, then fewer of them."""
        notes = self._notes(user)
        first = self._first_visible(user, [], notes)
        if first is None:
            notes = []
            first = self._first_visible(user, [], notes)
        if first is None:
            need = len(self._render(len(self.turns), user, [], []))
            raise ValueError(f"the message with the system prompt and chat template takes {need} "
                             f"tokens, more than the {self.window}-token window (--window)")
        recalled, replies = self._recall(user, first), True
        while recalled:  # fewer visible turns make room for them; shorter or fewer if none do
            fits = self._first_visible(user, recalled, notes, replies)
            if fits is not None:
                first = fits
                break
            if replies:
                replies = False
            else:
                recalled, replies = recalled[1:], True
        self.visible_from = first
        return self._render(first, user, recalled, notes, replies), recalled, notes

    # ------------------------------------------------------------------ a turn

    def remember(self, user: str, recalled: list[int]) -> dict | None:
        """The memory reader's answer to the question ``user`` from what the user has told so
        far, when it is confident: ``{"turn", "answer", "score", "start", "end"}`` (offsets into
        that turn's text), else None. What it reads (``reader_scope``): ``"matched"`` (the
        default) — the 2 user statements (turns that are not questions), in the window or out
        of it, that best match the message (BM25); ``"recalled"`` — the recalled turns (out of
        the window only) that are not questions; ``"said"`` — the newest ``READ_TURNS`` user
        statements. On the 16 dev conversations: "matched" 14 facts quoted, 0 of 16 unrelated
        control questions; "recalled" 15 and 1; "said" 16 and 14 (the reader always proposes a
        span, so it needs the lexical match as a gate)."""
        if self._reader_factory is None or not is_question(user):
            return None
        if self.reader_scope == "recalled":
            candidates = recalled
        elif self.reader_scope == "matched":
            candidates = self._recall(user, len(self.turns), statements=True)
        else:
            candidates = list(range(0, len(self.turns), 2))[-READ_TURNS:]
        # what the user asked is not something they told
        candidates = [i for i in candidates if not is_question(self.turns[i]["content"])]
        if not candidates:
            return None
        if self._reader is None:
            self._reader = self._reader_factory()
            if self._reader is None:  # the factory could not open one: no reader from now on
                self._reader_factory = None
                return None
        said = [" ".join(self.turns[i]["content"].split()) for i in candidates]
        context = "\n".join(said)
        span = self._reader.answer(user, context)
        if span.score < self.reader_threshold or not span.answer.strip():
            return None
        pos = 0
        for i, text in zip(candidates, said):
            if pos <= span.start < pos + len(text):
                return {"turn": i, "answer": span.answer, "score": round(float(span.score), 4),
                        "start": span.start - pos, "end": min(span.end - pos, len(text))}
            pos += len(text) + 1
        return None

    def ask(self, user: str, *, on_text: Callable[[str], None] | None = None) -> Reply:
        """Answer ``user``; the exchange is added to the history. KeyboardInterrupt during the
        reply keeps what was generated so far (``interrupted``) and returns normally."""
        if not user.strip():
            raise ValueError("the message is empty")
        ids, recalled, notes = self.prompt(user)
        remembered = self.remember(user, recalled)
        prefix = ""
        if remembered is not None:  # the reply starts by quoting what the user said
            prefix = QUOTE.format(said=" ".join(self.turns[remembered["turn"]]["content"]
                                                .split()))
            ids = ids + self.tok.encode(prefix)
            if on_text is not None:
                on_text(prefix)
        pieces: list[str] = [prefix]
        started = [bool(prefix)]

        def stream(piece: str) -> None:
            if not started[0]:
                piece = piece.lstrip()
                if not piece:
                    return
                started[0] = True
            pieces.append(piece)
            if on_text is not None:
                on_text(piece)

        t0 = time.perf_counter()
        interrupted = False
        cfg = self.cfg
        if len(ids) + cfg.max_new_tokens > self.backend.max_seq_len:  # the quote took some room
            cfg = GenerationConfig(**{**cfg.__dict__, "max_new_tokens": max(
                0, self.backend.max_seq_len - len(ids))})
        try:
            new = decode(self.backend.stepper(), [ids], cfg, detokenize=self.tok.decode,
                         on_text=stream)[0]
            text = (prefix + cut_at_stop(self.tok.decode(new), self.cfg.stop_strings)).strip()
            n_new = len(new)
        except KeyboardInterrupt:
            interrupted, text = True, "".join(pieces).strip()
            n_new = len(self.tok.encode(text)) if text else 0
        seconds = time.perf_counter() - t0
        self.turns += [{"role": "user", "content": user}, {"role": "assistant", "content": text}]
        cited = cited_note(text, user, notes) if notes else None
        return Reply(user, text, seconds, n_new, len(ids), interrupted, recalled, notes, cited,
                     remembered, self.notes is not None)


QUESTION_WORDS = frozenset("""what who whom whose where when which why how do does did is are
was were am can could would will shall should have has had may remind tell""".split())


def is_question(text: str) -> bool:
    """A question: it ends with '?' or starts with a question word ("what", "do", "tell" ...)."""
    t = text.strip()
    words = t.split(maxsplit=1)
    return t.endswith("?") or (bool(words) and words[0].lower().strip(",.!:;") in QUESTION_WORDS)


def _clip(text: str, limit: int = MEMORY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _exchange_text(turns: Sequence[dict], i: int, reply: bool = True) -> str:
    """Exchange ``i`` (its user turn, and with ``reply`` the reply to it) as one memory
    passage."""
    out = f"User: {_clip(turns[i]['content'])}"
    if reply and i + 1 < len(turns):
        out += f"\nAssistant: {_clip(turns[i + 1]['content'])}"
    return out
