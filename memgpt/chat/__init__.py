"""Multi-turn chat over the backbone: turns, a context window, conversation memory and notes.

A :class:`ChatSession` keeps the conversation as a list of turns (``{"role", "content"}``,
user and assistant alternating) and builds each model input with the instruct model's chat
template (ChatML). Only the newest turns that fit in ``window`` tokens are put in the prompt.

* **Conversation memory.** Turns that have left the window are not lost: every exchange (a user
  turn and the reply to it) outside the window is a passage of a BM25 index
  (:mod:`memgpt.passages`), and the exchanges that best match the new message are put back into
  the prompt, ahead of the visible turns ("Earlier in this conversation"). The memory is derived
  from the history alone, so a saved conversation resumes with the same memory.
* **The memory reader.** Recalled exchanges are put into the prompt, but a small model often
  does not use them; so the extractive QA task of the same backbone (the shipped ``qa`` folder)
  reads the two user statements (not the user's questions) that best match the new message,
  in the window or out of it, when the message is a question,
  and when its answer is confident (probability >= ``READER_THRESHOLD``) the reply starts by
  quoting the turn that holds it ("You told me earlier: ...") and the model continues from there.
* **Notes** (``--memory``): a bank's passages or a folder of text files, searched the same way;
  the best notes for the message go into the prompt, and the reply cites the note it used: the
  retrieved note that shares the most words with the reply (words of the question excluded).
* **Backends**: anything with ``tokenizer``, ``max_seq_len`` and ``stepper()`` (a
  :class:`memgpt.decoding.Stepper`): :class:`TorchChat` over a ``MemGPT``, or :class:`OnnxChat`
  over an exported decoder (torch-free).

Saved conversations are JSON (:func:`save_conversation` / :func:`load_conversation`).

The package: ``session`` (``ChatSession``), ``notes``, ``saved`` (save/resume) and ``backends``;
everything public is importable from ``memgpt.chat``.
"""

from memgpt.chat.backends import OnnxChat, TorchChat
from memgpt.chat.notes import Note, cited_note, notes_index
from memgpt.chat.saved import (
    CHAT_FORMAT,
    CHAT_VERSION,
    ROLES,
    check_save_path,
    conversation_dict,
    load_conversation,
    save_conversation,
)
from memgpt.chat.session import (
    DEFAULT_WINDOW,
    MEMORY_CHARS,
    NOTES_HEADER,
    NOTES_K,
    QUESTION_WORDS,
    QUOTE,
    READ_TURNS,
    READER_THRESHOLD,
    RECALL_HEADER,
    RECALL_K,
    ChatSession,
    Reply,
    is_question,
)

__all__ = [
    "CHAT_FORMAT", "CHAT_VERSION", "DEFAULT_WINDOW", "MEMORY_CHARS", "NOTES_HEADER", "NOTES_K",
    "QUESTION_WORDS", "QUOTE", "READER_THRESHOLD", "READ_TURNS", "RECALL_HEADER", "RECALL_K",
    "ROLES", "ChatSession", "Note", "OnnxChat", "Reply", "TorchChat", "check_save_path",
    "cited_note", "conversation_dict", "is_question", "load_conversation", "notes_index",
    "save_conversation",
]
