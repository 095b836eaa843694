"""The question-answering task: windows and their labels, the span search by hand, and the
task's metrics on perfect logits. (The span search against transformers 4.57's pipeline is in
tests/test_pipelines_question_answering.py.)"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import pytest
import torch

from minibert import BertTokenizer
from minibert.squad import read_squad
from minibert.tasks import QuestionAnswering, get_task
from minibert.tasks.question_answering import add_labels, best_answers, encode_windows

DATASETS = Path(str(resources.files("minibert") / "datasets"))


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    return BertTokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def train_examples():
    return read_squad(DATASETS / "qa_train.json").examples


def test_the_task_is_registered():
    assert get_task("question-answering") is QuestionAnswering
    assert QuestionAnswering.metric == "f1" and QuestionAnswering.default_max_length == 384


def test_windows_label_the_answer_tokens_or_cls(tokenizer, train_examples):
    windows = encode_windows(tokenizer, [e.question for e in train_examples], [e.context for e in train_examples],
                             max_length=64, stride=16)
    spans = [(e.answer_starts[0], e.answer_starts[0] + len(e.answers[0])) if e.answers else None for e in train_examples]
    add_labels(windows, spans)
    assert len(windows) > 2 * len(train_examples)  # most contexts need several windows of 64 tokens
    found = set()
    for w in windows:
        example = train_examples[w["example"]]
        s, e = w["start_positions"], w["end_positions"]
        if (s, e) == (0, 0):
            continue
        assert w["sequence_ids"][s] == 1 and w["sequence_ids"][e] == 1 and s <= e
        # the answers are whole words: the labelled tokens cover exactly the answer's characters
        first, last = w["offset_mapping"][s][0], w["offset_mapping"][e][1]
        assert example.context[first:last] == example.answers[0]
        found.add(w["example"])
    answerable = {i for i, e in enumerate(train_examples) if e.answers}
    assert found == answerable  # every answer is wholly inside at least one window
    for i, e in enumerate(train_examples):
        if not e.answers:
            assert all((w["start_positions"], w["end_positions"]) == (0, 0) for w in windows if w["example"] == i)


def window(sequence_ids, offsets, word_ids=None):
    return {"sequence_ids": sequence_ids, "offset_mapping": offsets, "word_ids": word_ids or list(range(len(offsets)))}


# [CLS] q [SEP] "new" "york" "city" [SEP] over the context "new york city"
CONTEXT = "new york city"
W = window([None, 0, None, 1, 1, 1, None], [(0, 0), (0, 1), (0, 0), (0, 3), (4, 8), (9, 13), (0, 0)])


def test_span_scores_are_products_of_start_and_end_probabilities():
    start = torch.tensor([1.0, 9.0, 9.0, 2.0, 0.0, 0.0, 9.0])  # question and separators are masked out
    end = torch.tensor([0.0, 9.0, 9.0, 0.0, 3.0, 1.0, 9.0])
    p_start = torch.softmax(torch.tensor([1.0, 2.0, 0.0, 0.0]), 0)  # over [CLS] and the 3 context tokens
    p_end = torch.softmax(torch.tensor([0.0, 0.0, 3.0, 1.0]), 0)
    best = best_answers(CONTEXT, [W], [start], [end], top_k=2)
    assert best[0]["answer"] == "new york" and (best[0]["start"], best[0]["end"]) == (0, 8)
    assert best[0]["score"] == pytest.approx((p_start[1] * p_end[2]).item(), abs=1e-7)
    assert best[1]["answer"] == "new york city"
    assert best[1]["score"] == pytest.approx((p_start[1] * p_end[3]).item(), abs=1e-7)


def test_max_answer_len_and_end_before_start_are_excluded():
    start = torch.tensor([0.0, 0, 0, 5, 0, 0, 0])
    end = torch.tensor([0.0, 0, 0, 0, 0, 5, 0])
    assert best_answers(CONTEXT, [W], [start], [end], max_answer_len=3)[0]["answer"] == "new york city"
    assert best_answers(CONTEXT, [W], [start], [end], max_answer_len=2)[0]["answer"] in ("new", "new york")
    answers = best_answers(CONTEXT, [W], [start], [end], top_k=10, max_answer_len=1)
    assert sorted(a["answer"] for a in answers) == ["city", "new", "york"]  # single tokens only


def test_the_empty_answer_wins_when_cls_is_most_likely():
    start = torch.tensor([6.0, 0, 0, 1, 0, 0, 0])
    end = torch.tensor([6.0, 0, 0, 0, 1, 0, 0])
    p_start, p_end = torch.softmax(torch.tensor([6.0, 1, 0, 0]), 0), torch.softmax(torch.tensor([6.0, 0, 1, 0]), 0)
    best = best_answers(CONTEXT, [W], [start], [end], handle_impossible_answer=True)[0]
    assert best == {"score": pytest.approx((p_start[0] * p_end[0]).item()), "start": 0, "end": 0, "answer": ""}
    assert best_answers(CONTEXT, [W], [start], [end])[0]["answer"] == "new york"  # not asked: a span


def test_spans_with_the_same_text_across_windows_add_up():
    # two windows over "new york city" that both see "york" (the second from position 3 on)
    w1 = window([None, 0, None, 1, 1, None], [(0, 0), (0, 1), (0, 0), (0, 3), (4, 8), (0, 0)])
    w2 = window([None, 0, None, 1, 1, None], [(0, 0), (0, 1), (0, 0), (4, 8), (9, 13), (0, 0)], [0, 1, 2, 1, 2, 3])
    logits = [torch.tensor([0.0, 0, 0, 0, 4, 0]), torch.tensor([0.0, 0, 0, 4, 0, 0])]
    best = best_answers(CONTEXT, [w1, w2], logits, logits, top_k=1)[0]
    p = torch.softmax(torch.tensor([0.0, 0, 4]), 0)[2].item()  # "york" in each window: p_start * p_end
    assert best["answer"] == "york" and best["score"] == pytest.approx(2 * p * p, abs=1e-6)


def test_align_to_words_widens_a_span_to_whole_words():
    # "unbelievable": un ##believ ##able; the best span is the middle piece
    w = window([None, 0, None, 1, 1, 1, None], [(0, 0), (0, 1), (0, 0), (0, 2), (2, 8), (8, 12), (0, 0)], [None, 0, None, 0, 0, 0, None])
    start = end = torch.tensor([0.0, 0, 0, 0, 5, 0, 0])
    assert best_answers("unbelievable", [w], [start], [end])[0]["answer"] == "unbelievable"
    assert best_answers("unbelievable", [w], [start], [end], align_to_words=False)[0]["answer"] == "believ"


def test_metrics_of_perfect_logits_are_100(tokenizer):
    task = QuestionAnswering(doc_stride=16)
    dev = task.read_examples(DATASETS / "qa_dev.json")
    features = task.features(dev, tokenizer, max_length=64)
    outputs = {"start_logits": [], "end_logits": []}
    for f in features:  # logits that point at each window's label, [CLS] when the answer is elsewhere
        for name, position in (("start_logits", f["start_positions"]), ("end_logits", f["end_positions"])):
            logits = torch.zeros(len(f["input_ids"]))
            logits[position] = 10.0
            outputs[name].append(logits)
    scores = task.compute_metrics(outputs, features, config=None)
    assert scores["exact_match"] == 100.0 and scores["f1"] == 100.0
    assert scores["HasAns_total"] + scores["NoAns_total"] == len(dev) and scores["NoAns_total"] > 0
    assert not math.isnan(scores["HasAns_f1"])
