"""Token classification: word pieces to entities (each aggregation strategy by hand; the
pipeline's parity with transformers is in tests/test_pipelines_token_classification.py)."""

from __future__ import annotations

import pytest
import torch

from minibert.tasks.token_classification import (
    TokenPrediction,
    aggregate,
    merge_windows,
    token_predictions,
    words_of,
)

LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}


def join(tokens):
    return " ".join(tokens).replace(" ##", "")


def piece(index, word, start, end, probabilities, is_subword=False):
    return TokenPrediction(index, word, start, end, torch.tensor(probabilities), is_subword)


# "Jo Bloggs lives in Truro": "bloggs" is two pieces, "bl" says PER, "##oggs" says LOC.
TEXT = "Jo Bloggs lives in Truro"
PIECES = [
    piece(1, "jo", 0, 2, [0.1, 0.7, 0.1, 0.05, 0.05]),
    piece(2, "bl", 3, 5, [0.1, 0.1, 0.5, 0.1, 0.2]),
    piece(3, "##oggs", 5, 9, [0.0, 0.0, 0.2, 0.0, 0.8], is_subword=True),
    piece(4, "lives", 10, 15, [0.9, 0.0, 0.1, 0.0, 0.0]),
    piece(5, "in", 16, 18, [0.8, 0.0, 0.0, 0.2, 0.0]),
    piece(6, "truro", 19, 24, [0.2, 0.0, 0.0, 0.6, 0.2]),
]


def test_token_predictions_skip_specials_mark_subwords_and_show_unknown_text():
    text = "Ünknöwn ☃ go"
    tokens = ["[CLS]", "unk", "##nown", "[UNK]", "go", "[SEP]"]
    offsets = [(0, 0), (0, 3), (3, 7), (8, 9), (10, 12), (0, 0)]
    logits = torch.zeros(6, 5)
    pieces = token_predictions(text, tokens, offsets, [1, 0, 0, 0, 0, 1], logits, "[UNK]")
    assert [(p.index, p.word, p.start, p.end, p.is_subword) for p in pieces] == [
        (1, "unk", 0, 3, False), (2, "##nown", 3, 7, True), (3, "☃", 8, 9, False), (4, "go", 10, 12, False)
    ]
    assert torch.allclose(pieces[0].probabilities, torch.full((5,), 0.2))


def test_none_gives_every_piece_with_its_index():
    entities = aggregate(PIECES, LABELS, "none", join)
    assert [(e["entity"], e["index"], e["word"]) for e in entities] == [
        ("B-PER", 1, "jo"), ("I-PER", 2, "bl"), ("I-LOC", 3, "##oggs"), ("B-LOC", 6, "truro")
    ]
    assert entities[0]["score"] == pytest.approx(0.7)


def test_simple_groups_pieces_of_one_type():
    entities = aggregate(PIECES, LABELS, "simple", join)
    assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in entities] == [
        ("PER", "jo bl", 0, 5), ("LOC", "##oggs", 5, 9), ("LOC", "truro", 19, 24)
    ]
    assert entities[0]["score"] == pytest.approx((0.7 + 0.5) / 2)


@pytest.mark.parametrize("strategy, label, score", [
    ("first", "I-PER", 0.5),  # the first piece of "bloggs"
    ("max", "I-LOC", 0.8),  # its most confident piece
    ("average", "I-LOC", 0.5),  # mean probabilities (0.05, 0.05, 0.35, 0.05, 0.5)
])
def test_word_strategies_give_each_word_one_label(strategy, label, score):
    entities = aggregate(PIECES, LABELS, strategy, join, ignore_labels=())
    words = [(e["entity_group"], e["word"]) for e in entities]
    # "jo" + "bloggs" group when bloggs is I-PER; an I-LOC bloggs is a group of its own.
    if label == "I-PER":
        assert words == [("PER", "jo bloggs"), ("O", "lives in"), ("LOC", "truro")]
        assert entities[0]["score"] == pytest.approx((0.7 + score) / 2)
    else:
        assert words == [("PER", "jo"), ("LOC", "bloggs"), ("O", "lives in"), ("LOC", "truro")]
        assert entities[1]["score"] == pytest.approx(score)
        assert (entities[1]["start"], entities[1]["end"]) == (3, 9)


def test_b_opens_a_new_group_and_other_labels_group_as_themselves():
    labels = {0: "O", 1: "B-X", 2: "I-X", 3: "E-X"}
    pieces = [piece(i, w, i, i + 1, p) for i, (w, p) in enumerate(
        [("a", [0, 1, 0, 0]), ("b", [0, 1, 0, 0]), ("c", [0, 0, 1, 0]), ("d", [0, 0, 0, 1])])]
    groups = aggregate(pieces, labels, "simple", join)
    # B-X | B-X I-X | E-X (an E- label is read as a type "E-X" of its own, as transformers does)
    assert [(g["entity_group"], g["word"]) for g in groups] == [("X", "a"), ("X", "b c"), ("X", "d")]


def test_words_of_starts_a_word_at_every_non_subword():
    assert [[p.word for p in w] for w in words_of(PIECES)] == [["jo"], ["bl", "##oggs"], ["lives"], ["in"], ["truro"]]


def test_unknown_strategy_is_an_error():
    with pytest.raises(ValueError, match="aggregation_strategy must be one of none, simple, first, average, max; got 'mean'"):
        aggregate(PIECES, LABELS, "mean", join)


def test_merge_windows_keeps_the_longer_then_the_more_confident():
    found = [
        {"entity_group": "PER", "score": 0.9, "start": 0, "end": 5},
        {"entity_group": "LOC", "score": 0.5, "start": 20, "end": 25},
        {"entity_group": "PER", "score": 0.6, "start": 0, "end": 9},  # the same name, seen whole in window 2
        {"entity_group": "LOC", "score": 0.7, "start": 20, "end": 25},  # the same span, more confident
        {"entity_group": "ORG", "score": 0.4, "start": 30, "end": 33},
    ]
    assert merge_windows(found) == [found[2], found[3], found[4]]
