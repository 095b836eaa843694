"""Pre-training data: documents, NSP pairs, sharding, and BERT's masked-LM collator.

The pair tests use a tokenizer whose token ids say where the token came from
(id = FIRST_ID + document * 10000 + position in the document), so "B follows A in the same
document" can be checked exactly. The masking proportions are checked statistically: with
n draws of probability p the count lies within 5 standard deviations, sqrt(n p (1-p)), of
n p except with probability below 1e-6.
"""

from __future__ import annotations

import math
import random

import pytest
import torch

from minibert.pretraining_data import (
    IGNORE_INDEX,
    DataCollatorForLanguageModeling,
    CorpusError,
    PretrainingDataset,
    corpus_files,
    count_documents,
    find_corpus_files,
    read_documents,
    truncate_pair,
)

PAD, CLS, SEP, MASK, FIRST_ID = 0, 1, 2, 3, 10


class NumberTokenizer:
    """Tokens are decimal numbers in the text; their id is FIRST_ID + the number."""

    pad_token_id, cls_token_id, sep_token_id, mask_token_id = PAD, CLS, SEP, MASK
    all_special_ids = [PAD, CLS, SEP, MASK]
    vocab_size = 1000

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int]:
        return [FIRST_ID + int(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        # Odd ids are "##" continuation pieces, so whole-word masking has words of several pieces.
        return [f"##{i}" if i >= FIRST_ID and i % 2 else str(i) for i in ids]


def write_numbered_corpus(path, documents: int, lines: int, rng: random.Random) -> None:
    """Documents separated by blank lines; each token is document * 10000 + its position."""
    blocks = []
    for d in range(documents):
        position, block = 0, []
        for _ in range(lines):
            n = rng.randint(1, 30)
            block.append(" ".join(str(d * 10000 + position + k) for k in range(n)))
            position += n
        blocks.append("\n".join(block))
    path.write_text("\n\n".join(blocks) + "\n")


@pytest.fixture(scope="module")
def numbered_corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "numbers.txt"
    write_numbered_corpus(path, documents=40, lines=30, rng=random.Random(0))
    return path


def split_pair(example):
    ids, types = example["input_ids"], example["token_type_ids"]
    assert ids[0] == CLS and ids[-1] == SEP
    n_a = types.index(1) - 2
    assert ids[n_a + 1] == SEP and all(t == 0 for t in types[: n_a + 2]) and all(t == 1 for t in types[n_a + 2 :])
    return [i - FIRST_ID for i in ids[1 : n_a + 1]], [i - FIRST_ID for i in ids[n_a + 2 : -1]]


# ---- documents ------------------------------------------------------------------------


def test_blank_lines_separate_documents_and_one_per_file_ignores_them(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n\n\nthree\n")
    (tmp_path / "b.txt").write_text("four\n\nfive\n")
    files = corpus_files(tmp_path)
    assert list(read_documents(files)) == [["one", "two"], ["three"], ["four"], ["five"]]
    assert list(read_documents(files, one_document_per_file=True)) == [["one", "two", "three"], ["four", "five"]]


def test_documents_are_read_lazily(tmp_path):
    first = tmp_path / "first.txt"
    first.write_text("hello\n")
    documents = read_documents([first, tmp_path / "deleted-later.txt"])
    assert next(documents) == ["hello"]  # the second file is not opened before it is needed


def test_missing_corpus_path_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        corpus_files([tmp_path / "nope.txt"])


def test_in_a_directory_only_text_files_are_read(tmp_path):
    for name in ("a.txt", "b.TEXT", "wiki_00", "model.safetensors", "optimizer.pt", "config.json", "notes.md"):
        (tmp_path / name).write_text("hello\n")
    files, skipped = find_corpus_files(tmp_path)
    assert [p.name for p in files] == ["a.txt", "b.TEXT", "wiki_00"]
    assert [p.name for p in skipped] == ["config.json", "model.safetensors", "notes.md", "optimizer.pt"]


def test_a_directory_without_text_files_is_an_error(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"\x08\0\0\0\0\0\0\0{}      ")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CorpusError, match=r"holds no text files \(\*\.txt, \*\.text\); it holds config.json, model.safetensors"):
        corpus_files(tmp_path)


def test_a_binary_file_given_by_name_is_not_text(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_bytes(b"PK\x03\x04\0\0" + bytes(100))
    with pytest.raises(CorpusError, match=r"weights.txt is not a text file \(it holds NUL bytes\)"):
        corpus_files(path)


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_undecodable_bytes_name_the_file_and_the_byte(tmp_path, bom):
    path = tmp_path / "latin1.txt"
    path.write_bytes(bom + "hello\n\ncaf\u00e9 au lait\n".encode("latin-1"))  # \xe9 is byte 10 after the BOM
    with pytest.raises(CorpusError, match=rf"latin1.txt is not UTF-8 text \(invalid continuation byte at byte {len(bom) + 10}\)"):
        count_documents([path])


def test_a_byte_order_mark_is_not_text(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfhello\nworld\n\nagain\n")
    assert list(read_documents([path])) == [["hello", "world"], ["again"]]
    assert count_documents([path]) == 2


# ---- sentence pairs -------------------------------------------------------------------


@pytest.fixture(scope="module")
def examples(numbered_corpus):
    return list(PretrainingDataset(numbered_corpus, NumberTokenizer(), max_length=64, seed=1, buffer_size=8))


def test_pairs_are_cls_a_sep_b_sep_within_max_length(examples):
    assert len(examples) > 300
    for example in examples:
        assert len(example["input_ids"]) <= 64 and len(example["input_ids"]) == len(example["token_type_ids"])
        a, b = split_pair(example)
        assert a and b


def test_true_next_pairs_continue_their_document_and_random_ones_come_from_another(examples):
    for example in examples:
        a, b = split_pair(example)
        doc_a, doc_b = {t // 10000 for t in a}, {t // 10000 for t in b}
        assert len(doc_a) == 1 and len(doc_b) == 1, "A and B are each one stretch of one document"
        if example["next_sentence_label"] == 0:
            assert doc_a == doc_b and max(a) < min(b), "B is the text after A"
        else:
            assert doc_a != doc_b


def test_half_of_the_pairs_are_random(examples):
    n = len(examples)
    randoms = sum(e["next_sentence_label"] for e in examples)
    assert abs(randoms - n / 2) <= 5 * math.sqrt(n * 0.25)


def test_pairs_are_packed_to_max_length(examples):
    # All but the short-sequence fraction (10%) and documents' last pieces fill most of the window.
    long = sum(len(e["input_ids"]) >= 48 for e in examples)
    assert long / len(examples) > 0.6


def test_same_seed_same_pairs_other_seed_or_epoch_other_pairs(numbered_corpus, examples):
    tokenizer = NumberTokenizer()
    again = PretrainingDataset(numbered_corpus, tokenizer, max_length=64, seed=1, buffer_size=8)
    assert list(again) == examples
    again.set_epoch(1)
    assert list(again) != examples
    assert list(PretrainingDataset(numbered_corpus, tokenizer, max_length=64, seed=2, buffer_size=8)) != examples


def test_each_rank_reads_its_own_shard_of_documents(numbered_corpus):
    def documents(rank: int) -> set[int]:
        data = PretrainingDataset(numbered_corpus, NumberTokenizer(), max_length=64, rank=rank, world_size=2)
        return {split_pair(e)[0][0] // 10000 for e in data}

    rank0, rank1 = documents(0), documents(1)
    assert rank0 == set(range(0, 40, 2)) and rank1 == set(range(1, 40, 2))


def test_a_single_document_cannot_make_random_pairs(tmp_path):
    path = tmp_path / "one.txt"
    path.write_text("\n".join(" ".join(str(10 * i + k) for k in range(10)) for i in range(20)))
    with pytest.raises(CorpusError, match="at least two documents, but the corpus has only one: separate documents with "
                                          r"blank lines, give one document per file \(one_document_per_file=True\)") as error:
        list(PretrainingDataset(path, NumberTokenizer(), max_length=16))
    assert "rank" not in str(error.value) and "process" not in str(error.value)  # one process has no ranks to speak of


def test_without_nsp_segments_are_packed_lines_of_one_document(numbered_corpus):
    data = PretrainingDataset(numbered_corpus, NumberTokenizer(), max_length=32, next_sentence=False)
    examples = list(data)
    assert len(examples) > 300
    for example in examples:
        ids = example["input_ids"]
        assert "next_sentence_label" not in example and example["token_type_ids"] == [0] * len(ids)
        assert ids[0] == CLS and ids[-1] == SEP and 3 <= len(ids) <= 32
        tokens = [i - FIRST_ID for i in ids[1:-1]]
        assert tokens == list(range(tokens[0], tokens[0] + len(tokens))), "consecutive text of one document"


def test_truncate_pair_trims_the_longer_segment_and_keeps_both():
    a, b = list(range(10)), list(range(100, 103))
    truncate_pair(a, b, 6, random.Random(0))
    assert len(a) + len(b) == 6 and b == [100, 101, 102]
    a, b = [1], list(range(50))
    truncate_pair(a, b, 5, random.Random(0))
    assert a == [1] and len(b) == 4


# ---- masked language modelling --------------------------------------------------------


def random_batch(B: int, S: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    examples = []
    for row in range(B):
        n = int(torch.randint(S // 2, S + 1, (1,), generator=g))
        ids = torch.randint(FIRST_ID, NumberTokenizer.vocab_size, (n,), generator=g).tolist()
        ids[0], ids[n // 2], ids[-1] = CLS, SEP, SEP
        examples.append({"input_ids": ids, "token_type_ids": [0] * n, "next_sentence_label": row % 2})
    return examples


def within_5_sigma(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 5 * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("whole_word_mask", [False, True])
def test_mask_proportions_are_bert_s(whole_word_mask):
    examples = random_batch(400, 128, seed=0)
    collator = DataCollatorForLanguageModeling(
        NumberTokenizer(), whole_word_mask=whole_word_mask, generator=torch.Generator().manual_seed(0)
    )
    batch = collator(examples)
    ids = torch.full_like(batch["input_ids"], PAD)
    for row, e in enumerate(examples):
        ids[row, : len(e["input_ids"])] = torch.tensor(e["input_ids"])
    candidates = ~torch.isin(ids, torch.tensor(NumberTokenizer.all_special_ids))
    chosen = batch["labels"] != IGNORE_INDEX
    assert torch.equal(batch["labels"][chosen], ids[chosen]), "labels are the original ids"
    assert not (chosen & ~candidates).any(), "specials and padding are never chosen"
    assert torch.equal(batch["input_ids"][~chosen], ids[~chosen]), "what is not chosen is not changed"
    assert int(candidates.sum()) > 20000

    n, k = int(candidates.sum()), int(chosen.sum())
    if whole_word_mask:
        # Words are chosen with p = 0.15; tokens follow, so count words.
        starts = candidates & ~collator.is_continuation[ids]
        word_chosen = chosen & starts
        assert within_5_sigma(int(word_chosen.sum()), int(starts.sum()), 0.15)
    else:
        assert within_5_sigma(k, n, 0.15)
    masked = int((batch["input_ids"][chosen] == MASK).sum())
    unchanged = int((batch["input_ids"][chosen] == ids[chosen]).sum())
    assert within_5_sigma(masked, k, 0.8)
    # A random token equals the original with probability 1/vocab: "unchanged" is 10% plus that.
    assert within_5_sigma(unchanged, k, 0.1 + 0.1 / NumberTokenizer.vocab_size)
    assert within_5_sigma(k - masked - unchanged, k, 0.1 - 0.1 / NumberTokenizer.vocab_size)


def test_whole_word_masking_keeps_a_word_s_pieces_together():
    examples = random_batch(200, 64, seed=1)
    collator = DataCollatorForLanguageModeling(NumberTokenizer(), whole_word_mask=True, generator=torch.Generator().manual_seed(1))
    batch = collator(examples)
    chosen = batch["labels"] != IGNORE_INDEX
    words_seen = 0
    for row, e in enumerate(examples):
        pieces = NumberTokenizer().convert_ids_to_tokens(e["input_ids"])
        word: list[int] = []
        for position, piece in enumerate(pieces + ["<end>"]):
            if not piece.startswith("##") and word:
                if e["input_ids"][word[0]] not in NumberTokenizer.all_special_ids:
                    flags = {bool(chosen[row, p]) for p in word}
                    assert len(flags) == 1, f"word at {word} partly chosen"
                    words_seen += len(word) > 1 and flags == {True}
                word = []
            word.append(position)
    assert words_seen > 50  # multi-piece words were chosen, whole


def test_collator_pads_and_passes_nsp_labels():
    examples = [
        {"input_ids": [CLS, 20, SEP, 30, SEP], "token_type_ids": [0, 0, 0, 1, 1], "next_sentence_label": 1},
        {"input_ids": [CLS, 20, SEP], "token_type_ids": [0, 0, 0], "next_sentence_label": 0},
    ]
    batch = DataCollatorForLanguageModeling(NumberTokenizer())(examples)
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert batch["input_ids"][1, 3:].tolist() == [PAD, PAD] and batch["labels"][1, 3:].tolist() == [IGNORE_INDEX] * 2
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]]
    assert batch["next_sentence_label"].tolist() == [1, 0]


def test_masks_are_reproducible_with_a_generator():
    examples = random_batch(8, 32, seed=2)
    first = DataCollatorForLanguageModeling(NumberTokenizer(), generator=torch.Generator().manual_seed(5))(examples)
    second = DataCollatorForLanguageModeling(NumberTokenizer(), generator=torch.Generator().manual_seed(5))(examples)
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_bad_mlm_probability_is_rejected():
    with pytest.raises(ValueError, match="mlm_probability"):
        DataCollatorForLanguageModeling(NumberTokenizer(), mlm_probability=1.5)


def test_whole_word_masking_on_real_wordpieces(corpus_dir, minilm_dir):
    """With the real vocabulary: no word of the real corpus is ever split by the mask."""
    tokenizer = real_tokenizer(minilm_dir)
    lines = (corpus_dir / "en_debian_reference.txt").read_text(encoding="utf-8").splitlines()[:400]
    encoded = [tokenizer(line, truncation=True, max_length=64)["input_ids"] for line in lines if line.strip()]
    examples = [{"input_ids": ids} for ids in encoded]
    collator = DataCollatorForLanguageModeling(tokenizer, whole_word_mask=True, generator=torch.Generator().manual_seed(0))
    batch = collator(examples)
    chosen = batch["labels"] != IGNORE_INDEX
    original = batch["input_ids"].where(~chosen, batch["labels"])  # (B, S): the ids before masking
    continuation = collator.is_continuation[original]
    # A chosen ## piece never follows an unchosen token, and an unchosen ## piece never follows a chosen one.
    follows = continuation[:, 1:] & batch["attention_mask"][:, 1:].bool()
    assert torch.equal(chosen[:, 1:][follows], chosen[:, :-1][follows])
    assert int(follows.sum()) > 100 and int(chosen.sum()) > 0


def real_tokenizer(model_dir):
    """minibert's own tokenizer where it exists; transformers' (the reference) before it lands."""
    try:
        from minibert import BertTokenizer
    except ImportError:
        from transformers import BertTokenizerFast as BertTokenizer
    return BertTokenizer.from_pretrained(str(model_dir))
