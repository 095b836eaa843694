"""text-classification: the same answers as transformers' pipeline on the same checkpoint (a
randomly initialised classifier on the real MiniLM encoder), scores within 1e-4."""

from __future__ import annotations

import json

import pytest

from minibert import BertForSequenceClassification, pipeline
from tests.pipeline_checkpoints import save_with_random_head

LABELS = {0: "negative", 1: "neutral", 2: "positive"}


@pytest.fixture(scope="module")
def classifier_dir(minilm_dir, tmp_path_factory):
    return save_with_random_head(BertForSequenceClassification, minilm_dir, tmp_path_factory.mktemp("clf"), id2label=LABELS)


@pytest.fixture(scope="module")
def ours(classifier_dir):
    return pipeline("text-classification", model=classifier_dir, batch_size=4)


@pytest.fixture(scope="module")
def theirs(classifier_dir):
    transformers = pytest.importorskip("transformers")
    return transformers.pipeline("text-classification", model=str(classifier_dir), device="cpu")


@pytest.fixture(scope="module")
def texts(corpus_dir):
    """Real sentences of mixed length from the shared corpus, and the hand-written edge cases."""
    lines = [l.strip() for l in (corpus_dir / "en_debian_handbook.txt").read_text(encoding="utf-8").splitlines() if l.strip()]
    mixed = [json.loads(l)["text"] for l in (corpus_dir / "mixed.jsonl").read_text(encoding="utf-8").splitlines()[:6]]
    return lines[100:110] + [l[:300] for l in mixed] + ["", "ok"]


def assert_same(ours, theirs):
    """Same structure, same labels, scores within 1e-4."""
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            assert_same(o, t)
    else:
        assert ours.keys() == theirs.keys()
        assert ours["label"] == theirs["label"]
        assert ours["score"] == pytest.approx(theirs["score"], abs=1e-4)


def test_one_text(ours, theirs, texts):
    assert_same(ours(texts[0]), theirs(texts[0]))


def test_a_list_of_real_texts(ours, theirs, texts):
    assert_same(ours(texts), theirs(texts))


@pytest.mark.parametrize("top_k", [1, 2, None])
def test_top_k(ours, theirs, texts, top_k):
    assert_same(ours(texts[:3], top_k=top_k), theirs(texts[:3], top_k=top_k))
    assert_same(ours(texts[0], top_k=top_k), theirs(texts[0], top_k=top_k))


@pytest.mark.parametrize("function", ["softmax", "sigmoid", "none"])
def test_function_to_apply(ours, theirs, texts, function):
    assert_same(ours(texts[:3], top_k=None, function_to_apply=function), theirs(texts[:3], top_k=None, function_to_apply=function))


def test_text_pairs(ours, theirs, texts):
    pairs = [{"text": a, "text_pair": b} for a, b in zip(texts[:4], texts[4:8])]
    assert_same(ours(pairs), theirs(pairs))
    assert_same(ours(pairs[0]), theirs(pairs[0]))  # one pair: a dict, not a list


def test_sentiment_analysis_is_the_same_task(classifier_dir):
    assert type(pipeline("sentiment-analysis", model=classifier_dir)).__name__ == "TextClassificationPipeline"


def test_a_regression_head_gives_the_raw_output(minilm_dir, tmp_path, texts):
    transformers = pytest.importorskip("transformers")
    path = save_with_random_head(BertForSequenceClassification, minilm_dir, tmp_path, num_labels=1, problem_type="regression")
    theirs = transformers.pipeline("text-classification", model=str(path), device="cpu")
    assert_same(pipeline("text-classification", model=path)(texts[:4]), theirs(texts[:4]))


@pytest.mark.slow
def test_a_list_of_10000_texts_streams_through_in_order(ours, capsys):
    texts = [f"text number {i}" + " more" * (i % 7) for i in range(10_000)]
    answers = ours(texts[:64], batch_size=16)
    many = ours(texts, batch_size=256, progress=True)
    assert len(many) == 10_000
    assert_same(many[:64], answers)
    assert "10000/10000" in capsys.readouterr().err


def test_a_list_instead_of_a_pair_dict_says_how_to_pass_a_pair(ours):
    with pytest.raises(TypeError, match=r"inputs\[0\]: .*'text_pair': b"):
        ours([["a", "b"]])


def test_bad_parameters_are_named(ours):
    with pytest.raises(ValueError, match="function_to_apply must be one of"):
        ours("x", function_to_apply="tanh")
    with pytest.raises(ValueError, match="top_k must be a positive integer or None"):
        ours("x", top_k=0)
