"""Shared helpers of the benchmarks: timing, alternating runs, medians, machine info, output.

Every benchmark times its compared variants in ONE process, alternating them round by round
(A B C, B C A, C A B, ...), after one warm-up call each, and reports medians: a slow spell
of a shared machine then hits every variant alike instead of whichever ran during it.
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
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
_START = time.perf_counter()


def progress(message: str) -> None:
    """One line on stderr with the seconds since the script started: long runs show they are alive."""
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny shapes, one round: checks the script runs (seconds)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2, the issues' CPU setting)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per variant (default: the script's, 1 with --quick)")
    parser.add_argument("--out", type=Path, default=None, help="directory for the JSON and Markdown (default benchmarks/results, or $OUT)")
    return parser


def setup(args: argparse.Namespace, default_rounds: int = 3) -> None:
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU here; use --device cpu")
    torch.set_num_threads(args.threads)
    if args.rounds is None:
        args.rounds = 1 if args.quick else default_rounds
    if args.out is None:
        args.out = Path(os.environ["OUT"]) / "benchmarks" if os.environ.get("OUT") else RESULTS
    args.out.mkdir(parents=True, exist_ok=True)


def machine_info(device: str = "cpu") -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cpu_cores_visible": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        info["transformers"] = None
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_once(fn: Callable[[], Any], device: str) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def compare(variants: dict[str, Callable[[], Any]], device: str, rounds: int, warmup: int = 1,
            label: str = "") -> dict[str, dict[str, Any]]:
    """Time each variant `rounds` times, alternating, after `warmup` untimed calls each.

    Returns {name: {"median_s", "times_s", "peak_mem_bytes"}}; peak memory is CUDA's
    max_memory_allocated during the variant's calls, None on CPU (no allocator statistics there).
    """
    names = list(variants)
    for name in names:
        for _ in range(warmup):
            variants[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    peaks: dict[str, int | None] = {n: None for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]  # rotate who goes first
        for name in order:
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            times[name].append(time_once(variants[name], device))
            if device == "cuda":
                peaks[name] = max(peaks[name] or 0, torch.cuda.max_memory_allocated())
        progress(f"{label} round {r + 1}/{rounds}: " + ", ".join(f"{n} {times[n][-1] * 1e3:.1f} ms" for n in names))
    return {n: {"median_s": statistics.median(times[n]), "times_s": times[n], "peak_mem_bytes": peaks[n]} for n in names}


def padded_lengths(batch: int, max_len: int, padding: float, seed: int = 0) -> list[int]:
    """Lengths of `batch` sequences padded to `max_len` with a share `padding` of pads.

    The first sequence is full length (the batch is padded to its longest, as a tokenizer
    does); the rest vary uniformly around the mean that gives the requested share. Every
    sequence keeps at least one token, so tiny batches get as close to the share as they can.
    """
    if padding == 0 or batch == 1:
        return [max_len] * batch
    g = torch.Generator().manual_seed(seed)
    total = max(batch, round((1 - padding) * batch * max_len))
    first = min(max_len, total - (batch - 1))
    mean = (total - first) / (batch - 1)
    rest = (mean * (0.5 + torch.rand(batch - 1, generator=g))).round().clamp(1, max_len)
    lengths = [first] + [int(n) for n in rest]
    # Nudge lengths (within 1..max_len) until the total is exact; always possible, as
    # batch - 1 <= total - first <= (batch - 1) * max_len.
    i = 1
    while sum(lengths) != total:
        step = 1 if sum(lengths) < total else -1
        if 1 <= lengths[i] + step <= max_len:
            lengths[i] += step
        i = i % (batch - 1) + 1
    return lengths


def padded_batch(lengths: list[int], vocab_size: int, device: str, max_len: int | None = None,
                 seed: int = 0) -> dict[str, torch.Tensor]:
    """input_ids / attention_mask / token_type_ids for the given lengths, padded right to max_len."""
    g = torch.Generator().manual_seed(seed)
    S = max_len or max(lengths)
    ids = torch.randint(1000 if vocab_size > 2000 else 1, vocab_size, (len(lengths), S), generator=g)
    mask = (torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]).long()
    ids = ids * mask
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "token_type_ids": torch.zeros_like(ids).to(device)}


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def fmt(v: Any) -> str:
        if v is None:
            return "n/a"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_results(out: Path, name: str, meta: dict[str, Any], rows: list[dict[str, Any]], columns: list[str],
                  title: str) -> tuple[Path, Path]:
    """<name>.json (machine, settings and every row) and <name>.md (the table), written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    _atomic_write(json_path, json.dumps({"meta": meta, "columns": columns, "rows": rows}, indent=2) + "\n")
    table = markdown_table(rows, columns)
    _atomic_write(md_path, f"## {title}\n\n{table}")
    print(f"\n{title}\n{table}")
    progress(f"wrote {json_path} and {md_path}")
    return json_path, md_path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def plot(out: Path, name: str, series: dict[str, tuple[list[float], list[float]]], xlabel: str, ylabel: str,
         title: str) -> Path | None:
    """A line plot, one line per series; None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        progress("matplotlib not installed: no plot")
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bar_plot(out: Path, name: str, bars: dict[str, float], ylabel: str, title: str) -> Path | None:
    """One bar per entry, its value written on it, a dashed line at 1; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        progress("matplotlib not installed: no plot")
        return None
    fig, ax = plt.subplots(figsize=(max(6.4, 1.1 * len(bars)), 4.2))
    drawn = ax.bar(list(bars), list(bars.values()), color="tab:blue")
    ax.bar_label(drawn, fmt="%.2f", fontsize=8)
    ax.axhline(1.0, color="gray", linestyle="--", linewidth=1)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    path = out / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages when the run ended: on a shared machine, how busy it was."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def ensure_importable() -> None:
    """Scripts run as `python benchmarks/x.py` too: put the repository root on sys.path."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
