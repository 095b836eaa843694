"""`minibert search`: the lines (or paragraphs) of a text file closest in meaning to a query.

    minibert search --corpus corpus/en_debian_handbook.txt "how do I upgrade a package?" --top-k 5

The file is embedded once with minibert.SentenceEncoder; the vectors are cached beside it in
`<file>.minibert-<key>.npy`, where the key is a hash of the file's bytes, the model (its
path, config and weight files) and the way the file is split, so editing the file or changing
the model never reuses stale vectors. The cache is a plain .npy array, read with
allow_pickle=False, and written atomically. Matches come from minibert.semantic_search.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from minibert.commands.embed import add_encoder_arguments, load_encoder

SHOWN_CHARS = 200


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("search", help="find the lines of a text file closest in meaning to a query")
    p.add_argument("queries", nargs="+", metavar="QUERY", help="what to look for (several queries: one result list each)")
    p.add_argument("--corpus", required=True, type=Path, help="a UTF-8 text file: one passage per line")
    p.add_argument("--paragraphs", action="store_true", help="passages are paragraphs (separated by blank lines), not lines")
    p.add_argument("--top-k", type=int, default=5, help="matches per query (default: 5)")
    p.add_argument("--no-cache", action="store_true", help="embed the file again and write no cache")
    add_encoder_arguments(p)
    p.set_defaults(run=run)


def read_passages(path: Path, paragraphs: bool) -> list[tuple[int, str]]:
    """(line number, text) of each passage: each non-blank line, or each paragraph (its first line)."""
    from minibert import data
    from minibert.cli import CommandError

    try:
        lines = data.read_text(path).split("\n")  # only "\n" ends a line, as data.text_lines
    except data.DataError as exc:
        raise CommandError(f"--corpus {exc}") from None
    passages: list[tuple[int, str]] = []
    current: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not paragraphs:
            if line.strip():
                passages.append((number, line.strip()))
            continue
        if line.strip():
            if not current:
                start = number
            current.append(line.strip())
        elif current:
            passages.append((start, " ".join(current)))
            current = []
    if current:
        passages.append((start, " ".join(current)))
    if not passages:
        raise CommandError(f"--corpus {path} has no text to search")
    return passages


def cache_path(corpus: Path, model_path, encoder, paragraphs: bool) -> Path:
    """Beside the corpus; named by a hash of the file's bytes, the model and the splitting."""
    key = hashlib.sha256(corpus.read_bytes())
    settings = (encoder.max_seq_length, encoder.pooling.modes, encoder.pooling.include_prompt, encoder.normalize, encoder.do_lower_case)
    key.update(repr(settings).encode())
    key.update(f"|{Path(model_path).resolve() if Path(model_path).exists() else model_path}|{paragraphs}".encode())
    for name in getattr(encoder.model.loading_info, "checkpoint_files", []):
        stat = Path(name).stat()
        key.update(f"|{name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return corpus.with_name(f"{corpus.name}.minibert-{key.hexdigest()[:16]}.npy")


def corpus_vectors(passages, cache: Path | None, encoder):
    """The passages' vectors: from the cache when it is there and fits, else embedded (and cached)."""
    import numpy as np

    from minibert.commands.embed import write_vectors

    if cache is not None and cache.is_file():
        try:
            vectors = np.load(cache, allow_pickle=False)
            if vectors.shape == (len(passages), encoder.dimension):
                print(f"vectors of {len(passages)} passages read from {cache}")
                return vectors
        except (ValueError, OSError):
            pass  # unreadable or another shape: embed again and replace it
    vectors = encoder.encode([text for _, text in passages], show_progress_bar=len(passages) > 1000)
    if cache is not None:
        try:
            write_vectors(cache, [], vectors)
            print(f"embedded {len(passages)} passages; vectors cached in {cache}")
        except OSError as exc:
            print(f"embedded {len(passages)} passages; could not cache them ({exc.strerror}: {cache})")
    return vectors


def run(args: argparse.Namespace) -> int:
    from minibert.cli import CommandError
    from minibert.similarity import semantic_search

    if args.top_k < 1:
        raise CommandError(f"--top-k must be a positive integer, got {args.top_k}")
    if not all(q.strip() for q in args.queries):
        raise CommandError("a query is empty: say what to look for")
    passages = read_passages(args.corpus, args.paragraphs)
    model_path, encoder = load_encoder(args)
    cache = None if args.no_cache else cache_path(args.corpus, model_path, encoder, args.paragraphs)
    vectors = corpus_vectors(passages, cache, encoder)
    results = semantic_search(encoder.encode(args.queries, convert_to_tensor=True), vectors, top_k=args.top_k)
    for query, hits in zip(args.queries, results):
        print(f"\nquery: {query}")
        for rank, hit in enumerate(hits, start=1):
            line, text = passages[hit["corpus_id"]]
            shown = text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."
            print(f"{rank:3d}. {hit['score']:.4f}  line {line}: {shown}")
    return 0
