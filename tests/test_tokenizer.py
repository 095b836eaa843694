"""BertTokenizer: behaviour, API and errors, checked against transformers' Rust-backed BertTokenizer."""

from __future__ import annotations

import pytest
import torch

from minibert import BatchEncoding, BertTokenizer

transformers = pytest.importorskip("transformers")

SENTENCES = [
    "Hello, world! Tokenizers split words into pieces.",
    "The Debian Administrator's Handbook: apt-get install --no-install-recommends foo",
    "Héllo Ünïcödé naïve café, 東京は日本の首都です。",
    "",
]


@pytest.fixture(scope="session")
def tok(minilm_dir) -> BertTokenizer:
    return BertTokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="session")
def ref(minilm_dir):
    return transformers.BertTokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="session")
def tiny_vocab() -> dict[str, int]:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "aff", "able", "hello", ",", "!"]
    return {t: i for i, t in enumerate(tokens)}


# ---- the pieces ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [{}, {"do_lower_case": False}, {"strip_accents": False}, {"tokenize_chinese_chars": False},
     {"do_lower_case": False, "strip_accents": True}],
    ids=["uncased", "cased", "keep_accents", "no_cjk_split", "cased_strip_accents"],
)
def test_basic_tokenizer_alone_equals_the_reference_normalizer_and_pre_tokenizer(corpus_dir, config):
    """BasicTokenizer's words are those of the `tokenizers` library's BertNormalizer followed
    by its BertPreTokenizer, on the multilingual and edge-case corpus."""
    import json

    from tokenizers import normalizers, pre_tokenizers

    from minibert.tokenizer import BasicTokenizer

    basic = BasicTokenizer(**config)
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=config.get("tokenize_chinese_chars", True),
        strip_accents=config.get("strip_accents"), lowercase=config.get("do_lower_case", True),
    )
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    with open(corpus_dir / "mixed.jsonl", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()] + ["Héllo, WÖRLD! 東京", "", "\u200b"]
    for text in texts:
        expected = [word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))]
        assert basic.tokenize(text) == expected, repr(text[:60])


def test_basic_tokenizer_keeps_never_split_words(tiny_vocab):
    from minibert.tokenizer import BasicTokenizer

    assert BasicTokenizer(never_split=["[X]"]).tokenize("A [X] b[X]") == ["a", "[X]", "b", "[", "x", "]"]


def test_wordpiece_alone_gives_pieces_and_their_ends(tiny_vocab):
    from minibert.tokenizer import WordPiece

    wordpiece = WordPiece(tiny_vocab, unk_id=tiny_vocab["[UNK]"])
    assert wordpiece("unaffable") == ((5, 6, 7), (2, 5, 9))
    assert wordpiece.tokenize("unaffable", {i: t for t, i in tiny_vocab.items()}) == ["un", "##aff", "##able"]
    assert wordpiece("unknownword") == ((1,), (11,))  # no cover: the whole word is [UNK]


def test_wordpiece_is_longest_match_first(tiny_vocab):
    tok = BertTokenizer(tiny_vocab)
    assert tok.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert tok.tokenize("unable") == ["un", "##able"]
    assert tok.tokenize("Hello, unhello!") == ["hello", ",", "[UNK]", "!"]  # no "##hello": no cover at all


def test_word_longer_than_100_characters_is_unknown(tok):
    assert tok.tokenize("a" * 100) != ["[UNK]"]
    assert tok.tokenize("a" * 101) == ["[UNK]"]


def test_special_tokens_stay_whole_and_keep_their_case(tok):
    assert tok.tokenize("Hello [MASK] world[SEP]x") == ["hello", "[MASK]", "world", "[SEP]", "x"]
    assert tok.tokenize("[mask]") == ["[", "mask", "]"]  # matched as written, like the reference


def test_uncased_lowercases_and_strips_accents(tok):
    assert tok.tokenize("Café NAÏVE") == ["cafe", "naive"]


def test_cased_configuration_keeps_case_and_accents(tiny_vocab):
    vocab = {**tiny_vocab, "Hello": len(tiny_vocab), "café": len(tiny_vocab) + 1, "cafe": len(tiny_vocab) + 2}
    cased = BertTokenizer(vocab, do_lower_case=False)
    assert cased.tokenize("Hello café") == ["Hello", "café"]
    assert BertTokenizer(vocab, do_lower_case=False, strip_accents=True).tokenize("café") == ["cafe"]
    assert BertTokenizer(vocab).tokenize("Hello café") == ["hello", "cafe"]


def test_basic_sentences_match_the_reference(tok, ref):
    for text in SENTENCES:
        assert tok.tokenize(text) == ref.tokenize(text), text
        assert tok.encode(text) == ref.encode(text), text


# ---- calling conventions -----------------------------------------------------------------


def test_single_text_encoding_equals_the_reference(tok, ref):
    ours = tok(SENTENCES[0], return_special_tokens_mask=True, return_offsets_mapping=True, return_length=True)
    theirs = ref(SENTENCES[0], return_special_tokens_mask=True, return_offsets_mapping=True, return_length=True)
    assert isinstance(ours, BatchEncoding)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == (list(theirs[key]) if key != "length" else theirs[key]), key
    assert ours.input_ids == ours["input_ids"]


def test_pair_has_type_ids_zero_then_one(tok, ref):
    ours = tok("first text", "second one here")
    assert ours["input_ids"] == ref("first text", "second one here")["input_ids"]
    assert ours["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1, 1]


@pytest.mark.parametrize("padding", [True, "longest", "max_length"])
@pytest.mark.parametrize("truncation", [False, True, "longest_first"])
def test_batch_padding_and_truncation_equal_the_reference(tok, ref, padding, truncation):
    kwargs = dict(padding=padding, truncation=truncation, max_length=12, return_offsets_mapping=True)
    if padding == "max_length" and not truncation:
        kwargs["max_length"] = 40
    ours, theirs = tok(SENTENCES, **kwargs), ref(SENTENCES, **kwargs)
    for key in theirs:
        assert ours[key] == [list(map(_plain, row)) for row in theirs[key]], key


@pytest.mark.parametrize("strategy", ["longest_first", "only_first", "only_second"])
def test_pair_truncation_equals_the_reference(tok, ref, strategy):
    a = ["a b c d e f g h", "one two three four five six seven", "short"]
    b = ["x y z w v u t s", "tiny", "a much longer second text than the first one is"]
    if strategy == "only_first":
        b = ["x", "y", "z"]
    if strategy == "only_second":
        a = ["x", "y", "z"]
    for max_length in (8, 9, 10):
        ours = tok(a, b, truncation=strategy, max_length=max_length)
        theirs = ref(a, b, truncation=strategy, max_length=max_length)
        assert ours["input_ids"] == theirs["input_ids"], max_length
        assert ours["token_type_ids"] == theirs["token_type_ids"], max_length


def test_overflowing_windows_with_stride_equal_the_reference(tok, ref):
    text = "one two three four five six seven eight nine ten eleven twelve thirteen"
    kwargs = dict(truncation=True, max_length=6, stride=2, return_overflowing_tokens=True, return_offsets_mapping=True)
    ours, theirs = tok([text, "short text"], **kwargs), ref([text, "short text"], **kwargs)
    assert ours["overflow_to_sample_mapping"] == theirs["overflow_to_sample_mapping"]
    assert ours["input_ids"] == theirs["input_ids"]
    assert ours["offset_mapping"] == [[tuple(o) for o in row] for row in theirs["offset_mapping"]]
    question, context = "what is it?", "it is a long context with many words in it, more than fit"
    kwargs = dict(truncation="only_second", max_length=14, stride=3, return_overflowing_tokens=True, padding="max_length")
    ours, theirs = tok([question], [context], **kwargs), ref([question], [context], **kwargs)
    assert ours["input_ids"] == theirs["input_ids"]
    assert ours["token_type_ids"] == theirs["token_type_ids"]


def test_return_tensors_pt_feeds_the_model(tok):
    batch = tok(SENTENCES, padding=True, return_tensors="pt")
    assert batch.input_ids.dtype == torch.long and batch.input_ids.shape == batch.attention_mask.shape
    assert batch.to("cpu") is batch
    single = tok.encode_plus(SENTENCES[0], return_tensors="pt")
    assert single["input_ids"].shape == (1, len(tok.encode(SENTENCES[0])))


def test_legacy_pad_to_max_length(tok, ref):
    ours = tok.encode_plus("hello there", max_length=10, pad_to_max_length=True)
    assert ours["input_ids"] == ref("hello there", max_length=10, padding="max_length")["input_ids"]
    assert ours["attention_mask"] == [1] * 4 + [0] * 6


def test_ragged_tensors_are_refused_with_advice(tok):
    with pytest.raises(ValueError, match="padding=True"):
        tok(SENTENCES, return_tensors="pt")


def test_too_long_without_truncation_warns(minilm_dir):
    tok = BertTokenizer.from_pretrained(minilm_dir)
    with pytest.warns(UserWarning, match="more than this model's maximum of 512"):
        ids = tok.encode("word " * 600)
    assert len(ids) == 602
    assert len(tok.encode("word " * 600, truncation=True)) == 512


def test_decode_equals_the_reference(tok, ref):
    for text in SENTENCES + ["It's fine , isn't it ? Yes !", "I do not know ."]:
        ids = ref.encode(text)
        for skip in (False, True):
            assert tok.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip)
    assert tok.batch_decode([ref.encode(t) for t in SENTENCES]) == ref.batch_decode([ref.encode(t) for t in SENTENCES])


def test_convert_between_tokens_and_ids(tok, ref):
    tokens = ["[CLS]", "hello", "##s", "no-such-token"]
    assert tok.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    assert tok.convert_ids_to_tokens([101, 7592, 102]) == ["[CLS]", "hello", "[SEP]"]
    assert tok.convert_ids_to_tokens(7592) == "hello"
    assert len(tok) == len(ref) and tok.vocab_size == ref.vocab_size


# ---- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, 3, b"bytes", [["nested"]], ["ok", 3], {"a": 1}])
def test_bad_text_is_a_clear_error(tok, bad):
    with pytest.raises((TypeError, ValueError), match="string|text"):
        tok(bad)


def test_bad_vocabularies_are_clear_errors(tmp_path, tiny_vocab):
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        BertTokenizer(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="empty"):
        BertTokenizer(tmp_path / "empty.txt")
    with pytest.raises(ValueError, match="unknown token"):
        BertTokenizer({t: i for t, i in tiny_vocab.items() if t != "[UNK]"})


def _plain(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


# ---- loading, saving, adding tokens, padding ---------------------------------------------


def test_save_pretrained_round_trips_here_and_in_transformers(tok, tmp_path):
    tok.save_pretrained(tmp_path)
    text = "Saving and loading keeps every id: naïve [MASK] 東京"
    again = BertTokenizer.from_pretrained(tmp_path)
    theirs = transformers.BertTokenizer.from_pretrained(tmp_path)
    assert again.encode(text) == tok.encode(text) == theirs.encode(text)
    ids = tok.encode(text)
    assert again.decode(ids) == theirs.decode(ids) == tok.decode(ids)
    assert theirs.convert_ids_to_tokens(ids) == tok.convert_ids_to_tokens(ids)
    assert again.model_max_length == theirs.model_max_length == 512
    assert not list(tmp_path.glob("*.tmp"))  # written atomically, no leftovers


def test_constructible_from_a_vocab_file_and_from_a_dict(minilm_dir, tok):
    from_file = BertTokenizer(minilm_dir / "vocab.txt")
    from_dict = BertTokenizer(tok.get_vocab())
    assert from_file.encode("hello world") == from_dict.encode("hello world") == tok.encode("hello world")


def test_tokenizer_config_settings_are_read(tmp_path, minilm_dir):
    import json
    import shutil

    shutil.copy(minilm_dir / "vocab.txt", tmp_path / "vocab.txt")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "model_max_length": 128}))
    tok = BertTokenizer.from_pretrained(tmp_path)
    assert not tok.do_lower_case and tok.model_max_length == 128
    assert tok.tokenize("Hello") == transformers.BertTokenizer.from_pretrained(tmp_path).tokenize("Hello")


def test_add_tokens_equals_the_reference(minilm_dir, tmp_path):
    ours = BertTokenizer.from_pretrained(minilm_dir)
    theirs = transformers.BertTokenizer.from_pretrained(minilm_dir)
    # "hello" is in vocab.txt already: it keeps its id, but is now never split ("hellohello").
    assert ours.add_tokens(["minibert", "hello"]) == theirs.add_tokens(["minibert", "hello"]) == 2
    assert ours.add_tokens(["<ent>"], special_tokens=True) == theirs.add_tokens(["<ent>"], special_tokens=True) == 1
    text = "MiniBERT says hello to <ent> and <ENT>, minibertish hellohello"
    assert ours.tokenize(text) == theirs.tokenize(text)
    enc, ref = ours(text, return_offsets_mapping=True), theirs(text, return_offsets_mapping=True)
    assert enc["input_ids"] == ref["input_ids"]
    assert enc["offset_mapping"] == [tuple(o) for o in ref["offset_mapping"]]
    assert len(ours) == len(theirs) == 30524 and ours.vocab_size == 30522
    assert ours.decode(enc["input_ids"], skip_special_tokens=True) == theirs.decode(ref["input_ids"], skip_special_tokens=True)
    ours.save_pretrained(tmp_path)
    assert BertTokenizer.from_pretrained(tmp_path).encode(text) == enc["input_ids"]
    assert transformers.BertTokenizer.from_pretrained(tmp_path).encode(text) == enc["input_ids"]


def test_pad_already_encoded_features_like_the_reference(tok, ref):
    features = [tok(t) for t in SENTENCES[:3]]
    ours = tok.pad(features, return_tensors="pt")
    theirs = ref.pad([ref(t) for t in SENTENCES[:3]], return_tensors="pt")
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key
    padded = tok.pad({"input_ids": [[5, 6], [7]]}, padding="max_length", max_length=4, pad_to_multiple_of=None)
    assert padded["input_ids"] == [[5, 6, 0, 0], [7, 0, 0, 0]] and padded["attention_mask"] == [[1, 1, 0, 0], [1, 0, 0, 0]]


def test_model_accepts_the_encoding(tok, minilm_dir):
    from minibert import BertModel

    model = BertModel.from_pretrained(minilm_dir)
    with torch.inference_mode():
        out = model(**tok(SENTENCES[:2], padding=True, return_tensors="pt"))
    assert out.last_hidden_state.shape[:2] == (2, len(tok(SENTENCES[:2], padding=True)["input_ids"][0]))


def test_missing_model_directory_and_offline_hub_id_are_clear_errors(tmp_path):
    from minibert import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="does not exist"):
        BertTokenizer.from_pretrained(tmp_path / "nowhere" / "x")
    with pytest.raises(ModelNotFoundError, match="vocab.txt"):
        BertTokenizer.from_pretrained(tmp_path)  # an empty directory
    with pytest.raises(ModelNotFoundError, match="cache"):
        BertTokenizer.from_pretrained("no-such-org/no-such-model", cache_dir=tmp_path)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda t: t("x", padding="sideways"), "padding"),
        (lambda t: t("x", truncation="middle"), "truncation"),
        (lambda t: t("x", max_length=0, truncation=True), "max_length"),
        (lambda t: t("x", return_tensors="tf"), "return_tensors"),
        (lambda t: t(["a", "b"], ["c"]), "pair up"),
        (lambda t: t("a", ["b"]), "both"),
        (lambda t: t("a b c d e f", truncation=True, max_length=6, stride=4, return_overflowing_tokens=True), "stride"),
        (lambda t: t("a", "b c d e f", truncation="only_second", max_length=3), "max_length"),
        (lambda t: t.decode([[1, 2]]), "flat list"),
        (lambda t: t.convert_ids_to_tokens([10**9]), "not in the vocabulary"),
        (lambda t: t.encode(["a", "b"]), "one string"),
        (lambda t: t.add_tokens([3]), "add_tokens"),
    ],
)
def test_bad_arguments_are_clear_errors(tok, call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call(tok)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(return_token_type_ids=False, return_attention_mask=False),
        dict(padding=True, pad_to_multiple_of=8, return_special_tokens_mask=True),
        dict(padding="max_length", max_length=20, truncation=True, add_special_tokens=False),
        dict(truncation=True, max_length=7, return_overflowing_tokens=True, stride=2, padding=True),
    ],
    ids=["no-types-no-mask", "multiple-of-8", "max-length-no-specials", "overflow-stride"],
)
def test_options_equal_the_reference(tok, ref, kwargs):
    ours, theirs = tok(SENTENCES, **kwargs), ref(SENTENCES, **kwargs)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == theirs[key], key


def test_left_padding_and_truncation_sides_equal_the_reference(minilm_dir):
    ours = BertTokenizer.from_pretrained(minilm_dir, padding_side="left", truncation_side="left")
    theirs = transformers.BertTokenizer.from_pretrained(minilm_dir, padding_side="left", truncation_side="left")
    kwargs = dict(padding=True, truncation=True, max_length=9)
    assert ours(SENTENCES, **kwargs)["input_ids"] == theirs(SENTENCES, **kwargs)["input_ids"]
    assert ours(SENTENCES, **kwargs)["attention_mask"] == theirs(SENTENCES, **kwargs)["attention_mask"]


def test_clean_up_setting_is_saved_and_read_like_transformers(minilm_dir, tmp_path):
    ours = BertTokenizer.from_pretrained(minilm_dir, clean_up_tokenization_spaces=True)
    ours.save_pretrained(tmp_path)
    theirs = transformers.BertTokenizer.from_pretrained(tmp_path)
    ids = theirs.encode("It's what they don't say.")
    assert BertTokenizer.from_pretrained(tmp_path).decode(ids) == theirs.decode(ids) == "[CLS] it's what they don't say. [SEP]"


def test_unknown_settings_are_refused(minilm_dir):
    with pytest.raises(TypeError, match="do_lowercase"):
        BertTokenizer.from_pretrained(minilm_dir, do_lowercase=False)


# ---- vocab.txt problems (issue 13, item 7) ------------------------------------------------


def _vocab_file(tmp_path, tokens: list[str], prefix: str = "") -> str:
    path = tmp_path / "vocab.txt"
    path.write_text(prefix + "".join(t + "\n" for t in tokens), encoding="utf-8")
    return str(path)


def test_a_duplicate_vocab_line_is_an_error_naming_the_line_and_token(tmp_path):
    # A second "[CLS]" would otherwise get a new id, past the rows of the model's embedding.
    path = _vocab_file(tmp_path, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "[CLS]"])
    with pytest.raises(ValueError, match=r"line 6: the token '\[CLS\]' is already on line 3"):
        BertTokenizer(path)


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_token(tmp_path):
    tok = BertTokenizer(_vocab_file(tmp_path, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"], prefix="\ufeff"))
    assert tok.pad_token_id == 0
    assert tok(["hello", "hello hello"], padding=True)["input_ids"][0] == [2, 4, 3, 0]


def test_missing_special_tokens_are_errors_naming_the_token_when_needed(tmp_path):
    tok = BertTokenizer(_vocab_file(tmp_path, ["[UNK]", "hello", "world"]))
    assert tok("hello world", add_special_tokens=False)["input_ids"] == [1, 2]  # needs none of them
    for call in (lambda: tok("hello"), lambda: tok.encode("hello"), lambda: tok.build_inputs_with_special_tokens([1])):
        with pytest.raises(ValueError, match=r"no '\[CLS\]' \(cls_token\).*add it to vocab.txt"):
            call()
    with pytest.raises(ValueError, match=r"no '\[PAD\]' \(pad_token\), which padding needs"):
        tok(["hello", "hello world"], add_special_tokens=False, padding=True)
    tok.save_pretrained(tmp_path / "saved")  # saving does not need them either
    assert BertTokenizer.from_pretrained(tmp_path / "saved").get_vocab() == tok.get_vocab()


# ---- bounded caches (issue 13, item 15) ------------------------------------------------------


def test_caches_hold_no_word_or_chunk_longer_than_the_bound(tiny_vocab):
    from minibert.tokenizer import MAX_WORD_CHARS

    tok = BertTokenizer(tiny_vocab)
    long_words = ["x" * 5000 + str(i) for i in range(3)] + ["é" * 5000, "hello," * 1000]
    ids = tok(" ".join(long_words + ["hello"]), return_offsets_mapping=True)["input_ids"]
    # Each long word is [UNK]; the long chunk of short words is tokenized as usual.
    assert ids == [2, 1, 1, 1, 1] + [10, 11] * 1000 + [10, 3]
    tok(" ".join(long_words))
    assert tok._wordpiece.cache and tok._chunk_cache  # short ones are cached
    assert max(len(word) for word in tok._wordpiece.cache) <= MAX_WORD_CHARS
    assert max(len(chunk) for chunk in tok._chunk_cache) <= MAX_WORD_CHARS


# ---- max_length too small for the special tokens (issue 13, item 13) -------------------------


@pytest.mark.parametrize(
    "args, kwargs, minimum",
    [
        (("hello world",), dict(truncation=True, max_length=2), 3),
        (("hello world",), dict(truncation="only_first", max_length=1), 3),
        (("hello world", "and more"), dict(truncation=True, max_length=3), 4),
        (("hello world", "and more"), dict(truncation="only_second", max_length=2), 4),
    ],
)
def test_max_length_without_room_for_text_is_a_clear_error(tok, args, kwargs, minimum):
    with pytest.raises(ValueError, match=f"max_length of at least {minimum}"):
        tok(*args, **kwargs)
    # A text that fits needs no cutting, so no error: an empty text is [CLS] [SEP].
    assert tok("", truncation=True, max_length=2)["input_ids"] == [101, 102]
