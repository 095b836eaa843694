"""`minibert evaluate`: score a fine-tuned model on a labelled file.

    minibert evaluate --model my-tagger --data dev.conll
    minibert evaluate --model my-classifier --data dev.csv --json

The task comes from the model's config (`architectures`: BertForTokenClassification is
token classification, BertForSequenceClassification text classification; --task when the
config does not say), and the file is read as that task reads its training data (the same
--words-column, --text-column, ... options as `minibert train`).

A tagger gets the CoNLL report (seqeval's classification_report, default mode): precision,
recall, F1 and support of each entity type, their micro average, and the tag accuracy over
words. A classifier gets its accuracy and macro F1. `--json` prints one JSON object with the
same numbers (for a tagger: f1, precision, recall, support, accuracy, per_type).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path


def add_parser(subparsers) -> None:
    from minibert.commands.train import _RecordingGroup
    from minibert.tasks import TASKS

    p = subparsers.add_parser("evaluate", help="score a fine-tuned model on a labelled file (entity F1, or accuracy and macro F1)")
    p.add_argument("--model", required=True, help="directory written by `minibert train` (or any fine-tuned model)")
    p.add_argument("--data", required=True, type=Path, help="labelled data in the format the task trains on")
    p.add_argument("--task", choices=sorted(TASKS), help="the model's task (default: from its config.json architectures)")
    task_options = {}
    for name, task in sorted(TASKS.items()):
        group = _RecordingGroup(p.add_argument_group(f"{name} options"))
        task.add_arguments(group)
        task_options[name] = group.options
    p.add_argument("--json", action="store_true", help="print one JSON object of the metrics")
    p.add_argument("--batch-size", type=int, default=32, help="examples per batch (default: 32)")
    p.add_argument("--max-length", type=int, help="tokens per sequence (default: the task's, capped by the model)")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    p.set_defaults(run=run, task_options=task_options)


def task_of(model_path: str, chosen: str | None) -> str:
    """The task name: --task, or the one whose head class config.json's `architectures` names."""
    from minibert import BertConfig
    from minibert.cli import CommandError
    from minibert.hub import ModelNotFoundError
    from minibert.tasks import TASKS

    if chosen is not None:
        return chosen
    try:
        config = BertConfig.from_pretrained(model_path)
    except (ModelNotFoundError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    architectures = getattr(config, "architectures", None) or config.extra.get("architectures") or []
    for name, task in sorted(TASKS.items()):
        if task.model_class.__name__ in architectures:
            return name
    raise CommandError(
        f"{model_path}'s config.json does not say which task it was trained for (architectures: "
        f"{', '.join(architectures) or 'none'}); pass --task ({', '.join(sorted(TASKS))})"
    )


def run(args: argparse.Namespace) -> int:
    from minibert import data
    from minibert.cli import CommandError
    from minibert.commands.train import check_max_length, check_task_options, default_device
    from minibert.hub import ModelNotFoundError
    from minibert.pipelines import load_head, pipeline_class_for
    from minibert.tasks import get_task

    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be a positive integer, got {args.batch_size}")
    args.task = task_of(args.model, args.task)
    check_task_options(args)
    task = get_task(args.task).from_args(args)
    try:
        examples = task.read_examples(args.data)
    except data.DataError as exc:
        raise CommandError(str(exc)) from None

    # The task's pipeline runs the model: batching, padding and the device written once, there.
    pipeline_class = pipeline_class_for(task.name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load_head(pipeline_class, args.model, device=args.device or default_device())
        from minibert import BertTokenizer  # after the model: its errors come first

        tokenizer = BertTokenizer.from_pretrained(args.model)
        pipe = pipeline_class(model, tokenizer, batch_size=args.batch_size)
    except (ModelNotFoundError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    max_length = check_max_length(args.max_length, model, task.default_max_length)
    try:
        features = task.features(examples, tokenizer, max_length, model.config.label2id)
    except data.DataError as exc:
        raise CommandError(str(exc)) from None
    except KeyError as exc:  # a label the model's label2id lacks
        raise CommandError(
            f"{args.data} has the label {exc.args[0]!r}, which {args.model} was not trained on; its labels are: "
            f"{', '.join(model.config.label2id)}"
        ) from None
    per_feature = pipe.forward_features(features, progress=not args.json and sys.stderr.isatty())
    outputs = {name: [o[name] for o in per_feature] for name in task.outputs}
    scores = task.report(outputs, features, model.config)
    if args.json:
        print(json.dumps({"task": task.name, "examples": len(examples), **scores}, ensure_ascii=False))
    else:
        print(format_report(scores))
    return 0


def format_report(scores: dict) -> str:
    """The metrics as a table: per entity type and micro-averaged for a tagger (as seqeval
    prints them), accuracy and macro F1 for a classifier."""
    if "per_type" not in scores:
        return "\n".join(f"{name:<10} {value:.4f}" for name, value in scores.items() if isinstance(value, float))
    width = max([len("micro avg"), *map(len, scores["per_type"])])
    lines = [f"{'':>{width}}  precision    recall  f1-score   support", ""]
    for name, s in scores["per_type"].items():
        lines.append(f"{name:>{width}}  {s['precision']:9.4f} {s['recall']:9.4f} {s['f1']:9.4f} {s['support']:9d}")
    lines += ["", f"{'micro avg':>{width}}  {scores['precision']:9.4f} {scores['recall']:9.4f} {scores['f1']:9.4f} "
              f"{scores['support']:9d}", "", f"tag accuracy {scores['accuracy']:.4f} (over words)"]
    return "\n".join(lines)
