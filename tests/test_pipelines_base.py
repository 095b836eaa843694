"""The Pipeline base class: one input or a list, length-sorted batches padded only to their own
longest, answers in input order, parameters checked, clear errors; `minibert.pipeline` builds
the task's pipeline and refuses a checkpoint without the task's head."""

from __future__ import annotations

import pytest
import torch

import minibert
from minibert import BertConfig, BertModel
from minibert.pipelines import TASKS, pipeline, pipeline_class_for
from minibert.pipelines.base import Pipeline

TINY = dict(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=40)


class CharTokenizer:
    """One id per character: [CLS]=2 ... [SEP]=3."""

    def __call__(self, text):
        return {"input_ids": [2] + [10 + ord(c) % 50 for c in text] + [3]}


class MeanVector(Pipeline):
    """A task made up for the test: the mean of the last hidden states, and the batch shapes seen."""

    task = "mean-vector"
    default_params = {"scale": 1.0}
    token_outputs = ("hidden",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_shapes = []

    def preprocess(self, item, *, scale):
        if not isinstance(item, str):
            raise TypeError(f"expected a string, got {type(item).__name__}")
        return [CharTokenizer()(item)]

    def _forward(self, batch):
        self.batch_shapes.append(tuple(batch["input_ids"].shape))
        return {"hidden": self.model(**batch).last_hidden_state}  # (B, S, H)

    def postprocess(self, item, features, outputs, *, scale):
        (out,) = outputs
        assert out["hidden"].shape[0] == len(features[0]["input_ids"])  # padding removed
        return out["hidden"].mean(0) * scale


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    return MeanVector(BertModel(BertConfig(**TINY)), CharTokenizer(), batch_size=2)


TEXTS = ["a", "a much longer text", "mid text", "", "longest text of all of these", "xy"]


def test_one_input_gives_one_answer_and_a_list_a_list(pipe):
    assert pipe("abc").shape == (16,)
    answers = pipe(["abc", "de"])
    assert isinstance(answers, list) and len(answers) == 2


def test_an_empty_list_gives_an_empty_list(pipe):
    assert pipe([]) == []


def test_batches_are_sorted_by_length_and_padded_to_their_own_longest(pipe):
    pipe.batch_shapes.clear()
    pipe(TEXTS)
    lengths = sorted((len(t) + 2 for t in TEXTS), reverse=True)
    assert pipe.batch_shapes == [(2, lengths[0]), (2, lengths[2]), (2, lengths[4])]


def test_answers_come_back_in_input_order_and_equal_one_at_a_time(pipe):
    batched = pipe(TEXTS)
    for text, answer in zip(TEXTS, batched):
        torch.testing.assert_close(answer, pipe(text), atol=1e-5, rtol=0)  # fp32: padding changes nothing


def test_call_parameters_reach_preprocess_and_postprocess(pipe):
    torch.testing.assert_close(pipe("abc", scale=2.0), 2 * pipe("abc"))


def test_an_unknown_keyword_names_it_and_the_known_ones(pipe):
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) scael.*scale"):
        pipe("abc", scael=2.0)


def test_a_bad_item_in_a_list_is_named_by_its_index(pipe):
    with pytest.raises(TypeError, match=r"inputs\[1\]: expected a string, got int"):
        pipe(["fine", 7])


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_batch_size_must_be_a_positive_integer(pipe, size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        pipe(["abc"], batch_size=size)


def test_progress_bar_counts_every_input(pipe, capsys):
    pipe(TEXTS, progress=True)
    assert f"{len(TEXTS)}/{len(TEXTS)}" in capsys.readouterr().err


def test_pipeline_is_exported_from_the_package():
    assert minibert.pipeline is pipeline


def test_an_unknown_task_lists_the_tasks():
    with pytest.raises(ValueError, match=r"unknown task 'text-clasification'; the tasks are: .*text-classification"):
        pipeline_class_for("text-clasification")


def test_aliases_resolve_to_their_task():
    assert pipeline_class_for("sentiment-analysis") is TASKS["text-classification"]


def test_a_checkpoint_without_the_tasks_head_is_refused(minilm_dir):
    with pytest.raises(ValueError, match=r"has no BertForSequenceClassification head .*classifier.weight.*minibert train"):
        pipeline("text-classification", model=minilm_dir)


def test_pipeline_rejects_unknown_keywords(minilm_dir):
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) topk"):
        pipeline("text-classification", model=minilm_dir, topk=2)
