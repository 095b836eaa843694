"""Character classes against the Rust reference, code point by code point.

The tokenizer's per-character rules (removed, whitespace, punctuation, CJK, accent
stripping, lowercasing) use Python's unicodedata, corrected by `_REFERENCE_CATEGORIES` where
the reference's older Unicode tables disagree. Each character is checked between two letters
("a" + c + "b"), which shows whether it is dropped, splits, stands alone or joins the word.
A full sweep of all 1.1 million code points agreed when the table was made (docs/tokenizer.md);
here every character of the table, the CJK range ends, and a stride through the rest.
"""

from __future__ import annotations

import pytest

from minibert import BertTokenizer
from minibert.tokenizer import _REFERENCE_CATEGORIES, _category

transformers = pytest.importorskip("transformers")

STRIDE = 61  # every 61st code point; with the rest, about 19,000 characters per configuration


def _code_points() -> list[int]:
    points = set(range(0, 0x110000, STRIDE)) | set(range(0x80)) | set(range(0x2B800, 0x2B940))
    for start, end, _ in _REFERENCE_CATEGORIES:
        points.update(range(start, end + 1))
    return sorted(p for p in points if not 0xD800 <= p <= 0xDFFF)


@pytest.mark.parametrize("settings", [{}, {"do_lower_case": False}, {"strip_accents": False}], ids=["uncased", "cased", "keep_accents"])
def test_every_sampled_character_is_treated_as_the_reference_does(minilm_dir, settings):
    ours = BertTokenizer.from_pretrained(minilm_dir, **settings)
    ref = transformers.BertTokenizer.from_pretrained(minilm_dir, **settings).backend_tokenizer
    ref.no_padding()
    ref.no_truncation()
    points = _code_points()
    texts = [f"a{chr(p)}b" for p in points]
    theirs = ref.encode_batch(texts, add_special_tokens=False)
    mine = ours(texts, add_special_tokens=False, return_offsets_mapping=True, return_attention_mask=False)
    differ = [
        f"U+{p:04X}" for p, e, ids, offsets in zip(points, theirs, mine["input_ids"], mine["offset_mapping"])
        if ids != e.ids or offsets != e.offsets
    ]
    assert not differ, f"{len(differ)} characters differ: {differ[:20]}"


def test_reference_categories_table_is_sorted_and_only_overrides_python():
    starts = [s for s, _, _ in _REFERENCE_CATEGORIES]
    assert starts == sorted(starts)
    assert all(s <= e < n for (s, e, _), n in zip(_REFERENCE_CATEGORIES, starts[1:] + [0x110000]))
    assert _category("\u061d") == "Lo" and _category("a") == "Ll" and _category(",") == "Po"
