"""text-classification (alias sentiment-analysis): a label and its score for a text or a text pair.

    pipe = minibert.pipeline("text-classification", model="my-classifier")
    pipe("What a lovely day")                     # [{"label": "positive", "score": 0.98}]
    pipe(["good", "bad"])                         # [{"label": ..., "score": ...}, {...}]
    pipe({"text": "A man eats.", "text_pair": "Someone is eating."})   # {"label": ..., "score": ...}
    pipe("What a lovely day", top_k=None)         # every label, best first

The scores, as transformers computes them (`function_to_apply`, by default from the config):

    regression                           none:     score = logit
    multi-label, or a single output      sigmoid:  score_c = 1 / (1 + exp(-logit_c))
    otherwise                            softmax:  score_c = exp(logit_c) / sum_k exp(logit_k)
"""

from __future__ import annotations

from typing import Any

import torch

from minibert.heads import BertForSequenceClassification
from minibert.pipelines.base import Feature, Pipeline


class _Default:
    """top_k not given: one {label, score} dict per input, as transformers answers then."""

    def __repr__(self) -> str:
        return "default (the best label only, as a dict)"


ONE_LABEL = _Default()
FUNCTIONS = ("default", "softmax", "sigmoid", "none")


class TextClassificationPipeline(Pipeline):
    task = "text-classification"
    head_class = BertForSequenceClassification
    how_to_get_head = "fine-tune one with `minibert train`, or pass a checkpoint saved from BertForSequenceClassification"
    default_params = {"top_k": ONE_LABEL, "function_to_apply": None, "truncation": False, "max_length": None}

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        result = super().__call__(inputs, **kwargs)
        # transformers wraps the answer to one plain string in a list (but not to one dict).
        if isinstance(inputs, str) and self.check_params({**self.params, **kwargs})["top_k"] is ONE_LABEL:
            return [result]
        return result

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        top_k = params["top_k"]
        if top_k is not ONE_LABEL and top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None (every label), got {top_k!r}")
        function = params["function_to_apply"]
        if function is not None and (not isinstance(function, str) or function.lower() not in FUNCTIONS):
            raise ValueError(f"function_to_apply must be one of {', '.join(FUNCTIONS)}, got {function!r}")
        return params

    def preprocess(self, item: Any, *, truncation: bool | str = False, max_length: int | None = None, **params: Any) -> list[Feature]:
        if isinstance(item, str):
            text, text_pair = item, None
        elif isinstance(item, dict) and isinstance(item.get("text"), str) and isinstance(item.get("text_pair", ""), str):
            text, text_pair = item["text"], item.get("text_pair")
        else:
            raise TypeError(
                f"text-classification takes a string or a dict {{'text': ..., 'text_pair': ...}} of strings, got {type(item).__name__}"
                + (" (for a text pair, pass {'text': a, 'text_pair': b})" if isinstance(item, (list, tuple)) else "")
            )
        encoded = self.tokenizer(text, text_pair=text_pair, truncation=truncation, max_length=max_length)
        return [{"input_ids": encoded["input_ids"], "token_type_ids": encoded["token_type_ids"]}]

    def _forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.model(**batch).logits}  # (B, num_labels)

    def postprocess(self, item, features, outputs, *, top_k=ONE_LABEL, function_to_apply=None, **params) -> Any:
        logits = outputs[0]["logits"].float()  # (num_labels,)
        scores = apply_function(logits, function_to_apply or "default", self.model.config).tolist()
        names = self.model.config.id2label
        if top_k is ONE_LABEL:
            best = max(range(len(scores)), key=scores.__getitem__)
            return {"label": names[best], "score": scores[best]}
        ranked = sorted(({"label": names[i], "score": s} for i, s in enumerate(scores)), key=lambda d: d["score"], reverse=True)
        return ranked if top_k is None else ranked[:top_k]


def apply_function(logits: torch.Tensor, function: str, config) -> torch.Tensor:
    """Logits (num_labels,) -> scores, by `function` or, for "default", by what the config says."""
    function = function.lower()
    if function == "default":
        if config.problem_type == "regression":
            function = "none"
        elif config.problem_type == "multi_label_classification" or config.num_labels == 1:
            function = "sigmoid"
        else:
            function = "softmax"
    if function == "sigmoid":
        return torch.sigmoid(logits)
    if function == "softmax":
        return torch.softmax(logits, dim=-1)
    return logits
