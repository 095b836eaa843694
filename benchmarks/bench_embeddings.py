"""Sentence embeddings: minibert's SentenceEncoder.encode against sentence-transformers' encode.

The same checkpoint (all-MiniLM-L6-v2, the bundled copy), the same texts (real paragraphs of
mixed length from corpus/en_debian_handbook.txt, one per line, in file order after the front
matter), the same batch size, the same torch threads, in one process, alternating round by
round (benchmarks/common.py). Each timed call embeds every text from strings to a numpy
array: tokenization included. sentences/s = texts / median time.

Where the time goes: one more, separately instrumented call per library adds up the seconds
spent in its tokenizer, in the encoder (the transformer forward) and in pooling + normalising;
"other" is the rest of encode (sorting, padding, copying). The instrumented call is not one
of the timed rounds.

Run: python -m benchmarks.bench_embeddings [--quick] [--texts 2000] [--batch-size 32] [--rounds 3]
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks.bench_end_to_end import checkpoint_dir  # noqa: E402

CORPUS = common.ROOT / "corpus" / "en_debian_handbook.txt"
FRONT_MATTER = 100  # title page, licence and table of contents: not paragraphs
COLUMNS = ["variant", "texts", "batch_size", "median_s", "sentences_per_s", "speedup_vs_sentence_transformers",
           "tokenize_s", "encode_s", "pool_s", "other_s"]


def read_paragraphs(n: int) -> list[str]:
    if not CORPUS.is_file():
        raise SystemExit(f"the corpus is absent ({CORPUS}); see corpus/README.md")
    lines = [line.strip() for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[FRONT_MATTER : FRONT_MATTER + n]


class Stopwatch:
    """Wraps callables to add up the seconds spent in them, by stage."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def wrap(self, stage: str, fn):
        self.seconds.setdefault(stage, 0.0)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        return timed


class TimedPooling:
    """minibert's Pooling with a stopwatch around each call (the encoder reads its attributes too)."""

    def __init__(self, pooling, watch: Stopwatch):
        self._pooling, self._call = pooling, watch.wrap("pool", pooling.__call__)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._pooling, name)


def time_split_minibert(path, texts, batch_size) -> dict[str, float]:
    from minibert import SentenceEncoder

    encoder, watch = SentenceEncoder.from_pretrained(path), Stopwatch()
    encoder.preprocess = watch.wrap("tokenize", encoder.preprocess)
    encoder.model.forward = watch.wrap("encode", encoder.model.forward)
    encoder.pooling = TimedPooling(encoder.pooling, watch)
    encoder.normalize = False  # normalising is timed with pooling, below, as one stage
    normalize = watch.wrap("pool", lambda x: x / np.linalg.norm(x, axis=1, keepdims=True))
    start = time.perf_counter()
    normalize(encoder.encode(texts, batch_size=batch_size))
    return finish(watch, time.perf_counter() - start)


def time_split_sentence_transformers(path, texts, batch_size) -> dict[str, float]:
    from sentence_transformers import SentenceTransformer

    model, watch = SentenceTransformer(str(path), device="cpu"), Stopwatch()
    model.preprocess = watch.wrap("tokenize", model.preprocess)
    model[0].forward = watch.wrap("encode", model[0].forward)
    for module in list(model)[1:]:  # Pooling, Normalize
        module.forward = watch.wrap("pool", module.forward)
    start = time.perf_counter()
    model.encode(texts, batch_size=batch_size)
    return finish(watch, time.perf_counter() - start)


def finish(watch: Stopwatch, total: float) -> dict[str, float]:
    split = {f"{stage}_s": watch.seconds.get(stage, 0.0) for stage in ("tokenize", "encode", "pool")}
    split["other_s"] = total - sum(split.values())
    split["instrumented_total_s"] = total
    return split


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=None, help="number of paragraphs (default 2000, 16 with --quick)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    if args.device != "cpu":
        raise SystemExit("bench_embeddings measures the CPU (the issue's 2-thread setting): pass --device cpu")
    common.setup(args, default_rounds=3)
    from sentence_transformers import SentenceTransformer

    from minibert import SentenceEncoder

    n = args.texts or (16 if args.quick else 2000)
    path = checkpoint_dir()
    texts = read_paragraphs(n)
    ours = SentenceEncoder.from_pretrained(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = SentenceTransformer(str(path), device="cpu")
    variants = {
        "minibert SentenceEncoder": lambda: ours.encode(texts, batch_size=args.batch_size),
        "sentence-transformers": lambda: theirs.encode(texts, batch_size=args.batch_size),
    }
    # Both must compute the same vectors before their speed means anything.
    a, b = (fn() for fn in variants.values())
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    common.progress(f"agreement: min cosine {cosine.min():.7f}, max |difference| {np.abs(a - b).max():.2e}")
    lengths = [len(ours.tokenizer.tokenize(t)) + 2 for t in texts]

    results = common.compare(variants, "cpu", args.rounds, warmup=0, label=f"{n} texts")
    splits = {
        "minibert SentenceEncoder": time_split_minibert(path, texts, args.batch_size),
        "sentence-transformers": time_split_sentence_transformers(path, texts, args.batch_size),
    }
    reference = results["sentence-transformers"]["median_s"]
    rows = [{
        "variant": name, "texts": n, "batch_size": args.batch_size, "median_s": r["median_s"], "times_s": r["times_s"],
        "sentences_per_s": n / r["median_s"], "speedup_vs_sentence_transformers": reference / r["median_s"],
        **splits[name],
    } for name, r in results.items()]
    meta = {
        "machine": common.machine_info("cpu"), "rounds": args.rounds, "batch_size": args.batch_size, "quick": args.quick,
        "corpus": CORPUS.name, "checkpoint": "sentence-transformers/all-MiniLM-L6-v2 (max_seq_length 256)",
        "tokens_per_text": {"median": statistics.median(lengths), "max": max(lengths),
                            "share_over_256": sum(l > 256 for l in lengths) / len(lengths)},
        "min_cosine": float(cosine.min()), "max_abs_difference": float(np.abs(a - b).max()),
        "load_average_1_5_15_min_at_end": list(_load_average()),
    }
    name = "embeddings_cpu" + ("_quick" if args.quick else "")
    common.write_results(args.out, name, meta, rows, COLUMNS,
                         f"Sentence embeddings of {n} paragraphs (cpu, {args.threads} threads, batches of {args.batch_size}, medians of {args.rounds})")
    return 0


def _load_average() -> tuple[float, ...]:
    try:
        import os

        return os.getloadavg()
    except (OSError, AttributeError):
        return ()


if __name__ == "__main__":
    raise SystemExit(main())
