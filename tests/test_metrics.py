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


# --- SQuAD exact match and F1 -------------------------------------------------------------------

import collections  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import string  # noqa: E402

from minibert.metrics import normalize_answer, squad_scores  # noqa: E402


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
