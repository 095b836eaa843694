"""Batched inference for a sequence classifier: texts in, labels and probabilities out.

The batching is the pipelines' (minibert.pipelines.base): features sorted by length and cut
into batches, each padded only to its own longest member, the predictions put back in the
order the texts came in. `minibert.pipeline("text-classification", ...)` is the same model
call with transformers' output format; this module keeps the `Prediction` objects that
`minibert predict` and `minibert demo` print, with the multi-label rule below.

    single label:  p = softmax(logits), label = argmax p
    multi label:   p = sigmoid(logits), labels = those with p >= 0.5
    regression:    the raw output, no probabilities
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from minibert.pipelines.base import Feature
from minibert.pipelines.text_classification import TextClassificationPipeline, apply_function
from minibert.pretrained import PreTrainedBert


@dataclass
class Prediction:
    label: str  # the predicted label (multi-label: the labels with p >= 0.5, joined by ",")
    score: float  # its probability (regression: the predicted value)
    probabilities: dict[str, float] = field(default_factory=dict)  # every label's probability

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score, "probabilities": self.probabilities}


def predict(
    model: PreTrainedBert,
    tokenizer,
    texts: Sequence[str],
    text_pairs: Sequence[str] | None = None,
    *,
    batch_size: int = 32,
    max_length: int | None = None,
) -> list[Prediction]:
    """Classify `texts` (or the pairs (texts[i], text_pairs[i])) with a sequence classifier.

    `tokenizer` is a minibert.BertTokenizer (or anything called the same way). Texts longer
    than `max_length` tokens (default: the model's maximum) are truncated.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings; for one text, pass [text]")
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        bad = next(t for t in texts if not isinstance(t, str))
        raise TypeError(f"every text must be a string, got {type(bad).__name__}: {bad!r}")
    if text_pairs is not None:
        text_pairs = list(text_pairs)
        if len(text_pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(text_pairs)} text_pairs; pass one pair per text")
    if not texts:
        return []
    max_length = max_length or model.config.max_position_embeddings
    encoded = tokenizer(texts, text_pair=text_pairs, truncation=True, max_length=max_length)
    types = encoded.get("token_type_ids") or [[0] * len(ids) for ids in encoded["input_ids"]]
    features = [{"input_ids": ids, "token_type_ids": t} for ids, t in zip(encoded["input_ids"], types)]
    outputs = predict_logits(model, features, batch_size=batch_size)
    return [to_prediction(row, model.config) for row in outputs]


def predict_logits(model: PreTrainedBert, features: Sequence[Feature], *, batch_size: int = 32) -> torch.Tensor:
    """(N, num_labels) float32 logits on the CPU, in the order of `features`."""
    if not features:
        return torch.empty(0, model.config.num_labels)
    inputs = [{k: v for k, v in f.items() if k != "labels"} for f in features]
    outputs = TextClassificationPipeline(model, tokenizer=None, batch_size=batch_size).forward_features(inputs)
    return torch.stack([out["logits"] for out in outputs]).float()


def to_prediction(logits: torch.Tensor, config) -> Prediction:
    names = [config.id2label[i] for i in range(config.num_labels)]
    if config.num_labels == 1 or config.problem_type == "regression":
        return Prediction(label=names[0], score=float(logits[0]))
    probs = apply_function(logits, "default", config)  # sigmoid for multi-label, else softmax
    if config.problem_type == "multi_label_classification":
        on = [n for n, p in zip(names, probs.tolist()) if p >= 0.5]
        return Prediction(",".join(on), float(probs.max()), dict(zip(names, probs.tolist())))
    best = int(probs.argmax())
    return Prediction(names[best], float(probs[best]), dict(zip(names, probs.tolist())))
