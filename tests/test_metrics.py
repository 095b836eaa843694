"""Metrics against values computed by hand."""

from __future__ import annotations

import pytest

from minibert.metrics import accuracy, entities, entity_f1, macro_f1


def test_accuracy_and_macro_f1_by_hand():
    pred, ref = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    assert accuracy(pred, ref) == 3 / 5
    # class 0: tp 1 fp 1 fn 1 -> 0.5; class 1: tp 2 fp 0 fn 1 -> 0.8; class 2: tp 0 fp 1 -> 0
    assert macro_f1(pred, ref) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_entities_from_iob2_tags():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG", "I-ORG", "O"]
    assert entities(tags) == {("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 5), ("ORG", 5, 7)}
    assert entities(["PER", "PER", "O", "LOC"]) == {("PER", 0, 2), ("LOC", 3, 4)}


def test_entity_f1_counts_only_exact_spans():
    ref = [["B-PER", "I-PER", "O", "B-LOC"]]
    assert entity_f1(ref, ref) == 1.0
    # PER cut short: 1 of 2 predicted right, 1 of 2 reference found.
    assert entity_f1([["B-PER", "O", "O", "B-LOC"]], ref) == pytest.approx(0.5)


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="2 predictions but 3 references"):
        accuracy([0, 1], [0, 1, 1])
