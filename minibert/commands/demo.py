"""`minibert demo`: the whole classic workflow in one command, offline, in about a minute.

Fine-tunes the bundled all-MiniLM-L6-v2 checkpoint (or --model, e.g. bert-base-uncased when
the Hub is reachable) on the small sentiment data set shipped with minibert
(minibert/datasets/sentiment_{train,dev}.csv: short English sentences written for this
project, labelled positive or negative), reports the dev accuracy, and classifies a few
sentences it has never seen.

Other demos are subcommands, each in a module of its own (DEMO_MODULES):

    minibert demo ner      # named-entity recognition (minibert/commands/demo_ner.py)
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from importlib import resources
from pathlib import Path

# `minibert demo NAME`: each module has add_parser(demo_subparsers) and run(args).
DEMO_MODULES = ["minibert.commands.demo_ner"]

NEW_SENTENCES = [
    "The staff were warm and the food was excellent.",
    "I waited an hour and the order was still wrong.",
    "This phone is fast and the battery lasts all weekend.",
    "The film was long, slow and predictable.",
    "Honestly one of the nicest hotels we have stayed in.",
]


def dataset_path(split: str) -> Path:
    return Path(str(resources.files("minibert") / "datasets" / f"sentiment_{split}.csv"))


def add_parser(subparsers) -> None:
    from minibert.commands.train import add_training_arguments

    p = subparsers.add_parser("demo", help="fine-tune on the bundled sentiment data, report dev accuracy, classify new sentences")
    p.add_argument("--model", help="pretrained model directory or Hub id (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--out", type=Path, help="also save the fine-tuned model here (must be empty or new)")
    # 60 optimizer steps (2 epochs of 30 batches of 8): enough for the classifier to be confident where
    # it is right (24 steps, 3 epochs of batches of 32, left it at 68-77% on the new sentences).
    add_training_arguments(p, epochs=2, batch_size=8, lr=1e-4, max_length=64)
    p.set_defaults(run=run)
    demos = p.add_subparsers(dest="demo", metavar="DEMO", title="other demos (without one: the sentiment demo)")
    for name in DEMO_MODULES:
        importlib.import_module(name).add_parser(demos)


def run(args: argparse.Namespace) -> int:
    from minibert import data
    from minibert.commands.train import check_max_length, check_out_dir, load_classifier, resolve_model, training_arguments
    from minibert.commands.train import in_flags
    from minibert.inference import predict
    from minibert.training import train

    start = time.perf_counter()
    model_path = resolve_model(args.model)
    train_examples = data.read_examples(dataset_path("train"))
    dev_examples = data.read_examples(dataset_path("dev"))
    names = data.label_names(train_examples, dev_examples)
    if args.out is not None:
        check_out_dir(args.out, overwrite=False, resume=False)
    training_args = training_arguments(args, args.out)
    tokenizer, model = load_classifier(model_path, names, args.seed)
    max_length = check_max_length(args.max_length, model)
    train_features = data.encode(train_examples, tokenizer, model.config.label2id, max_length)
    dev_features = data.encode(dev_examples, tokenizer, model.config.label2id, max_length)
    print(f"minibert demo: fine-tuning {model_path} ({model.num_parameters() / 1e6:.1f}M parameters) as a sentiment "
          f"classifier on {len(train_examples)} sentences, {args.epochs} epochs; dev set: {len(dev_examples)} sentences")
    sys.stdout.flush()

    save = tokenizer.save_pretrained if args.out is not None else None
    result = train(model, train_features, training_args, dev_features, save_model=save,
                   log=lambda line: print(in_flags(line), file=sys.stderr))
    best = result.history[result.best_epoch - 1]
    correct = round(best["eval_accuracy"] * len(dev_examples))
    print(f"dev accuracy: {best['eval_accuracy']:.4f} ({correct}/{len(dev_examples)} correct, best of "
          f"{result.epoch} epochs: epoch {result.best_epoch}), macro F1 {best['eval_macro_f1']:.4f}")
    print("new sentences:")
    for sentence, p in zip(NEW_SENTENCES, predict(model, tokenizer, NEW_SENTENCES, max_length=max_length)):
        print(f"  {p.label:<8} {p.score:6.1%}  {sentence}")
    if args.out is not None:
        print(f"fine-tuned model saved to {args.out}; try: minibert predict --model {args.out} --input -")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0
