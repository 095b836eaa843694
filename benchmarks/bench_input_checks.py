"""What checking the model's inputs costs per forward pass, on the CPU.

`minibert.validation.check_inputs` runs at the start of every BertModel forward. It is timed
alone (median of --calls calls, microseconds) on the batch shapes of issue 18, next to the
forward pass it guards (median of --rounds, alternating the shapes), with random weights of
bert-base (8 x 128) and all-MiniLM-L6-v2 (32 x 64) shapes: overhead = check time / forward time.

Run it once on the code before a change (`--tag before`) and once after: each run writes
input_checks_<device>[_<tag>].json, and the README notes compare the two.

Run: python -m benchmarks.bench_input_checks [--quick] [--tag before]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks import common  # noqa: E402

SHAPES = {
    "bert-base 8 x 128": (dict(), 8, 128),
    "MiniLM 32 x 64": (dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536), 32, 64),
}
COLUMNS = ["shape", "batch", "seq", "check_us", "forward_ms", "overhead_pct"]


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=None, help="timed check_inputs calls per shape (default 2000, 20 with --quick)")
    parser.add_argument("--tag", default="", help="suffix of the output files, e.g. 'before'")
    args = parser.parse_args(argv)
    common.setup(args, default_rounds=3)
    from minibert import BertConfig, BertModel
    from minibert.validation import check_inputs

    calls = args.calls or (20 if args.quick else 2000)
    rows, forwards, batches, configs = [], {}, {}, {}
    for name, (overrides, B, S) in SHAPES.items():
        if args.quick:
            overrides, B, S = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64), 2, 16
        config = BertConfig(**overrides)
        torch.manual_seed(0)
        model = BertModel(config).to(args.device).eval()
        # No padding: the shapes of the issue, and the same path before and after any change.
        batch = common.padded_batch([S] * B, config.vocab_size, args.device)
        configs[name], batches[name] = config, batch

        def forward(model=model, batch=batch):
            with torch.inference_mode():
                model(**batch)

        forwards[name] = forward
    timed = common.compare(forwards, args.device, args.rounds, label="forward")
    for name, (_, B, S) in SHAPES.items():
        batch, config = batches[name], configs[name]
        args_ = (config, batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], None)
        for _ in range(10):
            check_inputs(*args_)
        times = []
        for _ in range(calls):
            common.synchronize(args.device)
            start = time.perf_counter()
            check_inputs(*args_)
            common.synchronize(args.device)
            times.append(time.perf_counter() - start)
        check_s, forward_s = statistics.median(times), timed[name]["median_s"]
        rows.append({"shape": name, "batch": batch["input_ids"].shape[0], "seq": batch["input_ids"].shape[1],
                     "check_us": check_s * 1e6, "forward_ms": forward_s * 1e3, "overhead_pct": 100 * check_s / forward_s,
                     "forward_times_s": timed[name]["times_s"]})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=common.ROOT, capture_output=True, text=True).stdout.strip()
    meta = {"machine": common.machine_info(args.device), "rounds": args.rounds, "calls": calls, "commit": commit,
            "load_average": common.load_average(),
            "tag": args.tag, "quick": args.quick, "weights": "random, of the named shapes", "padding": 0}
    name = f"input_checks_{args.device}" + (f"_{args.tag}" if args.tag else "") + ("_quick" if args.quick else "")
    common.write_results(args.out, name, meta, rows, COLUMNS,
                         f"Input checks per forward ({args.device}, {args.threads} threads{', ' + args.tag if args.tag else ''}; "
                         f"check: median of {calls} calls, forward: median of {args.rounds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
