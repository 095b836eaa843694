"""Parity of minibert.BertTokenizer with transformers on real, multilingual, adversarial and random text.

The reference is `transformers.BertTokenizer`, the Rust-backed (`tokenizers`) one. Where the
pure-Python `transformers.BertTokenizerLegacy` differs from it, we match the Rust one and
the difference is pinned in a test below (see docs/tokenizer.md, "Where the references differ").
Equality is exact: ids, tokens, type ids, masks, offsets and decoded strings.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minibert import BertTokenizer

transformers = pytest.importorskip("transformers")

# name -> settings; the first four are run over the whole English corpus.
CONFIGS = {
    "uncased": {},
    "cased": {"do_lower_case": False},
    "uncased_keep_accents": {"strip_accents": False},
    "cased_strip_accents": {"do_lower_case": False, "strip_accents": True},
    "no_cjk_split": {"tokenize_chinese_chars": False},
}
CORPUS_CONFIGS = ["uncased", "cased", "uncased_keep_accents", "cased_strip_accents"]

# Always-on adversarial cases (corpus/ has many more in mixed.jsonl).
ADVERSARIAL = [
    "", " ", "\t\n\r \u3000\u00a0\u2028\u2029\u0085", "...", "!!!???", "(((]]]", "--", "$^`+<=>|~",
    "\x00\x01\x7f\ufffd\u200b\u200c\u200d\ufeff", "a\u200bb", "a\u00adb", "e\u0301", "\u0301", "İstanbul ΟΔΟΣ ß ẞ ǅ",
    "ﬁ ﬀ ㎏ Ⅻ ①", "東京は日本の首都です。", "한국어 텍스트", "مرحبا بالعالم", "שלום", "नमस्ते", "ภาษาไทย",
    "Привет, мир!", "Tiếng Việt có dấu", "😀 👩‍👩‍👧 🇫🇷 ✋🏽", "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ", "𠀀𠀁 𪜀 \U0002B820\U0002B920",
    "x" * 100, "x" * 101, "é" * 101, "supercalifragilisticexpialidocious" * 3, "[CLS] [SEP] [PAD] [MASK] [UNK]",
    "a[MASK]b [mask] [CLS][CLS]", "http://example.com/a_b-c?d=e&f=g#h", "3.14159 1,000,000 12:30 2026-11-29",
    "don't won't it's you're I'm we've", "\u0130", "Σ σ ς ΣΑΣ",
]


def _reference(config: str, minilm_dir):
    return transformers.BertTokenizer.from_pretrained(minilm_dir, **CONFIGS[config])


@pytest.fixture(scope="session")
def pairs(minilm_dir):
    """config name -> (ours, the Rust-backed reference), built once."""
    return {
        name: (BertTokenizer.from_pretrained(minilm_dir, **cfg), _reference(name, minilm_dir))
        for name, cfg in CONFIGS.items()
    }


@pytest.fixture(scope="session")
def legacy(minilm_dir):
    return transformers.BertTokenizerLegacy.from_pretrained(minilm_dir)


def _lines(path) -> list[str]:
    return [t for t in path.read_text(encoding="utf-8").split("\n") if t]


@pytest.fixture(scope="session")
def english(corpus_dir) -> list[str]:
    """Both English books, the handbook first."""
    return _lines(corpus_dir / "en_debian_handbook.txt") + _lines(corpus_dir / "en_debian_reference.txt")


@pytest.fixture(scope="session")
def handbook_size(corpus_dir, english) -> int:
    n = len(_lines(corpus_dir / "en_debian_handbook.txt"))
    assert sum(len(t.encode()) for t in english[:n]) > 1_000_000
    return n


@pytest.fixture(scope="session")
def mixed(corpus_dir) -> list[str]:
    with open(corpus_dir / "mixed.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def _reference_batch(ref, texts, pair_texts=None):
    """ids and offsets from the Rust backend directly: transformers' Python wrapper around
    it would double the time of this file and check nothing more."""
    inputs = list(zip(texts, pair_texts)) if pair_texts is not None else texts
    backend = ref.backend_tokenizer
    # A checkpoint's tokenizer.json may configure padding/truncation (MiniLM's: 128), which
    # transformers switches off per call; so do we.
    backend.no_padding()
    backend.no_truncation()
    encodings = backend.encode_batch(inputs, add_special_tokens=True)
    return [e.ids for e in encodings], [e.offsets for e in encodings], [e.type_ids for e in encodings]


def _assert_same(ours, ref, texts, pair_texts=None, what=""):
    ids, offsets, types = _reference_batch(ref, texts, pair_texts)
    enc = ours(texts, pair_texts, return_offsets_mapping=True, verbose=False) if texts else {"input_ids": []}
    mismatches = [i for i in range(len(texts)) if enc["input_ids"][i] != ids[i]]
    assert not mismatches, f"{what}: {len(mismatches)} of {len(texts)} texts differ in ids, first: {texts[mismatches[0]]!r}"
    mismatches = [i for i in range(len(texts)) if enc["offset_mapping"][i] != offsets[i]]
    assert not mismatches, f"{what}: {len(mismatches)} of {len(texts)} texts differ in offsets, first: {texts[mismatches[0]]!r}"
    assert enc["token_type_ids"] == types


# ---- real text ---------------------------------------------------------------------------


@pytest.mark.parametrize("config", CORPUS_CONFIGS)
def test_english_corpus_ids_and_offsets_equal_the_reference(pairs, english, handbook_size, config):
    """The default configuration over both books (2 MB); the others over the handbook
    (1.1 MB), to keep the suite quick."""
    ours, ref = pairs[config]
    texts = english if config == "uncased" else english[:handbook_size]
    _assert_same(ours, ref, texts, what=f"{config}, {len(texts)} English texts")


@pytest.mark.parametrize("config", list(CONFIGS))
def test_multilingual_and_edge_cases_equal_the_reference(pairs, mixed, config):
    ours, ref = pairs[config]
    _assert_same(ours, ref, mixed, what=f"{config}, mixed.jsonl")


@pytest.mark.parametrize("config", list(CONFIGS))
def test_adversarial_strings_equal_the_reference(pairs, config):
    ours, ref = pairs[config]
    _assert_same(ours, ref, ADVERSARIAL, what=config)
    _assert_same(ours, ref, ADVERSARIAL, ADVERSARIAL[::-1], what=config + " pairs")
    for text in ADVERSARIAL:
        assert ours.tokenize(text) == ref.tokenize(text), text


def test_mixed_corpus_decodes_like_the_reference(pairs, mixed):
    ours, ref = pairs["uncased"]
    ids, _, _ = _reference_batch(ref, mixed)
    for skip in (False, True):
        assert ours.batch_decode(ids, skip_special_tokens=skip) == ref.batch_decode(ids, skip_special_tokens=skip)


def test_tokens_join_into_text_like_the_reference(pairs, mixed):
    """convert_tokens_to_string is the reference's WordPiece decoder on token strings (the
    token-classification pipeline builds its `word`s with it): no space before . , ! ?, a
    leading "##" kept; legacy's plain join differs ("a ." vs "a.")."""
    ours, ref = pairs["uncased"]
    for text in mixed[:60]:
        tokens = ref.tokenize(text)
        for piece in (tokens, tokens[1:], tokens[2:7]):
            assert ours.convert_tokens_to_string(piece) == ref.convert_tokens_to_string(piece), piece
    assert ours.convert_tokens_to_string(["##ing", "a", ".", "b", "##c", "?"]) == "##ing a. bc?"


def test_english_pairs_with_padding_and_truncation_equal_the_reference(pairs, english):
    ours, ref = pairs["uncased"]
    a, b = english[:512:2], english[1:512:2]
    kwargs = dict(padding=True, truncation=True, max_length=64, return_special_tokens_mask=True, return_length=True)
    mine, theirs = ours(a, b, **kwargs), ref(a, b, **kwargs)
    assert set(mine) == set(theirs)
    for key in theirs:
        assert mine[key] == theirs[key], key


# ---- random text -------------------------------------------------------------------------

# Any code point but surrogates, with extra weight on the characters BERT treats specially.
_SPECIAL_CHARS = "\t\n\r \u00a0\u3000\u200b\u00ad\ufeff\x00\x7f\x85\ufffd.,!?'\"-_#[]()\u0301\u0308ΣİßẞĲ東京한あ😀"
_PIECE = st.one_of(
    st.characters(blacklist_categories=("Cs",)),
    st.sampled_from(_SPECIAL_CHARS),
    st.sampled_from(["[MASK]", "[SEP]", "##", "ing", "Hello", " "]),
)
_TEXT = st.lists(_PIECE, max_size=30).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(text=_TEXT, config=st.sampled_from(list(CONFIGS)))
def test_random_unicode_equals_the_reference(pairs, text, config):
    ours, ref = pairs[config]
    enc = ours(text, return_offsets_mapping=True)
    theirs = ref(text, return_offsets_mapping=True)
    assert enc["input_ids"] == theirs["input_ids"]
    assert enc["offset_mapping"] == [tuple(o) for o in theirs["offset_mapping"]]
    # Offsets lie inside the text and never go backwards.
    spans = [o for o in enc["offset_mapping"] if o != (0, 0)]
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(spans, spans[1:]))
    assert ours.decode(enc["input_ids"]) == ref.decode(theirs["input_ids"])
    assert ours.decode(enc["input_ids"], skip_special_tokens=True) == ref.decode(theirs["input_ids"], skip_special_tokens=True)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(first=_TEXT, second=_TEXT, max_length=st.integers(4, 24), strategy=st.sampled_from(["longest_first", "only_first", "only_second"]))
def test_random_pairs_with_truncation_equal_the_reference(pairs, first, second, max_length, strategy):
    ours, ref = pairs["uncased"]
    kwargs = dict(truncation=strategy, max_length=max_length, return_offsets_mapping=True, return_special_tokens_mask=True)
    try:
        theirs = ref(first, second, **kwargs)
    except Exception:  # the reference refuses (e.g. only_second with a long first text): so must we
        with pytest.raises(ValueError):
            ours(first, second, **kwargs)
        return
    enc = ours(first, second, **kwargs)
    for key in ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask"):
        assert enc[key] == theirs[key], key
    assert enc["offset_mapping"] == [tuple(o) for o in theirs["offset_mapping"]]


# ---- where the pure-Python legacy tokenizer differs from the Rust one ------------------------


def test_legacy_agrees_on_the_english_corpus(pairs, legacy, english):
    """On ordinary text all three agree; a sample keeps this quick (the legacy one is slow)."""
    ours, _ = pairs["uncased"]
    sample = english[::40]
    assert ours(sample, verbose=False)["input_ids"] == legacy(sample)["input_ids"]


def test_legacy_agrees_on_the_multilingual_corpus_except_final_sigma(pairs, legacy, mixed):
    ours, _ = pairs["uncased"]
    texts = [t for t in mixed if "Σ" not in t and "\u2028" not in t]
    differ = [t for t in texts if ours.encode(t, verbose=False) != legacy.encode(t)]
    assert not differ, differ[:3]


def test_legacy_difference_final_sigma(pairs, legacy):
    """Python's str.lower() knows the word-final form: ΟΔΟΣ -> οδος with ς; the Rust
    normalizer lowercases one character at a time: οδοσ. We match Rust."""
    ours, ref = pairs["uncased"]
    assert ours.tokenize("ΟΔΟΣ") == ref.tokenize("ΟΔΟΣ")
    assert legacy.tokenize("ΟΔΟΣ") != ref.tokenize("ΟΔΟΣ")


def test_legacy_difference_unassigned_code_points(pairs, legacy):
    """The legacy tokenizer drops unassigned code points (category Cn, "C*" = control to it);
    the Rust one keeps them as letters, so a word with one becomes [UNK]."""
    ours, ref = pairs["uncased"]
    text = "ab\U000e0080cd"
    assert ours.tokenize(text) == ref.tokenize(text) == ["[UNK]"]
    assert legacy.tokenize(text) == ["abc", "##d"]


def test_legacy_difference_newer_unicode_and_cjk_extension_e(pairs, legacy):
    """The Rust reference's Unicode tables predate characters such as U+061D ARABIC END OF
    TEXT MARK (punctuation since Unicode 14), and its CJK range skips the first 256
    ideographs of Extension E (U+2B820..U+2B91F). The legacy tokenizer, on Python's
    unicodedata, splits at both."""
    ours, ref = pairs["uncased"]
    for text in ("ab\u061dcd", "a\U0002B820b"):
        assert ours.tokenize(text) == ref.tokenize(text)
        assert legacy.tokenize(text) != ref.tokenize(text)


def test_legacy_difference_longest_first_tie(pairs, legacy):
    """Two texts of equal length cut to an odd budget: Rust gives the extra token to the
    second text, legacy (which cuts one token at a time, the second on ties) to the first."""
    ours, ref = pairs["uncased"]
    a, b = "a b c d e f g h", "s t u v w x y z"
    kwargs = dict(truncation="longest_first", max_length=8)
    assert ours(a, b, **kwargs)["input_ids"] == ref(a, b, **kwargs)["input_ids"]
    ids = ref(a, b, **kwargs)["input_ids"]
    assert ids[ids.index(102) + 1:] == [1055, 1056, 1057, 102]  # 3 of b's tokens and its [SEP]
    ids = legacy(a, b, **kwargs)["input_ids"]
    assert ids[ids.index(102) + 1:] == [1055, 1056, 102]


def test_legacy_difference_decode_clean_up(pairs, legacy):
    """The Rust-backed tokenizer decodes with clean_up_tokenization_spaces=False: "it ' s";
    legacy defaults to True: "it's". Ours follows Rust, and does legacy's clean-up on request."""
    ours, ref = pairs["uncased"]
    ids = ref.encode("It's what they don't say.")
    assert ours.decode(ids) == ref.decode(ids) != legacy.decode(ids)
    assert ours.decode(ids, clean_up_tokenization_spaces=True) == legacy.decode(ids)


def test_legacy_difference_empty_second_text(pairs, legacy):
    """transformers' Rust-backed tokenizer takes text_pair="" of a single call as no pair
    (but as a pair in a batch); legacy always adds the second [SEP]. We match Rust."""
    ours, ref = pairs["uncased"]
    assert ours("a", "")["input_ids"] == ref("a", "")["input_ids"] == [101, 1037, 102]
    assert ours(["a"], [""])["input_ids"] == ref(["a"], [""])["input_ids"] == [[101, 1037, 102, 102]]
    assert legacy("a", "")["input_ids"] == [101, 1037, 102, 102]
