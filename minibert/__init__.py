"""minibert: BERT from scratch in plain PyTorch, parity-tested against transformers."""

from minibert.attention_maps import attention_html, attention_probabilities, plot_attention, save_attention
from minibert.config import BertConfig
from minibert.hub import ModelNotFoundError
from minibert.inspect import ParityReport, ParityRow, parameter_counts, parity_report
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
    # Looking inside (minibert.inspect)
    "parity_report",
    "ParityReport",
    "ParityRow",
    "parameter_counts",
    "attention_probabilities",
    "plot_attention",
    "attention_html",
    "save_attention",
]
