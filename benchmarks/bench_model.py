"""Model benchmark: minibert.BertModel vs transformers.BertModel, same weights, same inputs.

Random bert-base-uncased-shaped weights are written once in the Hugging Face layout and
loaded by both libraries. Each configuration times its variants alternating in this one
process (benchmarks/common.py) and reports medians and ratios:

  issue2     batch 8 x 128, no padding, inference: minibert sdpa / transformers sdpa
             (target <= 1.00) and minibert eager / transformers eager (target <= 1.10)
  padding    batch 16, padded to 256, 0/25/50/75% padding, inference: minibert unpadded vs
             transformers sdpa (targets: 75% >= 2.0x, 50% >= 1.6x, 0% ratio <= 1.00); add
             minibert's padded sdpa path with --padded-too
  finetune   batch 16 x 256 at 50% padding: forward + backward + AdamW step with a linear
             classifier on the pooled output (target >= 1.5x)
  compile    (--compile) adds torch.compile(minibert sdpa) to issue2; the results then go to
             model_<device>_compile.json (run it as its own step: --only issue2 --compile)

Run: python -m benchmarks.bench_model [--quick] [--device cuda --dtype bfloat16] [--compile]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks import common  # noqa: E402

BERT_BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512)
TINY = dict(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
            max_position_embeddings=64)
COLUMNS = ["config", "batch", "seq", "padding", "variant", "median_ms", "rounds", "ratio_vs_transformers_sdpa", "speedup_vs_transformers_sdpa", "peak_mem_mb"]


def write_weights(directory: Path, shape: dict) -> None:
    """Random weights in the Hugging Face file layout (model.safetensors + config.json)."""
    import minibert

    torch.manual_seed(0)
    minibert.BertModel(minibert.BertConfig(**shape)).save_pretrained(directory)


def load_models(path: Path, device: str, dtype: torch.dtype, minibert_impls: list[str], transformers_impls: list[str]) -> dict[str, nn.Module]:
    import minibert
    import transformers

    models = {}
    for impl in minibert_impls:
        models[f"minibert {impl}"] = minibert.BertModel.from_pretrained(path, attn_implementation=impl, dtype=dtype, device=device)
    for impl in transformers_impls:
        models[f"transformers {impl}"] = transformers.BertModel.from_pretrained(path, attn_implementation=impl, dtype=dtype).to(device).eval()
    return models


def inference(model: nn.Module, inputs: dict) -> callable:
    def run():
        with torch.inference_mode():
            return model(**inputs).last_hidden_state

    return run


def finetune_step(model: nn.Module, inputs: dict, hidden: int, device: str, dtype: torch.dtype) -> callable:
    """One step of sequence classification: linear on the pooled output, cross-entropy, AdamW."""
    head = nn.Linear(hidden, 2).to(device=device, dtype=dtype)
    model.train()
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    labels = torch.arange(inputs["input_ids"].shape[0], device=device) % 2

    def run():
        logits = head(model(**inputs).pooler_output)
        loss = nn.functional.cross_entropy(logits.float(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return run


def rows_for(config: str, lengths: list[int], seq: int, results: dict, padding: float) -> list[dict]:
    reference = results.get("transformers sdpa", {}).get("median_s")
    rows = []
    for name, r in results.items():
        rows.append({
            "config": config, "batch": len(lengths), "seq": seq, "padding": round(padding, 3), "variant": name,
            "median_ms": r["median_s"] * 1e3, "rounds": len(r["times_s"]), "times_ms": [t * 1e3 for t in r["times_s"]],
            "ratio_vs_transformers_sdpa": r["median_s"] / reference if reference else None,
            "speedup_vs_transformers_sdpa": reference / r["median_s"] if reference else None,
            "peak_mem_mb": r["peak_mem_bytes"] / 2**20 if r["peak_mem_bytes"] else None,
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--paddings", type=float, nargs="*", default=None,
                        help="padding shares of the padding configuration (default 0 0.25 0.5 0.75)")
    parser.add_argument("--padded-too", action="store_true", help="padding configuration: also time minibert sdpa")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(minibert) (slow to compile)")
    parser.add_argument("--only", nargs="*", default=["issue2", "padding", "finetune"], choices=["issue2", "padding", "finetune"],
                        help="configurations to run (default: all)")
    args = parser.parse_args(argv)
    common.setup(args, default_rounds=2)  # a bert-base 16 x 256 forward takes ~20 s on 2 slow cores
    dtype = getattr(torch, args.dtype)
    shape = TINY if args.quick else BERT_BASE
    b2, s2 = (2, 16) if args.quick else (8, 128)
    b6, s6 = (4, 32) if args.quick else (16, 256)
    paddings = args.paddings or ([0.0, 0.5] if args.quick else [0.0, 0.25, 0.5, 0.75])
    meta = {"machine": common.machine_info(args.device), "dtype": args.dtype, "rounds": args.rounds, "warmup": 1,
            "model_shape": shape, "quick": args.quick}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        common.progress(f"writing random {'tiny' if args.quick else 'bert-base'} weights to {path}")
        write_weights(path, shape)

        if "issue2" in args.only:
            models = load_models(path, args.device, dtype, ["eager", "sdpa"], ["eager", "sdpa"])
            lengths = [s2] * b2
            inputs = common.padded_batch(lengths, shape["vocab_size"], args.device)
            variants = {name: inference(m, inputs) for name, m in models.items()}
            if args.compile:
                common.progress("compiling minibert sdpa (torch.compile)")
                compiled = torch.compile(models["minibert sdpa"])
                variants["minibert sdpa compiled"] = inference(compiled, inputs)
            results = common.compare(variants, args.device, args.rounds, label=f"issue2 {b2}x{s2}")
            issue2 = rows_for("issue2", lengths, s2, results, 0.0)
            eager_ref = results["transformers eager"]["median_s"]
            for row in issue2:
                row["ratio_vs_transformers_eager"] = row["median_ms"] / 1e3 / eager_ref
            rows += issue2
            del models, variants

        if "padding" in args.only:
            models = load_models(path, args.device, dtype, ["sdpa", "unpadded"] if args.padded_too else ["unpadded"], ["sdpa"])
            for padding in paddings:
                lengths = common.padded_lengths(b6, s6, padding)
                inputs = common.padded_batch(lengths, shape["vocab_size"], args.device, s6)
                variants = {name: inference(m, inputs) for name, m in models.items()}
                results = common.compare(variants, args.device, args.rounds, label=f"padding {padding:.0%}")
                rows += rows_for("padding", lengths, s6, results, 1 - sum(lengths) / (b6 * s6))
            del models, variants

        if "finetune" in args.only:
            # minibert's padded sdpa step is left out: on 2 CPU cores each step takes ~20 s.
            models = load_models(path, args.device, dtype, ["unpadded"], ["sdpa"])
            lengths = common.padded_lengths(b6, s6, 0.5)
            inputs = common.padded_batch(lengths, shape["vocab_size"], args.device, s6)
            variants = {name: finetune_step(m, inputs, shape["hidden_size"], args.device, dtype) for name, m in models.items()}
            results = common.compare(variants, args.device, args.rounds, label="finetune 50%")
            rows += rows_for("finetune", lengths, s6, results, 1 - sum(lengths) / (b6 * s6))
            del models, variants

    name = (f"model_{args.device}" + ("" if args.dtype == "float32" else f"_{args.dtype}") + ("_compile" if args.compile else "")
            + ("_quick" if args.quick else ""))
    # A partial run (--only, --paddings) replaces its own rows in the results file and keeps the others.
    previous = args.out / f"{name}.json"
    if previous.is_file():
        ran = {(row["config"], row["padding"]) for row in rows}
        kept = [row for row in json.loads(previous.read_text())["rows"] if (row["config"], row["padding"]) not in ran]
        for row in kept:
            row.setdefault("rounds", len(row.get("times_ms", [])))
        if kept:
            common.progress(f"kept {len(kept)} rows of configurations not run now from {previous}")
            meta["rows_kept_from_previous_run"] = len(kept)
        order = {"issue2": 0, "padding": 1, "finetune": 2}
        rows = sorted(kept + rows, key=lambda row: (order[row["config"]], row["padding"]))
    columns = COLUMNS + (["ratio_vs_transformers_eager"] if any(row["config"] == "issue2" for row in rows) else [])
    common.write_results(args.out, name, meta, rows, columns,
                         f"Model benchmark ({args.device}, {args.dtype}, {args.threads} threads, median of each row's rounds)")
    padding_rows = [r for r in rows if r["config"] == "padding"]
    if padding_rows:
        series = {}
        for row in padding_rows:
            xs, ys = series.setdefault(row["variant"], ([], []))
            xs.append(100 * row["padding"])
            ys.append(row["median_ms"])
        common.plot(args.out, name + "_padding", series, "padding share (%)", "forward time (ms, median)",
                    f"BertModel forward, batch {b6}, padded to {s6}, {args.device} {args.dtype}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
