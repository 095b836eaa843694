"""Model outputs: named fields that also index like a tuple, as the classic API does.

`out.last_hidden_state` and `out[0]` are the same tensor; fields that are `None` are skipped
when indexing by position, so `loss` is `out[0]` exactly when labels were given.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Iterator

import torch


@dataclass
class ModelOutput:
    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(v for v in (getattr(self, f.name) for f in fields(self)) if v is not None)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(f"{type(self).__name__} has no field {key!r} set; it has {self.keys()}")
            return getattr(self, key)
        return self.to_tuple()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.to_tuple())

    def __len__(self) -> int:
        return len(self.to_tuple())


@dataclass
class BertModelOutput(ModelOutput):
    last_hidden_state: torch.Tensor | None = None  # (B, S, H)
    pooler_output: torch.Tensor | None = None  # (B, H)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # L + 1 times (B, S, H): embeddings, then each layer
    attentions: tuple[torch.Tensor, ...] | None = None  # L times (B, heads, S, S)


# ---- task heads (minibert.heads): `loss` first, so `out[0]` is the loss when labels were given ----


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None  # ()
    logits: torch.Tensor | None = None  # (B, num_labels)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None  # ()
    logits: torch.Tensor | None = None  # (B, S, num_labels)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: torch.Tensor | None = None  # ()
    start_logits: torch.Tensor | None = None  # (B, S)
    end_logits: torch.Tensor | None = None  # (B, S)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class MultipleChoiceModelOutput(ModelOutput):
    loss: torch.Tensor | None = None  # ()
    logits: torch.Tensor | None = None  # (B, num_choices)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # of the B * num_choices sequences
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class MaskedLMOutput(ModelOutput):
    loss: torch.Tensor | None = None  # ()
    logits: torch.Tensor | None = None  # (B, S, V)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class NextSentencePredictorOutput(ModelOutput):
    loss: torch.Tensor | None = None  # ()
    logits: torch.Tensor | None = None  # (B, 2): IsNext, NotNext
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class BertForPreTrainingOutput(ModelOutput):
    loss: torch.Tensor | None = None  # () = masked LM loss + next sentence loss
    prediction_logits: torch.Tensor | None = None  # (B, S, V)
    seq_relationship_logits: torch.Tensor | None = None  # (B, 2)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
