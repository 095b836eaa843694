"""BERT's basic tokenizer: clean the text, normalize it, and cut it into words.

This is the first half of BERT's tokenization (the second is WordPiece, in wordpiece.py):

1. cleaning: drop NUL, U+FFFD and control/format characters, turn whitespace into spaces;
2. CJK ideographs become words of their own;
3. when uncased, strip accents (NFD, drop the nonspacing marks) and lowercase;
4. split on whitespace, and make every punctuation character a word.

Steps 1-3 depend on one character only, so they are worked out once per distinct character
(`_CharTable`) and every normalized character remembers the character of the *original*
text it came from: that is what offsets are made of. `BasicTokenizer` can be used alone, as
in the original BERT code: `BasicTokenizer().tokenize("Héllo, wörld!")` is
`["hello", ",", "world", "!"]`.

The character classes follow the Rust `tokenizers` reference (what `transformers.BertTokenizer`
runs), including where its Unicode tables are older than Python's.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence

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
# Words
# ---------------------------------------------------------------------------------------

# Space, tab, newline and carriage return are whitespace in every configuration, so text can
# be cut at them into chunks ("Hello," "world!") before anything else; each chunk is then
# split into words on its own.
CHUNK = re.compile(r"[^ \t\n\r]+")
# The ASCII fast path: in ASCII text without control characters, lowercasing maps one
# character to one, nothing has accents, and a word is a run of letters and digits or one
# punctuation character (every other printable ASCII character is punctuation to BERT).
ASCII_WORD = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9 \t\n\r]")
ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BasicTokenizer:
    """Cleaning, CJK splitting, accent stripping, lowercasing and punctuation splitting.

    `tokenize(text)` gives the words; `normalize` and `word_spans` are the two steps it is
    made of, which `BertTokenizer` uses directly to keep the offsets of every word.
    `strip_accents=None` strips accents whenever the text is lowercased.
    """

    def __init__(
        self,
        do_lower_case: bool = True,
        never_split: Sequence[str] | None = None,
        tokenize_chinese_chars: bool = True,
        strip_accents: bool | None = None,
    ):
        for flag, value in (("do_lower_case", do_lower_case), ("tokenize_chinese_chars", tokenize_chinese_chars)):
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be True or False, got {value!r}")
        if strip_accents not in (None, True, False):
            raise TypeError(f"strip_accents must be None, True or False, got {strip_accents!r}")
        self.do_lower_case = do_lower_case
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents
        self.never_split = set(never_split or ())
        strip = strip_accents if strip_accents is not None else do_lower_case
        self.chars = _CharTable(do_lower_case, strip, tokenize_chinese_chars)

    def normalize(self, text: str, begin: int = 0) -> tuple[list[str], list[int], list[int]]:
        """The normalized characters of `text`, the kind of each (word, space, alone), and
        the index in the original text (counted from `begin`) of the character each came from."""
        chars: list[str] = []
        kinds: list[int] = []
        origin: list[int] = []
        table = self.chars
        for i, ch in enumerate(text, begin):
            for c, kind in table[ch]:
                chars.append(c)
                kinds.append(kind)
                origin.append(i)
        return chars, kinds, origin

    @staticmethod
    def word_spans(kinds: Sequence[int], begin: int, end: int) -> list[tuple[int, int]]:
        """(start, end) of each word among the normalized characters [begin, end): spaces
        separate words; punctuation and CJK ideographs are words alone."""
        spans = []
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
            spans.append((i, j))
            i = j
        return spans

    def tokenize(self, text: str) -> list[str]:
        """The words of `text`, normalized; words in `never_split` (between spaces) are kept as written."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        words = []
        for chunk in CHUNK.findall(text):
            if chunk in self.never_split:
                words.append(chunk)
                continue
            chars, kinds, _ = self.normalize(chunk)
            words.extend("".join(chars[i:j]) for i, j in self.word_spans(kinds, 0, len(chars)))
        return words
