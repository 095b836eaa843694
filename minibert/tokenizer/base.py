"""The entry points users know from transformers: `tokenizer(...)`, `encode`, `encode_plus`,
`batch_encode_plus`, `pad`.

`TokenizerBase` checks what a caller can get wrong (text or pre-split words, pairs,
padding, truncation, lengths), has each text encoded by the subclass, and hands the ids to
encoding.py for truncation, windows, special tokens and padding. It knows nothing of BERT:
a subclass supplies `_encode_text` (one text -> ids, and with `detailed` their offsets and
words), `_special_ids` (the ids around a sequence) and `_pad_id`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from minibert.tokenizer.encoding import BatchEncoding, Encoded, pad, resolve_lengths, truncate_and_assemble


class TokenizerBase:
    """The calling conventions, over what a subclass provides:

    - `_encode_text(text, detailed) -> Encoded`: one text as (ids, offsets, words);
    - `_special_ids() -> (cls id, sep id)`, `_pad_id() -> int`: each an error naming the
      token when the vocabulary lacks it;
    - the settings `model_max_length`, `padding_side`, `truncation_side`, `_warned_too_long`.
    """

    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    model_max_length: int
    padding_side: str
    truncation_side: str
    _warned_too_long: bool

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 3 if pair else 2

    def __call__(
        self,
        text: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        text_pair: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        pad_to_max_length: bool = False,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Tokenize one text (or pair) or a batch of them. With `is_split_into_words=True`
        a text is a list of words (and a batch a list of such lists): each word is tokenized
        on its own, its offsets count from its own start, and `word_ids()` gives its index."""
        options = dict(
            add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
            max_length=max_length, stride=stride, is_split_into_words=is_split_into_words,
            pad_to_multiple_of=pad_to_multiple_of, return_token_type_ids=return_token_type_ids, return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens, return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping, return_length=return_length,
            pad_to_max_length=pad_to_max_length, verbose=verbose,
        )
        if text is None:
            raise ValueError("the tokenizer needs text: a string, or a list of strings for a batch (got None)")
        is_batch = _is_word_batch if is_split_into_words else _is_batch
        batched = is_batch(text, "text")
        if text_pair is not None and is_batch(text_pair, "text_pair") != batched:
            raise TypeError(
                "text and text_pair must both be single inputs or both be batches, got "
                f"{type(text).__name__} and {type(text_pair).__name__}"
            )
        if batched:
            if text_pair is not None and len(text_pair) != len(text):
                raise ValueError(f"text has {len(text)} texts but text_pair has {len(text_pair)}; they must pair up")
            pairs = list(zip(text, text_pair)) if text_pair is not None else list(text)
            return self.batch_encode_plus(pairs, return_tensors=return_tensors, **options)
        return self._encode_one(text, text_pair, return_tensors, options)

    def encode(self, text: str, text_pair: str | None = None, add_special_tokens: bool = True, **kwargs: Any) -> list[int]:
        """The ids of one text (or pair), as a plain list (or a 1-row tensor with return_tensors)."""
        if not kwargs.get("is_split_into_words") and (text is None or _is_batch(text, "text")):
            raise TypeError(f"encode takes one string (use batch_encode_plus or tok([...]) for a batch), got {type(text).__name__}")
        return self.encode_plus(text, text_pair, add_special_tokens=add_special_tokens, **kwargs)["input_ids"]

    def encode_plus(self, text: str, text_pair: str | None = None, return_tensors: str | None = None, **kwargs: Any) -> BatchEncoding:
        """One text or pair -> BatchEncoding of flat lists (rows, with return_overflowing_tokens)."""
        is_batch = _is_word_batch if kwargs.get("is_split_into_words") else _is_batch
        if text is None or is_batch(text, "text"):
            raise TypeError(f"encode_plus takes one string, got {type(text).__name__}; use batch_encode_plus for a list")
        if text_pair is not None and is_batch(text_pair, "text_pair"):
            raise TypeError(f"text_pair must be a single input like text, got {type(text_pair).__name__}")
        return self._encode_one(text, text_pair, return_tensors, kwargs)

    def _encode_one(self, text, text_pair, return_tensors: str | None, options: dict[str, Any]) -> BatchEncoding:
        if text_pair == "":
            # transformers' Rust-backed tokenizer reads an empty second text of a single
            # pair as no second text ([CLS] A [SEP]); in a batch it is a pair. We do the same.
            text_pair = None
        batch = self.batch_encode_plus([(text, text_pair) if text_pair is not None else text], **options)
        if not options.get("return_overflowing_tokens"):
            # One row, unwrapped; "length" stays a list, as in transformers.
            row = BatchEncoding({k: v if k == "length" else v[0] for k, v in batch.items()})
            row._alignment = batch._alignment
            if return_tensors is not None:
                alignment, row = row._alignment, BatchEncoding({k: v if k == "length" else [v] for k, v in row.items()})
                row._alignment = alignment
                row = row.convert_to_tensors(return_tensors)
            return row
        return batch.convert_to_tensors(return_tensors)

    def batch_encode_plus(
        self,
        batch_text_or_text_pairs: Sequence[str | tuple[str, str]] | Sequence[Sequence[str]],
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        pad_to_max_length: bool = False,
        verbose: bool = True,
    ) -> BatchEncoding:
        """A list of texts, or of (text, text_pair) tuples -> BatchEncoding of lists of rows.
        With `is_split_into_words=True`, a list of word lists, or of (words, words_pair) tuples."""
        batch = batch_text_or_text_pairs
        if not isinstance(batch, (list, tuple)):
            raise TypeError(f"batch_encode_plus takes a list of strings or of (text, text_pair) pairs, got {type(batch).__name__}")
        if pad_to_max_length and padding in (False, None):
            padding = "max_length"  # the older spelling, still in many tutorials
        padding_strategy, truncation_strategy, max_length = resolve_lengths(padding, truncation, max_length, self.model_max_length)
        if stride < 0 or not isinstance(stride, int):
            raise ValueError(f"stride must be a non-negative integer, got {stride!r}")
        if pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0):
            raise ValueError(f"pad_to_multiple_of must be a positive integer, got {pad_to_multiple_of!r}")
        if return_tensors not in (None, "pt", "np"):
            raise ValueError(f"return_tensors must be None, 'pt' or 'np', not {return_tensors!r}")

        # Offsets and words cost time, so they are worked out only when the call needs them.
        detailed = return_offsets_mapping or is_split_into_words
        specials = self._special_ids() if add_special_tokens else None
        rows: list[dict[str, list]] = []
        sample_of_row: list[int] = []
        encode = self._encode_words if is_split_into_words else self._encode_text
        for index, item in enumerate(batch):
            first, second = (item, None) if type(item) is str else _split_item(item, index, is_split_into_words)
            a = encode(first, detailed)
            b = encode(second, detailed) if second is not None else None
            for row in truncate_and_assemble(a, b, specials, truncation_strategy, max_length, stride,
                                             return_overflowing_tokens, self.truncation_side):
                rows.append(row)
                sample_of_row.append(index)

        if padding_strategy is None and truncation_strategy is None and verbose and not self._warned_too_long:
            longest = max((len(r["input_ids"]) for r in rows), default=0)
            if longest > self.model_max_length:
                self._warned_too_long = True
                warnings.warn(
                    f"a sequence has {longest} tokens, more than this model's maximum of {self.model_max_length}: "
                    "running it through the model will fail. Pass truncation=True to cut it.",
                    stacklevel=3,
                )

        names = ["input_ids"]
        if return_token_type_ids is not False:
            names.append("token_type_ids")
        if return_attention_mask is not False:
            names.append("attention_mask")
        if return_special_tokens_mask:
            names.append("special_tokens_mask")
        if return_offsets_mapping:
            names.append("offset_mapping")
        if detailed:
            names += ["word_ids", "sequence_ids"]
        data = {name: [r[name] for r in rows] for name in names}
        if padding_strategy is not None:
            target = max_length if padding_strategy == "max_length" else None
            data = pad(data, "max_length" if target else "longest", target, pad_to_multiple_of, None,
                       pad_token_id=self._pad_id, padding_side=self.padding_side, model_max_length=self.model_max_length)
        if detailed:
            alignment: Any = list(zip(data.pop("word_ids"), data.pop("sequence_ids")))
        else:
            # The same call again, with the words: only if someone asks for word_ids(). (A
            # partial, not a lambda: a closure would slow every variable of this function.)
            alignment = partial(self._alignment_of, list(batch), add_special_tokens, padding, truncation, max_length,
                                stride, pad_to_multiple_of, return_overflowing_tokens)
        out = BatchEncoding(data)
        out._alignment = alignment
        if return_length:  # after padding, as in transformers: the length of each row as returned
            out["length"] = [len(r) for r in out["input_ids"]]
        if return_overflowing_tokens:
            out["overflow_to_sample_mapping"] = sample_of_row
        return out.convert_to_tensors(return_tensors)

    def _alignment_of(self, batch, add_special_tokens, padding, truncation, max_length, stride, pad_to_multiple_of,
                      return_overflowing_tokens) -> list:
        return self.batch_encode_plus(
            batch, add_special_tokens=add_special_tokens, padding=padding, truncation=truncation, max_length=max_length,
            stride=stride, pad_to_multiple_of=pad_to_multiple_of, return_overflowing_tokens=return_overflowing_tokens,
            return_offsets_mapping=True, verbose=False,
        )._alignment

    def _encode_words(self, words: Sequence[str], detailed: bool = True) -> Encoded:
        """One list of words: each word encoded alone, its tokens carrying its index."""
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        word_ids: list[int] = []
        for index, word in enumerate(words):
            word_ids_of_word, word_offsets, _ = self._encode_text(word, True)
            ids += word_ids_of_word
            offsets += word_offsets
            word_ids += [index] * len(word_ids_of_word)
        return ids, offsets, word_ids

    def pad(
        self,
        encoded_inputs: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchEncoding:
        """Pad already-encoded sequences (a BatchEncoding of rows, or a list of dicts as a
        data collator gets them) to the longest one or to max_length."""
        data = pad(encoded_inputs, padding, max_length, pad_to_multiple_of, return_attention_mask,
                   pad_token_id=self._pad_id, padding_side=self.padding_side, model_max_length=self.model_max_length)
        return BatchEncoding(data).convert_to_tensors(return_tensors)


# ---------------------------------------------------------------------------------------
# What the caller passed
# ---------------------------------------------------------------------------------------


def describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def check_text(text, what: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, got {describe(text)}")


def _is_batch(text, what: str) -> bool:
    """True for a list/tuple of strings, False for a string; anything else is an error."""
    if isinstance(text, str):
        return False
    if isinstance(text, (list, tuple)):
        for i, item in enumerate(text):
            if not isinstance(item, str):
                raise TypeError(
                    f"{what} must be a string or a list of strings, but item {i} is {describe(item)}"
                    + (" (for pre-split words pass is_split_into_words=True)" if isinstance(item, (list, tuple)) else "")
                )
        return True
    raise TypeError(f"{what} must be a string or a list of strings, got {describe(text)}")


def _is_word_batch(text, what: str) -> bool:
    """With is_split_into_words: True for a list of word lists, False for one list of words."""
    if not isinstance(text, (list, tuple)):
        raise TypeError(f"with is_split_into_words=True, {what} must be a list of words (strings), got {describe(text)}")
    batched = bool(text) and isinstance(text[0], (list, tuple))
    for i, item in enumerate(text):
        words = item if batched else [item]
        if not isinstance(item, (list, tuple)) and batched or not all(isinstance(w, str) for w in words):
            raise TypeError(
                f"with is_split_into_words=True, {what} must be a list of words or a list of such lists, "
                f"but item {i} is {describe(item)}"
            )
    return batched


def _split_item(item, index: int, is_split_into_words: bool):
    """(first, second or None) of one batch item."""
    if is_split_into_words:
        if isinstance(item, tuple) and len(item) == 2 and all(isinstance(x, (list, tuple)) for x in item):
            return item
        if _is_word_batch(item, f"batch item {index}"):
            raise TypeError(f"batch item {index} must be a list of words or a pair of them, got {describe(item)}")
        return item, None
    if isinstance(item, (tuple, list)):
        if len(item) != 2 or not all(isinstance(t, str) for t in item):
            raise TypeError(f"batch item {index} must be a string or a (text, text_pair) pair of strings, got {describe(item)}")
        return item
    check_text(item, f"batch item {index}")
    return item, None
