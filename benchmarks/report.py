"""Write the latest results into benchmarks/README.md, between the results markers.

Every number in the README comes from the JSON files under benchmarks/results/ (written by
the bench_*.py scripts); nothing is typed by hand. Run after the benchmarks:

    python -m benchmarks.report [--results benchmarks/results] [--readme benchmarks/README.md]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402

START, END = "<!-- results:start (written by benchmarks/report.py) -->", "<!-- results:end -->"


def load(results: Path, name: str) -> dict | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def find(rows: list[dict], **where) -> dict | None:
    for row in rows:
        if all(row.get(k) == v for k, v in where.items()):
            return row
    return None


def verdict(value: float | None, target: float, higher_is_better: bool) -> str:
    if value is None:
        return "not measured"
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "**missed**"


def targets(results: Path) -> list[dict]:
    out = []

    def add(what, value, target, higher, unit):
        out.append({"target": what, "measured": value, "goal": f"{'>=' if higher else '<='} {target}{unit}",
                    "verdict": verdict(value, target, higher)})

    model = load(results, "model_cpu")
    rows = model["rows"] if model else []
    r = find(rows, config="issue2", variant="minibert sdpa")
    add("issue 2: minibert sdpa / transformers sdpa time, 8 x 128, fp32 CPU", r and r["ratio_vs_transformers_sdpa"], 1.0, False, "")
    r = find(rows, config="issue2", variant="minibert eager")
    add("issue 2: minibert eager / transformers eager time, 8 x 128, fp32 CPU", r and r.get("ratio_vs_transformers_eager"), 1.1, False, "")
    for padding, goal in ((0.0, 1.0), (0.5, 1.6), (0.75, 2.0)):
        candidates = [row for row in rows if row["config"] == "padding" and row["variant"] == "minibert unpadded"
                      and abs(row["padding"] - padding) < 0.01]
        value = candidates[0]["speedup_vs_transformers_sdpa"] if candidates else None
        add(f"issue 6: unpadded speed-up over transformers sdpa, 16 x 256, {padding:.0%} padding", value, goal, True, "x")
    r = find(rows, config="finetune", variant="minibert unpadded")
    add("issue 6: fine-tuning step speed-up (fwd + bwd + AdamW), 50% padding", r and r["speedup_vs_transformers_sdpa"], 1.5, True, "x")
    loading = load(results, "loading")
    r = find(loading["rows"], library="minibert") if loading else None
    add("loading: peak resident memory / weights' size", r and r["peak_over_weights"], 1.3, False, "x")
    add("loading: same, after reading every weight once", r and r.get("peak_with_weights_read_over_weights"), 1.3, False, "x")
    add("loading: minibert load time / transformers'", r and r["load_s_ratio_vs_transformers"], 1.0, False, "")
    end_to_end = load(results, "end_to_end_cpu")
    rows = end_to_end["rows"] if end_to_end else []
    for config, variant, goal, what in (("finetune", "minibert train", 1.5, "fine-tuning one epoch, minibert.training.train vs the loop in transformers"),
                                        ("pipeline", "minibert pipeline", 2.0, "text-classification pipeline vs transformers.pipeline"),
                                        ("tutorial train epoch", "minibert", 3.0, "the tutorial's training loop, padded to 128, import swapped"),
                                        ("tutorial predict", "minibert", 3.0, "the tutorial's prediction loop, padded to 128, import swapped")):
        models = sorted({row["model"] for row in rows if row.get("config") == config}) or (
            ["all-MiniLM-L6-v2"] if config == "pipeline" else ["MiniLM", "bert-base"])
        for model in models:
            r = find(rows, config=config, variant=variant, model=model)
            add(f"issue 18: {what} ({model}{', ' + str(r['texts']) + ' texts' if r else ''})",
                r and r["speedup_vs_transformers"], goal, True, "x")
    quantize = load(results, "quantize_cpu")
    rows = quantize["rows"] if quantize else []
    for model in ("bert-base (random weights)", "all-MiniLM-L6-v2"):
        r = find(rows, measure="forward median_s, 0% padding", model=model)
        add(f"issue 18: int8 speed-up over float32, 0% padding, {model}{', ' + r['shape'] if r else ''}",
            r and r["speedup_or_change"], 1.5, True, "x")
    r = find(rows, measure="demo dev accuracy")
    add("issue 18: int8 demo dev accuracy change (points)", r and r["speedup_or_change"], -1.0, True, "")
    r = find(rows, measure="embedding cosine to float32, minimum")
    add(f"issue 18: int8 embedding cosine to float32, minimum over {r['shape'] if r else 'real sentences'}",
        r and r["speedup_or_change"], 0.99, True, "")
    embeddings = load(results, "embeddings_cpu")
    r = find(embeddings["rows"], variant="minibert SentenceEncoder") if embeddings else None
    add("issue 17: SentenceEncoder.encode throughput / sentence-transformers', 2,000 real paragraphs, 2 threads",
        r and r["speedup_vs_sentence_transformers"], 2.0, True, "x")
    return out


def section(results: Path) -> str:
    parts = []
    machine = None
    for name in ("model_cpu", "attention_cpu", "loading", "end_to_end_cpu"):
        data = load(results, name)
        if data:
            machine = data["meta"]["machine"]
            break
    if machine:
        parts.append("Measured on: " + ", ".join(f"{k} {v}" for k, v in machine.items() if v is not None) + ".\n")
    parts.append("### Targets\n\n" + common.markdown_table(targets(results), ["target", "measured", "goal", "verdict"]))
    model = load(results, "model_cpu_compile")
    if model:
        compiled = find(model["rows"], config="issue2", variant="minibert sdpa compiled")
        plain = find(model["rows"], config="issue2", variant="minibert sdpa")
        if compiled and plain:
            parts.append(f"torch.compile(minibert) on issue 2's shape: speed-up {plain['median_ms'] / compiled['median_ms']:.2f}x over "
                         f"the uncompiled sdpa model (compiled {compiled['median_ms']:.0f} ms, uncompiled {plain['median_ms']:.0f} ms, medians; `--only issue2 --compile`).\n")
    for name, plot_suffixes in (("model_cpu", ["_padding"]), ("attention_cpu", ["_pad0", "_pad50", "_pad75"]),
                                ("loading", []), ("end_to_end_cpu", [""]), ("ner_cpu", []), ("embeddings_cpu", []),
                                ("qa_pipeline_cpu", []), ("quantize_cpu", []), ("input_checks_cpu_before", []), ("input_checks_cpu", [])):
        md = results / f"{name}.md"
        if not md.is_file():
            continue
        parts.append("#" + md.read_text().strip() + "\n")  # "## title" -> "### title"
        data = load(results, name)
        if data:
            settings = {k: v for k, v in data["meta"].items() if k not in ("machine",)}
            parts.append("Settings: `" + json.dumps(settings) + "`\n")
            if machine and data["meta"]["machine"].get("cpu") != machine.get("cpu"):
                parts.append("Measured on another machine: " + ", ".join(
                    f"{k} {v}" for k, v in data["meta"]["machine"].items() if v is not None) + ".\n")
        for suffix in plot_suffixes:
            if (results / f"{name}{suffix}.png").is_file():
                parts.append(f"![{name}{suffix}](results/{name}{suffix}.png)\n")
    before, after = load(results, "input_checks_cpu_before"), load(results, "input_checks_cpu")
    if before and after:
        lines = []
        for b in before["rows"]:
            a = find(after["rows"], shape=b["shape"])
            if a:
                lines.append(f"- {b['shape']}: before {b['check_us']:.1f} us per forward ({b['overhead_pct']:.4f}% of the forward's "
                             f"{b['forward_ms']:.0f} ms), after {a['check_us']:.1f} us ({a['overhead_pct']:.4f}% of "
                             f"{a['forward_ms']:.0f} ms)")
        parts.append("### Input checks per forward, before and after issue 18 (CPU)\n\n"
                     f"Before: commit {before['meta'].get('commit')}, load average {before['meta'].get('load_average')}; "
                     f"after: commit {after['meta'].get('commit')}, load average {after['meta'].get('load_average')}.\n\n"
                     + "\n".join(lines) + "\n")
    throughput = results / "pretrain_throughput.md"
    if throughput.is_file():
        parts.append("### Pre-training throughput: one process vs two (`benchmarks/bench_pretrain.py`)\n\n"
                     + throughput.read_text().strip() + "\n")
    gpu = results / "gpu"
    tables = sorted(gpu.glob("*.md")) if gpu.is_dir() else []
    if tables:
        parts.append("### GPU run (benchmarks/run_gpu.sh)\n")
        for md in tables:
            parts.append("#" + md.read_text().strip() + "\n")
    else:
        parts.append("### GPU\n\nNo GPU run has been recorded yet: run `bash benchmarks/run_gpu.sh` on a machine "
                     "with an NVIDIA GPU (it writes under `benchmarks/results/gpu`), then this script again.\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=common.RESULTS)
    parser.add_argument("--readme", type=Path, default=common.ROOT / "benchmarks" / "README.md")
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{args.readme} lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = head + START + "\n\n" + section(args.results) + "\n" + END + tail
    tmp = args.readme.with_name(args.readme.name + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, args.readme)
    print(f"wrote the results into {args.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
