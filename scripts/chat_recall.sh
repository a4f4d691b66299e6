#!/usr/bin/env bash
# Conversation memory in `memgpt-task chat`: recall of a fact stated early, asked after it left a
# 128-token window, with memory (as shipped), with the memory in the prompt only, with the window
# only, and with the whole conversation (benchmarks/chat_recall.py). About 35 s per conversation
# on 2 CPU cores. Dev conversations (seed 1) chose memgpt.chat.READER_THRESHOLD; the reported ones
# are seed 0. Results: benchmarks/results/chat-recall/.
set -euo pipefail
cd "$(dirname "$0")/.."
python benchmarks/chat_recall.py --n 10 --seed 1 --threshold 0.0 --out /tmp/chat-recall-dev
python benchmarks/chat_recall.py --n 50 --seed 0 --out benchmarks/results/chat-recall
