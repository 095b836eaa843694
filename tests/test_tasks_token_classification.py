"""Token classification: word pieces to entities (each aggregation strategy by hand; the
pipeline's parity with transformers is in tests/test_pipelines_token_classification.py)."""

from __future__ import annotations

import pytest
import torch

from minibert import BertConfig
from minibert.tasks.conll import TaggedSentence
from minibert.tasks.token_classification import (
    TokenClassification,
    TokenPrediction,
    aggregate,
    encode,
    merge_windows,
    owning_windows,
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


# ---------------------------------------------------------------------------------------
# Training features: tags on first pieces, windows, word-level scores
# ---------------------------------------------------------------------------------------

TAGS = ["O", "B-LOC", "B-PER", "I-PER"]
LABEL2ID = {t: i for i, t in enumerate(TAGS)}


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    from minibert import BertTokenizer

    return BertTokenizer.from_pretrained(minilm_dir)


def sentence(text_and_tags: str) -> TaggedSentence:
    words, tags = zip(*(pair.rsplit("/", 1) for pair in text_and_tags.split()))
    return TaggedSentence(list(words), list(tags))


def test_the_tag_goes_on_the_first_piece_and_minus_100_elsewhere(tokenizer):
    s = sentence("Angela/B-PER Merkel/I-PER visited/O Pyongyang/B-LOC")
    [feature] = encode([s], tokenizer, 32, LABEL2ID)
    tokens = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    assert tokens == ["[CLS]", "angela", "mer", "##kel", "visited", "p", "##yon", "##gy", "##ang", "[SEP]"]
    assert feature["labels"] == [-100, 2, 3, -100, 0, 1, -100, -100, -100, -100]
    assert feature["word_positions"] == [(1, 0), (2, 1), (4, 2), (5, 3)]
    assert feature["word_labels"] == [2, 3, 0, 1]


def test_label_all_tokens_continues_b_as_i(tokenizer):
    tags = ["O", "B-LOC", "I-LOC"]
    s = TaggedSentence(["in", "Pyongyang"], ["O", "B-LOC"])
    [feature] = encode([s], tokenizer, 32, {t: i for i, t in enumerate(tags)}, label_all_tokens=True)
    assert feature["labels"] == [-100, 0, 1, 2, 2, 2, -100]


def test_a_word_the_tokenizer_drops_gets_no_piece_and_is_scored_as_o(tokenizer):
    # U+200B (zero width space) is a format character: BERT's normalisation removes it.
    sentences = [TaggedSentence(["\u200b"], ["B-LOC"]), TaggedSentence(["Paris", "\u200b"], ["B-LOC", "O"])]
    features = encode(sentences, tokenizer, 32, LABEL2ID)
    assert [f["word_positions"] for f in features] == [[], [(1, 0)]]
    logits = [torch.zeros(len(f["input_ids"]), len(TAGS)) for f in features]
    logits[1][1, LABEL2ID["B-LOC"]] = 1.0
    scores = TokenClassification().report({"logits": logits}, features, BertConfig(id2label=dict(enumerate(TAGS))))
    assert (scores["precision"], scores["recall"]) == (1.0, 0.5)  # the lost LOC counts as missed


def test_without_tags_there_are_no_labels(tokenizer):
    [feature] = encode([TaggedSentence(["Hello", "world"], None)], tokenizer, 32)
    assert "labels" not in feature and feature["word_positions"] == [(1, 0), (2, 1)]


def long_sentence(n: int) -> TaggedSentence:
    words = [["Anna", "Karenina", "travelled", "to", "Saint-Petersburg", "yesterday"][i % 6] for i in range(n)]
    tags = [["B-PER", "I-PER", "O", "O", "B-LOC", "O"][i % 6] for i in range(n)]
    return TaggedSentence(words, tags)


@pytest.mark.parametrize("max_length, stride", [(16, 4), (16, 0), (24, 11), (9, 3)])
def test_a_long_sentence_is_read_in_windows_each_word_labelled_once(tokenizer, max_length, stride):
    s = long_sentence(40)
    features = encode([s, sentence("Hi/O")], tokenizer, max_length, LABEL2ID | {"B-LOC": 1}, stride=stride)
    windows = [f for f in features if f["example"] == 0]
    assert len(windows) > 2 and all(len(f["input_ids"]) <= max_length for f in windows)
    predicted = [w for f in windows for _, w in f["word_positions"]]
    assert sorted(predicted) == list(range(40))  # every word exactly once
    for f in windows:
        tokens = tokenizer.convert_ids_to_tokens(f["input_ids"])
        for p, w in f["word_positions"]:
            assert not tokens[p].startswith("##")  # a first piece, never a continuation
            assert f["labels"][p] == LABEL2ID[s.tags[w]]
        assert sum(label != -100 for label in f["labels"]) == len(f["word_positions"])


def test_windows_give_each_word_to_the_window_where_it_has_most_context():
    # Two windows over 6 pieces (one word each): 0 1 2 3 | 2 3 4 5 (positions 1..4 after [CLS]).
    windows = [([None, 0, 1, 2, 3, None], [(0, 0), (0, 1), (0, 1), (0, 1), (0, 1), (0, 0)]),
               ([None, 2, 3, 4, 5, None], [(0, 0), (0, 1), (0, 1), (0, 1), (0, 1), (0, 0)])]
    owner = owning_windows(windows)
    # word 2: context min(2, 1) = 1 in window 0, min(0, 3) = 0 in window 1 -> window 0; word 3 the reverse.
    assert owner == {0: (0, 1), 1: (0, 2), 2: (0, 3), 3: (1, 2), 4: (1, 3), 5: (1, 4)}


def test_a_window_starting_inside_a_word_does_not_take_its_later_piece_for_its_first():
    # Word 0 has pieces at characters 0-2, 2-4, 4-6; window 1 starts with its third piece.
    windows = [([None, 0, 0, 0, None], [(0, 0), (0, 2), (2, 4), (4, 6), (0, 0)]),
               ([None, 0, 1, None], [(0, 0), (4, 6), (0, 3), (0, 0)])]
    assert owning_windows(windows) == {0: (0, 1), 1: (1, 2)}


def test_compute_metrics_scores_words(tokenizer):
    task = TokenClassification()
    sentences = [sentence("Angela/B-PER Merkel/I-PER visited/O Pyongyang/B-LOC"), sentence("Hi/O there/O")]
    features = encode(sentences, tokenizer, 32, LABEL2ID)
    # A model that gets every word right but calls "Merkel" B-PER: PER is split in two.
    logits = []
    for f in features:
        row = torch.zeros(len(f["input_ids"]), len(TAGS))
        for p, w in f["word_positions"]:
            row[p, f["word_labels"][w] if (f["example"], w) != (0, 1) else LABEL2ID["B-PER"]] = 5.0
        logits.append(row)
    config = BertConfig(id2label=dict(enumerate(TAGS)))
    scores = task.compute_metrics({"logits": logits}, features, config)
    # gold: PER(0-2), LOC(3); predicted: PER(0), PER(1), LOC(3) -> tp 1, 3 predicted, 2 gold
    assert scores == pytest.approx({"precision": 1 / 3, "recall": 1 / 2, "f1": 0.4, "accuracy": 5 / 6})
    assert task.report({"logits": logits}, features, config)["per_type"]["LOC"]["f1"] == 1.0
