#!/usr/bin/env bash
# WikiText-2 test perplexity with a 256-token window, with the document memory of
# memgpt.perplexity vs without (benchmarks/perplexity_memory.py). First the choice of lam/theta
# on 10 WikiText-2 valid articles (written into memgpt.perplexity.DEFAULT_CACHE by hand), then
# the test split, only scored. About 1 h on 2 CPU cores. Results: benchmarks/results/perplexity/.
set -euo pipefail
cd "$(dirname "$0")/.."
python benchmarks/perplexity_memory.py --tune-only
python benchmarks/perplexity_memory.py
