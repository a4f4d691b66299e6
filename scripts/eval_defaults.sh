#!/usr/bin/env bash
# The "Shipped defaults" table in the README: every shipped task folder on the test split of each
# built-in dataset it belongs to (never trained on), beside the task's baselines, in one run.
# --limit 500 keeps the run near 30 minutes on 2 CPU cores (the first 500 test records of each
# set; sets smaller than that are scored whole). Writes OUT/FOLDER-DATASET/ reports and
# OUT/summary.{json,md}.
# Usage: bash scripts/eval_defaults.sh [OUT]   (default benchmarks/results/defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/defaults}
memgpt-task eval --defaults --limit 500 --threads 2 --runtime torch -o "$OUT"
