"""Pre-training throughput: one process vs `torchrun --nproc-per-node 2` on the CPU (gloo).

Both runs use `minibert pretrain` with the same per-process batch, so the 2-process run does
twice the work per step. Tokens/s counts real (non-padding) tokens of all processes, as the
command logs it; the first logging window (start-up, first tokenization) is left out.
On a CPU, two processes share the same cores the single process would use (it gets
--threads threads, each of the two gets half), so this measures the cost of DDP's gradient
all-reduce and of the split, not a speed-up from more hardware.

    python benchmarks/bench_pretrain.py            # writes benchmarks/results/pretrain_throughput.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus" / "en_debian_reference.txt"
RESULTS = ROOT / "benchmarks" / "results"


def make_corpus(path: Path, document_lines: int = 20) -> None:
    lines = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    path.write_text("\n\n".join("\n".join(lines[i : i + document_lines]) for i in range(0, len(lines), document_lines)) + "\n",
                    encoding="utf-8")


def run(processes: int, threads: int, corpus: Path, out: Path, args: argparse.Namespace) -> dict:
    command = ["-m", "minibert", "pretrain", "--corpus", str(corpus), "--config", args.config, "--out", str(out),
               "--batch-size", str(args.batch_size), "--max-length", str(args.max_length), "--max-steps", str(args.steps),
               "--logging-steps", str(args.logging_steps), "--save-steps", str(args.steps), "--no-progress",
               "--device", "cpu"]
    if processes > 1:
        command = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes), *command]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        raise SystemExit(f"{processes}-process run failed:\n{result.stderr[-3000:]}")
    log = [r for r in json.loads((out / "pretraining_log.json").read_text()) if "tokens_per_s" in r]
    measured = log[1:]  # the first window includes start-up
    return {
        "processes": processes,
        "threads_per_process": threads,
        "sequences_per_step": args.batch_size * processes,
        "tokens_per_s_windows": [r["tokens_per_s"] for r in measured],
        "tokens_per_s": sum(r["tokens_per_s"] for r in measured) / len(measured),
        "final_mlm_loss": log[-1]["mlm_loss"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="mini")
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--logging-steps", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads of the single process")
    p.add_argument("--docs-only", action="store_true", help="copy the last results table into docs/pretraining.md")
    args = p.parse_args()
    if args.docs_only:
        update_docs((RESULTS / "pretrain_throughput.md").read_text())
        return

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "reference.txt"
        make_corpus(corpus)
        runs = [run(1, args.threads, corpus, tmp / "one", args),
                run(2, max(1, args.threads // 2), corpus, tmp / "two", args)]
    import torch

    results = {
        "what": "minibert pretrain tokens/s (all processes), CPU, gloo; first logging window excluded",
        "config": args.config, "max_length": args.max_length, "per_process_batch": args.batch_size, "steps": args.steps,
        "torch": torch.__version__, "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "load_average_after": os.getloadavg(),
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pretrain_throughput.json").write_text(json.dumps(results, indent=1) + "\n")
    table = ["| processes | threads each | sequences/step | tokens/s (mean of windows) | windows |",
             "|---:|---:|---:|---:|---|"]
    for r in runs:
        windows = ", ".join(f"{t:.0f}" for t in r["tokens_per_s_windows"])
        table.append(f"| {r['processes']} | {r['threads_per_process']} | {r['sequences_per_step']} | "
                     f"{r['tokens_per_s']:.0f} | {windows} |")
    text = (f"`{args.config}` config, max_length {args.max_length}, {args.batch_size} sequences per process per step, "
            f"{args.steps} steps; {os.cpu_count()} CPUs, torch {torch.__version__}; load average after the runs "
            f"{results['load_average_after'][0]:.1f}.\n\n" + "\n".join(table) + "\n")
    (RESULTS / "pretrain_throughput.md").write_text(text)
    update_docs(text)
    print(text)


def update_docs(text: str) -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.docs_sections import replace_between

    replace_between(ROOT / "docs" / "pretraining.md", "throughput",
                    "Generated by `python benchmarks/bench_pretrain.py` into `benchmarks/results/pretrain_throughput.json`:\n\n" + text)


if __name__ == "__main__":
    main()
