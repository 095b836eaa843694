"""predict(): batched, sorted by length and dynamically padded, yet the same predictions, in the
same order, as one text at a time."""

from __future__ import annotations

import pytest
import torch

from minibert import BertConfig, BertForSequenceClassification
from minibert.inference import Prediction, predict, predict_logits

TINY = dict(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=40)


class WordTokenizer:
    """A stand-in with the tokenizer's calling convention: one id per word, [CLS] = 2, [SEP] = 3."""

    def __call__(self, texts, text_pair=None, truncation=True, max_length=None):
        ids, types = [], []
        for i, text in enumerate(texts):
            first = [2] + [10 + sum(map(ord, w)) % 50 for w in text.split()] + [3]
            second = [10 + sum(map(ord, w)) % 50 for w in text_pair[i].split()] + [3] if text_pair else []
            seq = (first + second)[:max_length]
            ids.append(seq)
            types.append(([0] * len(first) + [1] * len(second))[:max_length])
        return {"input_ids": ids, "token_type_ids": types}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(**TINY, id2label={0: "negative", 1: "neutral", 2: "positive"}))


TEXTS = ["short", "a somewhat longer sentence with more words in it", "two words", "", "one two three four five six",
         "the longest text of them all, which goes on and on for quite a few more words than the others"]


def test_batched_predictions_equal_one_at_a_time_in_input_order(model):
    model.train()  # predict must switch dropout off itself
    batched = predict(model, WordTokenizer(), TEXTS, batch_size=4)
    assert not model.training
    single = [predict(model, WordTokenizer(), [t], batch_size=1)[0] for t in TEXTS]
    assert [p.label for p in batched] == [p.label for p in single]
    for b, s in zip(batched, single):
        assert b.score == pytest.approx(s.score, abs=1e-5)
        assert b.probabilities == pytest.approx(s.probabilities, abs=1e-5)


def test_order_is_restored_after_sorting_by_length(model):
    tok = WordTokenizer()
    encoded = tok(TEXTS, max_length=40)
    features = [{"input_ids": i, "token_type_ids": t} for i, t in zip(encoded["input_ids"], encoded["token_type_ids"])]
    forward = predict_logits(model, features, batch_size=2)
    backward = predict_logits(model, features[::-1], batch_size=2)
    torch.testing.assert_close(forward, backward.flip(0), atol=1e-5, rtol=0)
    # Each row is its own text's logits: compare with an unpadded forward pass.
    with torch.no_grad():
        for i, f in enumerate(features):
            own = model(torch.tensor([f["input_ids"]]), token_type_ids=torch.tensor([f["token_type_ids"]])).logits[0]
            torch.testing.assert_close(forward[i], own, atol=1e-5, rtol=0)


def test_prediction_has_label_names_and_probabilities(model):
    (p,) = predict(model, WordTokenizer(), ["a b c"], ["d e"])
    assert isinstance(p, Prediction) and p.label in {"negative", "neutral", "positive"}
    assert sum(p.probabilities.values()) == pytest.approx(1.0)
    assert p.score == max(p.probabilities.values()) and p.probabilities[p.label] == p.score
    assert p.to_dict()["label"] == p.label


def test_bad_input_is_rejected(model):
    assert predict(model, WordTokenizer(), []) == []
    with pytest.raises(TypeError, match="list of strings"):
        predict(model, WordTokenizer(), "one text")
    with pytest.raises(TypeError, match="must be a string"):
        predict(model, WordTokenizer(), ["ok", None])
    with pytest.raises(ValueError, match="one pair per text"):
        predict(model, WordTokenizer(), ["a", "b"], ["c"])
