#!/usr/bin/env bash
# The full CPU benchmark run behind benchmarks/README.md: every script with its defaults
# (sized for 2 cores, about 20 minutes on a quiet machine), then report.py.
#   bash benchmarks/run_cpu.sh        (PYTHON=/path/to/python to choose the interpreter)
set -u -o pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
for script in bench_model bench_loading bench_attention bench_end_to_end bench_ner; do
    echo "=== $script $(date -u +%H:%M:%S)"
    "$PY" -m "benchmarks.$script" --device cpu || echo "=== $script failed: exit $?"
done
echo "=== bench_model --compile $(date -u +%H:%M:%S)"
"$PY" -m benchmarks.bench_model --device cpu --only issue2 --compile || echo "=== bench_model --compile failed: exit $?"
echo "=== bench_pretrain $(date -u +%H:%M:%S)"
"$PY" benchmarks/bench_pretrain.py || echo "=== bench_pretrain failed: exit $?"
"$PY" -m benchmarks.report
