#!/usr/bin/env bash
# kill -9 during artifact writes (checkpoint, task folder, memory bank, memory-build folder,
# export, training checkpoint): 50 seeded trials per kind, each must leave one whole, loadable
# version at the path (benchmarks/crash_safety.py). About 5 minutes on 2 CPU cores.
# Results: benchmarks/results/crash-safety/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_NUM_THREADS=1 python benchmarks/crash_safety.py --trials 50 --seed 0 \
    --out benchmarks/results/crash-safety
