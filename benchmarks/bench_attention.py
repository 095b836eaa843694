"""Attention micro-benchmark: the attention step alone (no projections), 12 heads of 64.

Variants, on the same q, k, v (random, one padded batch) and the same padding:
  minibert eager      minibert.model.eager_attention, additive (B, 1, 1, S) mask
  minibert sdpa       F.scaled_dot_product_attention with that mask (what minibert's sdpa path runs)
  minibert unpadded   minibert.unpad.varlen_attention on the packed (T, nh, hd) real tokens
  transformers eager  transformers' eager_attention_forward (additive mask)
  transformers sdpa   transformers' sdpa_attention_forward (boolean mask)
  sdpa math / efficient / flash   (CUDA only) minibert sdpa forced onto one SDPA backend with
                      torch.nn.attention.sdpa_kernel; a backend that rejects the input is reported as n/a

Modes: "fwd" (inference, no autograd) and "fwd+bwd" (forward, then backward of the sum).
Peak memory is CUDA's max_memory_allocated; on CPU PyTorch keeps no allocator statistics
and tracemalloc does not see its allocations, so it is reported as n/a.

Default CPU grid (sized for 2 cores, about 4 minutes): batch 4; seq 128/256/512; padding
0/50/75%; fp32 fwd, fp32 fwd+bwd and bf16 fwd (bf16 fwd+bwd alone would take 10 minutes
there: CPUs without bf16 matrix units emulate it). --full: batch 1/8/32, seq
64/128/256/512, padding 0/25/50/75%, fp32 and bf16, fwd and fwd+bwd (the default on CUDA).
--quick: tiny shapes.

Run: python -m benchmarks.bench_attention [--quick | --full] [--device cuda]
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks import common  # noqa: E402
from minibert.model import eager_attention, extended_attention_mask  # noqa: E402
from minibert.unpad import Packing, pack, varlen_attention  # noqa: E402

HEADS, HEAD_DIM = 12, 64
COLUMNS = ["batch", "seq", "padding", "dtype", "mode", "variant", "median_ms", "ratio_vs_transformers_sdpa", "peak_mem_mb"]


class _AttentionModule(nn.Module):
    """What transformers' attention functions read from their module: inference, not causal."""

    is_causal = False


def transformers_functions():
    try:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward
        from transformers.models.bert.modeling_bert import eager_attention_forward
    except ImportError:
        common.progress("transformers not installed: its variants are skipped")
        return None, None
    return eager_attention_forward, sdpa_attention_forward


def make_variants(batch: int, seq: int, padding: float, dtype: torch.dtype, mode: str, device: str) -> dict:
    lengths = common.padded_lengths(batch, seq, padding)
    keep = torch.arange(seq, device=device)[None, :] < torch.tensor(lengths, device=device)[:, None]  # (B, S)
    q, k, v = (torch.randn(batch, HEADS, seq, HEAD_DIM, device=device, dtype=dtype) for _ in range(3))  # (B, nh, S, hd)
    additive = extended_attention_mask(keep, dtype) if padding > 0 else None  # (B, 1, 1, S)
    boolean = keep[:, None, None, :] if padding > 0 else None  # (B, 1, 1, S)
    packing = Packing.from_attention_mask(keep.long())
    packed = [pack(t.transpose(1, 2), packing).contiguous() for t in (q, k, v)]  # (T, nh, hd)
    backward = mode == "fwd+bwd"
    if backward:
        for t in (q, k, v, *packed):
            t.requires_grad_(True)
    module = _AttentionModule().eval()
    scaling = HEAD_DIM**-0.5
    hf_eager, hf_sdpa = transformers_functions()

    def run(fn):
        def call():
            if backward:
                fn().float().sum().backward()
            else:
                with torch.no_grad():
                    fn()
        return call

    variants = {
        "minibert eager": run(lambda: eager_attention(q, k, v, additive)[0]),
        "minibert sdpa": run(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=additive)),
        "minibert unpadded": run(lambda: varlen_attention(*packed, packing)),
    }
    if hf_eager is not None:
        variants["transformers eager"] = run(lambda: hf_eager(module, q, k, v, additive, scaling=scaling)[0])
        variants["transformers sdpa"] = run(lambda: hf_sdpa(module, q, k, v, boolean, scaling=scaling)[0])
    if device == "cuda":
        from torch.nn.attention import SDPBackend, sdpa_kernel

        for label, backend in (("math", SDPBackend.MATH), ("efficient", SDPBackend.EFFICIENT_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)):
            def forced(backend=backend):
                with sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(q, k, v, attn_mask=additive)
            try:  # a backend that cannot take this input (flash: any mask) raises: skip it
                run(forced)()
            except RuntimeError:
                continue
            variants[f"sdpa {label}"] = run(forced)
    return lengths, variants


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the whole grid (hours on 2 CPU cores; the CUDA default)")
    args = parser.parse_args(argv)
    common.setup(args)
    if args.quick:
        grid = dict(batch=[2], seq=[16, 32], padding=[0.0, 0.5], dtype_mode=[("float32", "fwd"), ("float32", "fwd+bwd")])
    elif args.full or args.device == "cuda":
        grid = dict(batch=[1, 8, 32], seq=[64, 128, 256, 512], padding=[0.0, 0.25, 0.5, 0.75],
                    dtype_mode=[("float32", "fwd"), ("float32", "fwd+bwd"), ("bfloat16", "fwd"), ("bfloat16", "fwd+bwd")])
    else:
        grid = dict(batch=[4], seq=[128, 256, 512], padding=[0.0, 0.5, 0.75],
                    dtype_mode=[("float32", "fwd"), ("float32", "fwd+bwd"), ("bfloat16", "fwd")])
    meta = {"machine": common.machine_info(args.device), "rounds": args.rounds, "warmup": 1, "grid": grid,
            "heads": HEADS, "head_dim": HEAD_DIM, "quick": args.quick}
    rows = []
    cells = list(itertools.product(*grid.values()))
    for i, (batch, seq, padding, (dtype_name, mode)) in enumerate(cells, 1):
        label = f"[{i}/{len(cells)}] B{batch} S{seq} pad {padding:.0%} {dtype_name} {mode}"
        lengths, variants = make_variants(batch, seq, padding, getattr(torch, dtype_name), mode, args.device)
        results = common.compare(variants, args.device, args.rounds, label=label)
        reference = results.get("transformers sdpa", {}).get("median_s")
        for name, r in results.items():
            rows.append({
                "batch": batch, "seq": seq, "padding": padding, "real_tokens": sum(lengths), "dtype": dtype_name, "mode": mode,
                "variant": name, "median_ms": r["median_s"] * 1e3, "times_ms": [t * 1e3 for t in r["times_s"]],
                "ratio_vs_transformers_sdpa": r["median_s"] / reference if reference else None,
                "peak_mem_mb": r["peak_mem_bytes"] / 2**20 if r["peak_mem_bytes"] else None,
            })
    name = f"attention_{args.device}" + ("_quick" if args.quick else "")
    common.write_results(args.out, name, meta, rows, COLUMNS,
                         f"Attention micro-benchmark ({args.device}, {args.threads} threads, {HEADS} heads x {HEAD_DIM}, medians of {args.rounds})")
    # Time vs sequence length at the largest batch, fp32 forward, for each padding share in the grid.
    batch = max(grid["batch"])
    for padding in grid["padding"]:
        series = {}
        for row in rows:
            if row["batch"] == batch and row["padding"] == padding and row["dtype"] == "float32" and row["mode"] == "fwd":
                xs, ys = series.setdefault(row["variant"], ([], []))
                xs.append(row["seq"])
                ys.append(row["median_ms"])
        common.plot(args.out, f"{name}_pad{round(padding * 100)}", series, "sequence length", "time (ms, median)",
                    f"attention, batch {batch}, {padding:.0%} padding, float32 forward, {args.device}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
