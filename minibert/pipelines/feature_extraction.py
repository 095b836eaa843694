"""feature-extraction: the encoder's last hidden state, one vector per token.

    extract = minibert.pipeline("feature-extraction", model="bert-base-uncased")
    extract("A short text.")                      # nested lists, [1][tokens][hidden size]
    extract("A short text.", return_tensors=True) # a (1, tokens, hidden size) tensor

One vector per *sentence* is minibert.SentenceEncoder's job (it pools these token vectors).
"""

from __future__ import annotations

from typing import Any

import torch

from minibert.model import BertModel
from minibert.pipelines.base import Feature, Pipeline


class FeatureExtractionPipeline(Pipeline):
    task = "feature-extraction"
    head_class = BertModel
    how_to_get_head = "pass a BERT checkpoint"
    unused_weights = ("pooler.",)  # token vectors never go through the pooler
    default_params = {"truncation": None, "max_length": None, "return_tensors": False}
    token_outputs = ("last_hidden_state",)

    def preprocess(self, item: Any, *, truncation: bool | None = None, max_length: int | None = None, **params: Any) -> list[Feature]:
        if not isinstance(item, str):
            raise TypeError(f"feature-extraction takes a string, got {type(item).__name__}")
        encoded = self.tokenizer(item, truncation=truncation, max_length=max_length)
        return [{"input_ids": encoded["input_ids"], "token_type_ids": encoded["token_type_ids"]}]

    def _forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"last_hidden_state": self.model(**batch).last_hidden_state}  # (B, S, H)

    def postprocess(self, item, features, outputs, *, return_tensors: bool = False, **params: Any) -> Any:
        hidden = outputs[0]["last_hidden_state"][None]  # (1, L, H), as transformers answers
        return hidden if return_tensors else hidden.tolist()
