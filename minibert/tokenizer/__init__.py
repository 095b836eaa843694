"""The BERT tokenizer, from scratch, in four parts that each read alone:

- basic.py: `BasicTokenizer`, cleaning, CJK, accents, lowercasing, punctuation;
- wordpiece.py: `WordPiece`, the linear-time longest-match-first WordPiece;
- encoding.py and base.py: the calling conventions of transformers (`BatchEncoding`,
  truncation, overflow windows, padding, word alignment; `tokenizer(...)`, `encode_plus`, ...);
- bert.py: `BertTokenizer`, the vocabulary and its special and added tokens, tying the
  parts together; files.py: the files it is saved as.

docs/tokenizer.md walks through them.
"""

from minibert.tokenizer.basic import _REFERENCE_CATEGORIES, BasicTokenizer, _category
from minibert.tokenizer.bert import BertTokenizer
from minibert.tokenizer.encoding import VERY_LARGE_INTEGER, BatchEncoding, TokenSpan
from minibert.tokenizer.files import (
    ADDED_TOKENS_FILE,
    SPECIAL_TOKEN_NAMES,
    SPECIAL_TOKENS_MAP_FILE,
    TOKENIZER_CONFIG_FILE,
    TOKENIZER_FILE,
    VOCAB_FILE,
)
from minibert.tokenizer.wordpiece import MAX_WORD_CHARS, WordPiece, clean_up_tokenization

__all__ = [
    "BertTokenizer",
    "BatchEncoding",
    "BasicTokenizer",
    "WordPiece",
    "TokenSpan",
    "clean_up_tokenization",
    "MAX_WORD_CHARS",
    "VERY_LARGE_INTEGER",
    "SPECIAL_TOKEN_NAMES",
    "VOCAB_FILE",
    "TOKENIZER_CONFIG_FILE",
    "SPECIAL_TOKENS_MAP_FILE",
    "ADDED_TOKENS_FILE",
    "TOKENIZER_FILE",
    "_REFERENCE_CATEGORIES",
    "_category",
]
