"""Text classification (`--task text-classification`): one label per text or text pair.

Examples come from CSV or JSON Lines files (minibert.data); the label set is the training
set's; the head is BertForSequenceClassification with id2label/label2id in its config. The
metrics follow the kind of label the features carry:

    one class per text     accuracy, macro F1 (over every label of id2label)
    multi-label (floats)   accuracy = every label right (label i is on when its logit > 0)
    one value (regression) mean squared error (as `mse`; pick it with TrainingArguments.metric)
    one class per token    token accuracy and entity F1 (a BertForTokenClassification
                           trained through this task, as the loop always allowed)
"""

from __future__ import annotations

import argparse
import math
from typing import Sequence

import torch

from minibert import data, metrics
from minibert.heads import BertForSequenceClassification
from minibert.tasks.base import IGNORE_INDEX, Feature, Task


class TextClassification(Task):
    name = "text-classification"
    model_class = BertForSequenceClassification
    metric = "accuracy"
    outputs = ("logits",)

    def __init__(self, text_column: str = "text", label_column: str = "label", text_pair_column: str | None = None):
        self.text_column, self.label_column, self.text_pair_column = text_column, label_column, text_pair_column

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--text-column", default="text", help="column with the text (default: text)")
        parser.add_argument("--text-pair-column", help="column with the second text of a pair (optional)")
        parser.add_argument("--label-column", default="label", help="column with the label (default: label)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TextClassification":
        return cls(args.text_column, args.label_column, args.text_pair_column)

    def read_examples(self, path) -> list[data.Example]:
        return data.read_examples(path, self.text_column, self.label_column, self.text_pair_column)

    def label_names(self, train_examples: Sequence[data.Example], eval_examples: Sequence[data.Example] = ()) -> list[str]:
        return data.label_names(train_examples, eval_examples)

    def features(self, examples, tokenizer, max_length: int, label2id: dict[str, int] | None) -> list[Feature]:
        return data.encode(examples, tokenizer, label2id, max_length)

    def chance_loss(self, features: Sequence[Feature], config) -> float | None:
        """ln(num_labels), the cross-entropy of even odds, for one class per text (or per
        token); None for regression and multi-label."""
        labels = features[0].get("labels") if features else None
        one_class = isinstance(labels, int) or (isinstance(labels, (list, tuple)) and all(isinstance(v, int) for v in labels))
        return math.log(config.num_labels) if one_class and config.num_labels > 1 else None

    def compute_metrics(self, outputs: dict[str, list[torch.Tensor]], features: Sequence[Feature], config) -> dict[str, float]:
        logits = outputs["logits"]  # per feature: (num_labels,), or (S, num_labels) for a token classifier
        labels = [f["labels"] for f in features]
        id2label = config.id2label
        if logits[0].dim() == 2:  # one label per token: score the labelled tokens only
            predictions, references = [], []
            for row_logits, row_labels in zip(logits, labels):
                row_labels = torch.tensor(row_labels)
                keep = row_labels != IGNORE_INDEX
                predictions.append(row_logits[: len(row_labels)][keep].argmax(-1).tolist())
                references.append(row_labels[keep].tolist())
            flat_p = [p for row in predictions for p in row]
            flat_r = [r for row in references for r in row]
            return {
                "accuracy": metrics.accuracy(flat_p, flat_r),
                "entity_f1": metrics.entity_f1([[id2label[i] for i in row] for row in predictions],
                                               [[id2label[i] for i in row] for row in references]),
            }
        if logits[0].numel() == 1:  # regression
            return {"mse": sum((l.item() - float(r)) ** 2 for l, r in zip(logits, labels)) / len(labels)}
        if isinstance(labels[0], (list, tuple)):  # multi-label: every label right (exact match)
            predictions = [tuple((l > 0).long().tolist()) for l in logits]
            references = [tuple(round(v) for v in r) for r in labels]
            return {"accuracy": metrics.accuracy(predictions, references)}
        predictions = [int(l.argmax()) for l in logits]
        return {
            "accuracy": metrics.accuracy(predictions, labels),
            "macro_f1": metrics.macro_f1(predictions, labels, labels=list(id2label)),
        }
