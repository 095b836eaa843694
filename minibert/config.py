"""BertConfig: the hyper-parameters of a BERT model, read from and written to `config.json`.

The field names are those of the Hugging Face `config.json` format, so a file written by
`transformers` loads here and the other way round. Keys this class does not know are kept in
`extra` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minibert.fileio import atomic_write_text

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "tanh")
POSITION_EMBEDDING_TYPES = ("absolute", "sinusoidal")
ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "unpadded")
PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")

# Sizes far past any real BERT (bert-large: 24 layers, H = 1024, 30,522 word pieces, 512
# positions, 2 token types). A config.json beyond them is a mistake, refused before anything
# is allocated: `num_hidden_layers: 1000000000` would otherwise build layers until memory
# runs out.
SIZE_LIMITS = {
    "vocab_size": 4_194_304,  # 2^22; the largest vocabularies in use have about 250,000 entries
    "hidden_size": 65_536,
    "num_hidden_layers": 1_000,
    "num_attention_heads": 65_536,
    "intermediate_size": 262_144,
    "max_position_embeddings": 1_048_576,
    "type_vocab_size": 1_024,
    "num_labels": 1_000_000,
}

# Runtime choices: they describe how to run a model, not the model, so they are not saved.
_NOT_SAVED = ("attn_implementation", "extra")


@dataclass
class BertConfig:
    """Defaults are bert-base-uncased (Devlin et al. 2018, Table 1: L=12, H=768, A=12)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"
    # Task heads.
    classifier_dropout: float | None = None
    id2label: dict[int, str] = field(default_factory=lambda: {0: "LABEL_0", 1: "LABEL_1"})
    label2id: dict[str, int] | None = None
    problem_type: str | None = None
    # How to run, not what to run. "unpadded" (the default) runs a right-padded batch on its
    # real tokens only and everything else as "sdpa"; "sdpa" and "eager" always run the padded
    # batch, which also gives transformers' values at pad positions (docs/architecture.md, 8).
    attn_implementation: str = "unpadded"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.id2label = _label_map("id2label", self.id2label, int, str)
        if self.label2id is None:
            self.label2id = {v: k for k, v in self.id2label.items()}
        self.label2id = _label_map("label2id", self.label2id, str, int)
        self.validate()

    # Task heads read this; setting it resizes the label maps as transformers does.
    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, n: int) -> None:
        _check_num_labels(n)
        if n != len(self.id2label):
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
            self.label2id = {v: k for k, v in self.id2label.items()}

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def validate(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
            _check_limit(name, value)
        _check_limit("num_labels", len(self.id2label))
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}): each head gets hidden_size / num_attention_heads dimensions"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            value = getattr(self, name)
            if value is None and name == "classifier_dropout":
                continue  # None: the heads use hidden_dropout_prob
            if not _is_number(value) or not 0.0 <= value < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {value!r}")
        for name in ("initializer_range", "layer_norm_eps"):
            value = getattr(self, name)
            if not _is_number(value) or not value > 0:
                raise ValueError(f"BertConfig.{name} must be a positive number, got {value!r}")
        for name in ("hidden_act", "position_embedding_type", "attn_implementation"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"BertConfig.{name} must be a string, got {getattr(self, name)!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {self.hidden_act!r} is not supported; choose one of {ACTIVATIONS}")
        if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
            raise ValueError(
                f"position_embedding_type {self.position_embedding_type!r} is not supported; "
                f"choose one of {POSITION_EMBEDDING_TYPES}"
            )
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ValueError(
                f"attn_implementation {self.attn_implementation!r} is not supported; choose one of {ATTN_IMPLEMENTATIONS}"
            )
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type {self.problem_type!r} is not supported; choose one of {PROBLEM_TYPES}")
        if not isinstance(self.pad_token_id, int) or isinstance(self.pad_token_id, bool):
            raise ValueError(f"BertConfig.pad_token_id must be an integer token id, got {self.pad_token_id!r}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"pad_token_id {self.pad_token_id} is outside the vocabulary (size {self.vocab_size})")

    # ---- config.json ------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> "BertConfig":
        data = _labels_from_overrides(data, overrides)
        data = {**data, **overrides}
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in data.items() if k in known}
        # model_type is always "bert" (from_json_file checks it, to_dict writes it back), so it is not extra.
        extra = {k: v for k, v in data.items() if k not in known and k not in ("num_labels", "model_type")}
        if "num_labels" in data:
            _check_num_labels(data["num_labels"])
        if "num_labels" in data and "id2label" not in data:
            kwargs["id2label"] = {i: f"LABEL_{i}" for i in range(int(data["num_labels"]))}
            kwargs.pop("label2id", None)
        if "id2label" in kwargs and "label2id" not in kwargs:
            kwargs["label2id"] = None
        if kwargs.get("attn_implementation") is None:
            kwargs.pop("attn_implementation", None)
        config = cls(**kwargs, extra=extra)
        if "num_labels" in data and int(data["num_labels"]) != config.num_labels:
            raise ValueError(
                f"num_labels={data['num_labels']} disagrees with id2label, which has {config.num_labels} labels"
            )
        return config

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _NOT_SAVED}
        data["id2label"] = {str(k): v for k, v in self.id2label.items()}
        data = {**self.extra, **data}
        data.setdefault("model_type", "bert")
        return data

    @classmethod
    def from_json_file(cls, path: str | os.PathLike, **overrides: Any) -> "BertConfig":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); a BERT config.json is expected") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} holds a {type(data).__name__}, not a JSON object")
        model_type = data.get("model_type", "bert")
        if model_type != "bert":
            raise ValueError(f"{path} describes a {model_type!r} model; minibert loads BERT models only")
        return cls.from_dict(data, **overrides)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(directory / "config.json", self.to_json_string())

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs: Any) -> "BertConfig":
        from minibert.hub import resolve_file

        hub_kwargs = {k: kwargs.pop(k) for k in ("cache_dir", "revision", "token", "local_files_only") if k in kwargs}
        return cls.from_json_file(resolve_file(name_or_path, "config.json", **hub_kwargs), **kwargs)


def _labels_from_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The caller's labels win over the checkpoint's: loading a 3-label classifier with
    `num_labels=5`, or with a new `id2label`, drops the checkpoint's label maps (as
    transformers does). `num_labels` equal to the checkpoint's keeps its label names."""
    if "id2label" in overrides:
        return {k: v for k, v in data.items() if k not in ("label2id", "num_labels") or k in overrides}
    if "num_labels" in overrides and "id2label" in data:
        if len(data["id2label"]) == overrides["num_labels"]:
            return {k: v for k, v in data.items() if k != "num_labels"}
        return {k: v for k, v in data.items() if k not in ("id2label", "label2id")}
    return data


def _check_num_labels(n: Any) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"num_labels must be a positive integer, got {n!r}")
    _check_limit("num_labels", n)


def _check_limit(name: str, value: int) -> None:
    if value > SIZE_LIMITS[name]:
        raise ValueError(
            f"BertConfig.{name} = {value:,} is larger than any real BERT model's (minibert's limit is "
            f"{SIZE_LIMITS[name]:,}, see minibert.config.SIZE_LIMITS); check config.json"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _label_map(name: str, value: Any, key_type: type, value_type: type) -> dict:
    """id2label {0: "NEGATIVE", ...} / label2id {"NEGATIVE": 0, ...}; JSON writes the ids as strings."""
    example = '{"0": "NEGATIVE", "1": "POSITIVE"}' if name == "id2label" else '{"NEGATIVE": 0, "POSITIVE": 1}'
    if not isinstance(value, dict):
        raise ValueError(f"BertConfig.{name} must be an object such as {example}, got a {type(value).__name__}: {value!r:.80}")
    try:
        return {key_type(k): value_type(v) for k, v in value.items()}
    except (TypeError, ValueError):
        raise ValueError(f"BertConfig.{name} must map {key_type.__name__} to {value_type.__name__}, such as {example}; got {value!r:.80}") from None
