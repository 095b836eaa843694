"""Tokens aligned with words: `is_split_into_words=True`, `BatchEncoding.word_ids()`,
`sequence_ids()`, `token_to_word()` and `word_to_tokens()`.

The reference is transformers' Rust-backed (fast) `BertTokenizer` on the same checkpoint and
inputs; equality is exact. NER labels go on words and question answering needs to know which
tokens are the context's, so these must agree token for token, also in overflowing windows.
"""

from __future__ import annotations

import json

import pytest

from minibert import BatchEncoding, BertTokenizer

transformers = pytest.importorskip("transformers")

# Words a pre-split dataset can hold: accents, CJK, punctuation, special tokens, words that
# normalize to nothing (zero-width space, controls, the empty string), spaces inside a word.
HAND_PICKED = [
    "Héllo", "naïve", "ΟΔΟΣ", "东京大学", "한국어", "don't", "U.S.A.", "...", "(", "3.14", "e\u0301",
    "\u200b", "", " ", "\x00\ufeff", "[MASK]", "[mask]", "New York", "x" * 101, "😀", "ﬁ", "a\u00adb",
]
ALIGNMENT_KEYS = ("input_ids", "token_type_ids", "attention_mask", "offset_mapping")


@pytest.fixture(scope="module")
def ours(minilm_dir):
    return BertTokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def ref(minilm_dir):
    return transformers.BertTokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def english_words(corpus_dir) -> list[list[str]]:
    """Every 8th line of both English books, split at whitespace."""
    lines = []
    for name in ("en_debian_handbook.txt", "en_debian_reference.txt"):
        lines += [t for t in (corpus_dir / name).read_text(encoding="utf-8").split("\n") if t][::8]
    return [line.split() for line in lines]


@pytest.fixture(scope="module")
def mixed_texts(corpus_dir) -> list[str]:
    with open(corpus_dir / "mixed.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def _assert_aligned_like(enc: BatchEncoding, theirs, what: str = "") -> None:
    """Same values for every key the reference returned, and the same words and sequences per row."""
    for key in theirs:
        expected = theirs[key]
        if key == "offset_mapping":
            expected = [[tuple(o) for o in row] for row in expected]
        assert enc[key] == expected, f"{what}: {key}"
    for i in range(len(theirs["input_ids"])):
        assert enc.word_ids(i) == theirs.word_ids(i), f"{what}: word_ids of row {i}"
        assert enc.sequence_ids(i) == theirs.sequence_ids(i), f"{what}: sequence_ids of row {i}"


# ---- pre-split words ------------------------------------------------------------------------


def test_english_corpus_split_into_words_aligns_like_the_reference(ours, ref, english_words):
    kwargs = dict(is_split_into_words=True, return_offsets_mapping=True, verbose=False)  # some lines are > 512 tokens
    for start in range(0, len(english_words), 256):
        batch = english_words[start:start + 256]
        _assert_aligned_like(ours(batch, **kwargs), ref(batch, **kwargs), f"lines {start}..")


def test_multilingual_words_align_like_the_reference(ours, ref, mixed_texts):
    words = [text.split() for text in mixed_texts]
    kwargs = dict(is_split_into_words=True, return_offsets_mapping=True)
    _assert_aligned_like(ours(words, **kwargs), ref(words, **kwargs), "mixed.jsonl")
    # As pairs, with padding and truncation of the longer one.
    pairs = dict(is_split_into_words=True, return_offsets_mapping=True, padding=True, truncation=True, max_length=48)
    _assert_aligned_like(ours(words[:-1], words[1:], **pairs), ref(words[:-1], words[1:], **pairs), "pairs")


def test_hand_picked_words_align_like_the_reference(ours, ref):
    """Words that give no token (zero-width space, controls, "") keep their index: the next
    word's tokens carry the index after them, and word_to_tokens says None."""
    kwargs = dict(is_split_into_words=True, return_offsets_mapping=True)
    enc, theirs = ours(HAND_PICKED, **kwargs), ref(HAND_PICKED, **kwargs)
    assert enc["input_ids"] == theirs["input_ids"]
    assert enc["offset_mapping"] == [tuple(o) for o in theirs["offset_mapping"]]
    assert enc.word_ids() == theirs.word_ids()
    assert enc.sequence_ids() == theirs.sequence_ids()
    for word in range(len(HAND_PICKED)):
        assert enc.word_to_tokens(word) == (tuple(theirs.word_to_tokens(word)) if theirs.word_to_tokens(word) else None)
    for token in range(len(enc["input_ids"])):
        assert enc.token_to_word(token) == theirs.token_to_word(token)
    assert enc.word_to_tokens(HAND_PICKED.index("\u200b")) is None
    # Each word alone, and each word as the second of a pair.
    for word in HAND_PICKED:
        for args in (([word],), (["a"], [word])):
            enc, theirs = ours(*args, **kwargs), ref(*args, **kwargs)
            assert enc["input_ids"] == theirs["input_ids"], repr(word)
            assert enc["offset_mapping"] == [tuple(o) for o in theirs["offset_mapping"]], repr(word)
            assert (enc.word_ids(), enc.sequence_ids()) == (theirs.word_ids(), theirs.sequence_ids()), repr(word)


def test_one_list_of_words_is_one_sequence_and_a_list_of_lists_a_batch(ours, ref):
    words = ["Hello", "wörld", "!"]
    one = ours(words, is_split_into_words=True)
    assert one["input_ids"] == ref(words, is_split_into_words=True)["input_ids"]
    assert one.word_ids() == [None, 0, 1, 2, None]
    assert ours([words, ["x"]], is_split_into_words=True)["input_ids"][0] == one["input_ids"]
    assert ours.encode_plus(words, is_split_into_words=True)["input_ids"] == one["input_ids"]
    assert ours.encode(words, is_split_into_words=True) == one["input_ids"]
    # A pair of word lists: the second sequence's words count from 0 again.
    pair = ours(["What", "?"], ["It", "is", "."], is_split_into_words=True)
    assert pair.word_ids() == [None, 0, 1, None, 0, 1, 2, None]
    assert pair.sequence_ids() == [None, 0, 0, None, 1, 1, 1, None]


# ---- words of plain text -----------------------------------------------------------------


def test_word_ids_of_plain_text_equal_the_reference(ours, ref, mixed_texts):
    """Without pre-split words a word is what the pre-tokenizer makes one: a run of letters,
    one punctuation character, one CJK ideograph, one special token."""
    texts = mixed_texts + ["a[MASK]b [CLS]x 東京 don't", "\u200b", ""]
    for start in range(0, len(texts), 64):
        batch = texts[start:start + 64]
        _assert_aligned_like(ours(batch, batch[::-1], padding=True), ref(batch, batch[::-1], padding=True), f"{start}..")


def test_word_ids_after_added_tokens_equal_the_reference(minilm_dir):
    ours, ref = BertTokenizer.from_pretrained(minilm_dir), transformers.BertTokenizer.from_pretrained(minilm_dir)
    for tok in (ours, ref):
        tok.add_tokens(["new york", "minibert"])
        tok.add_special_tokens({"additional_special_tokens": ["<ent>"]})
    texts = ["I love New York and MiniBERT<ent>!", "minibert, minibert.", "<ent> new york <ent>"]
    _assert_aligned_like(ours(texts, return_offsets_mapping=True, padding=True),
                         ref(texts, return_offsets_mapping=True, padding=True), "added tokens")


def test_word_ids_work_with_tensors_left_padding_and_no_special_tokens(minilm_dir, ref):
    ours = BertTokenizer.from_pretrained(minilm_dir, padding_side="left")
    ref = transformers.BertTokenizer.from_pretrained(minilm_dir, padding_side="left")
    texts = ["A short one.", "A somewhat longer sentence, with a comma."]
    for kwargs in (dict(padding=True, return_tensors="pt"), dict(add_special_tokens=False, padding="max_length", max_length=16)):
        enc, theirs = ours(texts, texts[::-1], **kwargs), ref(texts, texts[::-1], **kwargs)
        for i in range(2):
            assert enc.word_ids(i) == theirs.word_ids(i)
            assert enc.sequence_ids(i) == theirs.sequence_ids(i)


# ---- question + long context: overflowing windows -------------------------------------------


@pytest.mark.parametrize("split", [False, True], ids=["text", "words"])
def test_overflowing_windows_align_like_the_reference(ours, ref, corpus_dir, split):
    """The question-answering call: question + long context, only the context cut into windows
    that overlap by `stride` tokens; every window knows its sample, words and sequences."""
    lines = [t for t in (corpus_dir / "en_debian_handbook.txt").read_text(encoding="utf-8").split("\n") if t]
    contexts = [" ".join(lines[i:i + 12]) for i in range(0, 120, 12)] + ["Short context.", "Ünïcödé 東京 çafé, naïve!"]
    questions = [f"What does paragraph {i} say about Debian?" for i in range(len(contexts))]
    if split:
        questions, contexts = [q.split() for q in questions], [c.split() for c in contexts]
    kwargs = dict(truncation="only_second", max_length=96, stride=24, return_overflowing_tokens=True,
                  return_offsets_mapping=True, padding="max_length", is_split_into_words=split)
    enc, theirs = ours(questions, contexts, **kwargs), ref(questions, contexts, **kwargs)
    assert len(enc["input_ids"]) > 3 * len(contexts)  # many windows
    _assert_aligned_like(enc, theirs, "windows")
    # Without offsets the words are worked out on demand, to the same values.
    del kwargs["return_offsets_mapping"]
    lazy = ours(questions, contexts, **kwargs)
    assert [lazy.word_ids(i) for i in range(len(lazy["input_ids"]))] == [theirs.word_ids(i) for i in range(len(theirs["input_ids"]))]


# ---- misuse ---------------------------------------------------------------------------------


def test_misused_alignment_is_a_clear_error(ours):
    with pytest.raises(TypeError, match="is_split_into_words=True"):
        ours("a plain string", is_split_into_words=True)
    with pytest.raises(TypeError, match="is_split_into_words=True"):
        ours([["pre", "split"]])
    with pytest.raises(TypeError, match="item 1"):
        ours(["fine", 3], is_split_into_words=True)
    enc = ours(["one", "two"])
    with pytest.raises(IndexError, match="2 rows"):
        enc.word_ids(2)
    with pytest.raises(ValueError, match="tokenizer call"):
        ours.pad({"input_ids": [[1, 2], [3]]}).word_ids(0)
