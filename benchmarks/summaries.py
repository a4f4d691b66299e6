"""The shipped summarizers on held-out documents: ROUGE against lead baselines, and facts kept.

    python benchmarks/summaries.py --out benchmarks/results/summaries

Data: the ``written-summaries`` test split (121 documents no model was trained or selected on:
61 sections of WikiText-2 *valid* articles — encyclopedic, not news — and 60 BBC valid
articles), each with one hand-written 1-3 sentence reference. Systems: the shipped ``summarize``
(``--style summary``) and ``summarize-headline`` (``--style headline``) folders on torch, and the
lead-1/2/3 baselines (the first 1, 2, 3 sentences). ROUGE-1/2/L (rouge-score, stemmed) per
source and overall.

Facts kept (names and numbers; a proxy for "who did what", which is not measured):
* ``supported``: of the numbers and capitalised names in a summary, the share that occur in the
  document (the rest are made up);
* ``recall``: of the numbers and capitalised names of the reference, the share the summary has.
Words that open a sentence are not counted as names.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from common import run_meta, write_results

_NUM = re.compile(r"\d[\d,.]*\d|\d")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'-]*[a-z][\w'-]*")


def facts(text: str) -> set[str]:
    """Numbers (commas dropped) and capitalised words that do not open a sentence."""
    nums = {n.replace(",", "").rstrip(".") for n in _NUM.findall(text)}
    names = {m.group(0) for m in _NAME.finditer(text.strip())}
    return nums | names


def fact_scores(summaries: list[str], docs: list[str], refs: list[str]) -> dict[str, float]:
    sup = tot = rec = rtot = 0
    for s, d, r in zip(summaries, docs, refs):
        got, doc = facts(s), facts(d) | {w for w in re.findall(r"[\w'-]+", d)}
        doc_plain = d.replace(",", "")
        sup += sum(f in doc or f in doc_plain for f in got)
        tot += len(got)
        want = facts(r)
        rec += len(want & got)
        rtot += len(want)
    return {"supported": round(100 * sup / max(1, tot), 2),
            "recall": round(100 * rec / max(1, rtot), 2), "facts_in_summaries": tot}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results/summaries")
    args = ap.parse_args(argv)
    import torch

    from memgpt.cli.common import load_for_task
    from memgpt.eval.baselines import lead_baseline
    from memgpt.eval.metrics import rouge, split_sentences
    from memgpt.tasks.data import load_builtin
    from memgpt.tasks.pipelines import TorchTask

    torch.set_num_threads(args.threads)
    recs = load_builtin("written-summaries", "test", limit=args.limit)
    docs, refs = [r["text"] for r in recs], [r["summary"] for r in recs]
    systems: dict[str, list[str]] = {}
    seconds = {}
    for folder in ("summarize", "summarize-headline"):
        task = TorchTask(*load_for_task("summarize", folder, "smollm2-135m", "cpu"))
        t0 = time.perf_counter()
        outs = []
        for i in range(0, len(docs), args.batch_size):
            outs += [o.text for o in task.generate(docs[i:i + args.batch_size],
                                                   batch_size=args.batch_size)]
            print(f"{folder}: {len(outs)}/{len(docs)}", file=sys.stderr, flush=True)
        seconds[folder] = round((time.perf_counter() - t0) / len(docs), 3)
        systems[folder] = outs
    for k in (1, 2, 3):
        systems[f"lead-{k}"] = lead_baseline(docs, n_sentences=k)
    groups = {"all": list(range(len(recs))),
              "wikitext (non-news)": [i for i, r in enumerate(recs)
                                      if r["source"].startswith("wikitext")],
              "bbc (news)": [i for i, r in enumerate(recs) if r["source"].startswith("bbc")]}
    table: dict[str, dict] = {}
    for name, outs in systems.items():
        table[name] = {}
        for g, idx in groups.items():
            r = rouge(predictions=[outs[i] for i in idx], references=[refs[i] for i in idx])
            table[name][g] = {"rouge1": round(r.details["rouge1"], 2),
                              "rouge2": round(r.details["rouge2"], 2),
                              "rougeL": round(r.details["rougeL"], 2),
                              **fact_scores([outs[i] for i in idx], [docs[i] for i in idx],
                                            [refs[i] for i in idx])}
        table[name]["words"] = round(sum(len(o.split()) for o in outs) / len(outs), 1)
        table[name]["sentences"] = round(
            sum(len(split_sentences(o)) for o in outs) / len(outs), 2)
    ref_len = round(sum(len(r.split()) for r in refs) / len(refs), 1)
    res = {"meta": run_meta(argv, args.threads, data="builtin:written-summaries:test",
                            n=len(recs), groups={g: len(v) for g, v in groups.items()},
                            reference_words=ref_len, seconds_per_document=seconds),
           "systems": table,
           "examples": [{"id": recs[i]["id"], "reference": refs[i],
                         **{k: v[i] for k, v in systems.items()}} for i in range(0, len(recs),
                                                                               20)]}
    write_results(args.out, res)
    out = Path(args.out)
    lines = [f"# Summarizers on {res['meta']['data']} (n={len(recs)})", "",
             "| system | group | ROUGE-1 | ROUGE-2 | ROUGE-L | facts supported | facts recalled |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, by in table.items():
        for g in groups:
            v = by[g]
            lines.append(f"| {name} | {g} | {v['rouge1']:.2f} | {v['rouge2']:.2f} | "
                         f"{v['rougeL']:.2f} | {v['supported']:.2f} | {v['recall']:.2f} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
