"""``memgpt-task memory``: build, inspect and search memory banks (passages + token banks)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from memgpt.cli.common import (
    RECORD_SUFFIXES,
    emit_json,
    load_bank,
    load_model_and_tokenizer,
    model_options,
    read_text,
    threads_option,
)
from memgpt.paths import atomic_update_dir, atomic_write_text

log = logging.getLogger("memgpt.cli")


SOURCES_FILE = "cli_sources.json"  # source id -> the file's absolute path, for snippets


@click.group("memory")
def memory_group() -> None:
    """Build, inspect and search external memory banks.

    \b
    Examples:
      memgpt-task memory build notes/*.txt -o notes.bank
      memgpt-task memory build docs/ -o kb
      memgpt-task memory info notes.bank
      memgpt-task memory search notes.bank "green tea" -k 3
      memgpt-task qa --memory kb "When was the bridge opened?" --json
      memgpt-task generate "What do my notes say about tea?" --chat --memory notes.bank
    """


TEXT_SUFFIXES = (".txt", ".md")


def text_files(args: tuple[str, ...]) -> dict[str, Path]:
    """Source id -> file for ``memory build``: named files as they are (id = file name); folders
    searched recursively for .txt and .md files (id = path inside the folder; other files and
    hidden ones are skipped with a note)."""
    found: dict[str, Path] = {}
    skipped: list[str] = []

    def add(source: str, path: Path) -> None:
        if source in found:
            raise ValueError(f"two files are named {source}; source ids must be unique")
        found[source] = path

    for arg in args:
        root = Path(arg)
        if not root.is_dir():
            add(root.name, root)  # read_text reports a missing or unreadable file
            continue
        members = [p for p in sorted(root.rglob("*")) if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts)]
        for p in members:
            if p.suffix.lower() in TEXT_SUFFIXES and p.stat().st_size:
                add(p.relative_to(root).as_posix(), p)
            else:
                skipped.append(str(p))
        if not any(p.suffix.lower() in TEXT_SUFFIXES for p in members):
            raise ValueError(f"{arg} holds no .txt or .md files")
    if skipped:
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        log.warning("skipped %d files (not .txt or .md, or empty): %s%s", len(skipped),
                    ", ".join(skipped[:3]), more)
    return found


def file_text(path: Path) -> str:
    """A file's text as ``open(path, encoding="utf-8").read()`` gives it (universal newlines,
    a BOM kept): passage offsets index exactly that."""
    return path.read_text(encoding="utf-8")


@memory_group.command("build")
@click.argument("files", nargs=-1, required=False, metavar="FILE|DIR...")
@click.option("-o", "--output", required=True, metavar="DIR", help="Folder to write the bank to.")
@click.option("--window", type=click.IntRange(8, 8192), default=512, show_default=True,
              help="Tokens per pass of the backbone over a text.")
@click.option("--pairs", "pairs_file", default=None, metavar="FILE",
              help="Build a translation memory instead, from source<TAB>target lines (.tsv) or "
                   "{\"source\", \"target\"} rows (.jsonl), for translate --memory.")
@click.option("--adapter", default="translate", show_default=True, metavar="NAME|DIR",
              help="--pairs: the translation task folder whose decoder states are stored.")
@threads_option
@model_options
def memory_build(files: tuple, output: str, window: int, pairs_file: str | None, adapter: str,
                 weights: str, device: str, as_json: bool) -> None:
    """Build a memory bank from UTF-8 text files and folders of them (.txt and .md, recursively),
    or with --pairs a translation memory.

    Source id: the file name, or for a file found in a folder its path inside the folder. Besides
    the key/value entries the bank holds the documents' passages (about 1,000 characters, cut at
    paragraphs or sentences) and a BM25 index of them, for `memory search` and `qa --memory`.

    With --pairs FILE: every (source, target) pair is run through the translation model with
    the target as its continuation, and each target token is stored under the decoder state that
    predicts it (kNN-MT). Paragraph pairs are aligned sentence by sentence when both sides have
    as many sentences, else kept whole.

    \b
    Examples:
      memgpt-task memory build docs/ -o kb
      memgpt-task memory build --pairs glossary.tsv -o tm
    """
    if pairs_file is not None:
        if files:
            raise click.UsageError("--pairs builds a translation memory from the pairs file "
                                   "alone: drop the FILE|DIR arguments")
        return _build_tm(pairs_file, output, adapter, weights, device, as_json)
    if not files:
        raise click.UsageError("give FILE|DIR arguments (or --pairs FILE)")
    import hashlib

    from memgpt.memory import MemoryBank
    from memgpt.passages import PassageIndex

    texts, paths, docs = {}, {}, {}
    for name, f in text_files(files).items():
        texts[name], paths[name] = read_text(str(f)), str(f.resolve())
        sha = hashlib.sha256(f.read_bytes()).hexdigest()
        docs[name] = (file_text(f), paths[name], sha)
    index = PassageIndex.build(docs)
    model, tok = load_model_and_tokenizer(weights, device)
    bank = MemoryBank.build(model, tok, texts, window=window, context=min(64, window // 4),
                            progress=True)
    write_bank_folder(output, bank, index, paths)
    if as_json:
        emit_json({"path": output, "entries": len(bank), "passages": len(index),
                   "sources": sorted(texts)})
    else:
        click.echo(f"{output}: {len(bank)} entries, {len(index)} passages from {len(texts)} "
                   "files")


def _build_tm(pairs_file: str, output: str, adapter: str, weights: str, device: str,
              as_json: bool) -> None:
    from memgpt.cli.common import input_path, open_task
    from memgpt.tasks.registry import resolve_task
    from memgpt.tasks.tm import TranslationMemory, read_pairs

    pairs = read_pairs(input_path(pairs_file))
    task = open_task("translate", adapter, weights, device, "torch")
    tm = TranslationMemory.build(task, pairs, sources=[str(Path(pairs_file).resolve())],
                                 task_folder=resolve_task(adapter))
    tm.save(output)
    if as_json:
        emit_json({"path": output, "pairs": len(pairs), "entries": len(tm),
                   "settings": tm.settings})
    else:
        click.echo(f"{output}: translation memory of {len(pairs)} pairs ({len(tm)} entries)")


def write_bank_folder(output: str | Path, bank: Any, index: Any, paths: dict[str, str]) -> None:
    """The key/value bank, the source paths and the passage index, published together (a crash
    leaves the previous bank folder or the new one, never a mix)."""
    with atomic_update_dir(output) as folder:
        bank.save(folder)
        atomic_write_text(folder / SOURCES_FILE, json.dumps(paths, indent=2))
        index.save(folder)


@memory_group.command("info")
@click.argument("bank_dir", metavar="DIR")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def memory_info(bank_dir: str, as_json: bool) -> None:
    """Describe a memory bank: entries, sources, layers and the backbone it was built with."""
    from memgpt.memory import MemoryBank
    from memgpt.passages import INDEX_META

    meta = MemoryBank.load(bank_dir).metadata()
    info = {"path": bank_dir, "entries": meta["counts"]["entries"], "sources": meta["sources"],
            **{k: meta[k] for k in ("layers", "similarity", "dtype", "backbone_hash",
                                    "memgpt_version") if k in meta}}
    passages = Path(bank_dir) / INDEX_META
    if passages.is_file():
        info["passages"] = json.loads(passages.read_text(encoding="utf-8")).get("passages")
    if as_json:
        emit_json(info)
        return
    for key, value in info.items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        click.echo(f"{key}: {value}")


def snippet(bank_dir: str, source: str, start: int, end: int, around: int = 80) -> str | None:
    """The text around a hit, the hit in [brackets], if the source file still exists (banks
    store character offsets only)."""
    paths_file = Path(bank_dir) / SOURCES_FILE
    paths = json.loads(paths_file.read_text(encoding="utf-8")) if paths_file.is_file() else {}
    path = Path(paths.get(source, source))
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    left, right = max(0, start - around), min(len(text), end + around)
    parts = (text[left:start], f"[{text[start:end]}]", text[end:right])
    out = " ".join("".join(parts).split())
    return ("…" if left else "") + out + ("…" if right < len(text) else "")


def shown_path(path: str) -> str:
    """A source file's path as results show it: relative to the current folder when inside it
    (so ``open(source)`` works from here), else absolute."""
    try:
        return Path(path).relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path


def load_passages(bank_dir: str) -> Any:
    """The bank's passage index; a warning for source files changed since the build."""
    from memgpt.passages import PassageIndex

    index = PassageIndex.load(bank_dir)
    stale = index.check_sources()
    if stale:
        log.warning("%d source files changed or went missing since the bank was built (%s): "
                    "their offsets may be stale; rebuild the bank", len(stale),
                    ", ".join(stale[:3]))
    return index


@memory_group.command("search")
@click.argument("bank_dir", metavar="DIR")
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=5, show_default=True)
@threads_option
@model_options
def memory_search(bank_dir: str, query: str, k: int, weights: str, device: str,
                  as_json: bool) -> None:
    """Show the K passages of a bank that best match QUERY (BM25): "source:start-end  score",
    then the passage. With --json {"source", "start", "end", "score", "text"}, the offsets
    indexing the source file's text. Only passages sharing a word with QUERY are shown.

    A bank built before passages existed is searched token by token (with a warning), by
    similarity of the backbone's keys; that needs --weights.

    \b
    Examples:
      memgpt-task memory search kb "green tea" -k 3
      memgpt-task memory search kb "green tea" --json
    """
    from memgpt.passages import INDEX_META

    if not query.strip():
        raise ValueError("the query is empty")
    if not (Path(bank_dir) / INDEX_META).is_file() and (Path(bank_dir) / "bank.json").is_file():
        log.warning("%s has no passages (built before passage search): searching its tokens; "
                    "rebuild it with `memgpt-task memory build` for passages", bank_dir)
        return _token_search(bank_dir, query, k, weights, device, as_json)
    for hit in load_passages(bank_dir).search(query, k=k):
        p = hit.passage
        row = {"source": shown_path(p.path), "start": p.start, "end": p.end,
               "score": round(hit.score, 6), "text": p.text}
        if as_json:
            emit_json(row)
        else:
            click.echo(f"{row['source']}:{p.start}-{p.end}  {hit.score:.4f}")
            click.echo(f"    {' '.join(p.text.split())}")


def _token_search(bank_dir: str, query: str, k: int, weights: str, device: str,
                  as_json: bool) -> None:
    model, tok = load_model_and_tokenizer(weights, device)
    bank = load_bank(bank_dir, model)
    for hit in bank.search(model, tok, query, k=k):
        text = snippet(bank_dir, hit.source, hit.start, hit.end)
        if as_json:
            emit_json({"source": hit.source, "start": hit.start, "end": hit.end,
                       "score": round(float(hit.score), 6), "index": hit.index, "text": text})
        else:
            click.echo(f"{hit.source}:{hit.start}-{hit.end}\t{float(hit.score):.4f}")
            if text:
                click.echo(f"    {text}")


# ---------------------------------------------------------------------- qa --memory
def read_questions(arg: str) -> list[str]:
    """The questions of a .jsonl/.csv/.tsv file (a "question" field per row), or ``arg`` itself."""
    import csv
    import io

    from memgpt.tasks.readers import DataError, _decode, _jsonl_rows

    path = Path(arg)
    suffix = path.suffix.lower()
    if suffix not in RECORD_SUFFIXES:
        if not arg.strip():
            raise ValueError("the question is empty")
        return [arg]
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {arg}")
    text = _decode(path.read_bytes(), path)
    if suffix == ".jsonl":
        rows = list(_jsonl_rows(text, path))
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""),
                                delimiter="\t" if suffix == ".tsv" else ",")
        rows = [(i, r) for i, r in enumerate(reader, 2)]
    out = []
    for line, row in rows:
        q = row.get("question")
        if not isinstance(q, str) or not q.strip():
            raise DataError(f"{path}:{line}: 'question' is missing, empty or not a string")
        out.append(q)
    if not out:
        raise DataError(f"{path}:1: no questions")
    return out


def qa_from_memory(question, memory_dir, top_passages, min_score, adapter, runtime, export_dir,
               weights, device, as_json, **reader_kw):
    """``qa --memory``: retrieve passages, read them, answer with the source file's offsets."""
    from memgpt.cli.common import open_task
    from memgpt.passages import answer_question

    questions = read_questions(question)
    index = load_passages(memory_dir)  # before the model: a bad bank fails fast
    task = open_task("qa", adapter, weights, device, runtime, export_dir)
    for q in questions:
        a = answer_question(task, index, q, top_passages=top_passages, min_score=min_score,
                            **reader_kw)
        source = shown_path(a.path) if a.answer else None
        if as_json:
            emit_json({"answer": a.answer, "source": source, "start": a.start, "end": a.end,
                       "score": a.score})
        else:
            click.echo(f"{a.answer}\t{source}:{a.start}-{a.end}" if a.answer else "")


