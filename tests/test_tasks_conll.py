"""Reading tagged words: CoNLL columns and JSON Lines, the tag set, the scheme, and a clear
DataError for each mistake such a file can have."""

from __future__ import annotations

import json

import pytest

from minibert.data import DataError
from minibert.tasks.conll import TaggedSentence, read_tagged, scheme, tag_names

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_conll_columns_word_first_tag_last_docstart_skipped(tmp_path):
    sentences = read_tagged(write(tmp_path / "train.conll", CONLL))
    assert [(s.words, s.tags) for s in sentences] == [
        (["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    ]
    assert sentences[1].where == f"{tmp_path / 'train.conll'}:8"


def test_conll_txt_tsv_and_jsonl_give_the_same_sentences(tmp_path):
    conll = read_tagged(write(tmp_path / "a.txt", "Paris B-LOC\nis O\n\n\n\nLe B-PER\n"))
    tsv = read_tagged(write(tmp_path / "a.tsv", "Paris\tB-LOC\nis\tO\n\nLe\tB-PER\n"))
    rows = [{"words": ["Paris", "is"], "ner": ["B-LOC", "O"]}, {"words": ["Le"], "ner": ["B-PER"]}]
    jsonl = read_tagged(write(tmp_path / "a.jsonl", "".join(json.dumps(r) + "\n" for r in rows)))
    for sentences in (conll, tsv, jsonl):
        assert [(s.words, s.tags) for s in sentences] == [(["Paris", "is"], ["B-LOC", "O"]), (["Le"], ["B-PER"])]


def test_tsv_words_may_hold_spaces(tmp_path):
    sentences = read_tagged(write(tmp_path / "a.tsv", "New York\tB-LOC\ncity\tO\n"))
    assert sentences[0].words == ["New York", "city"]


def test_json_lines_with_other_keys_and_integer_tags(tmp_path):
    path = write(tmp_path / "hf.jsonl", json.dumps({"tokens": ["Anna", "lives", "in", "Oslo"], "ner_tags": [1, 0, 0, 5]}) + "\n")
    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    sentences = read_tagged(path, words_column="tokens", tags_column="ner_tags", label_names=names)
    assert sentences[0].tags == ["B-PER", "O", "O", "B-LOC"]


def test_words_only(tmp_path):
    sentences = read_tagged(write(tmp_path / "a.conll", "Paris\nis\n\nnice\n"), tags_column=None)
    assert [(s.words, s.tags) for s in sentences] == [(["Paris", "is"], None), (["nice"], None)]


@pytest.mark.parametrize("name, content, message", [
    ("a.conll", "", "holds no sentences"),
    ("a.conll", "-DOCSTART- O\n\n", "holds no sentences"),
    ("a.jsonl", "\n", "holds no sentences"),
    ("a.conll", "EU NNP B-ORG\nrejects O\n", r"a.conll:2: 2 columns but the file's first line has 3"),
    ("a.conll", "EU\nrejects\n", r"a.conll:1: one column \('EU'\)"),
    ("a.conll", "EU B-ORG\n\nrejects X-PER\n", r"a.conll:3: 'X-PER' is not a tag of the IOB1, IOB2, IOBES or BILOU schemes"),
    ("a.conll", "EU B-ORG\nsays PER\n", r"a.conll:2: 'PER' is not a tag"),
    ("a.jsonl", '\n{"words": ["a", "b"], "ner": ["O"]}\n', r"a.jsonl, line 2: 2 words but 1 tags"),
    ("a.jsonl", '{"words": ["a"], "ner": ["O"]}\n{"words": ["a"], "tags": ["O"]}\n', "line 2 has no key 'ner'; its keys are: words, tags"),
    ("a.jsonl", '{"words": "a b", "ner": ["O"]}\n', "'words' must be a non-empty list of words"),
    ("a.jsonl", '{"words": [], "ner": []}\n', "'words' must be a non-empty list of words"),
    ("a.jsonl", '{"words": ["a"], "ner": [3]}\n', "holds integer tags; give the tag names too"),
    ("a.jsonl", '{"words": ["a"], "ner": [null]}\n', "must hold tags as strings, or integers"),
    ("a.jsonl", '{"words": ["a"], "ner": ["I-ORG"]}\n{"words": ["a"], "ner": ["B_ORG"]}\n', "line 2: 'B_ORG' is not a tag"),
    ("a.xlsx", "", "unknown file type '.xlsx'"),
])
def test_bad_files_are_explained(tmp_path, name, content, message):
    with pytest.raises(DataError, match=message):
        read_tagged(write(tmp_path / name, content))


def test_an_integer_tag_outside_the_names(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"words": ["a"], "ner": [3]}\n')
    with pytest.raises(DataError, match="tag 3 is not an index into the 2 tag names"):
        read_tagged(path, label_names=["O", "B-PER"])


def test_missing_file(tmp_path):
    for name in ("nope.conll", "nope.jsonl", "nope.xyz"):
        with pytest.raises(DataError, match="does not exist"):
            read_tagged(tmp_path / name)


def sentences(*tag_lists):
    return [TaggedSentence(["w"] * len(tags), list(tags), f"f:{i}") for i, tags in enumerate(tag_lists)]


def test_tag_names_sorted_with_o_first():
    assert tag_names(sentences(["B-PER", "I-PER", "O"], ["B-LOC", "O"])) == ["O", "B-LOC", "B-PER", "I-PER"]


def test_a_tag_only_the_evaluation_data_has_is_named():
    with pytest.raises(DataError, match=r"f:1: the evaluation data has tags the training data never shows: 'B-MISC'"):
        tag_names(sentences(["B-PER", "O"]), sentences(["O"], ["B-MISC", "O"]))


def test_training_data_without_entities_is_an_error():
    with pytest.raises(DataError, match="no entity tags"):
        tag_names(sentences(["O", "O"]))


def test_scheme_is_recognised():
    assert scheme(sentences(["B-PER", "I-PER"], ["O", "B-LOC"])) == "IOB2"
    assert scheme(sentences(["I-PER", "I-PER"], ["O", "I-LOC", "B-LOC"])) == "IOB1"
    assert scheme(sentences(["S-PER"], ["B-LOC", "E-LOC"])) == "IOBES"
    assert scheme(sentences(["U-PER"], ["B-LOC", "L-LOC"])) == "BILOU"
    with pytest.raises(DataError, match="mixes IOBES tags"):
        scheme(sentences(["S-PER"], ["B-LOC", "L-LOC"]))


def test_the_bundled_ner_data_reads_cleanly():
    from importlib import resources

    folder = resources.files("minibert") / "datasets"
    train = read_tagged(folder / "ner_train.conll")
    dev = read_tagged(folder / "ner_dev.conll")
    assert (len(train), len(dev)) == (414, 106)
    assert tag_names(train, dev) == ["O"] + [f"{p}-{t}" for p in "BI" for t in ("LOC", "MISC", "ORG", "PER")]
    assert scheme(train) == scheme(dev) == "IOB2"
