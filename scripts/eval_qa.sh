#!/usr/bin/env bash
# The QA figures in the README: the shipped qa task folder (or ADAPTER=DIR) on held-out data.
#  * builtin:wiki-qa:test — SQuAD-style questions written by memgpt.tasks.qagen over the WikiText-2
#    valid articles of the test half (never trained on, never used for model selection);
#  * benchmarks/data/wiki-qa-human.jsonl — 213 questions written by hand over the same articles.
# Each report has the lexical sliding-window baseline beside the model.
# Usage: bash scripts/eval_qa.sh [OUT_ROOT]   (default benchmarks/results)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results}
ADAPTER=${ADAPTER:-qa}
memgpt-task eval --task qa --adapter "$ADAPTER" --data builtin:wiki-qa:test -o "$OUT/eval-qa-wiki"
memgpt-task eval --task qa --adapter "$ADAPTER" --data benchmarks/data/wiki-qa-human.jsonl \
    -o "$OUT/eval-qa-human"
