"""``memgpt-task chat``: a multi-turn conversation with conversation memory and notes.

Three modes: interactive when stdin is a terminal (streaming replies, /reset, /save FILE,
/quit); piped when it is not (one user turn per line; ``--json``: one ``{"user", "reply",
"seconds"}`` object per turn); and MESSAGE arguments, answered in order. The conversation logic is
``memgpt.chat``; this module is the command line around it.
"""


from __future__ import annotations

import logging
import sys
from typing import Any

import click

from memgpt.cli.common import (
    _one_line,
    emit_json,
    generation_settings,
    load_for_task,
    load_model_and_tokenizer,
    model_options,
    sampling_options,
    stream_to_stdout,
    threads_option,
)

log = logging.getLogger("memgpt.cli")

HELP_TEXT = """commands:
  /reset       forget the conversation (start over)
  /save FILE   write the conversation to FILE (JSON; resume it with --resume FILE)
  /quit        leave (also /exit or Ctrl-D); Ctrl-C stops a reply, not the session
  /help        this text"""


def open_backend(runtime: str, export_dir: str | None, weights: str, device: str) -> Any:
    """The chat backend on the asked runtime (see ``memgpt-task chat --help``)."""
    from memgpt.chat import OnnxChat, TorchChat

    if export_dir and runtime == "torch":
        raise click.UsageError("--export DIR runs with onnxruntime; drop --runtime torch")
    if runtime != "torch":
        from memgpt.export.cache import find_chat_export

        folder = export_dir or find_chat_export(weights)
        if folder is None and runtime == "onnx":
            raise FileNotFoundError("no up-to-date chat export in the cache: run `memgpt-task "
                                    "export --task chat` or pass --export DIR")
        if folder is not None:
            backend = OnnxChat(folder, device=device)
            log.info("runtime: onnxruntime (%s) from %s", backend.task.precision, folder)
            return backend
    return TorchChat(*load_model_and_tokenizer(weights, device))


def reader_factory(reader: str, runtime: str, weights: str, device: str):
    """A callable that opens the memory reader (an extractive QA task) when first needed, or
    returns None with a warning when it cannot (e.g. a qa folder trained on other weights)."""
    if reader == "none":
        return None

    def open_reader() -> Any:
        try:
            if runtime != "torch":
                from memgpt.export.cache import find_export

                folder = find_export(reader)
                if folder is not None:
                    from memgpt.export.runtime import ExportedTask

                    return ExportedTask(folder, device=device)
            from memgpt.tasks.pipelines import TorchTask

            return TorchTask(*load_for_task("qa", reader, weights, device))
        except (ValueError, OSError, ImportError) as e:
            log.warning("memory reader off (%s): recalled turns are only put into the prompt",
                        _one_line(e))
            return None

    return open_reader


def _print_reply(reply: Any, as_json: bool, streamed: bool) -> None:
    if as_json:
        emit_json(reply.to_dict())
        return
    if not streamed:
        click.echo(reply.reply, nl=False)
    suffix = " [interrupted]" if reply.interrupted else ""
    click.echo(suffix)
    if reply.cited is not None:
        c = reply.cited
        click.echo(f"  (from note {c.source}:{c.start}-{c.end})")


def _command(session: Any, line: str) -> str | None:
    """Run a /command line; the text to show, or "quit". None: not a command."""
    parts = line.strip().split(maxsplit=1)
    name = parts[0].lower() if parts else ""
    if name in ("/quit", "/exit"):
        return "quit"
    if name == "/reset":
        session.reset()
        return "(the conversation was reset)"
    if name == "/save":
        if len(parts) < 2:
            raise ValueError("/save needs a file name: /save FILE")
        session.save(parts[1].strip())
        n = len(session.turns) // 2
        return f"(saved {n} exchange{'' if n == 1 else 's'} to {parts[1].strip()})"
    if name == "/help":
        return HELP_TEXT
    return None



def interactive(session: Any, read_line=input, as_json: bool = False) -> None:
    """The interactive loop: a prompt, a streamed reply per message, /commands; Ctrl-C during a
    reply stops it (the partial reply is kept), Ctrl-C at the prompt clears the line, Ctrl-D or
    /quit leaves."""
    click.echo("memgpt chat — /help for commands, /quit or Ctrl-D to leave", err=True)
    while True:
        try:
            line = read_line("you> ")
        except EOFError:
            click.echo(err=True)
            return
        except KeyboardInterrupt:
            click.echo("\n(Ctrl-D or /quit leaves)", err=True)
            continue
        if not line.strip():
            continue
        try:
            if line.lstrip().startswith("/"):
                shown = _command(session, line)
                if shown == "quit":
                    return
                if shown is not None:
                    click.echo(shown, err=True)
                    continue
                click.echo(f"unknown command {line.split()[0]} (/help lists them)", err=True)
                continue
            reply = session.ask(line, on_text=None if as_json else stream_to_stdout)
            _print_reply(reply, as_json, not as_json)
        except KeyboardInterrupt:
            click.echo(" [interrupted]")
        except (ValueError, OSError) as e:
            click.echo(f"error: {_one_line(e)}", err=True)


def piped(session: Any, lines: Any, as_json: bool, save: str | None) -> None:
    """One user turn per line of ``lines`` (blank lines skipped; /reset and /save FILE lines are
    commands, /quit ends); replies go to stdout as they are made."""
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if line.lstrip().startswith("/"):
            shown = _command(session, line)
            if shown == "quit":
                break
            if shown is not None:
                log.info("%s", shown)
                continue
        reply = session.ask(line, on_text=None if as_json else stream_to_stdout)
        _print_reply(reply, as_json, not as_json)
        if save:
            session.save(save)


def _read_stdin_lines() -> Any:
    """stdin's lines as UTF-8 text, with one-line errors for binary or non-UTF-8 input."""
    stream = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else None
    if stream is None:
        yield from sys.stdin
        return
    for n, raw in enumerate(stream, 1):
        if b"\x00" in raw:
            raise ValueError(f"stdin line {n} looks binary (it contains NUL bytes)")
        try:
            yield raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"stdin line {n} is not UTF-8 text (invalid byte at offset "
                             f"{e.start})") from None


@click.command("chat")
@click.argument("messages", nargs=-1, metavar="[MESSAGE]...")
@click.option("--system", default=None, metavar="TEXT",
              help="System prompt (default: the model's own).")
@click.option("--window", type=click.IntRange(16), default=None, metavar="N",
              help="Prompt tokens the model sees per turn [default: 2048, or the model's "
                   "context less --max-new-tokens if smaller]. Older exchanges leave the window "
                   "and go into memory.")
@click.option("--recall/--no-recall", "recall", default=True, show_default=True,
              help="Conversation memory: put the exchanges that left the window and best match "
                   "each message (2, BM25) back into the prompt. --no-recall: the window only.")
@click.option("--memory", "memory_path", default=None, metavar="BANK_OR_FOLDER",
              help="The user's notes: a bank (memgpt-task memory build), a folder of .txt/.md "
                   "files or one text file. The best 2 notes for each message go into the "
                   "prompt; the reply cites the note it used.")
@click.option("--reader", default="qa", show_default=True, metavar="NAME|DIR|none",
              help="The extractive QA task that reads recalled turns: when it finds the answer "
                   "to a message there, the reply quotes the turn. none: off.")
@click.option("--resume", default=None, metavar="FILE",
              help="Continue a conversation saved with /save or --save.")
@click.option("--save", default=None, metavar="FILE",
              help="Write the conversation to FILE (JSON) after every reply.")
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), default=256, show_default=True,
              help="Longest reply in tokens.")
@sampling_options(repetition_penalty=1.1)
@click.option("--export", "export_dir", default=None, metavar="DIR",
              help="A chat export (memgpt-task export --task chat) to run; implies --runtime "
                   "onnx.")
@click.option("--runtime", type=click.Choice(["auto", "torch", "onnx"]), default="auto",
              show_default=True,
              help="torch, or onnx (--export DIR, else the cached chat export). auto: onnx when "
                   "--export is given or a chat export of --weights is cached, else torch.")
@threads_option
@model_options
def chat_cmd(messages: tuple, system: str | None, window: int | None, recall: bool,
             memory_path: str | None, reader: str, resume: str | None, save: str | None,
             max_new_tokens: int, strategy: str | None,
             temperature, top_k, top_p, seed: int, num_beams: int, repetition_penalty: float,
             stop: tuple, export_dir: str | None, runtime: str, weights: str, device: str,
             as_json: bool) -> None:
    """Chat with the instruct model, turn by turn; it remembers beyond its context window.

    Interactive when stdin is a terminal: replies stream as they are generated; /reset,
    /save FILE, /quit (or Ctrl-D), /help; Ctrl-C stops a reply, not the session. When stdin is
    not a terminal each line is one user turn and each reply is printed on its own line
    (--json: one {"user", "reply", "seconds", ...} object per turn). MESSAGE arguments are
    answered in order instead, then the command ends.

    Conversation memory: the prompt holds the newest exchanges that fit in --window tokens; the
    exchanges that left it are kept as passages, and the two that best match each new message
    (BM25) are put back into the prompt. --no-recall turns that off (the window only). The
    memory reader (--reader, the shipped extractive QA task) reads the two user statements that
    best match a question (in the window or out of it); when it finds the answer there, the
    reply begins by quoting that turn ("You told me earlier: ...") and "remembered" in --json
    gives the answer and its offsets.

    --memory BANK_OR_FOLDER: the user's notes (a bank from `memgpt-task memory build`, a
    folder of .txt/.md files or a file); the best notes for each message go into the prompt
    and the reply names the note it used ("source" in --json).

    \b
    Examples:
      memgpt-task chat
      memgpt-task chat --memory notes/ "What do my notes say about green tea?"
      printf 'My name is Ada.\\nWhat is my name?\\n' | memgpt-task chat --json
      memgpt-task chat --window 128 --save talk.json < questions.txt
      memgpt-task chat --resume talk.json
      memgpt-task chat --runtime onnx
    """
    from memgpt.chat import ChatSession, check_save_path, load_conversation, notes_index
    from memgpt.decoding import GenerationConfig

    if any(not m.strip() for m in messages):
        raise ValueError("a MESSAGE argument is empty")
    if save:
        check_save_path(save)  # before any reply is made
    if reader != "none":
        from memgpt.tasks.registry import resolve_task

        resolve_task(reader)  # a missing reader folder is an error now, not at the first recall
    saved = load_conversation(resume) if resume else None
    index = notes_index(memory_path) if memory_path else None
    cfg = GenerationConfig(**generation_settings(max_new_tokens, strategy, temperature, top_k,
                                                 top_p, seed, num_beams, repetition_penalty,
                                                 stop))
    if window is None and saved is not None:
        window = saved["window"]
    backend = open_backend(runtime, export_dir, weights, device)
    session = ChatSession(backend, system=system, window=window, memory=recall,
                          notes=index, settings=cfg,
                          reader=reader_factory(reader, backend.runtime, weights, device))
    if saved is not None:
        session.load(saved)
    if messages:
        piped(session, messages, as_json, save)
    elif sys.stdin.isatty():
        interactive(session, as_json=as_json)
    else:
        piped(session, _read_stdin_lines(), as_json, save)


