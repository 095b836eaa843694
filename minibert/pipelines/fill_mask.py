"""fill-mask: the most likely tokens for each [MASK] in a text, from a masked-language-model head.

    fill = minibert.pipeline("fill-mask", model="bert-base-uncased")
    fill("Paris is the [MASK] of France.")
    # [{"score": 0.99, "token": 3007, "token_str": "capital", "sequence": "paris is the capital of france."}, ...]

For each mask position i:  p = softmax(logits_i) over the vocabulary (or over `targets` only:
the probabilities of those tokens, not renormalised), then the `top_k` largest. With several
masks in one text, the answer is one such list per mask, and the sequences keep the special
tokens, as in transformers.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from minibert.heads import BertForMaskedLM
from minibert.pipelines.base import Feature, Pipeline


class FillMaskPipeline(Pipeline):
    task = "fill-mask"
    head_class = BertForMaskedLM
    how_to_get_head = (
        "pass a checkpoint with a masked-language-model head (saved from BertForMaskedLM or BertForPreTraining, "
        "e.g. bert-base-uncased), or pre-train one with `minibert pretrain`"
    )
    default_params = {"top_k": 5, "targets": None}

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        result = super().__call__(inputs, **kwargs)
        # As transformers: a list holding one text answers as that one text would.
        return result[0] if isinstance(inputs, list) and len(inputs) == 1 else result

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        top_k = params["top_k"]
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        if self.tokenizer.mask_token_id is None:
            raise ValueError("this tokenizer has no mask token, so fill-mask has nothing to fill")
        targets = params["targets"]
        if targets is not None and not isinstance(targets, torch.Tensor):
            params = {**params, "targets": self.target_ids(targets)}
        return params

    def target_ids(self, targets: str | list[str]) -> torch.Tensor:
        """Vocabulary ids of the target words; a word not in the vocabulary stands for its first piece."""
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, (list, tuple)) or not all(isinstance(t, str) for t in targets):
            raise TypeError(f"targets must be a string or a list of strings, got {targets!r:.80}")
        vocab = self.tokenizer.get_vocab()
        ids = set()
        for target in targets:
            if target in vocab:
                ids.add(vocab[target])
                continue
            pieces = self.tokenizer(target, add_special_tokens=False)["input_ids"]
            if not pieces:
                warnings.warn(f"target {target!r} is not in the vocabulary and has no tokens; it is ignored", stacklevel=4)
                continue
            warnings.warn(
                f"target {target!r} is not in the vocabulary; its first piece "
                f"{self.tokenizer.convert_ids_to_tokens(pieces[0])!r} stands for it", stacklevel=4,
            )
            ids.add(pieces[0])
        if not ids:
            raise ValueError(f"none of the targets {targets} can be scored: give at least one word of the vocabulary")
        return torch.tensor(sorted(ids))

    def preprocess(self, item: Any, **params: Any) -> list[Feature]:
        if not isinstance(item, str):
            raise TypeError(f"fill-mask takes a string with {self.tokenizer.mask_token} in it, got {type(item).__name__}")
        encoded = self.tokenizer(item)
        if self.tokenizer.mask_token_id not in encoded["input_ids"]:
            raise ValueError(f"no {self.tokenizer.mask_token} in {item!r:.80}: put the token to predict there")
        return [{"input_ids": encoded["input_ids"], "token_type_ids": encoded["token_type_ids"]}]

    def _forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = self.model(**batch).logits  # (B, S, V)
        # Keep only the masked positions' rows: the others are never read, and (S, V) per text adds up.
        masked = batch["input_ids"] == self.tokenizer.mask_token_id  # (B, S)
        rank = masked.cumsum(1) - 1  # (B, S): the how-manieth mask of its row
        rows, cols = masked.nonzero(as_tuple=True)
        mask_logits = logits.new_zeros(logits.shape[0], int(masked.sum(1).max()), logits.shape[-1])  # (B, M, V)
        mask_logits[rows, rank[rows, cols]] = logits[rows, cols]
        return {"mask_logits": mask_logits}

    def postprocess(self, item, features, outputs, *, top_k: int = 5, targets: torch.Tensor | None = None) -> Any:
        input_ids = torch.tensor(features[0]["input_ids"])  # (L,)
        positions = (input_ids == self.tokenizer.mask_token_id).nonzero().flatten().tolist()
        probs = outputs[0]["mask_logits"][: len(positions)].float().softmax(dim=-1)  # (masks, V)
        if targets is not None:
            probs = probs[:, targets]
            top_k = min(top_k, len(targets))
        values, predictions = probs.topk(top_k)  # (masks, k)
        single = len(positions) == 1
        answer = []
        for position, scores, tokens in zip(positions, values.tolist(), predictions.tolist()):
            row = []
            for score, token in zip(scores, tokens):
                if targets is not None:
                    token = int(targets[token])
                filled = input_ids.clone()
                filled[position] = token
                row.append({
                    "score": score,
                    "token": token,
                    "token_str": self.tokenizer.decode([token]),
                    "sequence": self.tokenizer.decode(filled.tolist(), skip_special_tokens=single),
                })
            answer.append(row)
        return answer[0] if single else answer
