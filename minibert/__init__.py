"""minibert: BERT from scratch in plain PyTorch, parity-tested against transformers."""

from minibert.attention_maps import attention_html, attention_probabilities, plot_attention, save_attention
from minibert.config import BertConfig
from minibert.heads import (
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)
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
from minibert.outputs import (
    BertForPreTrainingOutput,
    BertModelOutput,
    MaskedLMOutput,
    ModelOutput,
    MultipleChoiceModelOutput,
    NextSentencePredictorOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from minibert.tokenizer import BatchEncoding, BertTokenizer
from minibert.pipelines import pipeline
from minibert.sentence_encoder import SentenceEncoder
from minibert.similarity import cos_sim, semantic_search
from minibert.pretraining import PretrainingArguments, pretrain
from minibert.pretraining_data import DataCollatorForLanguageModeling, PretrainingDataset
from minibert.weights import CheckpointError

__version__ = "0.1.0"

__all__ = [
    "pipeline",
    "SentenceEncoder",
    "cos_sim",
    "semantic_search",
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
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
    "BertForMultipleChoice",
    "BertForMaskedLM",
    "BertForNextSentencePrediction",
    "BertForPreTraining",
    "ModelOutput",
    "BertModelOutput",
    "SequenceClassifierOutput",
    "TokenClassifierOutput",
    "QuestionAnsweringModelOutput",
    "MultipleChoiceModelOutput",
    "MaskedLMOutput",
    "NextSentencePredictorOutput",
    "BertForPreTrainingOutput",
    "CheckpointError",
    "ModelNotFoundError",
    "BertTokenizer",
    "BatchEncoding",
    # Looking inside (minibert.inspect)
    "parity_report",
    "ParityReport",
    "ParityRow",
    "parameter_counts",
    "attention_probabilities",
    "plot_attention",
    "attention_html",
    "save_attention",
    "PretrainingDataset",
    "DataCollatorForLanguageModeling",
    "PretrainingArguments",
    "pretrain",
]
