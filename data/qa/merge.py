"""Merge writers' shard files into one shipped file: ``python data/qa/merge.py OUT.jsonl
SHARD.jsonl [SHARD.jsonl ...]``. Keeps the fields ``id, question, answer, qtype`` (and
``occurrence`` where the answer repeats in its document), in shard order, dropping exact
repeats of a (document, question) pair. Check the result with ``check.py`` afterwards.
"""

from __future__ import annotations

import json
import os
import sys

FIELDS = ("id", "question", "answer", "qtype", "occurrence")


def main(out: str, shards: list[str]) -> None:
    seen, rows = set(), []
    for path in shards:
        for line in open(path, encoding="utf-8"):
            if not line.strip():
                continue
            item = json.loads(line)
            key = (item["id"], item["question"].strip().lower())
            if key not in seen:
                seen.add(key)
                rows.append({k: item[k] for k in FIELDS if k in item})
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    print(f"{len(rows)} items -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
