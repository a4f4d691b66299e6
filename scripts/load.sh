#!/usr/bin/env bash
# Under load: one onnxruntime session (ExportedTask) and one torch model (TorchTask) of a tiny
# seeded task, each shared by 16 threads: 1,000 classify requests per thread and 100 generate
# requests per thread (8 new tokens), compared with the same requests run sequentially
# (benchmarks/load.py). Reports errors, mismatches, p50/p99 latency and VmRSS growth after a
# warm-up. About 10 minutes on 2 CPU cores. Results: benchmarks/results/load/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_NUM_THREADS=1 python benchmarks/load.py --threads 16 --requests 1000 --generate 100 \
    --out benchmarks/results/load
