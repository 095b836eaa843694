"""`minibert predict`: run a fine-tuned model on texts, one line of output per text.

    minibert predict --model my-classifier --input reviews.txt     # one text per line
    echo "What a lovely day" | minibert predict --model my-classifier --input -
    minibert predict --model my-classifier --input data.csv --text-column text --json

    echo "Angela Merkel visited Paris" | minibert predict --model my-tagger

The task comes from the checkpoint's config.json (`architectures`: BertForSequenceClassification
-> text-classification, BertForTokenClassification -> token-classification, BertForMaskedLM ->
fill-mask, ...), or from --task; the work is minibert.pipeline's. A text classifier prints
`label<TAB>probability<TAB>text` per text; a tagger one line per entity, `text number<TAB>entity
text<TAB>type<TAB>start<TAB>end<TAB>score`, with the character offsets of the entity in its text;
other tasks `text<TAB>answer as JSON`. With --json, one JSON object per text.

A question-answering model (BertForQuestionAnswering) answers questions instead
(minibert/commands/question_answering.py), `answer<TAB>score<TAB>question` per answer:

    minibert predict --model reader --input questions.jsonl     # {"question": ..., "context": ...} per line
    minibert predict --model reader --question "Who?" --context-file doc.txt
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from minibert.commands import question_answering


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("predict", help="classify texts with a fine-tuned model")
    p.add_argument("--model", required=True, help="directory written by `minibert train` (or any fine-tuned classifier)")
    p.add_argument("--input", default="-", help="text file (one text per line; blank lines skipped), .csv/.jsonl, or - for stdin")
    p.add_argument("--text-column", default="text", help="for .csv/.jsonl input: the column with the text (default: text)")
    p.add_argument("--text-pair-column", help="for .csv/.jsonl input: the column with the second text of a pair")
    p.add_argument("--json", action="store_true", help="print one JSON object per line: text, label, score, probabilities")
    p.add_argument("--batch-size", type=int, default=32, help="texts per batch (default: 32)")
    p.add_argument("--max-length", type=int, help="truncate texts to this many tokens (default: the model's maximum)")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("--quantize", choices=("int8",),
                   help="int8: quantize the linear layers for faster CPU inference (implies --device cpu; minibert.quantization)")
    p.add_argument("--task", help="the pipeline task (default: read from the model's config.json)")
    p.add_argument("--aggregation", choices=("simple", "first", "average", "max"), default="first",
                   help="taggers: how a word's pieces and a name's words become one entity (default: first, the "
                   "piece a tagger trained by minibert learnt from)")
    question_answering.add_question_arguments(p)
    question_answering.add_reader_arguments(p)
    p.set_defaults(run=run)


# The head class a checkpoint's config names, and the pipeline task that runs it.
ARCHITECTURE_TASKS = {
    "BertForSequenceClassification": "text-classification",
    "BertForTokenClassification": "token-classification",
    "BertForQuestionAnswering": "question-answering",
    "BertForMaskedLM": "fill-mask",
    "BertForPreTraining": "fill-mask",
}


def task_from_config(model_path: str) -> str:
    """The task of the first head class in config.json's `architectures`. Checkpoints that
    name no head there (older minibert heads wrote "BertModel") are taken for text classifiers,
    what `minibert train` writes; the pipeline then refuses one without a classifier."""
    from minibert.cli import CommandError
    from minibert.hub import ModelNotFoundError, resolve_file

    try:
        config = json.loads(resolve_file(model_path, "config.json").read_text(encoding="utf-8"))
    except (ModelNotFoundError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    architectures = config.get("architectures") if isinstance(config, dict) else None
    for name in architectures or []:
        if name in ARCHITECTURE_TASKS:
            return ARCHITECTURE_TASKS[name]
    return "text-classification"


def read_texts(args: argparse.Namespace) -> tuple[list[str], list[str] | None]:
    from minibert import data
    from minibert.cli import CommandError

    if args.input == "-":
        text = sys.stdin.read()
    else:
        path = Path(args.input)
        if path.suffix.lower() in data.CSV_SUFFIXES + data.JSONL_SUFFIXES:
            try:
                examples = data.read_examples(path, args.text_column, None, args.text_pair_column)
            except data.DataError as exc:
                raise CommandError(str(exc)) from None
            pairs = [e.text_pair for e in examples] if args.text_pair_column else None
            return [e.text for e in examples], pairs
        try:
            text = data.read_text(path)
        except data.DataError as exc:
            raise CommandError(str(exc)) from None
    texts = data.text_lines(text)
    if not texts:
        raise CommandError(f"no text to classify in {'standard input' if args.input == '-' else args.input}")
    return texts, None


def load_pipeline(model_path: str, task: str, device: str | None, batch_size: int, quantize: str | None = None):
    from minibert.cli import CommandError
    from minibert.distributed import resolve_device
    from minibert.hub import ModelNotFoundError
    from minibert.pipelines import pipeline, pipeline_class_for

    try:
        pipeline_class_for(task)
    except ValueError as exc:
        raise CommandError(f"{model_path} is a {task} model, which `minibert predict` cannot run here ({exc})" if task in
                           ARCHITECTURE_TASKS.values() else str(exc)) from None
    try:
        if quantize is not None:  # int8 kernels run on the CPU only
            if device not in (None, "cpu"):
                raise CommandError(f"--quantize {quantize} runs on the CPU only; drop --device {device} or --quantize")
            return pipeline(task, model=model_path, device="cpu", batch_size=batch_size, quantize=quantize)
        return pipeline(task, model=model_path, device=resolve_device(device), batch_size=batch_size)
    except (ModelNotFoundError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None


def classification(answer: list[dict], config) -> dict:
    """The pipeline's ranked scores as predict prints them: the best label (a multi-label model:
    every label with p >= 0.5, joined by ","), its score, and every label's score in label order."""
    scores = {d["label"]: d["score"] for d in answer}
    names = [config.id2label[i] for i in range(config.num_labels)]
    label, score = answer[0]["label"], answer[0]["score"]
    if config.problem_type == "multi_label_classification":
        label = ",".join(n for n in names if scores[n] >= 0.5)
    if config.num_labels == 1 or config.problem_type == "regression":
        return {"label": label, "score": score, "probabilities": {}}
    return {"label": label, "score": score, "probabilities": {n: scores[n] for n in names}}


def run(args: argparse.Namespace) -> int:
    from minibert.cli import CommandError

    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be a positive integer, got {args.batch_size}")
    if args.question is not None or args.task == "question-answering" or (args.task is None and is_reader(args.model)):
        questions = question_answering.read_questions(args)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the loader's notes: a missing head is the one-line error
            reader = load_pipeline(args.model, "question-answering", args.device, args.batch_size)
        return question_answering.print_answers(args, reader, questions)
    texts, pairs = read_texts(args)
    task = args.task or task_from_config(args.model)
    pipe = load_pipeline(args.model, task, args.device, args.batch_size, args.quantize)
    limit = pipe.model.config.max_position_embeddings
    if args.max_length is not None and not 2 <= args.max_length <= limit:
        raise CommandError(f"--max-length must be between 2 and {limit}, got {args.max_length}")
    if pipe.task == "text-classification":
        items = [{"text": t, "text_pair": p} for t, p in zip(texts, pairs)] if pairs else texts
        answers = pipe(items, top_k=None, truncation=True, max_length=args.max_length or limit)
        for text, answer in zip(texts, answers):
            shown = classification(answer, pipe.model.config)
            if args.json:
                print(json.dumps({"text": text, **shown}, ensure_ascii=False))
            else:
                print(f"{shown['label']}\t{shown['score']:.4f}\t{text}")
        return 0
    if pairs:
        raise CommandError(f"--text-pair-column is for text classifiers; this is a {pipe.task} model")
    if pipe.task == "token-classification":
        return print_entities(args, pipe, texts)
    try:
        answers = pipe(texts)
    except (TypeError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    if len(texts) == 1 and pipe.task == "fill-mask":
        answers = [answers]  # fill-mask answers one text in a list as that text
    for text, answer in zip(texts, answers):
        if args.json:
            print(json.dumps({"text": text, "answer": answer}, ensure_ascii=False))
        else:
            print(f"{text}\t{json.dumps(answer, ensure_ascii=False)}")
    return 0


def is_reader(model_path: str) -> bool:
    """Whether config.json names BertForQuestionAnswering (a model without a config is not)."""
    from minibert.cli import CommandError

    try:
        return task_from_config(model_path) == "question-answering"
    except CommandError:
        return False  # the usual path below says what is wrong with the model


def print_entities(args: argparse.Namespace, ner, texts: list[str]) -> int:
    from minibert.cli import CommandError

    if args.max_length is not None:
        raise CommandError(f"{args.model} is a tagger: it reads each text whole (long ones in windows), without --max-length")
    # Texts longer than the model's maximum are read in windows overlapping by 32 pieces.
    answers = ner(texts, stride=32, aggregation_strategy=args.aggregation)
    for number, (text, entities) in enumerate(zip(texts, answers), start=1):
        found = [{"text": text[e["start"]:e["end"]], "type": e["entity_group"], "start": e["start"], "end": e["end"],
                  "score": round(float(e["score"]), 4)} for e in entities]
        if args.json:
            print(json.dumps({"text": text, "entities": found}, ensure_ascii=False))
            continue
        for e in found:
            print(f"{number}\t{e['text']}\t{e['type']}\t{e['start']}\t{e['end']}\t{e['score']:.4f}")
    return 0
