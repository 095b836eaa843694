"""BERT's tokenizer: the vocabulary and its special and added tokens, tied to the basic
tokenizer and WordPiece, with the calling conventions of transformers.

Text becomes ids in four steps (docs/tokenizer.md walks through each one):

1. special tokens (`[CLS]`, `[SEP]`, `[MASK]`, ... and added ones) are cut out whole;
2. normalization, one character at a time (basic.py), remembering for every normalized
   character the character of the *original* string it came from: offsets are made of that;
3. pre-tokenization: split on whitespace, and make every punctuation character a word (basic.py);
4. WordPiece (wordpiece.py): each word becomes the longest vocabulary entry that starts it,
   then the longest `##` continuation, and so on; a word that cannot be covered is `[UNK]`.

Text is cut at spaces into chunks first, and a cache of chunk -> ids means most chunks of
real text are tokenized once. The result matches `transformers.BertTokenizer` (the
Rust-backed one); where the older pure-Python `BertTokenizerLegacy` differs, docs/tokenizer.md
says how and why.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from minibert.tokenizer.base import TokenizerBase, check_text, describe
from minibert.tokenizer.basic import ASCII_CONTROL, ASCII_WORD, CHUNK, BasicTokenizer
from minibert.tokenizer.encoding import VERY_LARGE_INTEGER, Encoded, is_int, to_list
from minibert.tokenizer.files import HUB_OPTIONS, SPECIAL_TOKEN_NAMES, load_vocab, read_tokenizer_files, write_tokenizer_files
from minibert.tokenizer.wordpiece import MAX_WORD_CHARS, WordPiece, clean_up_tokenization, decode_pieces

_CHUNK_CACHE_SIZE = 200_000
# Longer chunks are rare and tokenized in linear time anyway; not caching them keeps the
# cache's memory bounded by characters, not only by entries.
_CACHED_CHUNK_MAX_CHARS = MAX_WORD_CHARS


class BertTokenizer(TokenizerBase):
    """BERT's WordPiece tokenizer with the calling conventions of `transformers`.

    >>> tok = BertTokenizer.from_pretrained("path/to/model")
    >>> enc = tok(["A sentence.", "Another one"], padding=True, return_tensors="pt")
    >>> model(**enc)
    """

    def __init__(
        self,
        vocab: str | os.PathLike | Mapping[str, int],
        do_lower_case: bool = True,
        do_basic_tokenize: bool = True,
        never_split: Sequence[str] | None = None,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        tokenize_chinese_chars: bool = True,
        strip_accents: bool | None = None,
        model_max_length: int | None = None,
        padding_side: str = "right",
        truncation_side: str = "right",
        additional_special_tokens: Sequence[str] | None = None,
        clean_up_tokenization_spaces: bool = False,
    ):
        self.vocab = load_vocab(vocab)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        for name, value in zip(SPECIAL_TOKEN_NAMES, (unk_token, sep_token, pad_token, cls_token, mask_token)):
            if not isinstance(value, str) or not value:
                raise TypeError(f"{name} must be a non-empty string, got {value!r}")
            setattr(self, name, value)
        if unk_token not in self.vocab:
            raise ValueError(
                f"the vocabulary has no unknown token {unk_token!r}: every tokenizer needs one for words it "
                "cannot cover. Add it to vocab.txt or pass unk_token= naming the vocabulary's own."
            )
        # Cleaning, accents, lowercasing, CJK and punctuation: checks its own flags.
        self.basic = BasicTokenizer(do_lower_case, never_split, tokenize_chinese_chars, strip_accents)
        if do_basic_tokenize is not True:
            raise ValueError(
                "do_basic_tokenize=False (WordPiece on whitespace-split text only) is not supported; "
                "BERT checkpoints use the basic tokenizer, so leave it True"
            )
        if padding_side not in ("right", "left") or truncation_side not in ("right", "left"):
            raise ValueError(f"padding_side and truncation_side must be 'right' or 'left', got {padding_side!r}, {truncation_side!r}")
        if model_max_length is None:
            model_max_length = VERY_LARGE_INTEGER
        if not isinstance(model_max_length, int) or model_max_length <= 0:
            raise ValueError(f"model_max_length must be a positive integer, got {model_max_length!r}")

        self.do_lower_case = do_lower_case
        self.do_basic_tokenize = do_basic_tokenize
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents
        self.model_max_length = model_max_length
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.never_split = set(never_split or ())
        self.additional_special_tokens = list(additional_special_tokens or ())
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)  # decode's default
        self.name_or_path = ""
        # Tokens added with add_tokens (new ones get ids after vocab.txt's; a token already
        # in vocab.txt keeps its id but is, from then on, never split, as in transformers).
        self.added_tokens: dict[str, int] = {}
        self._base_size = len(self.vocab)
        self._added_special: set[str] = set()

        self._wordpiece = WordPiece(self.vocab, self.vocab[self.unk_token])
        self._chunk_cache: dict[str, tuple[tuple[int, ...], tuple[tuple[int, int], ...], tuple[int, ...]]] = {}
        for token in self.additional_special_tokens:
            self._register_added(token, special=True)
        self._rebuild_splitter()
        self._warned_too_long = False

    # ---- loading and saving ------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs: Any) -> "BertTokenizer":
        """Load from a directory holding `vocab.txt` (and `tokenizer_config.json`,
        `special_tokens_map.json`, `added_tokens.json` when present), or from a Hub id
        through the Hugging Face cache. Keyword arguments override the saved settings."""
        hub = {k: kwargs.pop(k) for k in HUB_OPTIONS if k in kwargs}
        vocab, init, added, special_added = read_tokenizer_files(name_or_path, hub)
        init.update(kwargs)
        tokenizer = cls(vocab, **init)
        tokenizer.name_or_path = str(name_or_path)
        for token, index in sorted(added.items(), key=lambda kv: kv[1]):
            if token in tokenizer.vocab:
                if token not in tokenizer._raw_tokens:  # a vocab.txt token made unsplittable
                    tokenizer._register_added(token, special=token in special_added)
                continue
            if index != len(tokenizer):
                raise ValueError(
                    f"added token {token!r} has id {index} but the next free id is {len(tokenizer)}: "
                    "the tokenizer files do not belong together"
                )
            tokenizer._register_added(token, special=token in special_added)
        tokenizer._rebuild_splitter()
        return tokenizer

    def save_pretrained(self, save_directory: str | os.PathLike) -> tuple[str, ...]:
        """Write vocab.txt, tokenizer_config.json and special_tokens_map.json (atomically),
        readable by `from_pretrained` here and in transformers."""
        return write_tokenizer_files(self, save_directory)

    # ---- vocabulary ---------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary (vocab.txt), without added tokens, as in transformers."""
        return self._base_size

    def __len__(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    @property
    def all_special_tokens(self) -> list[str]:
        seen = [getattr(self, name) for name in ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token")]
        seen += [t for t in self.additional_special_tokens if t not in seen]
        seen += sorted(t for t in self._added_special if t not in seen)
        return seen

    @property
    def all_special_ids(self) -> list[int]:
        return [self.vocab[t] for t in self.all_special_tokens if t in self.vocab]

    @property
    def unk_token_id(self) -> int:
        return self.vocab[self.unk_token]

    @property
    def pad_token_id(self) -> int | None:
        return self.vocab.get(self.pad_token)

    @property
    def cls_token_id(self) -> int | None:
        return self.vocab.get(self.cls_token)

    @property
    def sep_token_id(self) -> int | None:
        return self.vocab.get(self.sep_token)

    @property
    def mask_token_id(self) -> int | None:
        return self.vocab.get(self.mask_token)

    def add_tokens(self, new_tokens: str | Sequence[str], special_tokens: bool = False) -> int:
        """Add whole tokens to the vocabulary (new ids after the last one); returns how many
        were new. Added tokens are never split; non-special ones are matched in the
        normalized (e.g. lowercased) text, special ones in the text as written."""
        if isinstance(new_tokens, str):
            new_tokens = [new_tokens]
        if not isinstance(new_tokens, (list, tuple)) or not all(isinstance(t, str) and t for t in new_tokens):
            raise TypeError(f"add_tokens takes a non-empty string or a list of them, got {new_tokens!r}")
        count = 0
        for token in new_tokens:
            if token in self.added_tokens or token in self._raw_tokens:
                continue
            self._register_added(token, special=special_tokens)
            count += 1
        self._rebuild_splitter()
        return count

    def add_special_tokens(self, special_tokens_dict: Mapping[str, Any]) -> int:
        if not isinstance(special_tokens_dict, Mapping):
            raise TypeError("add_special_tokens takes a dict such as {'additional_special_tokens': ['<e>']}")
        count = 0
        for key, value in special_tokens_dict.items():
            if key == "additional_special_tokens":
                count += self.add_tokens(list(value), special_tokens=True)
                self.additional_special_tokens += [t for t in value if t not in self.additional_special_tokens]
            elif key in SPECIAL_TOKEN_NAMES:
                count += self.add_tokens([value], special_tokens=True)
                setattr(self, key, value)
            else:
                raise ValueError(f"unknown special token kind {key!r}; use one of {SPECIAL_TOKEN_NAMES} or additional_special_tokens")
        self._rebuild_splitter()
        return count

    def _register_added(self, token: str, special: bool) -> None:
        if token not in self.vocab:
            index = len(self.vocab)
            self.vocab[token] = index
            self.ids_to_tokens[index] = token
        self.added_tokens[token] = self.vocab[token]
        if special:
            self._added_special.add(token)

    def _rebuild_splitter(self) -> None:
        """Regular expressions that find the tokens that are never split: the special ones
        in the raw text, the other added ones in the normalized text. Longest first, so
        that "[CLS]x" is not read as a shorter token that is its prefix."""
        raw = set(self.never_split) | {getattr(self, n) for n in SPECIAL_TOKEN_NAMES} | set(self.additional_special_tokens)
        raw |= self._added_special
        normalized = {t for t in self.added_tokens if t not in raw}
        self._raw_split = _alternation(raw)
        self._raw_tokens = raw
        self._normalized_split = _alternation(normalized)
        self._chunk_cache = {}  # chunks were tokenized without the new tokens


    def _special_id(self, name: str, needed_for: str) -> int:
        """The id of a special token that a call needs, or an error naming it."""
        token = getattr(self, name)
        index = self.vocab.get(token)
        if index is None:
            raise ValueError(
                f"the vocabulary has no {token!r} ({name}), which {needed_for} needs: add it to vocab.txt, or "
                f"pass {name}= naming the vocabulary's own"
            )
        return index

    def _special_ids(self) -> tuple[int, int]:
        cls, sep = self.vocab.get(self.cls_token), self.vocab.get(self.sep_token)
        if cls is None or sep is None:
            return (self._special_id("cls_token", "add_special_tokens=True"),
                    self._special_id("sep_token", "add_special_tokens=True"))
        return cls, sep

    def _pad_id(self) -> int:
        return self._special_id("pad_token", "padding")

    # ---- text -> tokens -----------------------------------------------------------------

    def _encode_text(self, text: str, detailed: bool) -> Encoded:
        """ids of one text, without [CLS]/[SEP]; with `detailed`, also the (start, end) of
        each token in `text` and the index of its word (words counted from 0)."""
        ids: list[int] = []
        offsets: list[tuple[int, int]] | None = [] if detailed else None
        words: list[int] | None = [] if detailed else None
        position = 0
        for match in self._raw_split.finditer(text) if self._raw_split is not None else ():
            self._encode_segment(text, position, match.start(), ids, offsets, words)
            token = match.group()
            ids.append(self.vocab[token] if token in self.vocab else self.unk_token_id)
            if detailed:
                offsets.append(match.span())
                words.append(words[-1] + 1 if words else 0)  # every word has a token: the next word
            position = match.end()
        self._encode_segment(text, position, len(text), ids, offsets, words)
        return ids, offsets, words

    def _encode_segment(self, text: str, begin: int, end: int, ids: list[int], offsets, words) -> None:
        """ids (and offsets and words) of text[begin:end], a stretch without special tokens.

        Space, tab, newline and carriage return always separate words, so the stretch is
        cut at them into chunks ("Hello," "world!") and each distinct chunk is tokenized
        once: a cache maps chunk -> (ids, offsets and words within the chunk). In ASCII text
        without control characters Python's `str.split()` cuts at exactly those characters.
        """
        if begin >= end:
            return
        segment = text[begin:end] if begin or end != len(text) else text
        if self._normalized_split is not None:
            # Added tokens may span chunks ("new york"): normalize the stretch as a whole.
            self._encode_normalized(segment, begin, ids, offsets, words)
            return
        cache = self._chunk_cache
        if offsets is None:
            ascii_only = segment.isascii() and not ASCII_CONTROL.search(segment)
            for chunk in segment.split() if ascii_only else CHUNK.findall(segment):
                hit = cache.get(chunk)
                if hit is None:
                    hit = self._encode_chunk(chunk)
                ids.extend(hit[0])
            return
        for match in CHUNK.finditer(segment):
            chunk = match.group()
            hit = cache.get(chunk)
            if hit is None:
                hit = self._encode_chunk(chunk)
            ids.extend(hit[0])
            shift = begin + match.start()
            offsets.extend([(shift + a, shift + b) for a, b in hit[1]])
            first_word = words[-1] + 1 if words else 0
            words.extend([first_word + w for w in hit[2]])

    def _encode_chunk(self, chunk: str) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...], tuple[int, ...]]:
        """(ids, offsets, words) within one chunk of text without space, tab or newline."""
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        words: list[int] = []
        if chunk.isascii() and not ASCII_CONTROL.search(chunk):
            # Fast path: see ASCII_WORD.
            wordpiece = self._wordpiece
            for word, match in enumerate(ASCII_WORD.finditer(chunk.lower() if self.do_lower_case else chunk)):
                word_ids, ends = wordpiece(match.group())
                ids.extend(word_ids)
                words.extend([word] * len(word_ids))
                start = piece_start = match.start()
                for piece_end in ends:
                    offsets.append((piece_start, start + piece_end))
                    piece_start = start + piece_end
        else:
            self._encode_normalized(chunk, 0, ids, offsets, words)
        result = (tuple(ids), tuple(offsets), tuple(words))
        if len(chunk) <= _CACHED_CHUNK_MAX_CHARS:
            if len(self._chunk_cache) >= _CHUNK_CACHE_SIZE:
                self._chunk_cache.clear()  # crude, but bounded memory and no bookkeeping per hit
            self._chunk_cache[chunk] = result
        return result

    def _encode_normalized(self, segment: str, begin: int, ids: list[int], offsets, words) -> None:
        """The general path: normalize each character, remembering where it came from."""
        chars, kinds, origin = self.basic.normalize(segment, begin)
        position = 0
        if self._normalized_split is not None:
            for match in self._normalized_split.finditer("".join(chars)):
                self._wordpiece_words(chars, kinds, origin, position, match.start(), ids, offsets, words)
                ids.append(self.vocab[match.group()])
                if offsets is not None:
                    offsets.append((origin[match.start()], origin[match.end() - 1] + 1))
                    words.append(words[-1] + 1 if words else 0)
                position = match.end()
        self._wordpiece_words(chars, kinds, origin, position, len(chars), ids, offsets, words)

    def _wordpiece_words(self, chars, kinds, origin, begin, end, ids, offsets, words) -> None:
        """Split normalized characters [begin, end) into words and WordPiece each word."""
        wordpiece = self._wordpiece
        for i, j in self.basic.word_spans(kinds, begin, end):
            word_ids, ends = wordpiece("".join(chars[i:j]))
            ids.extend(word_ids)
            if offsets is not None:
                word = words[-1] + 1 if words else 0
                piece_start = i
                for piece_end in ends:
                    offsets.append((origin[piece_start], origin[i + piece_end - 1] + 1))
                    words.append(word)
                    piece_start = i + piece_end

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of `text`, without [CLS]/[SEP]."""
        check_text(text, "text")
        return [self.ids_to_tokens[i] for i in self._encode_text(text, detailed=False)[0]]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        if isinstance(tokens, str):
            return self.vocab.get(tokens, self.unk_token_id)
        if not isinstance(tokens, (list, tuple)):
            raise TypeError(f"convert_tokens_to_ids takes a token or a list of tokens, got {type(tokens).__name__}")
        unk = self.unk_token_id
        return [self.vocab.get(t, unk) if isinstance(t, str) else _raise_type("token", t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        if is_int(ids):
            return self._id_to_token(int(ids))
        ids = _as_id_list(ids, "ids")
        special = set(self.all_special_ids) if skip_special_tokens else ()
        return [self._id_to_token(i) for i in ids if i not in special]

    def _id_to_token(self, index: int) -> str:
        token = self.ids_to_tokens.get(index)
        if token is None:
            raise ValueError(f"id {index} is not in the vocabulary (ids run from 0 to {len(self) - 1})")
        return token

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        """Join WordPiece tokens back into text as transformers' tokenizer does (its WordPiece
        decoder): "##" pieces glue to the previous token, and no space goes before . , ! ?"""
        return decode_pieces(list(tokens))

    # ---- ids -> text --------------------------------------------------------------------

    def decode(
        self,
        token_ids: int | Sequence[int] | Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str:
        """Text of a sequence of ids. Pieces join as "a ##b" -> "ab"; spaces before . , ! ?
        are removed as the reference's WordPiece decoder does. `clean_up_tokenization_spaces=True`
        also glues English contractions ("it ' s" -> "it's"), as older transformers did by default."""
        ids = [int(token_ids)] if is_int(token_ids) else _as_id_list(token_ids, "token_ids")
        special = set(self.all_special_ids) if skip_special_tokens else ()
        text = decode_pieces([self.ids_to_tokens[i] for i in ids if i not in special and i in self.ids_to_tokens])
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        if clean_up_tokenization_spaces:
            text = clean_up_tokenization(text)
        return text

    def batch_decode(self, sequences: Sequence[Sequence[int]] | Any, **kwargs: Any) -> list[str]:
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        if not isinstance(sequences, (list, tuple)):
            raise TypeError(f"batch_decode takes a list of id sequences, got {type(sequences).__name__}")
        return [self.decode(s, **kwargs) for s in sequences]

    def build_inputs_with_special_tokens(self, ids_0: list[int], ids_1: list[int] | None = None) -> list[int]:
        """[CLS] A [SEP] or [CLS] A [SEP] B [SEP]."""
        cls, sep = self._special_ids()
        return [cls] + ids_0 + [sep] if ids_1 is None else [cls] + ids_0 + [sep] + ids_1 + [sep]

    def __repr__(self) -> str:
        return (
            f"BertTokenizer(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
            f"do_lower_case={self.do_lower_case}, strip_accents={self.strip_accents}, "
            f"tokenize_chinese_chars={self.tokenize_chinese_chars}, model_max_length={self.model_max_length})"
        )


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _alternation(tokens) -> re.Pattern | None:
    tokens = [t for t in tokens if t]
    if not tokens:
        return None
    return re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))


def _as_id_list(ids, what: str) -> list[int]:
    ids = to_list(ids)
    if not isinstance(ids, (list, tuple)) or not all(is_int(i) for i in ids):
        raise TypeError(f"{what} must be an id or a flat list of ids (ints), got {describe(ids)}")
    return [int(i) for i in ids]


def _raise_type(what: str, value):
    raise TypeError(f"each {what} must be a string, got {describe(value)}")
