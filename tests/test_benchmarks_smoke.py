"""The benchmark scripts run end to end in --quick mode (tiny shapes, one round) and write
their JSON and Markdown with the expected fields. No timing is asserted: a benchmark reports,
it does not pass or fail on a noisy machine."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")


def read(out, name):
    data = json.loads((out / f"{name}.json").read_text())
    assert set(data) == {"meta", "columns", "rows"}
    assert data["meta"]["machine"]["torch"] and data["meta"]["machine"]["cpu"]
    assert data["rows"], "no measurements"
    for row in data["rows"]:
        assert row.get("median_ms", 1) > 0
    table = (out / f"{name}.md").read_text()
    assert all(column in table for column in data["columns"])
    return data


def test_bench_attention_quick(tmp_path):
    from benchmarks import bench_attention

    assert bench_attention.main(["--quick", "--device", "cpu", "--out", str(tmp_path)]) == 0
    data = read(tmp_path, "attention_cpu_quick")
    variants = {row["variant"] for row in data["rows"]}
    assert {"minibert eager", "minibert sdpa", "minibert unpadded", "transformers eager", "transformers sdpa"} <= variants
    assert {row["mode"] for row in data["rows"]} == {"fwd", "fwd+bwd"}
    assert all(row["ratio_vs_transformers_sdpa"] > 0 for row in data["rows"])


def test_bench_model_quick(tmp_path):
    from benchmarks import bench_model

    assert bench_model.main(["--quick", "--device", "cpu", "--out", str(tmp_path)]) == 0
    data = read(tmp_path, "model_cpu_quick")
    configs = {(row["config"], row["variant"]) for row in data["rows"]}
    assert ("issue2", "minibert sdpa") in configs and ("issue2", "transformers eager") in configs
    assert ("padding", "minibert unpadded") in configs and ("finetune", "minibert unpadded") in configs
    assert ("finetune", "transformers sdpa") in configs
    paddings = sorted({row["padding"] for row in data["rows"] if row["config"] == "padding"})
    assert paddings[0] == 0 and paddings[-1] > 0.3
    assert all(row["speedup_vs_transformers_sdpa"] > 0 for row in data["rows"])


def test_bench_loading_quick(tmp_path):
    from benchmarks import bench_loading

    assert bench_loading.main(["--quick", "--out", str(tmp_path), "--repeats", "1"]) == 0
    data = json.loads((tmp_path / "loading_quick.json").read_text())
    assert {row["library"] for row in data["rows"]} == {"minibert", "transformers"}
    for row in data["rows"]:
        assert row["weights_mb"] > 0 and row["load_s_median"] > 0 and row["peak_above_baseline_mb"] >= 0
    assert "peak_over_weights" in (tmp_path / "loading_quick.md").read_text()


def test_bench_end_to_end_quick(tmp_path, minilm_dir, corpus_dir):
    from benchmarks import bench_end_to_end

    assert bench_end_to_end.main(["--quick", "--device", "cpu", "--out", str(tmp_path)]) == 0
    data = read(tmp_path, "end_to_end_cpu_quick")
    rows = {(row["config"], row["model"], row["variant"]): row for row in data["rows"]}
    assert {("classify", "all-MiniLM-L6-v2", v) for v in ("minibert unpadded", "minibert sdpa", "transformers sdpa")} <= set(rows)
    for model in ("MiniLM", "bert-base"):
        assert {("finetune", model, "minibert train"), ("finetune", model, "transformers loop")} <= set(rows)
        for mode in ("train epoch", "predict"):
            assert {(f"tutorial {mode}", model, "minibert"), (f"tutorial {mode}", model, "transformers")} <= set(rows)
    assert {("pipeline", "all-MiniLM-L6-v2", "minibert pipeline"), ("pipeline", "all-MiniLM-L6-v2", "transformers pipeline")} <= set(rows)
    for row in data["rows"]:
        assert row["median_s"] > 0 and row["real_tokens"] > 0 and row["speedup_vs_transformers"] > 0
        if row["config"] in ("classify", "pipeline"):
            # The same texts through the same weights: every variant predicts the same labels.
            assert row["label_agreement_with_transformers"] == 1.0
    tutorial = rows[("tutorial train epoch", "MiniLM", "minibert")]
    assert tutorial["padding"] > 0  # every sentence padded to max_length, as the tutorial does
    assert (tmp_path / "end_to_end_cpu_quick.png").is_file()


def test_bench_input_checks_quick(tmp_path):
    from benchmarks import bench_input_checks

    assert bench_input_checks.main(["--quick", "--device", "cpu", "--out", str(tmp_path), "--tag", "after"]) == 0
    data = read(tmp_path, "input_checks_cpu_after_quick")
    assert [row["shape"] for row in data["rows"]] == ["bert-base 8 x 128", "MiniLM 32 x 64"]
    assert all(row["check_us"] > 0 and row["overhead_pct"] > 0 for row in data["rows"])


def test_bench_quantize_quick(tmp_path, minilm_dir, corpus_dir):
    from benchmarks import bench_quantize

    assert bench_quantize.main(["--quick", "--out", str(tmp_path)]) == 0
    data = read(tmp_path, "quantize_cpu_quick")
    measures = {row["measure"] for row in data["rows"]}
    assert {"forward median_s, 0% padding", "demo dev accuracy", "embedding cosine to float32, minimum"} <= measures
    for row in data["rows"]:
        assert row["int8"] > 0 and row["float32"] > 0


def test_report_writes_targets_between_the_markers(tmp_path):
    from benchmarks import common, report

    readme = tmp_path / "README.md"
    readme.write_text((common.ROOT / "benchmarks" / "README.md").read_text())
    rows = [
        {"config": "issue2", "variant": "minibert sdpa", "ratio_vs_transformers_sdpa": 0.9, "median_ms": 9.0},
        {"config": "padding", "variant": "minibert unpadded", "padding": 0.5, "speedup_vs_transformers_sdpa": 1.2, "median_ms": 5.0},
    ]
    (tmp_path / "model_cpu.json").write_text(json.dumps({"meta": {"machine": {"cpu": "test cpu"}}, "columns": [], "rows": rows}))
    assert report.main(["--results", str(tmp_path), "--readme", str(readme)]) == 0
    text = readme.read_text()
    results = text.split(report.START)[1].split(report.END)[0]
    assert "| issue 2: minibert sdpa / transformers sdpa time, 8 x 128, fp32 CPU | 0.9 | <= 1.0 | met |" in results
    assert "50% padding | 1.2 | >= 1.6x | **missed** |" in results
    assert "75% padding | n/a | >= 2.0x | not measured |" in results
    assert text.startswith("# Benchmarks") and text.count(report.START) == 1
    # Running it again replaces the section instead of adding a second one.
    report.main(["--results", str(tmp_path), "--readme", str(readme)])
    assert readme.read_text() == text


def test_bench_ner_quick(tmp_path):
    from benchmarks import bench_ner

    assert bench_ner.main(["--quick", "--device", "cpu", "--out", str(tmp_path)]) == 0
    data = read(tmp_path, "ner_cpu_quick")
    assert {row["library"] for row in data["rows"]} == {"minibert", "transformers"}
    assert all(row["same_output"] is True and row["texts_per_s"] > 0 for row in data["rows"])


@pytest.mark.slow
def test_bench_embeddings_quick(tmp_path):
    pytest.importorskip("sentence_transformers")
    from benchmarks import bench_embeddings

    assert bench_embeddings.main(["--quick", "--device", "cpu", "--out", str(tmp_path)]) == 0
    data = read(tmp_path, "embeddings_cpu_quick")
    assert {row["variant"] for row in data["rows"]} == {"minibert SentenceEncoder", "sentence-transformers"}
    assert data["meta"]["min_cosine"] >= 0.99999
    for row in data["rows"]:
        assert row["sentences_per_s"] > 0 and row["speedup_vs_sentence_transformers"] > 0
        assert row["tokenize_s"] > 0 and row["encode_s"] > 0 and row["pool_s"] > 0
