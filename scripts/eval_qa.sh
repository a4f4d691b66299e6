#!/usr/bin/env bash
# The QA figures in the README: the shipped qa task folder (or ADAPTER=DIR) on held-out data.
#  * builtin:wiki-qa:test — SQuAD-style questions written by memgpt.tasks.qagen over the WikiText-2
#    valid articles of the test half (never trained on, never used for model selection);
#  * builtin:bbc-qa:test — the same rules over BBC test articles;
#  * builtin:bbc-cloze:test — a blanked headline entity, answered from the BBC test article;
#  * benchmarks/data/wiki-qa-human.jsonl — 213 questions written by hand over the same WikiText-2
#    articles as wiki-qa:test (the honest figure: questions as people ask them).
# Each report has the lexical sliding-window baseline beside the model. About 10 minutes on 2 cores.
# Usage: bash scripts/eval_qa.sh [OUT_ROOT]   (default benchmarks/results)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results}
ADAPTER=${ADAPTER:-qa}
memgpt-task eval --task qa --adapter "$ADAPTER" --data benchmarks/data/wiki-qa-human.jsonl \
    -o "$OUT/eval-qa-human"
memgpt-task eval --task qa --adapter "$ADAPTER" --data builtin:wiki-qa:test -o "$OUT/eval-qa-wiki"
memgpt-task eval --task qa --adapter "$ADAPTER" --data builtin:bbc-qa:test -o "$OUT/eval-qa-bbc"
memgpt-task eval --task qa --adapter "$ADAPTER" --data builtin:bbc-cloze:test \
    -o "$OUT/eval-qa-cloze"
