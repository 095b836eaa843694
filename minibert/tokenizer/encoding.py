"""The calling conventions of transformers' tokenizers, independent of BERT.

A tokenizer turns each text into token ids (with, on request, the character span and the
word of each token); everything after that is the same for any WordPiece or BPE model and
lives here:

- truncation to `max_length` (`longest_first`, `only_first`, `only_second`) and, with
  `return_overflowing_tokens`, the windows of a long text that overlap by `stride` tokens;
- assembling a row: `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`, with its type ids, masks,
  offsets, and the word and sequence of every token;
- padding to the longest row or to `max_length`;
- `BatchEncoding`, the dict of lists or tensors that comes back, with `word_ids()` and
  `sequence_ids()` for aligning tokens with words (NER labels, question-answering spans).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

# What transformers uses for "no limit" when a tokenizer has no model_max_length.
VERY_LARGE_INTEGER = int(1e30)

PADDING = {False: None, None: None, "do_not_pad": None, True: "longest", "longest": "longest", "max_length": "max_length"}
TRUNCATION = {
    False: None, None: None, "do_not_truncate": None, True: "longest_first", "longest_first": "longest_first",
    "only_first": "only_first", "only_second": "only_second",
}


# One text as token ids, before special tokens: (ids, offsets, words). With `detailed`
# encoding, offsets are the (start, end) characters and words the word index of every token;
# else both are None. (A plain tuple: one is made per text, on the hot path.)
Encoded = tuple[list[int], list[tuple[int, int]] | None, list[int] | None]


class TokenSpan(NamedTuple):
    """Tokens [start, end) of a row, as `BatchEncoding.word_to_tokens` returns them."""

    start: int
    end: int


# ---------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------


class BatchEncoding(dict):
    """What the tokenizer returns: a dict of lists or tensors (`input_ids`, `attention_mask`,
    `token_type_ids`, ...) that also reads as attributes, so `model(**enc)` and
    `enc.input_ids` both work.

    It also knows which word and which sequence of the input every token of every row came
    from (`word_ids(i)`, `sequence_ids(i)`), as transformers' fast tokenizers do. When the
    call did not need them they are worked out on first use, so plain encoding stays fast.
    """

    # Per row: (word index of each token, sequence index of each token); or a function that
    # computes them. Unset where the encoding was not made by a tokenizer call.
    __slots__ = ("_alignment",)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no {name!r}; it holds {sorted(self)}") from None

    def __getstate__(self):
        return dict(self)

    def __setstate__(self, state):
        self.update(state)

    def to(self, device) -> "BatchEncoding":
        """Move every tensor to `device` (a no-op for lists); returns self, as in transformers."""
        for key, value in self.items():
            if hasattr(value, "to"):
                self[key] = value.to(device)
        return self

    def convert_to_tensors(self, tensor_type: str | None) -> "BatchEncoding":
        if tensor_type is None:
            return self
        if tensor_type not in ("pt", "np"):
            raise ValueError(f"return_tensors must be None, 'pt' or 'np', not {tensor_type!r}")
        for key, value in list(self.items()):
            if not _is_rectangular(value):
                raise ValueError(
                    f"cannot make a tensor of {key!r}: its sequences have different lengths. "
                    "Pass padding=True (and truncation=True for long texts) to return tensors."
                )
            if tensor_type == "pt":
                import torch

                self[key] = torch.tensor(value, dtype=torch.long)
            else:
                import numpy as np

                self[key] = np.asarray(value, dtype=np.int64)
        return self

    # ---- tokens and words ---------------------------------------------------------------

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """For each token of row `batch_index`: the index of the word it belongs to (a
        pre-split word with `is_split_into_words=True`, else a word of the pre-tokenizer),
        None for special tokens and padding."""
        return list(self._row(batch_index)[0])

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """For each token of row `batch_index`: 0 for the first text, 1 for the second (of a
        pair), None for special tokens and padding."""
        return list(self._row(batch_index)[1])

    def token_to_word(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        """The word of one token: `token_to_word(token)` in row 0, or `token_to_word(row, token)`."""
        row, token = (0, batch_or_token_index) if token_index is None else (batch_or_token_index, token_index)
        return self._row(row)[0][token]

    def word_to_tokens(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> TokenSpan | None:
        """The tokens [start, end) of one word of sequence `sequence_index`, or None when the
        word has no token in that row (cut off by truncation, or a word with no tokens)."""
        row, word = (0, batch_or_word_index) if word_index is None else (batch_or_word_index, word_index)
        words, sequences = self._row(row)
        positions = [i for i, (w, s) in enumerate(zip(words, sequences)) if w == word and s == sequence_index]
        return TokenSpan(positions[0], positions[-1] + 1) if positions else None

    def _row(self, batch_index: int) -> tuple[list, list]:
        if getattr(self, "_alignment", None) is None:
            raise ValueError(
                "this BatchEncoding does not know the words of its tokens: only the output of a "
                "tokenizer call (tokenizer(...), encode_plus, batch_encode_plus) does"
            )
        if callable(self._alignment):
            self._alignment = self._alignment()
        rows = self._alignment
        if not isinstance(batch_index, int) or not -len(rows) <= batch_index < len(rows):
            raise IndexError(f"batch_index {batch_index!r} is out of range: this encoding has {len(rows)} rows")
        return rows[batch_index]


def _is_rectangular(value) -> bool:
    if not isinstance(value, list) or not value or not isinstance(value[0], list):
        return True
    n = len(value[0])
    return all(len(row) == n for row in value)


# ---------------------------------------------------------------------------------------
# Truncation and overflow windows
# ---------------------------------------------------------------------------------------


def resolve_lengths(padding, truncation, max_length, model_max_length: int) -> tuple[str | None, str | None, int | None]:
    """(padding strategy, truncation strategy, max_length) from the arguments of a call."""
    try:
        padding_strategy = PADDING[padding]
    except (KeyError, TypeError):
        raise ValueError(f"padding must be False, True, 'longest' or 'max_length', not {padding!r}") from None
    try:
        truncation_strategy = TRUNCATION[truncation]
    except (KeyError, TypeError):
        raise ValueError(
            f"truncation must be False, True, 'longest_first', 'only_first' or 'only_second', not {truncation!r}"
        ) from None
    if max_length is not None and (not isinstance(max_length, int) or isinstance(max_length, bool) or max_length <= 0):
        raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
    if max_length is None and (truncation_strategy is not None or padding_strategy == "max_length"):
        if model_max_length >= VERY_LARGE_INTEGER:
            if padding_strategy == "max_length":
                raise ValueError("padding='max_length' needs max_length= (this tokenizer has no model_max_length)")
            truncation_strategy = None  # nothing to truncate to, as in transformers
        else:
            max_length = model_max_length
    return padding_strategy, truncation_strategy, max_length


def truncate_and_assemble(
    a: Encoded, b: Encoded | None, specials: tuple[int, int] | None, strategy: str | None,
    max_length: int | None, stride: int, overflow: bool, side: str,
) -> list[dict[str, list]]:
    """Rows of one example (`specials` = (cls id, sep id), or None for no special tokens):
    the main one, then (with overflow) the windows that did not fit."""
    pair = b is not None
    n_a, n_b = len(a[0]), len(b[0]) if pair else 0
    windows_a = [(0, n_a)]
    windows_b = [(0, n_b)] if pair else [None]
    if strategy is not None and max_length is not None:
        n_special = (3 if pair else 2) if specials is not None else 0
        budget = max_length - n_special
        total = n_a + n_b
        if total > budget:
            if budget <= 0:
                raise ValueError(
                    f"max_length={max_length} leaves no room for the text after the {n_special} special tokens: "
                    f"truncating needs max_length of at least {n_special + 1}"
                )
            if strategy == "longest_first" and not pair:
                strategy = "only_first"
            if strategy == "longest_first":
                if overflow:
                    raise ValueError(
                        "return_overflowing_tokens with a pair of texts needs truncation='only_first' or "
                        "'only_second' (with 'longest_first' it is unclear which text the windows belong to)"
                    )
                keep_a, keep_b = longest_first_lengths(n_a, n_b, budget)
                windows_a, windows_b = [_cut(n_a, keep_a, side)], [_cut(n_b, keep_b, side)]
            elif strategy == "only_first":
                keep = budget - n_b
                if keep <= 0:
                    raise ValueError(
                        f"truncation='only_first' cannot help: the second text alone has {n_b} tokens, "
                        f"max_length={max_length}. Use truncation='longest_first' or 'only_second'."
                    )
                windows_a = _windows(n_a, keep, stride, overflow, side)
            else:  # only_second
                if not pair:
                    raise ValueError("truncation='only_second' needs a pair of texts (text_pair=...)")
                keep = budget - n_a
                if keep <= 0:
                    raise ValueError(
                        f"truncation='only_second' cannot help: the first text alone has {n_a} tokens, "
                        f"max_length={max_length}. Use truncation='longest_first' or 'only_first'."
                    )
                windows_b = _windows(n_b, keep, stride, overflow, side)
    return [_assemble(a, wa, b, wb, specials) for wa in windows_a for wb in windows_b]


def longest_first_lengths(n_a: int, n_b: int, budget: int) -> tuple[int, int]:
    """How many tokens of each text 'longest_first' keeps: the shorter text whole if the
    longer one can absorb the whole cut, else half the budget each, the extra token to the
    longer text (to the second on a tie), as the Rust reference does."""
    swap = n_a > n_b
    short, long = (n_b, n_a) if swap else (n_a, n_b)
    long = short if short > budget else max(short, budget - short)
    if short + long > budget:
        short = budget // 2
        long = short + budget % 2
    return (long, short) if swap else (short, long)


def _cut(n: int, keep: int, side: str) -> tuple[int, int]:
    return (0, keep) if side == "right" else (n - keep, n)


def _windows(n: int, keep: int, stride: int, overflow: bool, side: str) -> list[tuple[int, int]]:
    """The kept window, then (with overflow) windows of `keep` tokens that start `keep - stride`
    apart, so consecutive windows share `stride` tokens."""
    if not overflow:
        return [_cut(n, keep, side)]
    if stride >= keep:
        raise ValueError(
            f"stride={stride} must be smaller than the tokens left for the text after truncation ({keep}); "
            "lower the stride or raise max_length"
        )
    windows = []
    for start in range(0, n, keep - stride):
        stop = min(start + keep, n)
        windows.append((start, stop))
        if stop == n:
            break
    if side == "left":
        windows = [(n - b, n - a) for a, b in windows]
    return windows


def _assemble(a: Encoded, wa, b: Encoded | None, wb, specials: tuple[int, int] | None) -> dict[str, list]:
    """One row: `[CLS] A [SEP] (B [SEP])` cut to the windows wa and wb, with everything known of each token."""
    n_a = wa[1] - wa[0]
    n_b = wb[1] - wb[0] if b is not None else 0
    ids_a = a[0][wa[0]:wa[1]]
    ids_b = b[0][wb[0]:wb[1]] if b is not None else []
    if specials is not None:
        cls, sep = specials
        ids = [cls] + ids_a + [sep] + (ids_b + [sep] if b is not None else [])
        types = [0] * (n_a + 2) + ([1] * (n_b + 1) if b is not None else [])
        special = [1] + [0] * n_a + [1] + ([0] * n_b + [1] if b is not None else [])
    else:
        ids = ids_a + ids_b
        types = [0] * n_a + [1] * n_b
        special = [0] * (n_a + n_b)
    row = {"input_ids": ids, "token_type_ids": types, "attention_mask": [1] * len(ids), "special_tokens_mask": special}
    if a[1] is None:
        return row
    # Offsets and words per token of the text, with a value for the special tokens around it.
    for key, field, value_of_special in (("offset_mapping", 1, (0, 0)), ("word_ids", 2, None)):
        values = a[field][wa[0]:wa[1]] + (b[field][wb[0]:wb[1]] if b is not None else [])
        if specials is not None:
            values = ([value_of_special] + values[:n_a] + [value_of_special]
                      + (values[n_a:] + [value_of_special] if b is not None else []))
        row[key] = values
    row["sequence_ids"] = [None if s else t for s, t in zip(special, types)]
    return row


# ---------------------------------------------------------------------------------------
# Padding
# ---------------------------------------------------------------------------------------

# What padding adds to each row, key by key.
PAD_VALUES = {"token_type_ids": 0, "attention_mask": 0, "special_tokens_mask": 1, "offset_mapping": (0, 0),
              "word_ids": None, "sequence_ids": None}


def pad(
    encoded_inputs: Mapping[str, Any] | Sequence[Mapping[str, Any]], padding: bool | str, max_length: int | None,
    pad_to_multiple_of: int | None, return_attention_mask: bool | None, *, pad_token_id: Callable[[], int],
    padding_side: str, model_max_length: int,
) -> dict[str, list]:
    """Pad already-encoded sequences (a dict of rows, one row, or a list of dicts as a data
    collator gets them) to the longest one or to max_length. `pad_token_id()` is asked only
    when there is padding to do."""
    if isinstance(encoded_inputs, (list, tuple)):
        if not encoded_inputs or not all(isinstance(e, Mapping) for e in encoded_inputs):
            raise TypeError("pad takes a dict of lists of ids, or a non-empty list of such dicts")
        keys = list(encoded_inputs[0])
        encoded_inputs = {k: [to_list(e[k]) for e in encoded_inputs] for k in keys}
    if not isinstance(encoded_inputs, Mapping) or "input_ids" not in encoded_inputs:
        raise ValueError("pad needs the encodings' 'input_ids' (a dict as the tokenizer returns)")
    data = {k: to_list(v) for k, v in encoded_inputs.items()}
    single = bool(data["input_ids"]) and is_int(data["input_ids"][0])
    if single:
        data = {k: [v] if isinstance(v, list) else v for k, v in data.items()}
    if not isinstance(padding, (bool, str)) or padding not in PADDING:
        raise ValueError(f"padding must be False, True, 'longest' or 'max_length', not {padding!r}")
    strategy = PADDING[padding]
    lengths = [len(r) for r in data["input_ids"]]
    if strategy == "max_length":
        target = max_length if max_length is not None else model_max_length
    elif strategy == "longest":
        target = max(lengths, default=0)
    else:
        target = None
    if target is not None and pad_to_multiple_of:
        target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
    if return_attention_mask is not False and "attention_mask" not in data:
        data["attention_mask"] = [[1] * n for n in lengths]
    if target is not None and any(n < target for n in lengths):
        fill = {**PAD_VALUES, "input_ids": pad_token_id()}
        for key, value in data.items():
            if key not in fill:
                continue
            padded = []
            for row in value:
                extra = [fill[key]] * max(0, target - len(row))
                padded.append(row + extra if padding_side == "right" else extra + row)
            data[key] = padded
    if single:
        data = {k: v[0] if isinstance(v, list) else v for k, v in data.items()}
    return data


# ---------------------------------------------------------------------------------------
# Small helpers shared with the tokenizer
# ---------------------------------------------------------------------------------------


def is_int(value) -> bool:
    """An int (not a bool), or a 0-dimensional integer tensor or array."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return hasattr(value, "ndim") and value.ndim == 0 and "int" in str(getattr(value, "dtype", ""))


def to_list(value):
    return value.tolist() if hasattr(value, "tolist") else value
