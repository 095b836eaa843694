"""Metrics: by hand, and entity scores against seqeval's default (conlleval) mode."""

from __future__ import annotations

import collections
import random
import re
import string
import warnings

import pytest

from minibert.metrics import (
    accuracy, detect_scheme, entities, entity_f1, entity_scores, entity_spans, macro_f1, normalize_answer, split_tag, squad_scores,
)


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

import seqeval.metrics as seqeval_metrics  # a test dependency (pyproject: test extra), never a skip

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


# --- SQuAD exact match and F1 -------------------------------------------------------------------


def test_normalize_answer_lowercases_drops_punctuation_articles_and_extra_space():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an apple, a pear and THE plum") == "apple pear and plum"
    assert normalize_answer("theatre") == "theatre"  # "the" only as a whole word


def test_squad_v1_by_hand():
    references = {"q1": ["Denver Broncos", "The Denver Broncos"], "q2": ["in 1066"], "q3": ["Paris"]}
    predictions = {"q1": "the denver broncos.", "q2": "1066 and 1067", "q3": "Lyon"}
    scores = squad_scores(predictions, references)
    # q1 exact (after normalisation); q2: common {1066}, P = 1/3, R = 1/2 -> F1 = 0.4; q3: nothing
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 0.4 + 0) / 3)
    assert scores["total"] == 3
    assert "HasAns_f1" not in scores  # only one kind of question


def test_squad_v2_by_hand_with_unanswerable_questions():
    references = {"a": ["the cat"], "b": [], "c": [], "d": ["red fox"]}
    predictions = {"a": "cat", "b": "", "c": "a dog", "d": ""}
    scores = squad_scores(predictions, references)
    # a: exact; b: empty for unanswerable -> 1/1; c: answer to unanswerable -> 0/0; d: empty for answerable -> 0/0
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(50.0)
    assert (scores["HasAns_exact_match"], scores["HasAns_f1"], scores["HasAns_total"]) == (50.0, 50.0, 2)
    assert (scores["NoAns_exact_match"], scores["NoAns_f1"], scores["NoAns_total"]) == (50.0, 50.0, 2)


def test_squad_f1_counts_repeated_tokens_once_each():
    # common = min counts: {the: dropped, a: dropped, b: 1}; pred "b b c" P = 1/3, gold "b d" R = 1/2
    assert squad_scores({"x": "b b c"}, {"x": ["b d"]})["f1"] == pytest.approx(100 * 0.4)


def test_squad_scores_needs_a_prediction_for_every_question():
    with pytest.raises(ValueError, match="no prediction, e.g. 'q2'"):
        squad_scores({"q1": "x"}, {"q1": ["x"], "q2": ["y"]})
    with pytest.raises(ValueError, match="not a text"):
        squad_scores({"q1": None}, {"q1": ["x"]})


# The official evaluation scripts (SQuAD v1.1 evaluate-v1.1.py, v2.0 evaluate-v2.0.py), restated
# independently here, with their data layout, as the reference for random cases.

def _official_normalize(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def _official_v1(dataset, predictions):
    def f1_score(prediction, ground_truth):
        prediction_tokens = _official_normalize(prediction).split()
        ground_truth_tokens = _official_normalize(ground_truth).split()
        common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
        num_same = sum(common.values())
        if num_same == 0:
            return 0
        precision = 1.0 * num_same / len(prediction_tokens)
        recall = 1.0 * num_same / len(ground_truth_tokens)
        return (2 * precision * recall) / (precision + recall)

    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                ground_truths = [x["text"] for x in qa["answers"]]
                prediction = predictions[qa["id"]]
                exact_match += max(_official_normalize(prediction) == _official_normalize(g) for g in ground_truths)
                f1 += max(f1_score(prediction, g) for g in ground_truths)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def _official_v2(dataset, preds):
    def get_tokens(s):
        return _official_normalize(s).split() if s else []

    def compute_f1(a_gold, a_pred):
        gold_toks, pred_toks = get_tokens(a_gold), get_tokens(a_pred)
        common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
        num_same = sum(common.values())
        if len(gold_toks) == 0 or len(pred_toks) == 0:
            return int(gold_toks == pred_toks)
        if num_same == 0:
            return 0
        precision = 1.0 * num_same / len(pred_toks)
        recall = 1.0 * num_same / len(gold_toks)
        return (2 * precision * recall) / (precision + recall)

    exact_scores, f1_scores, has_ans = {}, {}, {}
    for article in dataset:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                qid = qa["id"]
                has_ans[qid] = bool(qa["answers"])
                gold_answers = [a["text"] for a in qa["answers"] if _official_normalize(a["text"])] or [""]
                exact_scores[qid] = max(int(_official_normalize(a) == _official_normalize(preds[qid])) for a in gold_answers)
                f1_scores[qid] = max(compute_f1(a, preds[qid]) for a in gold_answers)

    def make_eval_dict(qid_list):
        total = len(qid_list)
        return {"exact": 100.0 * sum(exact_scores[k] for k in qid_list) / total,
                "f1": 100.0 * sum(f1_scores[k] for k in qid_list) / total, "total": total}

    out = make_eval_dict(list(has_ans))
    for prefix, ids in (("HasAns", [k for k, v in has_ans.items() if v]), ("NoAns", [k for k, v in has_ans.items() if not v])):
        if ids:
            out.update({f"{prefix}_{k}": v for k, v in make_eval_dict(ids).items()})
    return out


WORDS = ["the", "a", "an", "cat", "Cat", "dog", "red", "fox,", "1066", "Paris.", "theatre", "x-ray", "!", "", "  "]


def _random_text(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 5)))


@pytest.mark.parametrize("unanswerable", [False, True])
def test_squad_scores_equal_the_official_scripts_on_random_cases(unanswerable):
    rng = random.Random(1 + unanswerable)
    for trial in range(200):
        references, predictions, qas = {}, {}, []
        for i in range(rng.randint(1, 6)):
            golds = [] if unanswerable and rng.random() < 0.4 else [_random_text(rng) for _ in range(rng.randint(1, 3))]
            references[f"q{i}"] = golds
            predictions[f"q{i}"] = "" if rng.random() < 0.2 else _random_text(rng)
            qas.append({"id": f"q{i}", "answers": [{"text": g} for g in golds]})
        dataset = [{"paragraphs": [{"qas": qas}]}]
        ours = squad_scores(predictions, references)
        if any(not g for g in references.values()):
            official = _official_v2(dataset, predictions)
            assert ours["exact_match"] == pytest.approx(official["exact"], abs=1e-9)
            assert ours["f1"] == pytest.approx(official["f1"], abs=1e-9)
            for prefix in ("HasAns", "NoAns"):
                if f"{prefix}_total" in official and "HasAns_total" in official and "NoAns_total" in official:
                    assert ours[f"{prefix}_exact_match"] == pytest.approx(official[f"{prefix}_exact"], abs=1e-9)
                    assert ours[f"{prefix}_f1"] == pytest.approx(official[f"{prefix}_f1"], abs=1e-9)
        else:
            official = _official_v1(dataset, predictions)
            assert ours["exact_match"] == pytest.approx(official["exact_match"], abs=1e-9)
            assert ours["f1"] == pytest.approx(official["f1"], abs=1e-9)
