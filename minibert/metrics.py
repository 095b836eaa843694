"""Evaluation metrics: accuracy, macro F1, and entity-level scores for token classification.

Plain Python over lists of labels, so each formula can be read next to its definition:

    precision_c = TP_c / (TP_c + FP_c)     recall_c = TP_c / (TP_c + FN_c)
    F1_c = 2 precision_c recall_c / (precision_c + recall_c)       (0 when both are 0)
    macro F1 = mean over classes c of F1_c  (each class counts the same, however rare)

For named entities the "classes" are entity types and the things counted are whole entities:
a predicted entity is a true positive only when its type, first and last token all match a
gold entity (the CoNLL shared tasks' definition, computed by conlleval and by seqeval's
default mode, which this module follows exactly; tests/test_metrics.py checks it against
seqeval on random tag sequences).
"""

from __future__ import annotations

from typing import Sequence


def accuracy(predictions: Sequence[int], references: Sequence[int]) -> float:
    _check_lengths(predictions, references)
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def f1(tp: int, fp: int, fn: int) -> float:
    precision, recall = _divide(tp, tp + fp), _divide(tp, tp + fn)
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


# ---------------------------------------------------------------------------------------
# Entities from tags
# ---------------------------------------------------------------------------------------

# A tag is "O" (outside) or PREFIX-TYPE. IOB1 and IOB2 use B- (begin) and I- (inside);
# IOBES adds E- (end) and S- (single); BILOU is IOBES with other letters (L- last, U- unit).
PREFIXES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}


def split_tag(tag: str) -> tuple[str, str | None]:
    """"B-PER" -> ("B", "PER"); "O" -> ("O", None); BILOU's "L-"/"U-" read as "E-"/"S-".

    Anything else (no prefix, an unknown prefix such as "X-PER", an empty type) is an error:
    conlleval would read such a tag by its first letter and score nonsense without a word."""
    if tag == "O":
        return "O", None
    prefix, dash, kind = tag.partition("-") if isinstance(tag, str) else ("", "", "")
    if not dash or prefix not in PREFIXES or not kind:
        raise ValueError(
            f"{tag!r} is not a tag of the IOB1, IOB2, IOBES or BILOU schemes: a tag is O, or B-, I-, E-, S-, L- or U- "
            "followed by the entity type (e.g. B-PER)"
        )
    return PREFIXES[prefix], kind


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities in one sentence's tags, as (type, start, end) with `end` exclusive, in order.

    The conlleval rules, which read IOB1, IOB2 and IOBES alike: walking the tags with the
    previous one in mind, an entity in progress ends before the current tag when

        the previous tag was E- or S-, or the current one is B-, S- or O, or the type changes,

    and a new entity starts at the current tag (if it is not O) when

        it is B- or S-, or the previous tag was O, E- or S-, or the type changes.

    So I-PER after O or after I-LOC starts an entity (IOB1, and lenient IOB2), and I-PER after
    B-PER or I-PER continues one.
    """
    spans = []
    prev_prefix, prev_kind, start = "O", None, 0
    for i, tag in enumerate([*tags, "O"]):  # the "O" at the end closes the last entity
        prefix, kind = split_tag(tag)
        if prev_prefix != "O" and (prev_prefix in "ES" or prefix in "BSO" or kind != prev_kind):
            spans.append((prev_kind, start, i))
        if prefix != "O" and (prefix in "BS" or prev_prefix in "OES" or kind != prev_kind):
            start = i
        prev_prefix, prev_kind = prefix, kind
    return spans


def entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """The set of (type, start, end) entities in one sentence's tags (see `entity_spans`)."""
    return set(entity_spans(tags))


def detect_scheme(sequences: Sequence[Sequence[str]]) -> str:
    """Which tagging scheme a set of tag sequences uses: "IOB2", "IOB1", "IOBES" or "BILOU".

    BILOU and IOBES show themselves by their letters. Between the two B/I schemes: IOB2 opens
    every entity with B-, so an I-X that follows O or another type can only be IOB1 (which
    writes B- only between two adjacent entities of one type). Data with only O and B- tags is
    reported as IOB2."""
    prefixes = set()
    iob1 = False
    for tags in sequences:
        prev_prefix, prev_kind = "O", None
        for tag in tags:
            prefix, kind = split_tag(tag)
            prefixes.add(tag[0])
            if prefix == "I" and (prev_prefix == "O" or kind != prev_kind):
                iob1 = True
            prev_prefix, prev_kind = prefix, kind
    if prefixes & {"L", "U"}:
        return "BILOU"
    if prefixes & {"E", "S"}:
        return "IOBES"
    return "IOB1" if iob1 else "IOB2"


# ---------------------------------------------------------------------------------------
# Entity scores
# ---------------------------------------------------------------------------------------


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Entity-level precision, recall and F1, per type and micro-averaged, plus token accuracy.

    `gold` and `pred`: one list of tags per sentence, in any of the schemes `split_tag` reads.
    Returns {"precision", "recall", "f1", "support", "accuracy", "per_type": {type:
    {"precision", "recall", "f1", "support"}}}: micro scores count every entity of every type
    together; `support` is the number of gold entities; per_type lists each type found in
    either side, sorted. Equal to seqeval's default mode (conlleval): `precision_score`,
    `recall_score`, `f1_score`, `classification_report(output_dict=True)` and `accuracy_score`.
    """
    if isinstance(gold, str) or isinstance(pred, str):
        raise TypeError("gold and pred must be lists of tag sequences (one list of tags per sentence)")
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted ones")
    if len(gold) == 0:
        raise ValueError("no sentences to score")
    gold_entities, pred_entities = set(), set()
    correct_tokens = total_tokens = 0
    for n, (gold_tags, pred_tags) in enumerate(zip(gold, pred)):
        if isinstance(gold_tags, str) or isinstance(pred_tags, str):
            raise TypeError(f"sentence {n}: expected a list of tags, got a string; pass one list of tags per sentence")
        if len(gold_tags) != len(pred_tags):
            raise ValueError(f"sentence {n}: {len(gold_tags)} gold tags but {len(pred_tags)} predicted tags")
        for side, tags, found in (("gold", gold_tags, gold_entities), ("predicted", pred_tags, pred_entities)):
            try:
                found.update((kind, n, start, end) for kind, start, end in entity_spans(tags))
            except ValueError as exc:
                raise ValueError(f"sentence {n} ({side}): {exc}") from None
        correct_tokens += sum(g == p for g, p in zip(gold_tags, pred_tags))
        total_tokens += len(gold_tags)

    def scores(gold_set: set, pred_set: set) -> dict:
        tp = len(gold_set & pred_set)
        precision, recall = _divide(tp, len(pred_set)), _divide(tp, len(gold_set))
        f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f, "support": len(gold_set)}

    types = sorted({e[0] for e in gold_entities | pred_entities})
    per_type = {t: scores({e for e in gold_entities if e[0] == t}, {e for e in pred_entities if e[0] == t}) for t in types}
    return {
        **scores(gold_entities, pred_entities),
        "accuracy": _divide(correct_tokens, total_tokens),
        "per_type": per_type,
    }


def entity_f1(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
    """Micro-averaged F1 over entities: `entity_scores(references, predictions)["f1"]`."""
    return entity_scores(references, predictions)["f1"]


def _divide(a: int, b: int) -> float:
    return a / b if b else 0.0  # an undefined precision or recall counts as 0, as in seqeval


def _check_lengths(a: Sequence, b: Sequence, what: str = "") -> None:
    if len(a) != len(b):
        raise ValueError(f"{what + ': ' if what else ''}{len(a)} predictions but {len(b)} references")
    if not what and len(b) == 0:
        raise ValueError("no references to score")
