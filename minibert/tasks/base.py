"""What a fine-tuning task tells the training loop, and the batch padding every task shares.

The loop (minibert.training) knows optimizers, schedules, processes, checkpoints and
evaluation passes; it knows nothing about labels or metrics. A `Task` knows those: how to
read its examples, turn them into features, pad a batch of features, and score the model's
outputs on the dev set. Text classification is one (minibert.tasks.classification); token
classification and question answering are others, each a file beside it.

A feature is a dict. The keys a model takes (`MODEL_INPUTS`) become padded tensors in
`collate`; every other key (an example id, offsets, word ids) is metadata: it never reaches the
model, but `compute_metrics` sees it, since it receives the eval features themselves.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

import torch

Feature = dict[str, Any]

# The keys of a feature that go to the model's forward(); anything else is metadata.
MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask", "labels", "start_positions", "end_positions")
IGNORE_INDEX = -100  # the label of a padded (or deliberately unlabelled) token: the loss skips it


def collate(features: Sequence[Feature], pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest sequence: ids with pad_token_id, attention_mask and
    token_type_ids with 0, per-token labels with -100 (ignored by the loss). `labels` may
    also be an int (class), a float (regression) or a list of floats (multi-label);
    `start_positions`/`end_positions` are ints. Keys outside MODEL_INPUTS are left out."""
    longest = max(len(f["input_ids"]) for f in features)

    def pad(seq, value):
        return list(seq) + [value] * (longest - len(seq))

    first = features[0]
    batch = {
        "input_ids": torch.tensor([pad(f["input_ids"], pad_token_id) for f in features]),
        "attention_mask": torch.tensor([pad(f.get("attention_mask") or [1] * len(f["input_ids"]), 0) for f in features]),
    }
    if "token_type_ids" in first:
        batch["token_type_ids"] = torch.tensor([pad(f["token_type_ids"], 0) for f in features])
    if "labels" in first:
        labels = [f["labels"] for f in features]
        if _per_token(labels[0], len(first["input_ids"])):
            batch["labels"] = torch.tensor([pad(l, IGNORE_INDEX) for l in labels])  # (B, S) one label per token
        else:
            batch["labels"] = torch.tensor(labels)  # (B,) class ids or values, or (B, num_labels) multi-label
    for key in ("start_positions", "end_positions"):
        if key in first:
            batch[key] = torch.tensor([f[key] for f in features])  # (B,)
    return batch


def _per_token(labels: Any, length: int) -> bool:
    """One int label per token, as token classification has (multi-label vectors are floats)."""
    return isinstance(labels, (list, tuple)) and len(labels) == length and all(isinstance(v, int) for v in labels)


class Task:
    """The interface between the training loop and one kind of fine-tuning.

    Class attributes a task sets:
      name          the name `get_task` and `minibert train --task` know it by
      model_class   the head it trains (from_pretrained is called on it with `model_kwargs`)
      metric        the eval metric that picks the best epoch; higher is better
      outputs       the names of the model outputs `compute_metrics` needs (e.g. "logits")
      token_outputs those of `outputs` with a sequence axis: the loop trims them to each
                    feature's length (drops the batch padding) before handing them over
      default_max_length  the --max-length when none is given (capped by the model's maximum)

    A task is constructed with its own options (keyword arguments; on the command line those
    that `add_arguments` declares, turned into keywords by `from_args`).
    """

    name: str = ""
    model_class: type = None  # a PreTrainedBert subclass
    metric: str = ""
    outputs: tuple[str, ...] = ("logits",)
    token_outputs: tuple[str, ...] = ()
    default_max_length: int = 128

    # --- the command line ------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add this task's own options to `minibert train` (none by default). `parser` is the
        task's argument group in the one `train` parser that every task shares: a flag another
        task already declares is an argparse error at start-up, so name options after what
        they mean for this task (`--words-column`, `--doc-stride`); giving an option of
        another task than `--task` is refused with one line."""

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Task":
        """The task configured from the parsed command line (by default: no options)."""
        return cls()

    # --- data ------------------------------------------------------------------------

    def read_examples(self, path) -> list[Any]:
        """The examples of one data file; bad data raises minibert.data.DataError."""
        raise NotImplementedError

    def label_names(self, train_examples: Sequence[Any], eval_examples: Sequence[Any] = ()) -> list[str]:
        """The label set, in id order (what id2label will hold); [] for a task without one."""
        return []

    def describe_data(self, train_examples: Sequence[Any]) -> str:
        """One line about the training data for the training log (e.g. the tagging scheme
        found), or "" for nothing to say."""
        return ""

    def model_kwargs(self, label_names: Sequence[str]) -> dict[str, Any]:
        """Keyword arguments for `model_class.from_pretrained` that configure the head."""
        if not label_names:
            return {}
        id2label = dict(enumerate(label_names))
        return {"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}

    def features(self, examples: Sequence[Any], tokenizer, max_length: int,
                 label2id: dict[str, int] | None) -> list[Feature]:
        """Tokenized features (dicts, unpadded): model inputs, labels, and any metadata the
        metric needs. One example may give several features (windows of a long text)."""
        raise NotImplementedError

    # --- batches and scores -------------------------------------------------------------

    def collate(self, features: Sequence[Feature], pad_token_id: int) -> dict[str, torch.Tensor]:
        """The padded model inputs of a batch (metadata keys left out)."""
        return collate(features, pad_token_id)

    def chance_loss(self, features: Sequence[Feature], config) -> float | None:
        """The training loss of a model that has learnt nothing of the task (e.g. ln(num_labels)
        for a classifier that spreads its probability evenly): a run that ends near it gets a
        warning. None (the default) when the task has no such level."""
        return None

    def compute_metrics(self, outputs: dict[str, list[torch.Tensor]], features: Sequence[Feature],
                        config) -> dict[str, float]:
        """Scores on the dev set. `outputs[name][i]`: output `name` of feature i (fp32, on the
        CPU; its batch padding removed for the names in `token_outputs`); `config`: the
        model's config (id2label, ...). Must return `self.metric` among its floats."""
        raise NotImplementedError

    def report(self, outputs: dict[str, list[torch.Tensor]], features: Sequence[Feature], config) -> dict[str, Any]:
        """The scores `minibert evaluate` prints: those of `compute_metrics` and whatever
        breakdown the task has beyond flat numbers (per entity type, ...). Same arguments."""
        return self.compute_metrics(outputs, features, config)
