"""int8 CPU inference (minibert.quantization) against float32: speed, and what it costs in quality.

speed      BertModel forward at 0% padding, float32 against `quantize("int8")`, same weights
           (random, of bert-base's shape, batch 16 x 128; the real all-MiniLM-L6-v2, batch
           32 x 128), alternating rounds.
accuracy   The demo's sentiment classifier: `minibert demo` fine-tunes all-MiniLM-L6-v2 once
           (its defaults, seed 42), then the saved model classifies the demo's dev set in
           float32 and in int8; accuracy of each and the change in points.
cosine     Mean-pooled all-MiniLM-L6-v2 embeddings of --sentences real sentences (corpus/, the
           Debian handbook) in float32 and in int8: cosine similarity, minimum and mean.

Run: python -m benchmarks.bench_quantize [--quick]
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks.bench_end_to_end import checkpoint_dir, sentences  # noqa: E402

COLUMNS = ["measure", "model", "shape", "float32", "int8", "speedup_or_change"]


def speed_rows(args) -> list[dict]:
    import minibert

    shapes = {"bert-base (random weights)": (None, 16, 128), "all-MiniLM-L6-v2": (checkpoint_dir(), 32, 128)}
    if args.quick:
        shapes = {"all-MiniLM-L6-v2": (checkpoint_dir(), 2, 16)}
    rows = []
    for name, (path, B, S) in shapes.items():
        if path is None:
            torch.manual_seed(0)
            fp32 = minibert.BertModel(minibert.BertConfig()).eval()
            int8 = minibert.BertModel(minibert.BertConfig()).eval()
            int8.load_state_dict(fp32.state_dict())
            int8.quantize("int8")
        else:
            fp32, int8 = minibert.BertModel.from_pretrained(path), minibert.BertModel.from_pretrained(path, quantize="int8")
        batch = common.padded_batch([S] * B, fp32.config.vocab_size, "cpu")

        def forward(model):
            def run():
                with torch.inference_mode():
                    model(**batch)
            return run

        results = common.compare({"float32": forward(fp32), "int8": forward(int8)}, "cpu", args.rounds, label=f"{name} {B}x{S}")
        a, b = results["float32"]["median_s"], results["int8"]["median_s"]
        rows.append({"measure": "forward median_s, 0% padding", "model": name, "shape": f"{B} x {S}", "float32": a, "int8": b,
                     "speedup_or_change": a / b, "times_s": {k: r["times_s"] for k, r in results.items()}})
    return rows


def accuracy_row(args, tmp: Path) -> dict:
    from minibert import BertForSequenceClassification, BertTokenizer, data
    from minibert.cli import main as cli
    from minibert.commands.demo import dataset_path
    from minibert.inference import predict

    out = tmp / "demo"
    argv = ["demo", "--out", str(out), "--seed", "42"] + (["--epochs", "1"] if args.quick else [])
    common.progress("fine-tuning the demo classifier (minibert demo)")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        if cli(argv) != 0:
            raise SystemExit("minibert demo failed:\n" + printed.getvalue())
    dev = data.read_examples(dataset_path("dev"))
    tokenizer = BertTokenizer.from_pretrained(out)
    accuracy = {}
    for name, options in (("float32", {}), ("int8", {"quantize": "int8"})):
        model = BertForSequenceClassification.from_pretrained(out, **options)
        predictions = predict(model, tokenizer, [e.text for e in dev], max_length=64)
        accuracy[name] = sum(p.label == e.label for p, e in zip(predictions, dev)) / len(dev)
    return {"measure": "demo dev accuracy", "model": "all-MiniLM-L6-v2 fine-tuned by minibert demo", "shape": f"{len(dev)} sentences",
            "float32": accuracy["float32"], "int8": accuracy["int8"],
            "speedup_or_change": 100 * (accuracy["int8"] - accuracy["float32"])}


def cosine_rows(args) -> list[dict]:
    import minibert

    texts = sentences(8 if args.quick else args.sentences)
    tokenizer = minibert.BertTokenizer.from_pretrained(checkpoint_dir())
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    pooled = {}
    for name, options in (("float32", {}), ("int8", {"quantize": "int8"})):
        model = minibert.BertModel.from_pretrained(checkpoint_dir(), **options)
        with torch.inference_mode():
            hidden = model(batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state  # (B, S, H)
        mask = batch["attention_mask"][..., None].float()  # (B, S, 1)
        pooled[name] = (hidden * mask).sum(1) / mask.sum(1)  # (B, H)
    cosine = torch.nn.functional.cosine_similarity(pooled["float32"], pooled["int8"], dim=-1)
    return [{"measure": f"embedding cosine to float32, {stat}", "model": "all-MiniLM-L6-v2", "shape": f"{len(texts)} sentences",
             "float32": 1.0, "int8": float(value), "speedup_or_change": float(value)}
            for stat, value in (("minimum", cosine.min()), ("mean", cosine.mean()))]


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=256, help="real sentences for the cosine (default 256)")
    parser.add_argument("--skip-accuracy", action="store_true", help="skip fine-tuning the demo classifier")
    args = parser.parse_args(argv)
    common.setup(args, default_rounds=3)
    if args.device != "cpu":
        raise SystemExit("int8 quantization runs on the CPU only: --device cpu")
    from minibert.quantization import cpu_has_vnni

    rows = speed_rows(args) + cosine_rows(args)
    if not args.skip_accuracy:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(accuracy_row(args, Path(tmp)))
    meta = {"machine": common.machine_info("cpu"), "rounds": args.rounds, "quick": args.quick, "cpu_has_vnni": cpu_has_vnni(),
            "quantized_engine": torch.backends.quantized.engine, "load_average": common.load_average()}
    name = "quantize_cpu" + ("_quick" if args.quick else "")
    common.write_results(args.out, name, meta, rows, COLUMNS,
                         f"int8 against float32 ({args.threads} threads; speed: medians of {args.rounds}; "
                         "speedup_or_change: speed-up, accuracy change in points, or the cosine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
