"""Smoke test of benchmarks/bench_tokenizer.py in quick mode on a tiny input: it runs, checks
parity, and writes its JSON and Markdown. No timing is asserted."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_tokenizer.py"


def test_quick_benchmark_writes_its_reports(minilm_dir, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_tokenizer", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("The quick brown fox.\nNaïve café, 東京!\n\nIt's 3.14 [MASK] tokens.\n", encoding="utf-8")
    out = tmp_path / "results"
    assert bench.main(["--quick", "--model", str(minilm_dir), "--corpus", str(corpus), "--output", str(out)]) == 0
    report = json.loads((out / "tokenizer.json").read_text())
    assert report["texts"] == 3 and report["tokens"] > 10
    for workload in ("single texts", "batches of 256"):
        assert set(report["results"][workload]["tokens_per_second"]) == set(bench.SHORT)
    assert "| single texts |" in (out / "tokenizer.md").read_text()
    assert bench.main(["--quick", "--model", str(tmp_path)]) == 2  # no vocab.txt there: a clear error
    assert "no model directory" in capsys.readouterr().err
