"""The BERT tokenizer, from scratch: basic tokenization, then WordPiece.

Text becomes ids in four steps (docs/tokenizer.md walks through each one):

1. special tokens (`[CLS]`, `[SEP]`, `[MASK]`, ... and added ones) are cut out whole;
2. normalization, one character at a time: drop control and invalid characters, turn
   whitespace into spaces, isolate CJK ideographs, strip accents (NFD, drop the combining
   marks) and lowercase when the model is uncased. Every normalized character remembers the
   character of the *original* string it came from: that is what the offsets are made of;
3. pre-tokenization: split on whitespace, and make every punctuation character a word;
4. WordPiece: each word becomes the longest vocabulary entry that starts it, then the
   longest `##` continuation, and so on; a word that cannot be covered becomes `[UNK]`.
   A character trie makes this linear in the word length, and a cache of word -> pieces
   means most words of real text are looked up once.

The result matches `transformers.BertTokenizer` (the Rust-backed one); where the older
pure-Python `BertTokenizerLegacy` differs, docs/tokenizer.md says how and why.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from minibert.hub import resolve_file
from minibert.weights import atomic_write_text

VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
TOKENIZER_FILE = "tokenizer.json"

# What transformers uses for "no limit" when a tokenizer has no model_max_length.
VERY_LARGE_INTEGER = int(1e30)
MAX_WORD_CHARS = 100  # longer words become [UNK], as in the original BERT

SPECIAL_TOKEN_NAMES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_HUB_OPTIONS = ("cache_dir", "revision", "token", "local_files_only")

# ---------------------------------------------------------------------------------------
# Characters
# ---------------------------------------------------------------------------------------

# Kinds of normalized characters, for pre-tokenization.
_WORD, _SPACE, _ALONE = 0, 1, 2


def _is_cjk(cp: int) -> bool:
    """CJK Unified Ideographs and their extensions and compatibility blocks: the characters
    BERT's Chinese vocabulary has one entry each for. Hangul and kana are not in it: Korean
    and Japanese words are split on whitespace like English."""
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        # Extension E starts at 0x2B820; the Rust reference starts this range at 0x2B920,
        # so the first 256 ideographs of Extension E are letters there. We follow it.
        or 0x2B920 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


# Characters whose general category in the Rust reference's Unicode tables (about Unicode
# 8) differs from Python's unicodedata (Unicode 14 in Python 3.11). Nearly all were
# assigned later: to the reference they are unassigned, i.e. plain letters ("Lo"), so they
# are neither punctuation nor stripped marks nor removed format characters. Three changed
# category since. Measured on every code point against tokenizers 0.23
# (tests/test_tokenizer_unicode.py checks this table against the reference).
_REFERENCE_CATEGORIES = (
    (0x61D, 0x61D, "Lo"), (0x7FD, 0x7FD, "Lo"), (0x890, 0x891, "Lo"), (0x898, 0x89F, "Lo"),
    (0x8CA, 0x8E2, "Lo"), (0x9FD, 0x9FE, "Lo"), (0xA76, 0xA76, "Lo"), (0xAFA, 0xAFF, "Lo"),
    (0xB55, 0xB55, "Lo"), (0xC04, 0xC04, "Lo"), (0xC3C, 0xC3C, "Lo"), (0xC77, 0xC77, "Lo"),
    (0xC84, 0xC84, "Lo"), (0xD00, 0xD00, "Lo"), (0xD3B, 0xD3C, "Lo"), (0xD81, 0xD81, "Lo"),
    (0xEBA, 0xEBA, "Lo"), (0x166D, 0x166D, "Po"), (0x1734, 0x1734, "Mn"), (0x180F, 0x180F, "Lo"),
    (0x1885, 0x1886, "Lo"), (0x1ABF, 0x1ACE, "Lo"), (0x1B7D, 0x1B7E, "Lo"), (0x1DF6, 0x1DFB, "Lo"),
    (0x2E43, 0x2E4F, "Lo"), (0x2E52, 0x2E5D, "Lo"), (0xA82C, 0xA82C, "Lo"), (0xA8C5, 0xA8C5, "Lo"),
    (0xA8FF, 0xA8FF, "Lo"), (0xA9BD, 0xA9BD, "Lo"), (0x10D24, 0x10D27, "Lo"), (0x10EAB, 0x10EAD, "Lo"),
    (0x10F46, 0x10F50, "Lo"), (0x10F55, 0x10F59, "Lo"), (0x10F82, 0x10F89, "Lo"), (0x11070, 0x11070, "Lo"),
    (0x11073, 0x11074, "Lo"), (0x110C2, 0x110C2, "Lo"), (0x110CD, 0x110CD, "Lo"), (0x111C9, 0x111C9, "Po"),
    (0x111CF, 0x111CF, "Lo"), (0x1123E, 0x1123E, "Lo"), (0x1133B, 0x1133B, "Lo"), (0x11438, 0x1143F, "Lo"),
    (0x11442, 0x11444, "Lo"), (0x11446, 0x11446, "Lo"), (0x1144B, 0x1144F, "Lo"), (0x1145A, 0x1145B, "Lo"),
    (0x1145D, 0x1145E, "Lo"), (0x11660, 0x1166C, "Lo"), (0x116B9, 0x116B9, "Lo"), (0x1182F, 0x11837, "Lo"),
    (0x11839, 0x1183B, "Lo"), (0x1193B, 0x1193C, "Lo"), (0x1193E, 0x1193E, "Lo"), (0x11943, 0x11946, "Lo"),
    (0x119D4, 0x119D7, "Lo"), (0x119DA, 0x119DB, "Lo"), (0x119E0, 0x119E0, "Lo"), (0x119E2, 0x119E2, "Lo"),
    (0x11A01, 0x11A0A, "Lo"), (0x11A33, 0x11A38, "Lo"), (0x11A3B, 0x11A47, "Lo"), (0x11A51, 0x11A56, "Lo"),
    (0x11A59, 0x11A5B, "Lo"), (0x11A8A, 0x11A96, "Lo"), (0x11A98, 0x11A9C, "Lo"), (0x11A9E, 0x11AA2, "Lo"),
    (0x11C30, 0x11C36, "Lo"), (0x11C38, 0x11C3D, "Lo"), (0x11C3F, 0x11C3F, "Lo"), (0x11C41, 0x11C45, "Lo"),
    (0x11C70, 0x11C71, "Lo"), (0x11C92, 0x11CA7, "Lo"), (0x11CAA, 0x11CB0, "Lo"), (0x11CB2, 0x11CB3, "Lo"),
    (0x11CB5, 0x11CB6, "Lo"), (0x11D31, 0x11D36, "Lo"), (0x11D3A, 0x11D3A, "Lo"), (0x11D3C, 0x11D3D, "Lo"),
    (0x11D3F, 0x11D45, "Lo"), (0x11D47, 0x11D47, "Lo"), (0x11D90, 0x11D91, "Lo"), (0x11D95, 0x11D95, "Lo"),
    (0x11D97, 0x11D97, "Lo"), (0x11EF3, 0x11EF4, "Lo"), (0x11EF7, 0x11EF8, "Lo"), (0x11FFF, 0x11FFF, "Lo"),
    (0x12FF1, 0x12FF2, "Lo"), (0x13430, 0x13438, "Lo"), (0x16E97, 0x16E9A, "Lo"), (0x16F4F, 0x16F4F, "Lo"),
    (0x16FE2, 0x16FE2, "Lo"), (0x16FE4, 0x16FE4, "Lo"), (0x1CF00, 0x1CF2D, "Lo"), (0x1CF30, 0x1CF46, "Lo"),
    (0x1E000, 0x1E006, "Lo"), (0x1E008, 0x1E018, "Lo"), (0x1E01B, 0x1E021, "Lo"), (0x1E023, 0x1E024, "Lo"),
    (0x1E026, 0x1E02A, "Lo"), (0x1E130, 0x1E136, "Lo"), (0x1E2AE, 0x1E2AE, "Lo"), (0x1E2EC, 0x1E2EF, "Lo"),
    (0x1E944, 0x1E94A, "Lo"), (0x1E95E, 0x1E95F, "Lo"),
)
_REFERENCE_STARTS = [start for start, _, _ in _REFERENCE_CATEGORIES]


def _category(ch: str) -> str:
    """The Unicode general category of `ch`, as the reference's tables have it."""
    cp = ord(ch)
    i = bisect.bisect_right(_REFERENCE_STARTS, cp) - 1
    if i >= 0 and cp <= _REFERENCE_CATEGORIES[i][1]:
        return _REFERENCE_CATEGORIES[i][2]
    return unicodedata.category(ch)


def _is_punctuation(ch: str) -> bool:
    # All ASCII non-alphanumeric printable characters count, "$", "^", "`" and "+" too,
    # although Unicode files them as symbols.
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return _category(ch).startswith("P")


def _is_removed(ch: str) -> bool:
    """NUL, the replacement character, and control, format, surrogate and private-use
    characters (Cc, Cf, Cs, Co) except tab, newline and carriage return, which count as
    whitespace. Unassigned code points (Cn) are kept as letters, as the Rust reference
    does (the pure-Python legacy tokenizer drops them)."""
    if ch in "\t\n\r":
        return False
    return ch == "\x00" or ch == "\ufffd" or _category(ch) in ("Cc", "Cf", "Cs", "Co")


class _CharTable:
    """Memoized per-character normalization: character -> ((normalized char, kind), ...).

    Normalization is done character by character, in the reference's order: clean, then
    NFD and drop the nonspacing marks (Mn), then lowercase each character. Because each
    original character maps to its own (possibly empty) run of normalized characters, the
    offsets of any normalized character are those of the character it came from.
    """

    def __init__(self, lowercase: bool, strip_accents: bool, cjk: bool):
        self.lowercase, self.strip_accents, self.cjk = lowercase, strip_accents, cjk
        self.table: dict[str, tuple[tuple[str, int], ...]] = {}

    def __getitem__(self, ch: str) -> tuple[tuple[str, int], ...]:
        entry = self.table.get(ch)
        if entry is None:
            entry = self.table[ch] = self._compute(ch)
        return entry

    def _compute(self, ch: str) -> tuple[tuple[str, int], ...]:
        if _is_removed(ch):
            return ()
        if ch.isspace():
            return ((" ", _SPACE),)
        if self.cjk and _is_cjk(ord(ch)):
            # Spaces around it in the reference: it is a word of its own.
            return tuple((c, _ALONE) for c in self._fold(ch))
        out = []
        for c in self._fold(ch):
            out.append((c, _SPACE if c.isspace() else _ALONE if _is_punctuation(c) else _WORD))
        return tuple(out)

    def _fold(self, ch: str) -> str:
        s = ch
        if self.strip_accents:
            s = "".join(c for c in unicodedata.normalize("NFD", s) if _category(c) != "Mn")
        if self.lowercase:
            # One character at a time, as the Rust normalizer does: "Σ" is "σ" even at the
            # end of a word, where Python's str.lower() would give the final sigma "ς".
            s = "".join(c.lower() for c in s)
        return s


# ---------------------------------------------------------------------------------------
# WordPiece
# ---------------------------------------------------------------------------------------


class WordPiece:
    """Greedy longest-match-first WordPiece over a character trie.

    Two tries: one for word-initial pieces ("un") and one for continuations ("##able",
    stored without the "##"). From a position in the word, walking the trie as far as the
    characters allow and remembering the last node that ends a vocabulary entry finds the
    longest matching piece in as many steps as that piece is long (plus at most the longest
    vocabulary entry's length): the word is covered in time linear in its length, with no
    substring built per attempt.
    """

    _END = ""  # key of a trie node's id: "" is never a character

    def __init__(self, vocab: Mapping[str, int], unk_id: int, prefix: str = "##", max_chars: int = MAX_WORD_CHARS):
        self.unk_id, self.prefix, self.max_chars = unk_id, prefix, max_chars
        self.root: dict = {}
        self.continuation_root: dict = {}
        for token, index in vocab.items():
            if token.startswith(prefix) and len(token) > len(prefix):
                node, chars = self.continuation_root, token[len(prefix):]
            else:
                node, chars = self.root, token
            for ch in chars:
                node = node.setdefault(ch, {})
            node[self._END] = index
        # word -> (ids, end of each piece in the word): most words of real text repeat.
        self.cache: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.cache_size = 200_000

    def __call__(self, word: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(ids, piece ends) of one pre-tokenized word; [UNK] for the whole word if it has
        no cover or is longer than max_chars characters."""
        hit = self.cache.get(word)
        if hit is not None:
            return hit
        result = self._split(word)
        if len(self.cache) >= self.cache_size:
            self.cache.clear()  # crude, but bounded memory and no bookkeeping per hit
        self.cache[word] = result
        return result

    def _split(self, word: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        n = len(word)
        if n > self.max_chars:
            return (self.unk_id,), (n,)
        ids, ends = [], []
        start, root, end_key = 0, self.root, self._END
        while start < n:
            node, best_id, best_end = root, None, start
            i = start
            while i < n:
                node = node.get(word[i])
                if node is None:
                    break
                i += 1
                found = node.get(end_key)
                if found is not None:
                    best_id, best_end = found, i
            if best_id is None:
                return (self.unk_id,), (n,)
            ids.append(best_id)
            ends.append(best_end)
            start, root = best_end, self.continuation_root
        return tuple(ids), tuple(ends)


# ---------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------


class BatchEncoding(dict):
    """What the tokenizer returns: a dict of lists or tensors (`input_ids`, `attention_mask`,
    `token_type_ids`, ...) that also reads as attributes, so `model(**enc)` and
    `enc.input_ids` both work."""

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


def _is_rectangular(value) -> bool:
    if not isinstance(value, list) or not value or not isinstance(value[0], list):
        return True
    n = len(value[0])
    return all(len(row) == n for row in value)


# ---------------------------------------------------------------------------------------
# The tokenizer
# ---------------------------------------------------------------------------------------

# The ASCII fast path: in ASCII text without control characters, lowercasing maps one
# character to one, nothing has accents, and a word is a run of letters and digits or one
# punctuation character (every other printable ASCII character is punctuation to BERT).
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9 \t\n\r]")
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Chunks: runs of characters between the four that are whitespace in every configuration.
_CHUNK = re.compile(r"[^ \t\n\r]+")
_CHUNK_CACHE_SIZE = 200_000

_PADDING = {False: None, None: None, "do_not_pad": None, True: "longest", "longest": "longest", "max_length": "max_length"}
_TRUNCATION = {
    False: None, None: None, "do_not_truncate": None, True: "longest_first", "longest_first": "longest_first",
    "only_first": "only_first", "only_second": "only_second",
}


class BertTokenizer:
    """BERT's WordPiece tokenizer with the calling conventions of `transformers`.

    >>> tok = BertTokenizer.from_pretrained("path/to/model")
    >>> enc = tok(["A sentence.", "Another one"], padding=True, return_tensors="pt")
    >>> model(**enc)
    """

    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]

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
        self.vocab = _load_vocab(vocab)
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
        for flag, value in (("do_lower_case", do_lower_case), ("tokenize_chinese_chars", tokenize_chinese_chars)):
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be True or False, got {value!r}")
        if do_basic_tokenize is not True:
            raise ValueError(
                "do_basic_tokenize=False (WordPiece on whitespace-split text only) is not supported; "
                "BERT checkpoints use the basic tokenizer, so leave it True"
            )
        if strip_accents not in (None, True, False):
            raise TypeError(f"strip_accents must be None, True or False, got {strip_accents!r}")
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

        # Accents are stripped when asked, and by default whenever the text is lowercased.
        strip = strip_accents if strip_accents is not None else do_lower_case
        self._chars = _CharTable(do_lower_case, strip, tokenize_chinese_chars)
        self._wordpiece = WordPiece(self.vocab, self.vocab[self.unk_token])
        self._chunk_cache: dict[str, tuple[tuple[int, ...], tuple[tuple[int, int], ...]]] = {}
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
        hub = {k: kwargs.pop(k) for k in _HUB_OPTIONS if k in kwargs}
        vocab_path = resolve_file(name_or_path, VOCAB_FILE, required=False, **hub)
        vocab: Any = vocab_path
        if vocab_path is None:
            # A tokenizer.json alone (some Hub repositories) holds the vocabulary too.
            tokenizer_json = resolve_file(name_or_path, TOKENIZER_FILE, required=False, **hub)
            if tokenizer_json is None:
                resolve_file(name_or_path, VOCAB_FILE, **hub)  # raises the usual clear error
            vocab = _vocab_from_tokenizer_json(tokenizer_json)
        settings: dict[str, Any] = {}
        for filename in (SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE):
            path = resolve_file(name_or_path, filename, required=False, **hub)
            if path is not None:
                settings.update(_read_json(path))
        added: dict[str, int] = {}
        decoder = settings.pop("added_tokens_decoder", None) or {}
        special_added: set[str] = set()
        for index, entry in decoder.items():
            content = entry["content"] if isinstance(entry, dict) else str(entry)
            added[content] = int(index)
            if isinstance(entry, dict) and entry.get("special"):
                special_added.add(content)
        path = resolve_file(name_or_path, ADDED_TOKENS_FILE, required=False, **hub)
        if path is not None:
            added.update({str(k): int(v) for k, v in _read_json(path).items()})
        known = {
            "do_lower_case", "do_basic_tokenize", "never_split", "tokenize_chinese_chars", "strip_accents",
            "model_max_length", "padding_side", "truncation_side", "additional_special_tokens",
            "clean_up_tokenization_spaces", *SPECIAL_TOKEN_NAMES,
        }
        init = {}
        for key, value in settings.items():
            if key in known:
                if isinstance(value, dict) and "content" in value:  # AddedToken saved as a dict
                    value = value["content"]
                if key == "additional_special_tokens" and value:
                    value = [v["content"] if isinstance(v, dict) else v for v in value]
                init[key] = value
        if init.get("model_max_length") is not None and init["model_max_length"] >= VERY_LARGE_INTEGER:
            init["model_max_length"] = None
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
        directory = Path(save_directory)
        if directory.exists() and not directory.is_dir():
            raise ValueError(f"{directory} is a file; save_pretrained needs a directory")
        directory.mkdir(parents=True, exist_ok=True)
        # vocab.txt holds the base vocabulary; added tokens go to added_tokens.json.
        tokens = sorted(((t, i) for t, i in self.vocab.items() if i < self._base_size), key=lambda kv: kv[1])
        if [i for _, i in tokens] != list(range(len(tokens))):
            raise ValueError("the vocabulary's ids are not 0..N-1 without gaps, so it cannot be written as vocab.txt")
        specials = {name: getattr(self, name) for name in SPECIAL_TOKEN_NAMES}
        if self.additional_special_tokens:
            specials["additional_special_tokens"] = list(self.additional_special_tokens)
        special = set(self._raw_tokens)  # matched as written: "normalized": false
        config = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": self.do_lower_case,
            "do_basic_tokenize": self.do_basic_tokenize,
            "never_split": sorted(self.never_split) or None,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "strip_accents": self.strip_accents,
            "model_max_length": self.model_max_length,
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            **specials,
            "added_tokens_decoder": {
                str(index): {
                    "content": token, "lstrip": False, "rstrip": False, "normalized": token not in special,
                    "single_word": False, "special": token in special,
                }
                for token, index in sorted({**{t: self.vocab[t] for t in specials.values() if isinstance(t, str)},
                                            **self.added_tokens}.items(), key=lambda kv: kv[1])
            },
        }
        written = [
            atomic_write_text(directory / VOCAB_FILE, "".join(t + "\n" for t, _ in tokens)),
            atomic_write_text(directory / TOKENIZER_CONFIG_FILE, json.dumps(config, indent=2, ensure_ascii=False) + "\n"),
            atomic_write_text(directory / SPECIAL_TOKENS_MAP_FILE, json.dumps(specials, indent=2, ensure_ascii=False) + "\n"),
        ]
        new = {t: i for t, i in self.added_tokens.items() if i >= self._base_size}
        if new:
            written.append(atomic_write_text(directory / ADDED_TOKENS_FILE, json.dumps(new, ensure_ascii=False) + "\n"))
        return tuple(str(p) for p in written)

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

    # ---- text -> tokens -----------------------------------------------------------------

    def _encode_text(self, text: str, with_offsets: bool) -> tuple[list[int], list[tuple[int, int]] | None]:
        """ids of one text, without [CLS]/[SEP], and (optionally) the (start, end) of each
        token in `text`."""
        ids: list[int] = []
        offsets: list[tuple[int, int]] | None = [] if with_offsets else None
        position = 0
        for match in self._raw_split.finditer(text) if self._raw_split is not None else ():
            self._encode_segment(text, position, match.start(), ids, offsets)
            token = match.group()
            ids.append(self.vocab[token] if token in self.vocab else self.unk_token_id)
            if offsets is not None:
                offsets.append(match.span())
            position = match.end()
        self._encode_segment(text, position, len(text), ids, offsets)
        return ids, offsets

    def _encode_segment(self, text: str, begin: int, end: int, ids: list[int], offsets) -> None:
        """ids (and offsets) of text[begin:end], a stretch without special tokens.

        Space, tab, newline and carriage return always separate words, so the stretch is
        cut at them into chunks ("Hello," "world!") and each distinct chunk is tokenized
        once: a cache maps chunk -> (ids, offsets within the chunk). In ASCII text without
        control characters Python's `str.split()` cuts at exactly those characters.
        """
        if begin >= end:
            return
        segment = text[begin:end] if begin or end != len(text) else text
        if self._normalized_split is not None:
            # Added tokens may span chunks ("new york"): normalize the stretch as a whole.
            self._encode_normalized(segment, begin, ids, offsets)
            return
        cache = self._chunk_cache
        if offsets is None:
            ascii_only = segment.isascii() and not _ASCII_CONTROL.search(segment)
            for chunk in segment.split() if ascii_only else _CHUNK.findall(segment):
                hit = cache.get(chunk)
                if hit is None:
                    hit = self._encode_chunk(chunk)
                ids.extend(hit[0])
            return
        for match in _CHUNK.finditer(segment):
            chunk = match.group()
            hit = cache.get(chunk)
            if hit is None:
                hit = self._encode_chunk(chunk)
            ids.extend(hit[0])
            shift = begin + match.start()
            offsets.extend([(shift + a, shift + b) for a, b in hit[1]])

    def _encode_chunk(self, chunk: str) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
        """(ids, offsets within the chunk) of one chunk of text without space, tab or newline."""
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        if chunk.isascii() and not _ASCII_CONTROL.search(chunk):
            # Fast path: see _ASCII_WORD.
            wordpiece = self._wordpiece
            for match in _ASCII_WORD.finditer(chunk.lower() if self.do_lower_case else chunk):
                word_ids, ends = wordpiece(match.group())
                ids.extend(word_ids)
                start = piece_start = match.start()
                for piece_end in ends:
                    offsets.append((piece_start, start + piece_end))
                    piece_start = start + piece_end
        else:
            self._encode_normalized(chunk, 0, ids, offsets)
        result = (tuple(ids), tuple(offsets))
        if len(self._chunk_cache) >= _CHUNK_CACHE_SIZE:
            self._chunk_cache.clear()  # crude, but bounded memory and no bookkeeping per hit
        self._chunk_cache[chunk] = result
        return result

    def _encode_normalized(self, segment: str, begin: int, ids: list[int], offsets) -> None:
        """The general path: normalize each character, remembering where it came from."""
        chars: list[str] = []
        kinds: list[int] = []
        origin: list[int] = []
        table = self._chars
        for i, ch in enumerate(segment, begin):
            for c, kind in table[ch]:
                chars.append(c)
                kinds.append(kind)
                origin.append(i)
        if self._normalized_split is not None:
            normalized = "".join(chars)
            position = 0
            for match in self._normalized_split.finditer(normalized):
                self._pretokenize(chars, kinds, origin, position, match.start(), ids, offsets)
                ids.append(self.vocab[match.group()])
                if offsets is not None:
                    offsets.append((origin[match.start()], origin[match.end() - 1] + 1))
                position = match.end()
            self._pretokenize(chars, kinds, origin, position, len(chars), ids, offsets)
        else:
            self._pretokenize(chars, kinds, origin, 0, len(chars), ids, offsets)

    def _pretokenize(self, chars, kinds, origin, begin, end, ids, offsets) -> None:
        """Split normalized characters [begin, end) into words (whitespace separates,
        punctuation and CJK ideographs stand alone) and WordPiece each word."""
        wordpiece = self._wordpiece
        i = begin
        while i < end:
            kind = kinds[i]
            if kind == _SPACE:
                i += 1
                continue
            j = i + 1
            if kind == _WORD:
                while j < end and kinds[j] == _WORD:
                    j += 1
            word_ids, ends = wordpiece("".join(chars[i:j]))
            ids.extend(word_ids)
            if offsets is not None:
                piece_start = i
                for piece_end in ends:
                    last = i + piece_end - 1
                    offsets.append((origin[piece_start], origin[last] + 1))
                    piece_start = i + piece_end
            i = j

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of `text`, without [CLS]/[SEP]."""
        _check_text(text, "text")
        ids, _ = self._encode_text(text, with_offsets=False)
        return [self.ids_to_tokens[i] for i in ids]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        if isinstance(tokens, str):
            return self.vocab.get(tokens, self.unk_token_id)
        if not isinstance(tokens, (list, tuple)):
            raise TypeError(f"convert_tokens_to_ids takes a token or a list of tokens, got {type(tokens).__name__}")
        unk = self.unk_token_id
        return [self.vocab.get(t, unk) if isinstance(t, str) else _raise_type("token", t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str | list[str]:
        if _is_int(ids):
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
        """Join WordPiece tokens back into text: "##" pieces glue to the previous token."""
        return " ".join(tokens).replace(" ##", "").strip()

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
        ids = [int(token_ids)] if _is_int(token_ids) else _as_id_list(token_ids, "token_ids")
        special = set(self.all_special_ids) if skip_special_tokens else ()
        tokens = [self.ids_to_tokens[i] for i in ids if i not in special and i in self.ids_to_tokens]
        pieces = []
        for i, token in enumerate(tokens):
            if i and token.startswith("##"):
                token = token[2:]
            elif i:
                token = " " + token
            pieces.append(_cleanup_piece(token))
        text = "".join(pieces)
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

    # ---- the calling conventions of transformers ----------------------------------------

    def build_inputs_with_special_tokens(self, ids_0: list[int], ids_1: list[int] | None = None) -> list[int]:
        """[CLS] A [SEP] or [CLS] A [SEP] B [SEP]."""
        cls, sep = [self.vocab[self.cls_token]], [self.vocab[self.sep_token]]
        return cls + ids_0 + sep if ids_1 is None else cls + ids_0 + sep + ids_1 + sep

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 3 if pair else 2

    def __call__(
        self,
        text: str | Sequence[str] | None = None,
        text_pair: str | Sequence[str] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
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
        """Tokenize one text (or pair) or a batch of them; see the module docstring."""
        options = dict(
            add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
            max_length=max_length, stride=stride, pad_to_multiple_of=pad_to_multiple_of,
            return_tensors=return_tensors, return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask, return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask, return_offsets_mapping=return_offsets_mapping,
            return_length=return_length, pad_to_max_length=pad_to_max_length, verbose=verbose,
        )
        if text is None:
            raise ValueError("the tokenizer needs text: a string, or a list of strings for a batch (got None)")
        batched = _is_batch(text, "text")
        if text_pair is not None and _is_batch(text_pair, "text_pair") != batched:
            raise TypeError(
                "text and text_pair must both be strings or both be lists of strings, got "
                f"{type(text).__name__} and {type(text_pair).__name__}"
            )
        if batched:
            if text_pair is not None and len(text_pair) != len(text):
                raise ValueError(f"text has {len(text)} texts but text_pair has {len(text_pair)}; they must pair up")
            pairs = list(zip(text, text_pair)) if text_pair is not None else list(text)
            return self.batch_encode_plus(pairs, **options)
        return self.encode_plus(text, text_pair, **options)

    def encode(self, text: str, text_pair: str | None = None, add_special_tokens: bool = True, **kwargs: Any) -> list[int]:
        """The ids of one text (or pair), as a plain list (or a 1-row tensor with return_tensors)."""
        if text is None or _is_batch(text, "text"):
            raise TypeError(f"encode takes one string (use batch_encode_plus or tok([...]) for a batch), got {type(text).__name__}")
        return self.encode_plus(text, text_pair, add_special_tokens=add_special_tokens, **kwargs)["input_ids"]

    def encode_plus(self, text: str, text_pair: str | None = None, return_tensors: str | None = None, **kwargs: Any) -> BatchEncoding:
        """One text or pair -> BatchEncoding of flat lists (rows, with return_overflowing_tokens)."""
        if text is None or _is_batch(text, "text"):
            raise TypeError(f"encode_plus takes one string, got {type(text).__name__}; use batch_encode_plus for a list")
        if text_pair is not None and _is_batch(text_pair, "text_pair"):
            raise TypeError(f"text_pair must be a string like text, got {type(text_pair).__name__}")
        if text_pair == "":
            # transformers' Rust-backed tokenizer reads an empty second text of a single
            # pair as no second text ([CLS] A [SEP]); in a batch it is a pair. We do the same.
            text_pair = None
        batch = self.batch_encode_plus([(text, text_pair) if text_pair is not None else text], return_tensors=None, **kwargs)
        if not kwargs.get("return_overflowing_tokens"):
            # One row, unwrapped; "length" stays a list, as in transformers.
            batch = BatchEncoding({k: v if k == "length" else v[0] for k, v in batch.items()})
            if return_tensors is not None:
                batch = BatchEncoding({k: v if k == "length" else [v] for k, v in batch.items()})
                batch = batch.convert_to_tensors(return_tensors)
            return batch
        return batch.convert_to_tensors(return_tensors)

    def batch_encode_plus(
        self,
        batch_text_or_text_pairs: Sequence[str | tuple[str, str]],
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
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
        """A list of texts, or of (text, text_pair) tuples -> BatchEncoding of lists of rows."""
        if not isinstance(batch_text_or_text_pairs, (list, tuple)):
            raise TypeError(
                f"batch_encode_plus takes a list of strings or of (text, text_pair) pairs, got {type(batch_text_or_text_pairs).__name__}"
            )
        if pad_to_max_length and padding in (False, None):
            padding = "max_length"  # the older spelling, still in many tutorials
        padding_strategy, truncation_strategy, max_length = self._resolve_lengths(padding, truncation, max_length, verbose)
        if stride < 0 or not isinstance(stride, int):
            raise ValueError(f"stride must be a non-negative integer, got {stride!r}")
        if pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0):
            raise ValueError(f"pad_to_multiple_of must be a positive integer, got {pad_to_multiple_of!r}")
        if return_tensors not in (None, "pt", "np"):
            raise ValueError(f"return_tensors must be None, 'pt' or 'np', not {return_tensors!r}")

        rows: list[dict[str, list]] = []
        sample_of_row: list[int] = []
        for index, item in enumerate(batch_text_or_text_pairs):
            if isinstance(item, (tuple, list)):
                if len(item) != 2 or not all(isinstance(t, str) for t in item):
                    raise TypeError(
                        f"batch item {index} must be a string or a (text, text_pair) pair of strings, got {_describe(item)}"
                    )
                first, second = item
            else:
                _check_text(item, f"batch item {index}")
                first, second = item, None
            ids_a, off_a = self._encode_text(first, return_offsets_mapping)
            ids_b, off_b = self._encode_text(second, return_offsets_mapping) if second is not None else (None, None)
            for row in self._truncate_and_assemble(
                ids_a, off_a, ids_b, off_b, add_special_tokens, truncation_strategy, max_length, stride,
                return_overflowing_tokens,
            ):
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
        out = BatchEncoding({name: [r[name] for r in rows] for name in names})
        if padding_strategy is not None:
            target = max_length if padding_strategy == "max_length" else None
            out = self.pad(out, padding="max_length" if target else "longest", max_length=target,
                           pad_to_multiple_of=pad_to_multiple_of)
        if return_length:  # after padding, as in transformers: the length of each row as returned
            out["length"] = [len(r) for r in out["input_ids"]]
        if return_overflowing_tokens:
            out["overflow_to_sample_mapping"] = sample_of_row
        return out.convert_to_tensors(return_tensors)

    def _resolve_lengths(self, padding, truncation, max_length, verbose):
        try:
            padding_strategy = _PADDING[padding]
        except (KeyError, TypeError):
            raise ValueError(f"padding must be False, True, 'longest' or 'max_length', not {padding!r}") from None
        try:
            truncation_strategy = _TRUNCATION[truncation]
        except (KeyError, TypeError):
            raise ValueError(
                f"truncation must be False, True, 'longest_first', 'only_first' or 'only_second', not {truncation!r}"
            ) from None
        if max_length is not None and (not isinstance(max_length, int) or isinstance(max_length, bool) or max_length <= 0):
            raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
        if max_length is None and (truncation_strategy is not None or padding_strategy == "max_length"):
            if self.model_max_length >= VERY_LARGE_INTEGER:
                if padding_strategy == "max_length":
                    raise ValueError("padding='max_length' needs max_length= (this tokenizer has no model_max_length)")
                truncation_strategy = None  # nothing to truncate to, as in transformers
            else:
                max_length = self.model_max_length
        return padding_strategy, truncation_strategy, max_length

    def _truncate_and_assemble(self, ids_a, off_a, ids_b, off_b, add_special, strategy, max_length, stride, overflow):
        """Rows of one example: the main one, then (with overflow) the windows that did not fit."""
        pair = ids_b is not None
        windows_a = [(0, len(ids_a))]
        windows_b = [(0, len(ids_b))] if pair else [None]
        if strategy is not None and max_length is not None:
            budget = max_length - (self.num_special_tokens_to_add(pair) if add_special else 0)
            total = len(ids_a) + (len(ids_b) if pair else 0)
            if total > budget:
                if budget < 0 or (budget == 0 and overflow):
                    raise ValueError(
                        f"max_length={max_length} leaves no room for the text after the {self.num_special_tokens_to_add(pair)} "
                        "special tokens; pass a larger max_length"
                    )
                if strategy == "longest_first" and not pair:
                    strategy = "only_first"
                if strategy == "longest_first":
                    if overflow:
                        raise ValueError(
                            "return_overflowing_tokens with a pair of texts needs truncation='only_first' or "
                            "'only_second' (with 'longest_first' it is unclear which text the windows belong to)"
                        )
                    n_a, n_b = _longest_first_lengths(len(ids_a), len(ids_b), budget)
                    windows_a, windows_b = [self._cut(len(ids_a), n_a)], [self._cut(len(ids_b), n_b)]
                elif strategy == "only_first":
                    keep = budget - (len(ids_b) if pair else 0)
                    if keep <= 0:
                        raise ValueError(
                            f"truncation='only_first' cannot help: the second text alone has {len(ids_b)} tokens, "
                            f"max_length={max_length}. Use truncation='longest_first' or 'only_second'."
                        )
                    windows_a = self._windows(len(ids_a), keep, stride, overflow)
                else:  # only_second
                    if not pair:
                        raise ValueError("truncation='only_second' needs a pair of texts (text_pair=...)")
                    keep = budget - len(ids_a)
                    if keep <= 0:
                        raise ValueError(
                            f"truncation='only_second' cannot help: the first text alone has {len(ids_a)} tokens, "
                            f"max_length={max_length}. Use truncation='longest_first' or 'only_first'."
                        )
                    windows_b = self._windows(len(ids_b), keep, stride, overflow)
        rows = []
        for wa in windows_a:
            for wb in windows_b:
                rows.append(self._assemble(ids_a, off_a, wa, ids_b, off_b, wb, add_special))
        return rows

    def _cut(self, n: int, keep: int) -> tuple[int, int]:
        return (0, keep) if self.truncation_side == "right" else (n - keep, n)

    def _windows(self, n: int, keep: int, stride: int, overflow: bool) -> list[tuple[int, int]]:
        """The kept window, then (with overflow) windows of `keep` tokens that start `keep - stride`
        apart, so consecutive windows share `stride` tokens."""
        if not overflow:
            return [self._cut(n, keep)]
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
        if self.truncation_side == "left":
            windows = [(n - b, n - a) for a, b in windows]
        return windows

    def _assemble(self, ids_a, off_a, wa, ids_b, off_b, wb, add_special) -> dict[str, list]:
        a = ids_a[wa[0]:wa[1]]
        oa = off_a[wa[0]:wa[1]] if off_a is not None else []
        b = ids_b[wb[0]:wb[1]] if wb is not None else None
        ob = off_b[wb[0]:wb[1]] if (wb is not None and off_b is not None) else []
        if add_special:
            input_ids = self.build_inputs_with_special_tokens(a, b)
            types = [0] * (len(a) + 2) + ([1] * (len(b) + 1) if b is not None else [])
            special = [1] + [0] * len(a) + [1] + ([0] * len(b) + [1] if b is not None else [])
            offsets = [(0, 0)] + oa + [(0, 0)] + (ob + [(0, 0)] if b is not None else [])
        else:
            input_ids = a + (b if b is not None else [])
            types = [0] * len(a) + ([1] * len(b) if b is not None else [])
            special = [0] * len(input_ids)
            offsets = oa + ob
        return {
            "input_ids": input_ids, "token_type_ids": types, "attention_mask": [1] * len(input_ids),
            "special_tokens_mask": special, "offset_mapping": offsets,
        }

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
        if isinstance(encoded_inputs, (list, tuple)):
            if not encoded_inputs or not all(isinstance(e, Mapping) for e in encoded_inputs):
                raise TypeError("pad takes a dict of lists of ids, or a non-empty list of such dicts")
            keys = list(encoded_inputs[0])
            encoded_inputs = {k: [_to_list(e[k]) for e in encoded_inputs] for k in keys}
        if not isinstance(encoded_inputs, Mapping) or "input_ids" not in encoded_inputs:
            raise ValueError("pad needs the encodings' 'input_ids' (a dict as the tokenizer returns)")
        data = {k: _to_list(v) for k, v in encoded_inputs.items()}
        single = bool(data["input_ids"]) and _is_int(data["input_ids"][0])
        if single:
            data = {k: [v] if isinstance(v, list) else v for k, v in data.items()}
        if not isinstance(padding, (bool, str)) or padding not in _PADDING:
            raise ValueError(f"padding must be False, True, 'longest' or 'max_length', not {padding!r}")
        strategy = _PADDING[padding]
        lengths = [len(r) for r in data["input_ids"]]
        if strategy == "max_length":
            if max_length is None:
                max_length = self.model_max_length
            target = max_length
        elif strategy == "longest":
            target = max(lengths, default=0)
        else:
            target = None
        if target is not None and pad_to_multiple_of:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        if return_attention_mask is not False and "attention_mask" not in data:
            data["attention_mask"] = [[1] * n for n in lengths]
        if target is not None:
            if self.pad_token_id is None:
                raise ValueError(f"cannot pad: the pad token {self.pad_token!r} is not in the vocabulary")
            fill = {"input_ids": self.pad_token_id, "token_type_ids": 0, "attention_mask": 0, "special_tokens_mask": 1,
                    "offset_mapping": (0, 0)}
            for key, value in data.items():
                if key not in fill:
                    continue
                padded = []
                for row in value:
                    extra = [fill[key]] * max(0, target - len(row))
                    padded.append(row + extra if self.padding_side == "right" else extra + row)
                data[key] = padded
        if single:
            data = {k: v[0] if isinstance(v, list) else v for k, v in data.items()}
        return BatchEncoding(data).convert_to_tensors(return_tensors)

    def __repr__(self) -> str:
        return (
            f"BertTokenizer(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
            f"do_lower_case={self.do_lower_case}, strip_accents={self.strip_accents}, "
            f"tokenize_chinese_chars={self.tokenize_chinese_chars}, model_max_length={self.model_max_length})"
        )


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _longest_first_lengths(n_a: int, n_b: int, budget: int) -> tuple[int, int]:
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


def clean_up_tokenization(text: str) -> str:
    """Undo the spaces BERT's splitting leaves in English: before punctuation and in contractions."""
    return (
        text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
        .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s")
        .replace(" 've", "'ve").replace(" 're", "'re")
    )


def _cleanup_piece(token: str) -> str:
    # The reference's WordPiece decoder cleans each token on its own (with its leading
    # space), so of its rules only the ones for a space before . ? ! , ever apply.
    if len(token) == 2 and token[0] == " " and token[1] in ".?!,":
        return token[1]
    return token


def _alternation(tokens) -> re.Pattern | None:
    tokens = [t for t in tokens if t]
    if not tokens:
        return None
    return re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))


def _load_vocab(vocab) -> dict[str, int]:
    if isinstance(vocab, Mapping):
        if not vocab:
            raise ValueError("the vocabulary is empty: pass a dict of token -> id, or the path of a vocab.txt")
        result = {}
        for token, index in vocab.items():
            if not isinstance(token, str) or not _is_int(index) or int(index) < 0:
                raise TypeError(f"a vocabulary maps tokens (str) to ids (int >= 0); got {token!r}: {index!r}")
            result[token] = int(index)
        return result
    if not isinstance(vocab, (str, os.PathLike)):
        raise TypeError(f"vocab must be the path of a vocab.txt or a dict of token -> id, got {type(vocab).__name__}")
    path = Path(vocab)
    if path.is_dir():
        path = path / VOCAB_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no vocabulary file at {path}: pass the path of a vocab.txt (one token per line)")
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text, so it is not a vocab.txt") from None
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if not lines:
        raise ValueError(f"{path} is empty: a vocab.txt has one token per line")
    result = {}
    for index, token in enumerate(lines):
        result[token.rstrip("\r")] = index
    return result


def _vocab_from_tokenizer_json(path: Path) -> dict[str, int]:
    data = _read_json(path)
    try:
        return dict(data["model"]["vocab"])
    except (KeyError, TypeError):
        raise ValueError(f"{path} has no WordPiece vocabulary (model.vocab)") from None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} should hold a JSON object")
    return data


def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _check_text(text, what: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, got {_describe(text)}")


def _is_batch(text, what: str) -> bool:
    """True for a list/tuple of strings, False for a string; anything else is an error."""
    if isinstance(text, str):
        return False
    if isinstance(text, (list, tuple)):
        for i, item in enumerate(text):
            if not isinstance(item, str):
                raise TypeError(
                    f"{what} must be a string or a list of strings, but item {i} is {_describe(item)}"
                    + (" (pre-tokenized words are not supported: join them into a string)" if isinstance(item, (list, tuple)) else "")
                )
        return True
    raise TypeError(f"{what} must be a string or a list of strings, got {_describe(text)}")


def _is_int(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return hasattr(value, "ndim") and value.ndim == 0 and "int" in str(getattr(value, "dtype", ""))


def _to_list(value):
    return value.tolist() if hasattr(value, "tolist") else value


def _as_id_list(ids, what: str) -> list[int]:
    ids = _to_list(ids)
    if not isinstance(ids, (list, tuple)) or not all(_is_int(i) for i in ids):
        raise TypeError(f"{what} must be an id or a flat list of ids (ints), got {_describe(ids)}")
    return [int(i) for i in ids]


def _raise_type(what: str, value):
    raise TypeError(f"each {what} must be a string, got {_describe(value)}")
