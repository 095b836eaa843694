"""Metrics: by hand, and entity scores against seqeval's default (conlleval) mode."""

from __future__ import annotations

import random
import warnings

import pytest

from minibert.metrics import accuracy, detect_scheme, entities, entity_f1, entity_scores, entity_spans, macro_f1, split_tag


def test_accuracy_and_macro_f1_by_hand():
    pred, ref = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    assert accuracy(pred, ref) == 3 / 5
    # class 0: tp 1 fp 1 fn 1 -> 0.5; class 1: tp 2 fp 0 fn 1 -> 0.8; class 2: tp 0 fp 1 -> 0
    assert macro_f1(pred, ref) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="2 predictions but 3 references"):
        accuracy([0, 1], [0, 1, 1])


# ---------------------------------------------------------------------------------------
# Entities, by hand
# ---------------------------------------------------------------------------------------


def test_entities_from_iob2_tags():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG", "I-ORG", "O"]
    assert entity_spans(tags) == [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 5), ("ORG", 5, 7)]
    assert entities(tags) == set(entity_spans(tags))


def test_iob1_opens_an_entity_with_i_and_separates_neighbours_with_b():
    # IOB1: "I-" everywhere, "B-" only where an entity follows one of the same type.
    tags = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]
    assert entity_spans(tags) == [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5), ("ORG", 5, 6)]


def test_iobes_and_bilou_read_alike():
    iobes = ["S-PER", "B-ORG", "I-ORG", "E-ORG", "E-ORG", "O", "B-LOC", "E-LOC"]
    bilou = ["U-PER", "B-ORG", "I-ORG", "L-ORG", "L-ORG", "O", "B-LOC", "L-LOC"]
    # An E- after an E- is an entity of its own (the previous one ended).
    expected = [("PER", 0, 1), ("ORG", 1, 4), ("ORG", 4, 5), ("LOC", 6, 8)]
    assert entity_spans(iobes) == expected
    assert entity_spans(bilou) == expected


@pytest.mark.parametrize("tag", ["X-PER", "PER", "B-", "B_PER", "", "o", None])
def test_a_tag_outside_the_schemes_is_an_error(tag):
    with pytest.raises(ValueError, match="is not a tag of the IOB1, IOB2, IOBES or BILOU schemes"):
        split_tag(tag)


def test_split_tag_keeps_dashes_inside_the_type():
    assert split_tag("B-WORK-OF-ART") == ("B", "WORK-OF-ART")
    assert split_tag("O") == ("O", None)


@pytest.mark.parametrize(
    "sequences, scheme",
    [
        ([["B-PER", "I-PER", "O", "B-LOC"]], "IOB2"),
        ([["B-PER", "O"], ["O", "I-LOC"]], "IOB1"),
        ([["B-PER", "I-PER", "I-LOC"]], "IOB1"),
        ([["I-PER", "B-PER"]], "IOB1"),
        ([["S-PER", "B-LOC", "E-LOC"]], "IOBES"),
        ([["U-PER", "B-LOC", "L-LOC"]], "BILOU"),
        ([["O", "O"]], "IOB2"),
    ],
)
def test_detect_scheme(sequences, scheme):
    assert detect_scheme(sequences) == scheme


# ---------------------------------------------------------------------------------------
# Entity scores, by hand
# ---------------------------------------------------------------------------------------


def test_entity_scores_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "B-MISC"]]
    scores = entity_scores(gold, pred)
    # gold: PER 0-2, LOC 3, ORG 0; pred: PER 0-1 (wrong end), LOC 3, ORG 0, MISC 1 -> tp 2
    assert scores["precision"] == 2 / 4 and scores["recall"] == 2 / 3
    assert scores["f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    assert scores["support"] == 3
    assert scores["accuracy"] == 4 / 6
    assert scores["per_type"] == {
        "LOC": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "MISC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
        "ORG": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "PER": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
    }


def test_entity_f1_counts_only_exact_spans():
    ref = [["B-PER", "I-PER", "O", "B-LOC"]]
    assert entity_f1(ref, ref) == 1.0
    # PER cut short: 1 of 2 predicted right, 1 of 2 reference found.
    assert entity_f1([["B-PER", "O", "O", "B-LOC"]], ref) == pytest.approx(0.5)


def test_no_entities_anywhere_scores_zero():
    scores = entity_scores([["O", "O"]], [["O", "O"]])
    assert (scores["precision"], scores["recall"], scores["f1"], scores["accuracy"]) == (0.0, 0.0, 0.0, 1.0)
    assert scores["per_type"] == {}


def test_entity_scores_bad_input():
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted ones"):
        entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted tags"):
        entity_scores([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match=r"sentence 0 \(predicted\): 'X-PER' is not a tag"):
        entity_scores([["B-PER"]], [["X-PER"]])
    with pytest.raises(ValueError, match="no sentences"):
        entity_scores([], [])
    with pytest.raises(TypeError, match="one list of tags per sentence"):
        entity_scores(["B-PER", "O"], ["B-PER", "O"])


# ---------------------------------------------------------------------------------------
# Against seqeval (the reference) on random tag sequences
# ---------------------------------------------------------------------------------------

seqeval_metrics = pytest.importorskip("seqeval.metrics")

# Garbage on purpose: every prefix after every other one, type changes inside entities,
# I- after O, E- without B-, mixed schemes in one sentence.
IOB_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
IOBES_TAGS = IOB_TAGS + ["E-PER", "S-PER", "E-LOC", "S-LOC", "E-MISC", "S-ORG"]


def random_corpus(rng: random.Random, tags: list[str], o_weight: float) -> list[list[str]]:
    weights = [o_weight if t == "O" else 1.0 for t in tags]
    return [rng.choices(tags, weights, k=rng.randint(0, 12)) for _ in range(rng.randint(1, 6))]


def seqeval_scores(gold, pred) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns when a precision or recall is undefined
        report = seqeval_metrics.classification_report(gold, pred, output_dict=True)
        return {
            "precision": seqeval_metrics.precision_score(gold, pred),
            "recall": seqeval_metrics.recall_score(gold, pred),
            "f1": seqeval_metrics.f1_score(gold, pred),
            "support": int(report["micro avg"]["support"]),
            "accuracy": seqeval_metrics.accuracy_score(gold, pred) if any(gold) else 0.0,
            "per_type": {
                name: {"precision": r["precision"], "recall": r["recall"], "f1": r["f1-score"], "support": int(r["support"])}
                for name, r in report.items()
                if not name.endswith(" avg")
            },
        }


def assert_same_scores(ours: dict, reference: dict, case) -> None:
    """Equal keys and counts; scores within 1e-12 (both divide the same integers)."""
    flat = lambda d: {(t, k): v for t, r in d["per_type"].items() for k, v in r.items()} | {
        k: v for k, v in d.items() if k != "per_type"
    }
    assert flat(ours) == pytest.approx(flat(reference), abs=1e-12), case


@pytest.mark.parametrize("tags", [IOB_TAGS, IOBES_TAGS], ids=["IOB", "IOBES"])
def test_entity_scores_equal_seqeval_on_random_sequences(tags):
    rng = random.Random(15)
    for case in range(600):
        gold = random_corpus(rng, tags, o_weight=rng.choice([0.5, 3.0, 10.0]))
        # A prediction near the gold (some tags changed), or an unrelated one.
        if rng.random() < 0.7:
            pred = [[t if rng.random() < 0.8 else rng.choice(tags) for t in sent] for sent in gold]
        else:
            pred = [rng.choices(tags, k=len(sent)) for sent in gold]
        assert_same_scores(entity_scores(gold, pred), seqeval_scores(gold, pred), (case, gold, pred))


def test_entity_spans_equal_seqeval_get_entities():
    from seqeval.metrics.sequence_labeling import get_entities

    rng = random.Random(3)
    for _ in range(2000):
        tags = rng.choices(IOBES_TAGS, k=rng.randint(0, 15))
        # seqeval's spans are (type, first, last) with `last` inclusive.
        assert entity_spans(tags) == [(t, s, e + 1) for t, s, e in get_entities(tags)], tags


def test_bilou_scores_as_seqeval_scores_the_same_tags_in_iobes():
    rng = random.Random(7)
    to_iobes = {"L": "E", "U": "S"}
    bilou_tags = [t if t[0] not in "ES" else {"E": "L", "S": "U"}[t[0]] + t[1:] for t in IOBES_TAGS]
    for _ in range(200):
        gold = random_corpus(rng, bilou_tags, o_weight=3.0)
        pred = [[t if rng.random() < 0.8 else rng.choice(bilou_tags) for t in sent] for sent in gold]
        as_iobes = [[[to_iobes.get(t[0], t[0]) + t[1:] for t in sent] for sent in side] for side in (gold, pred)]
        ours, reference = entity_scores(gold, pred), seqeval_scores(*as_iobes)
        reference["accuracy"] = ours["accuracy"]  # token accuracy compares the tags as written
        assert_same_scores(ours, reference, (gold, pred))
