"""Evaluation metrics: accuracy, macro F1, and entity-level F1 for token classification.

Plain Python over lists of label ids, so each formula can be read next to its definition:

    precision_c = TP_c / (TP_c + FP_c)     recall_c = TP_c / (TP_c + FN_c)
    F1_c = 2 precision_c recall_c / (precision_c + recall_c)       (0 when both are 0)
    macro F1 = mean over classes c of F1_c  (each class counts the same, however rare)
"""

from __future__ import annotations

from typing import Sequence


def accuracy(predictions: Sequence[int], references: Sequence[int]) -> float:
    _check_lengths(predictions, references)
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def f1(tp: int, fp: int, fn: int) -> float:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def macro_f1(predictions: Sequence[int], references: Sequence[int], labels: Sequence[int] | None = None) -> float:
    """Mean per-class F1 over `labels` (default: every class seen in predictions or references)."""
    _check_lengths(predictions, references)
    classes = sorted(set(labels) if labels is not None else set(predictions) | set(references))
    scores = []
    for c in classes:
        tp = sum(p == c and r == c for p, r in zip(predictions, references))
        fp = sum(p == c and r != c for p, r in zip(predictions, references))
        fn = sum(p != c and r == c for p, r in zip(predictions, references))
        scores.append(f1(tp, fp, fn))
    return sum(scores) / len(scores) if scores else 0.0


def entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """IOB2 tags -> the set of (type, start, end) spans, end exclusive.

    "B-X" starts an entity of type X, "I-X" continues one; an "I-X" after anything but X
    starts a new entity (the lenient reading of conlleval). "O" is outside. A tag without a
    prefix ("PER") is read as in the IO scheme: consecutive equal tags form one entity.
    """
    spans = set()
    kind, start = None, 0
    for i, tag in enumerate([*tags, "O"]):
        if tag == "O":
            prefix, name = "O", None
        elif tag[:2] in ("B-", "I-"):
            prefix, name = tag[0], tag[2:]
        else:
            prefix, name = "I", tag
        continues = prefix == "I" and kind == name
        if kind is not None and not continues:
            spans.add((kind, start, i))
            kind = None
        if prefix != "O" and not continues:
            kind, start = name, i
    return spans


def entity_f1(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
    """Micro-averaged F1 over entity spans: an entity counts only when type, start and end all match."""
    _check_lengths(predictions, references)
    tp = fp = fn = 0
    for sent, (pred, ref) in enumerate(zip(predictions, references)):
        _check_lengths(pred, ref, f"sentence {sent}")
        p, r = entities(pred), entities(ref)
        tp += len(p & r)
        fp += len(p - r)
        fn += len(r - p)
    return f1(tp, fp, fn)


def _check_lengths(a: Sequence, b: Sequence, what: str = "") -> None:
    if len(a) != len(b):
        raise ValueError(f"{what + ': ' if what else ''}{len(a)} predictions but {len(b)} references")
    if not what and len(b) == 0:
        raise ValueError("no references to score")
