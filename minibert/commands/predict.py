"""`minibert predict`: classify texts, or find their entities, with a fine-tuned model.

    minibert predict --model my-classifier --input reviews.txt     # one text per line
    echo "What a lovely day" | minibert predict --model my-classifier --input -
    minibert predict --model my-classifier --input data.csv --text-column text --json
    echo "Angela Merkel visited Paris" | minibert predict --model my-tagger

The model's config says what it does (`architectures`). A classifier prints
`label<TAB>probability` per text; a tagger (BertForTokenClassification) prints one line per
entity, `text number<TAB>entity text<TAB>type<TAB>start<TAB>end<TAB>score`, with the
character offsets of the entity in its text. With --json: one JSON object per text.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path


def add_parser(subparsers) -> None:
    from minibert.quantization import QUANTIZE_CHOICES

    p = subparsers.add_parser("predict", help="classify texts with a fine-tuned model")
    p.add_argument("--model", required=True, help="directory written by `minibert train` (or any fine-tuned classifier)")
    p.add_argument("--input", default="-", help="text file (one text per line; blank lines skipped), .csv/.jsonl, or - for stdin")
    p.add_argument("--text-column", default="text", help="for .csv/.jsonl input: the column with the text (default: text)")
    p.add_argument("--text-pair-column", help="for .csv/.jsonl input: the column with the second text of a pair")
    p.add_argument("--json", action="store_true", help="print one JSON object per line: text, label, score, probabilities")
    p.add_argument("--batch-size", type=int, default=32, help="texts per batch (default: 32)")
    p.add_argument("--max-length", type=int, help="truncate texts to this many tokens (default: the model's maximum)")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("--quantize", choices=QUANTIZE_CHOICES,
                   help="int8: quantize the linear layers for faster CPU inference (implies --device cpu; minibert.quantization)")
    p.add_argument("--aggregation", choices=("simple", "first", "average", "max"), default="first",
                   help="taggers: how a word's pieces and a name's words become one entity (default: first, the "
                   "piece a tagger trained by minibert learnt from)")
    p.set_defaults(run=run)


def read_texts(args: argparse.Namespace) -> tuple[list[str], list[str] | None]:
    from minibert import data
    from minibert.cli import CommandError

    if args.input == "-":
        lines = sys.stdin.read().splitlines()
    else:
        path = Path(args.input)
        if path.suffix.lower() in data.CSV_SUFFIXES + data.JSONL_SUFFIXES:
            try:
                examples = data.read_examples(path, args.text_column, None, args.text_pair_column)
            except data.DataError as exc:
                raise CommandError(str(exc)) from None
            pairs = [e.text_pair for e in examples] if args.text_pair_column else None
            return [e.text for e in examples], pairs
        if not path.is_file():
            raise CommandError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text") from None
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise CommandError(f"no text to classify in {'standard input' if args.input == '-' else args.input}")
    return texts, None


def load_trained_classifier(model_path: str, device: str | None, quantize: str | None = None):
    from minibert import BertForSequenceClassification
    from minibert.cli import CommandError
    from minibert.commands.train import default_device
    from minibert.hub import ModelNotFoundError

    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            model = BertForSequenceClassification.from_pretrained(
                model_path, device=device or ("cpu" if quantize else default_device()), quantize=quantize)
        from minibert import BertTokenizer  # after the model: its errors come first

        tokenizer = BertTokenizer.from_pretrained(model_path)
    except (ModelNotFoundError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    if model.loading_info.initialized_keys:
        raise CommandError(
            f"{model_path} has no trained classifier ({', '.join(model.loading_info.initialized_keys)} missing); "
            "fine-tune it first with `minibert train`"
        )
    return tokenizer, model


def is_tagger(model_path: str) -> bool:
    """Whether config.json names BertForTokenClassification (else: a classifier, as before)."""
    from minibert.cli import CommandError
    from minibert.commands.evaluate import task_of

    try:
        return task_of(model_path, None) == "token-classification"
    except CommandError:
        return False  # no config, or one that does not say: loading it as a classifier explains


def print_entities(args: argparse.Namespace, texts: list[str]) -> int:
    from minibert import pipeline
    from minibert.cli import CommandError
    from minibert.commands.train import default_device
    from minibert.hub import ModelNotFoundError

    if args.max_length is not None or args.text_pair_column:
        raise CommandError(f"{args.model} is a tagger: it reads each text whole (long ones in windows), "
                           "without --max-length or --text-pair-column")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ner = pipeline("token-classification", model=args.model, device=args.device or ("cpu" if args.quantize else default_device()),
                           batch_size=args.batch_size, aggregation_strategy=args.aggregation, quantize=args.quantize)
    except (ModelNotFoundError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    # Texts longer than the model's maximum are read in windows overlapping by 32 pieces.
    for number, (text, entities) in enumerate(zip(texts, ner(texts, stride=32)), start=1):
        found = [{"text": text[e["start"]:e["end"]], "type": e["entity_group"], "start": e["start"], "end": e["end"],
                  "score": round(float(e["score"]), 4)} for e in entities]
        if args.json:
            print(json.dumps({"text": text, "entities": found}, ensure_ascii=False))
            continue
        for e in found:
            print(f"{number}\t{e['text']}\t{e['type']}\t{e['start']}\t{e['end']}\t{e['score']:.4f}")
    return 0


def run(args: argparse.Namespace) -> int:
    from minibert.cli import CommandError
    from minibert.inference import predict

    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be a positive integer, got {args.batch_size}")
    if args.quantize and args.device not in (None, "cpu"):
        raise CommandError(f"--quantize {args.quantize} runs on the CPU only; drop --device {args.device} or --quantize")
    texts, pairs = read_texts(args)
    if is_tagger(args.model):
        return print_entities(args, texts)
    tokenizer, model = load_trained_classifier(args.model, args.device, args.quantize)
    if args.max_length is not None and not 2 <= args.max_length <= model.config.max_position_embeddings:
        raise CommandError(f"--max-length must be between 2 and {model.config.max_position_embeddings}, got {args.max_length}")
    predictions = predict(model, tokenizer, texts, pairs, batch_size=args.batch_size, max_length=args.max_length)
    for text, p in zip(texts, predictions):
        if args.json:
            print(json.dumps({"text": text, **p.to_dict()}, ensure_ascii=False))
        else:
            print(f"{p.label}\t{p.score:.4f}")
    return 0
