"""Evaluation metrics: accuracy, macro F1, entity-level F1 for token classification, and the
SQuAD exact match and F1 for extractive question answering.

Plain Python over lists of label ids, so each formula can be read next to its definition:

    precision_c = TP_c / (TP_c + FP_c)     recall_c = TP_c / (TP_c + FN_c)
    F1_c = 2 precision_c recall_c / (precision_c + recall_c)       (0 when both are 0)
    macro F1 = mean over classes c of F1_c  (each class counts the same, however rare)
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Mapping, Sequence


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


# --- SQuAD: exact match and token F1, as the official v1.1 and v2.0 evaluation scripts ---------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """The official normalisation: lower case, ASCII punctuation removed, the articles a/an/the
    removed, whitespace collapsed. "The  Eiffel-Tower!" -> "eiffeltower"."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Exact match and F1 (in percent) of predicted answers against the gold answers.

    predictions: id -> answer text, "" for "no answer". references: id -> the gold texts, an
    empty list for an unanswerable question. Each question scores its best gold answer; the
    totals are means over all questions:

        EM = [normalize(pred) == normalize(gold)]
        F1 = 2 P R / (P + R),  P = |common tokens| / |pred tokens|,  R = |common| / |gold tokens|

    With no unanswerable question this is the v1.1 script; otherwise the v2.0 script, where an
    unanswerable question (or a gold answer that normalises to nothing) scores 1 only for an
    empty prediction, and the result also holds HasAns_* and NoAns_* means over each kind.
    Predictions for ids without a reference are ignored, as in the official scripts.
    """
    if not references:
        raise ValueError("no references to score")
    missing = [qid for qid in references if qid not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} question(s) have no prediction, e.g. {missing[0]!r}; predict \"\" for no answer")
    for qid, answer in predictions.items():
        if not isinstance(answer, str):
            raise ValueError(f"the prediction for {qid!r} is {answer!r}, not a text (use \"\" for no answer)")
    version2 = any(len(golds) == 0 for golds in references.values())
    exact, f1 = {}, {}
    for qid, golds in references.items():
        if version2:
            # v2.0 drops gold answers that normalise to nothing; none left = only "" is right
            golds = [g for g in golds if normalize_answer(g)] or [""]
            exact[qid] = max(float(normalize_answer(g) == normalize_answer(predictions[qid])) for g in golds)
            f1[qid] = max(_token_f1(predictions[qid], g, empty_matches_empty=True) for g in golds)
        else:
            exact[qid] = max(float(normalize_answer(g) == normalize_answer(predictions[qid])) for g in golds)
            f1[qid] = max(_token_f1(predictions[qid], g, empty_matches_empty=False) for g in golds)
    scores = _means(exact, f1, list(references))
    answerable = [qid for qid, golds in references.items() if golds]
    unanswerable = [qid for qid, golds in references.items() if not golds]
    if answerable and unanswerable:
        for prefix, ids in (("HasAns_", answerable), ("NoAns_", unanswerable)):
            scores.update({prefix + k: v for k, v in _means(exact, f1, ids).items()})
    return scores


def _token_f1(prediction: str, gold: str, empty_matches_empty: bool) -> float:
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if empty_matches_empty and (not pred_tokens or not gold_tokens):
        return float(pred_tokens == gold_tokens)  # v2.0: "no answer" is right only against "no answer"
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _means(exact: Mapping[str, float], f1: Mapping[str, float], ids: Sequence[str]) -> dict[str, float]:
    return {
        "exact_match": 100.0 * sum(exact[i] for i in ids) / len(ids),
        "f1": 100.0 * sum(f1[i] for i in ids) / len(ids),
        "total": len(ids),
    }
