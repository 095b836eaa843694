"""`minibert demo ner`: named-entity recognition end to end, offline, in a few minutes.

Fine-tunes the bundled all-MiniLM-L6-v2 checkpoint (or --model) as a tagger on the small NER
set shipped with minibert (minibert/datasets/ner_{train,dev}.conll: English sentences written
for this project, tagged PER, ORG, LOC and MISC in IOB2), reports the dev entity F1 beside a
baseline that gives every word its most frequent training tag, and finds the entities of a
few sentences it has never seen.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from importlib import resources
from pathlib import Path
from typing import Sequence

NEW_SENTENCES = [
    "Marta Lindqvist left Spotify to found a robotics company in Gothenburg.",
    "The Portuguese cyclist won the third stage of the Vuelta near Valencia.",
    "Officials from the World Trade Organization met farmers in Nairobi on Friday.",
    "Yesterday I walked to the bakery and bought bread.",
]


def dataset_path(split: str) -> Path:
    return Path(str(resources.files("minibert") / "datasets" / f"ner_{split}.conll"))


def add_parser(demo_subparsers) -> None:
    from minibert.commands.train import add_training_arguments

    p = demo_subparsers.add_parser(
        "ner", help="fine-tune a tagger on the bundled NER data, report dev entity F1, tag new sentences"
    )
    p.add_argument("--model", help="pretrained model directory or Hub id (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--out", type=Path, help="also save the fine-tuned tagger here (must be empty or new)")
    add_training_arguments(p, epochs=6, batch_size=16, lr=1e-4, max_length=64)
    p.set_defaults(run=run)


def most_frequent_tag(train: Sequence, sentences: Sequence) -> list[list[str]]:
    """The baseline: each word gets the tag it had most often in training ("O" if never seen)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for s in train:
        for word, tag in zip(s.words, s.tags):
            counts[word][tag] += 1
    return [[counts[w].most_common(1)[0][0] if w in counts else "O" for w in s.words] for s in sentences]


def run(args: argparse.Namespace) -> int:
    from minibert import metrics
    from minibert.commands.train import check_max_length, check_out_dir, load_model, resolve_model, training_arguments
    from minibert.pipelines import TokenClassificationPipeline
    from minibert.tasks.token_classification import TokenClassification
    from minibert.training import train

    start = time.perf_counter()
    task = TokenClassification()
    model_path = resolve_model(args.model)
    train_sentences = task.read_examples(dataset_path("train"))
    dev_sentences = task.read_examples(dataset_path("dev"))
    names = task.label_names(train_sentences, dev_sentences)
    if args.out is not None:
        check_out_dir(args.out, overwrite=False, resume=False)
    training_args = training_arguments(args, args.out)
    tokenizer, model = load_model(task, model_path, names, args.seed)
    max_length = check_max_length(args.max_length, model, task.default_max_length)
    train_features = task.features(train_sentences, tokenizer, max_length, model.config.label2id)
    dev_features = task.features(dev_sentences, tokenizer, max_length, model.config.label2id)
    print(f"minibert demo ner: fine-tuning {model_path} ({model.num_parameters() / 1e6:.1f}M parameters) as a tagger "
          f"({', '.join(names)}; {task.describe_data(train_sentences)}) on {len(train_sentences)} sentences, "
          f"{args.epochs} epochs; dev set: {len(dev_sentences)} sentences")
    sys.stdout.flush()

    save = tokenizer.save_pretrained if args.out is not None else None
    result = train(model, train_features, training_args, dev_features, task=task, save_model=save)
    best = result.history[result.best_epoch - 1]
    gold = [s.tags for s in dev_sentences]
    baseline = metrics.entity_scores(gold, most_frequent_tag(train_sentences, dev_sentences))
    print(f"dev entity F1: {best['eval_f1']:.4f} (precision {best['eval_precision']:.4f}, recall {best['eval_recall']:.4f}; "
          f"best of {result.epoch} epochs: epoch {result.best_epoch})")
    print(f"baseline (each word's most frequent training tag): entity F1 {baseline['f1']:.4f} "
          f"(precision {baseline['precision']:.4f}, recall {baseline['recall']:.4f})")
    print("new sentences:")
    ner = TokenClassificationPipeline(model, tokenizer, aggregation_strategy="first")
    for sentence, entities in zip(NEW_SENTENCES, ner(NEW_SENTENCES)):
        found = ", ".join(f"{sentence[e['start']:e['end']]} ({e['entity_group']} {e['score']:.0%})" for e in entities)
        print(f"  {sentence}\n    -> {found or 'no entities'}")
    if args.out is not None:
        print(f"fine-tuned tagger saved to {args.out}; try: minibert predict --model {args.out} --input -")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0
