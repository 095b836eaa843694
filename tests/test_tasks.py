"""Tasks plug into the one training loop: the registry, the shared padding, and the contract
of evaluation (every output the task names, per feature, padding trimmed where asked,
metadata kept), shown with a task written here and never known to the loop."""

from __future__ import annotations

import pytest
import torch

from minibert import BertConfig, BertForQuestionAnswering
from minibert.tasks import TASKS, Task, TextClassification, collate, get_task
from minibert.training import TrainingArguments, evaluate, train

TINY = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=32)


def test_the_registry_knows_text_classification_and_names_the_known_tasks_for_an_unknown_one():
    assert get_task("text-classification") is TextClassification and "text-classification" in TASKS
    with pytest.raises(ValueError, match="unknown task 'ner'; the known tasks are: .*text-classification"):
        get_task("ner")


def test_collate_pads_model_inputs_and_leaves_metadata_out():
    features = [
        {"input_ids": [2, 5, 3], "token_type_ids": [0, 0, 0], "start_positions": 1, "end_positions": 2,
         "example_id": "a", "offset_mapping": [(0, 0), (0, 4), (0, 0)]},
        {"input_ids": [2, 3], "token_type_ids": [0, 0], "start_positions": 0, "end_positions": 0,
         "example_id": "b", "offset_mapping": [(0, 0), (0, 0)]},
    ]
    batch = collate(features, pad_token_id=0)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions"}
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["start_positions"].tolist() == [1, 0] and batch["end_positions"].tolist() == [2, 0]


def test_collate_keeps_multi_label_and_regression_labels_as_given():
    multi = collate([{"input_ids": [2, 3], "labels": [1.0, 0.0]}, {"input_ids": [2, 9, 3], "labels": [0.0, 1.0]}])
    assert multi["labels"].tolist() == [[1.0, 0.0], [0.0, 1.0]] and multi["labels"].dtype == torch.float32
    value = collate([{"input_ids": [2, 3], "labels": 0.5}, {"input_ids": [2, 3], "labels": 1.5}])
    assert value["labels"].tolist() == [0.5, 1.5]


class SpanTask(Task):
    """A task the loop has never heard of: question-answering-like outputs, metadata kept."""

    name = "test-spans"
    model_class = BertForQuestionAnswering
    metric = "start_match"
    outputs = ("start_logits", "end_logits")
    token_outputs = ("start_logits", "end_logits")

    def __init__(self):
        self.seen = []

    def compute_metrics(self, outputs, features, config):
        self.seen.append((outputs, features))
        hits = [int(s.argmax()) == f["start_positions"] for s, f in zip(outputs["start_logits"], features)]
        return {"start_match": sum(hits) / len(hits)}


def span_features():
    return [
        {"input_ids": [2, 7, 8, 9, 3], "start_positions": 2, "end_positions": 3, "example_id": "q1"},
        {"input_ids": [2, 9, 7, 3], "start_positions": 1, "end_positions": 1, "example_id": "q2"},
        {"input_ids": [2, 8, 3], "start_positions": 1, "end_positions": 1, "example_id": "q3"},
    ]


def test_evaluate_hands_the_task_every_output_per_feature_without_padding_and_the_metadata():
    torch.manual_seed(0)
    model = BertForQuestionAnswering(BertConfig(**TINY))
    task, features = SpanTask(), span_features()
    scores = evaluate(model, features, task=task, batch_size=2)  # two batches, padded to 5 and 3 tokens
    (outputs, seen_features), = task.seen
    assert seen_features is features and [f["example_id"] for f in seen_features] == ["q1", "q2", "q3"]
    assert [tuple(t.shape) for t in outputs["start_logits"]] == [(5,), (4,), (3,)]
    assert [tuple(t.shape) for t in outputs["end_logits"]] == [(5,), (4,), (3,)]
    # The same numbers as the model on one unpadded feature at a time (fp32: 1e-5).
    model.eval()
    for feature, start in zip(features, outputs["start_logits"]):
        alone = model(input_ids=torch.tensor([feature["input_ids"]])).start_logits[0]
        torch.testing.assert_close(start, alone, atol=1e-5, rtol=0)
    assert set(scores) == {"loss", "start_match"}


def test_a_new_task_trains_through_the_loop_and_its_metric_picks_the_best_epoch():
    torch.manual_seed(0)
    model = BertForQuestionAnswering(BertConfig(**TINY))
    features = span_features()
    result = train(model, features, TrainingArguments(num_epochs=30, batch_size=3, learning_rate=1e-2, warmup_ratio=0.0,
                                                      progress=False), eval_features=features, task=SpanTask())
    assert result.best_metric == 1.0
    best = result.history[result.best_epoch - 1]
    assert best["eval_start_match"] == max(h["eval_start_match"] for h in result.history)
    assert best["eval_loss"] == min(h["eval_loss"] for h in result.history if h["eval_start_match"] == 1.0)


def test_a_model_without_the_outputs_the_task_needs_is_a_clear_error():
    class Hidden(SpanTask):
        outputs = ("start_logits", "hidden_states")

    model = BertForQuestionAnswering(BertConfig(**TINY))
    with pytest.raises(ValueError, match="needs the model output 'hidden_states'.*BertForQuestionAnswering"):
        evaluate(model, span_features(), task=Hidden())


def test_text_classification_reads_its_options_from_the_command_line():
    import argparse

    parser = argparse.ArgumentParser()
    TextClassification.add_arguments(parser)
    task = TextClassification.from_args(parser.parse_args(["--text-column", "review", "--label-column", "y"]))
    assert (task.text_column, task.label_column, task.text_pair_column) == ("review", "y", None)
    assert task.model_kwargs(["neg", "pos"]) == {"id2label": {0: "neg", 1: "pos"}, "label2id": {"neg": 0, "pos": 1}}


def test_metrics_that_are_not_numbers_are_refused_with_the_name_of_the_metric():
    class Nested(SpanTask):
        def compute_metrics(self, outputs, features, config):
            return {"start_match": 1.0, "per_type": {"X": {"f1": 1.0}}}

    model = BertForQuestionAnswering(BertConfig(**TINY))
    with pytest.raises(TypeError, match="'per_type' is a dict; flatten it"):
        evaluate(model, span_features(), task=Nested())


def test_the_chance_level_of_text_classification_is_ln_num_labels_for_classes_only():
    import math

    task = TextClassification()
    config = BertConfig(**TINY, id2label={0: "a", 1: "b", 2: "c"})
    assert task.chance_loss([{"input_ids": [2, 3], "labels": 1}], config) == pytest.approx(math.log(3))
    assert task.chance_loss([{"input_ids": [2, 5, 3], "labels": [-100, 2, -100]}], config) == pytest.approx(math.log(3))
    assert task.chance_loss([{"input_ids": [2, 3], "labels": 0.5}], BertConfig(**TINY, id2label={0: "score"})) is None  # regression
    assert task.chance_loss([{"input_ids": [2, 3], "labels": [1.0, 0.0, 1.0]}], config) is None  # multi-label
    assert Task().chance_loss([], config) is None  # a task without one
