#!/usr/bin/env bash
# Trains the shipped default task folders (memgpt/tasks/defaults/*) with the project's own recipe:
# `memgpt-task finetune` on the built-in offline datasets, on the default SmolLM2-135M backbone.
# CPU run (2 cores): a head-only probe on the frozen backbone for topic (minutes); qa: LoRA
# on blocks 12-29 + span head over cached blocks 0-11, on the hand-written written-qa questions
# plus rule-written ones, bf16 autocast (scripts/train_qa.py, ~68 min);
# sentiment: LoRA on blocks 24-29 + head over cached lower blocks (scripts/train_classify.py, ~2 h);
# summarize (1-3 sentences): LoRA on every projection of blocks 16-29 over cached lower blocks, on the
# written-summaries set (scripts/train_summary.py, ~1.5 h); LoRA adapters for translation and the
# headline summarizer (the long ones). Logs go to $LOGS (default /tmp/memgpt-train).
# Usage: bash scripts/train_defaults.sh [topic|sentiment|spam|qa|translate|summarize|headline ...]
# translate-en-es: LoRA on every projection of blocks 16-29 over cached lower blocks, one epoch
# of 40,000 Tatoeba pairs with bf16 autocast (scripts/train_translate.py, ~80 min); spam: LoRA on
# blocks 24-29 + head (scripts/train_classify.py, ~17 min).
set -euo pipefail
cd "$(dirname "$0")/.."
D=memgpt/tasks/defaults
LOGS=${LOGS:-/tmp/memgpt-train}
mkdir -p "$LOGS"
run() { local name=$1; shift; echo "== $name: memgpt-task finetune $*" | tee "$LOGS/$name.log"
        ( time memgpt-task finetune "$@" ) >> "$LOGS/$name.log" 2>&1; tail -n 5 "$LOGS/$name.log"; }
for what in "${@:-topic sentiment spam qa translate summarize headline}"; do for w in $what; do case $w in
  topic) run classify-topic --task classify --data builtin:bbc-topic:train \
           --valid builtin:bbc-topic:valid -o $D/classify-topic --max-input-tokens 256 \
           --epochs 30 --batch-size 32 --lr 3e-3 --no-resume ;;
  sentiment) echo "== classify-sentiment: python scripts/train_classify.py --dataset sentiment" | tee "$LOGS/classify-sentiment.log"
           ( time python scripts/train_classify.py --dataset sentiment --out $D/classify-sentiment \
               --threads 2 ) >> "$LOGS/classify-sentiment.log" 2>&1; tail -n 5 "$LOGS/classify-sentiment.log" ;;
  spam) echo "== classify-spam: python scripts/train_classify.py --dataset sms-spam" | tee "$LOGS/classify-spam.log"
           ( time python scripts/train_classify.py --dataset sms-spam --out $D/classify-spam \
               --valid 493 --epochs 3 --batch-size 32 --lr 4e-4 --max-input-tokens 96 --threads 2 \
           ) >> "$LOGS/classify-spam.log" 2>&1; tail -n 5 "$LOGS/classify-spam.log" ;;
  qa) echo "== qa: python scripts/train_qa.py" | tee "$LOGS/qa.log"
           ( time python scripts/train_qa.py --out $D/qa --wiki 2000 --bbc 400 --valid 245 --split 12 \
               --rank 16 --epochs 2 --batch-size 16 --lr 0.0005 --train-tokens 160 --threads 2 \
               --max-share 0.35 ) >> "$LOGS/qa.log" 2>&1; tail -n 5 "$LOGS/qa.log" ;;
  translate) echo "== translate-en-es: python scripts/train_translate.py --limit 40000" | tee "$LOGS/translate-en-es.log"
           ( time python scripts/train_translate.py --out $D/translate-en-es --limit 40000 \
               --threads 2 ) >> "$LOGS/translate-en-es.log" 2>&1; tail -n 5 "$LOGS/translate-en-es.log" ;;
  summarize) echo "== summarize: python scripts/train_summary.py" | tee "$LOGS/summarize.log"
           ( time python scripts/train_summary.py --out $D/summarize --threads 2 ) \
               >> "$LOGS/summarize.log" 2>&1; tail -n 5 "$LOGS/summarize.log" ;;
  headline) run summarize-headline --task summarize --data builtin:bbc-headline:train \
           --valid builtin:bbc-headline:valid --valid-limit 100 -o ${SUM_OUT:-$D/summarize-headline} --adapter-kind lora \
           --rank 16 --adapt-layers 14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29 \
           --epochs ${SUM_EPOCHS:-3} --batch-size 8 --lr 1e-3 --no-resume ;;
  *) echo "unknown: $w" >&2; exit 2 ;;
esac; done; done
