"""token-classification (alias ner): the entities of a text, with their characters.

    ner = minibert.pipeline("token-classification", model="my-tagger", aggregation_strategy="first")
    ner("Angela Merkel visited Pyongyang")
    # [{"entity_group": "PER", "score": 0.99, "word": "angela merkel", "start": 0, "end": 13},
    #  {"entity_group": "LOC", "score": 0.97, "word": "pyongyang", "start": 22, "end": 31}]

Without aggregation (`aggregation_strategy="none"`, the default as in transformers) every word
piece not tagged O comes back with its `entity`, `score`, `index`, `word`, `start` and `end`.
`stride=N` reads a text longer than the model's maximum in windows that overlap by N pieces
(and needs an aggregation strategy); without it, a long text is cut at the maximum.

The steps from piece probabilities to entities live in minibert/tasks/token_classification.py
(`token_predictions`, `aggregate`, `merge_windows`), where docs and training read them too.
"""

from __future__ import annotations

from typing import Any

import torch

from minibert.heads import BertForTokenClassification
from minibert.pipelines.base import Feature, Pipeline
from minibert.tasks.token_classification import STRATEGIES, aggregate, merge_windows, token_predictions


class TokenClassificationPipeline(Pipeline):
    task = "token-classification"
    head_class = BertForTokenClassification
    how_to_get_head = (
        "fine-tune one with `minibert train --task token-classification`, or pass a checkpoint saved from "
        "BertForTokenClassification"
    )
    default_params = {"aggregation_strategy": "none", "ignore_labels": None, "stride": None}
    token_outputs = ("logits",)

    def __init__(self, model, tokenizer, **kwargs: Any):
        # A sequence classifier's "classifier" layer has the name and shape of a tagger's, so it
        # loads without a missing weight: its config's `architectures` is what tells them apart.
        config = model.config
        architectures = getattr(config, "architectures", None) or config.extra.get("architectures") or []
        other_heads = [a for a in architectures if a.startswith("BertFor") and a != self.head_class.__name__]
        if other_heads:
            raise ValueError(f"this checkpoint holds a {other_heads[0]} (config.json: architectures), not the "
                             f"{self.head_class.__name__} that {self.task} needs: {self.how_to_get_head}")
        super().__init__(model, tokenizer, **kwargs)

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        strategy = params["aggregation_strategy"]
        strategy = getattr(strategy, "value", strategy)  # transformers' AggregationStrategy enum reads as its value
        if not isinstance(strategy, str) or strategy.lower() not in STRATEGIES:
            raise ValueError(f"aggregation_strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
        ignore = params["ignore_labels"]
        if ignore is not None and (isinstance(ignore, str) or not all(isinstance(label, str) for label in ignore)):
            raise TypeError(f"ignore_labels must be a list of labels (strings), got {ignore!r}")
        stride = params["stride"]
        if stride is not None:
            if not isinstance(stride, int) or isinstance(stride, bool) or stride < 0:
                raise ValueError(f"stride must be a non-negative integer, got {stride!r}")
            if stride >= self.tokenizer.model_max_length:
                raise ValueError(f"stride ({stride}) must be less than the tokenizer's model_max_length "
                                 f"({self.tokenizer.model_max_length}), less the special tokens")
            if strategy.lower() == "none":
                raise ValueError("stride reads a long text in overlapping windows, whose pieces only an aggregation "
                                 "strategy can merge: pass aggregation_strategy='simple', 'first', 'average' or 'max'")
        return {**params, "aggregation_strategy": strategy.lower(), "ignore_labels": ["O"] if ignore is None else list(ignore)}

    def preprocess(self, item: Any, *, stride: int | None = None, **params: Any) -> list[Feature]:
        if not isinstance(item, str):
            raise TypeError(f"token-classification takes a string (or a list of strings), got {type(item).__name__}")
        # As transformers: cut at the model's maximum, or, with a stride, read every window.
        windows = self.tokenizer(
            [item], truncation=True, stride=stride or 0, return_overflowing_tokens=stride is not None,
            return_offsets_mapping=True, return_special_tokens_mask=True,
        )
        return [
            {
                "input_ids": windows["input_ids"][w],
                "token_type_ids": windows["token_type_ids"][w],
                "offsets": windows["offset_mapping"][w],
                "special": windows["special_tokens_mask"][w],
            }
            for w in range(len(windows["input_ids"]))
        ]

    def _forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.model(**batch).logits}  # (B, S, num_labels)

    def postprocess(self, item: str, features: list[Feature], outputs: list[dict[str, torch.Tensor]], *,
                    aggregation_strategy: str = "none", ignore_labels=("O",), **params: Any) -> list[dict]:
        entities = []
        for feature, output in zip(features, outputs):
            tokens = self.tokenizer.convert_ids_to_tokens(feature["input_ids"])
            pieces = token_predictions(item, tokens, feature["offsets"], feature["special"], output["logits"],
                                       self.tokenizer.unk_token)
            entities += aggregate(pieces, self.model.config.id2label, aggregation_strategy,
                                  self.tokenizer.convert_tokens_to_string, ignore_labels)
        return merge_windows(entities) if len(features) > 1 else entities
