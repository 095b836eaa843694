"""Token-classification pipeline throughput: minibert.pipeline("ner") vs transformers.pipeline("ner").

Both pipelines load the SAME checkpoint (a BertForTokenClassification saved by minibert:
--model, or by default MiniLM's encoder with a randomly initialised 9-tag head) and tag the
SAME texts: the 106 dev sentences of minibert's bundled NER set, joined with spaces, and 100
lines of the Debian handbook (corpus/), 206 texts of 4 to ~90 pieces. Each call is the whole
pipeline: tokenization, batching, the model, and the aggregation of pieces into entities. The
variants alternate round by round (benchmarks/common.py) and the medians are compared. Before
timing, the two outputs are compared (same entities, scores within 1e-4): `same_output`.

Run: python -m benchmarks.bench_ner [--quick] [--model DIR] [--threads 2] [--rounds 3]
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402

COLUMNS = ["library", "aggregation", "batch_size", "texts", "median_s", "texts_per_s", "ratio_vs_transformers", "same_output"]
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


def texts(quick: bool) -> list[str]:
    from minibert.tasks.conll import read_tagged

    dev = [" ".join(s.words) for s in read_tagged(common.ROOT / "minibert" / "datasets" / "ner_dev.conll")]
    lines = (common.ROOT / "corpus" / "en_debian_handbook.txt").read_text(encoding="utf-8").splitlines()
    handbook = [line.strip() for line in lines if len(line.strip()) > 20][:100]
    return (dev[:8] + handbook[:8]) if quick else dev + handbook


def random_tagger(out: Path) -> Path:
    """MiniLM's encoder with a new 9-tag head (seeded), saved with its tokenizer files."""
    import shutil

    import torch

    from minibert import BertForTokenClassification
    from minibert.commands.embed import default_model_dir

    minilm = default_model_dir()
    if minilm is None:
        raise SystemExit("the bundled MiniLM checkpoint is not installed; pass --model DIR")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BertForTokenClassification.from_pretrained(minilm, id2label=dict(enumerate(LABELS)))
    model.save_pretrained(out)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
        shutil.copy(Path(minilm) / name, out / name)
    return out


def same(ours: list[list[dict]], theirs: list[list[dict]]) -> bool:
    for o_list, t_list in zip(ours, theirs):
        if len(o_list) != len(t_list):
            return False
        for o, t in zip(o_list, t_list):
            if {k: v for k, v in o.items() if k != "score"} != {k: v for k, v in t.items() if k != "score"}:
                return False
            if abs(o["score"] - float(t["score"])) > 1e-4:
                return False
    return len(ours) == len(theirs)


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a token-classification checkpoint (default: MiniLM with a random head)")
    args = parser.parse_args(argv)
    common.setup(args, default_rounds=3)
    import transformers

    import minibert

    transformers.logging.set_verbosity_error()
    corpus = texts(args.quick)
    settings = [("first", 32)] if args.quick else [("first", 32), ("first", 1), ("none", 32)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or random_tagger(Path(tmp) / "tagger")
        common.progress(f"{len(corpus)} texts, checkpoint {model_dir}")
        for strategy, batch_size in settings:
            ours = minibert.pipeline("ner", model=model_dir, device=args.device, aggregation_strategy=strategy,
                                     batch_size=batch_size)
            theirs = transformers.pipeline("ner", model=str(model_dir), device=args.device,
                                           aggregation_strategy=strategy, batch_size=batch_size)
            agree = same(ours(corpus), theirs(corpus))
            timings = common.compare({"minibert": lambda: ours(corpus), "transformers": lambda: theirs(corpus)},
                                     args.device, args.rounds, label=f"{strategy}, batch {batch_size}")
            reference = timings["transformers"]["median_s"]
            for library, t in timings.items():
                rows.append({"library": library, "aggregation": strategy, "batch_size": batch_size, "texts": len(corpus),
                             "median_s": t["median_s"], "texts_per_s": len(corpus) / t["median_s"],
                             "ratio_vs_transformers": reference / t["median_s"], "same_output": agree})
    name = f"ner_{args.device}" + ("_quick" if args.quick else "")
    meta = {"machine": common.machine_info(args.device), "threads": args.threads, "rounds": args.rounds,
            "checkpoint": str(args.model) if args.model else "MiniLM-L6 + random 9-tag head"}
    common.write_results(args.out, name, meta, rows, COLUMNS,
                         "Token-classification pipeline: texts per second (ratio > 1: minibert faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
