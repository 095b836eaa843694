#!/usr/bin/env bash
# The full CPU benchmark run behind benchmarks/README.md: every script with its defaults
# (sized for 2 cores, about 20 minutes on a quiet machine), then report.py.
#   bash benchmarks/run_cpu.sh        (PYTHON=/path/to/python to choose the interpreter)
set -u -o pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
for script in bench_model bench_loading bench_attention bench_end_to_end bench_ner bench_embeddings bench_quantize bench_input_checks; do
    echo "=== $script $(date -u +%H:%M:%S)"
    "$PY" -m "benchmarks.$script" --device cpu || echo "=== $script failed: exit $?"
done
echo "=== bench_model --compile $(date -u +%H:%M:%S)"
"$PY" -m benchmarks.bench_model --device cpu --only issue2 --compile || echo "=== bench_model --compile failed: exit $?"
echo "=== bench_pretrain $(date -u +%H:%M:%S)"
"$PY" benchmarks/bench_pretrain.py || echo "=== bench_pretrain failed: exit $?"
# bench_input_checks --tag before runs on an export of the code before issue 18 (see benchmarks/README.md).
# Issue 18's end-to-end run used, on a machine shared with other jobs:
#   bench_end_to_end --threads 1 --rounds 2 --finetune-rounds 1 --finetune-texts 2000 --base-texts 64
#                    --pipeline-texts 1000 --tutorial-texts 512;  bench_quantize --threads 1
"$PY" -m benchmarks.report
