"""`minibert demo qa`: extractive question answering end to end, offline, in a few minutes.

Fine-tunes the bundled all-MiniLM-L6-v2 checkpoint (or --model) as a reader on the small QA set
shipped with minibert (minibert/datasets/qa_{train,dev}.json: English paragraphs and questions
written for this project, SQuAD v2.0 format, some unanswerable, some contexts longer than one
window), reports the dev exact match and F1 beside a baseline that answers with the context
sentence sharing the most words with the question, and answers a few new questions.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from importlib import resources
from pathlib import Path

NEW_QUESTIONS = [
    ("Who built the first lighthouse on Cape Morrow?",
     "The first lighthouse on Cape Morrow was built in 1852 by the engineer Thomas Reed. It stood 28 metres "
     "tall and its lamp burned whale oil until 1890."),
    ("How tall was the lighthouse?",
     "The first lighthouse on Cape Morrow was built in 1852 by the engineer Thomas Reed. It stood 28 metres "
     "tall and its lamp burned whale oil until 1890."),
    ("Where do sea otters sleep?",
     "Sea otters live along the coasts of the northern Pacific Ocean. They sleep floating on their backs, "
     "often holding hands so that they do not drift apart, and they eat sea urchins, crabs and clams."),
    ("What do sea otters eat?",
     "Sea otters live along the coasts of the northern Pacific Ocean. They sleep floating on their backs, "
     "often holding hands so that they do not drift apart, and they eat sea urchins, crabs and clams."),
    ("What is the capital of the moon?",
     "Sea otters live along the coasts of the northern Pacific Ocean. They sleep floating on their backs, "
     "often holding hands so that they do not drift apart, and they eat sea urchins, crabs and clams."),
]


def dataset_path(split: str) -> Path:
    return Path(str(resources.files("minibert") / "datasets" / f"qa_{split}.json"))


# The demo's training defaults: MiniLM learns the bundled set in a few epochs at a high rate.
DEMO_TRAINING = {"epochs": 4, "batch_size": 16, "lr": 2e-4, "max_length": 128}


def add_parser(demo_subparsers) -> None:
    from minibert.commands.train import add_training_arguments

    p = demo_subparsers.add_parser(
        "qa", help="fine-tune a reader on the bundled QA data, report dev exact match and F1, answer new questions"
    )
    p.add_argument("--model", help="pretrained model directory or Hub id (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--out", type=Path, help="also save the fine-tuned reader here (must be empty or new)")
    p.add_argument("--doc-stride", type=int, default=32, help="context tokens shared by neighbouring windows (default: 32)")
    add_training_arguments(p, **DEMO_TRAINING)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Fine-tune the bundled MiniLM as a reader on the bundled QA set; dev EM/F1 beside the
    sentence baseline; answers to a few new questions."""
    from minibert import metrics, pipeline
    from minibert.cli import CommandError
    from minibert.commands.train import check_max_length, check_out_dir, load_model, resolve_model, training_arguments
    from minibert.tasks import QuestionAnswering
    from minibert.training import train

    start = time.perf_counter()
    task = QuestionAnswering(doc_stride=args.doc_stride)
    train_examples = task.read_examples(dataset_path("train"))
    dev_examples = task.read_examples(dataset_path("dev"))
    if args.out is not None:
        check_out_dir(args.out, overwrite=False, resume=False)
    training_args = training_arguments(args, args.out)
    tokenizer, model = load_model(task, resolve_model(args.model), [], args.seed)
    max_length = check_max_length(args.max_length, model)
    try:
        train_features = task.features(train_examples, tokenizer, max_length)
        dev_features = task.features(dev_examples, tokenizer, max_length)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    longer = sum(1 for i in range(len(dev_examples)) if sum(f["example"] == i for f in dev_features) > 1)
    print(f"minibert demo qa: fine-tuning a reader ({model.num_parameters() / 1e6:.1f}M parameters) on {len(train_examples)} "
          f"questions ({len(train_features)} windows of at most {max_length} tokens), {args.epochs} epoch(s); dev set: "
          f"{len(dev_examples)} questions, {sum(not e.answers for e in dev_examples)} unanswerable, {longer} with a context "
          f"longer than one window")
    sys.stdout.flush()

    save = tokenizer.save_pretrained if args.out is not None else None
    result = train(model, train_features, training_args, dev_features, task=task, save_model=save)
    best = result.history[result.best_epoch - 1]
    baseline = metrics.squad_scores({e.id: sentence_baseline(e.question, e.context) for e in dev_examples},
                                    {e.id: e.answers for e in dev_examples})
    print(f"dev: exact match {best['eval_exact_match']:.1f}, F1 {best['eval_f1']:.1f} (best of {result.epoch} epochs: epoch "
          f"{result.best_epoch}); baseline (the context sentence with the most question words): exact match "
          f"{baseline['exact_match']:.1f}, F1 {baseline['f1']:.1f}")
    reader = pipeline("question-answering", model=model, tokenizer=tokenizer)
    print("new questions:")
    for question, context in NEW_QUESTIONS:
        answer = reader(question=question, context=context, max_seq_len=max_length, doc_stride=args.doc_stride,
                        handle_impossible_answer=True)
        print(f"  {question:<50} {answer['answer'] or '(no answer)'!r:<32} {answer['score']:6.1%}")
    if args.out is not None:
        print(f"reader saved to {args.out}; try: minibert predict --model {args.out} --question ... --context ...")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


def sentence_baseline(question: str, context: str) -> str:
    """The context sentence that shares the most words with the question (the first on a tie):
    what a reader who only matches words would answer."""
    words = set(re.findall(r"\w+", question.lower()))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", context) if s.strip()]
    return max(sentences, key=lambda s: len(words & set(re.findall(r"\w+", s.lower()))))
