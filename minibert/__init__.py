"""minibert: BERT from scratch in plain PyTorch, parity-tested against transformers."""

from minibert.config import BertConfig
from minibert.hub import ModelNotFoundError
from minibert.model import (
    BertEmbeddings,
    BertModel,
    Encoder,
    EncoderLayer,
    FeedForward,
    MultiHeadSelfAttention,
    Pooler,
    SinusoidalPositionalEncoding,
    eager_attention,
)
from minibert.outputs import BertModelOutput, ModelOutput
from minibert.pretraining import PretrainingArguments, pretrain
from minibert.pretraining_data import DataCollatorForLanguageModeling, PretrainingDataset
from minibert.weights import CheckpointError

__version__ = "0.1.0"

__all__ = [
    "BertConfig",
    "BertModel",
    "BertEmbeddings",
    "SinusoidalPositionalEncoding",
    "MultiHeadSelfAttention",
    "FeedForward",
    "EncoderLayer",
    "Encoder",
    "Pooler",
    "eager_attention",
    "BertModelOutput",
    "ModelOutput",
    "CheckpointError",
    "ModelNotFoundError",
    "PretrainingDataset",
    "DataCollatorForLanguageModeling",
    "PretrainingArguments",
    "pretrain",
]
