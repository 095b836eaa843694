"""Reading labelled text: CSV, TSV and JSON Lines, text pairs, and a clear DataError for each
mistake a data file can have."""

from __future__ import annotations

import json

import pytest

from minibert.data import DataError, Example, encode, label_names, read_examples


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_tsv_and_jsonl_give_the_same_examples(tmp_path):
    csv_file = write(tmp_path / "a.csv", 'text,label\n"Good, very good.",pos\nBad.,neg\n')
    tsv_file = write(tmp_path / "a.tsv", "text\tlabel\nGood, very good.\tpos\nBad.\tneg\n")
    jsonl_file = write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in [{"text": "Good, very good.", "label": "pos"}, {"text": "Bad.", "label": "neg"}]) + "\n\n")
    expected = [Example("Good, very good.", None, "pos"), Example("Bad.", None, "neg")]
    for path in (csv_file, tsv_file, jsonl_file):
        assert read_examples(path) == expected


def test_text_pairs_and_numeric_labels(tmp_path):
    path = write(tmp_path / "p.jsonl", '{"premise": "A dog runs.", "hypothesis": "An animal moves.", "y": 1}\n'
                                       '{"premise": "A cat sleeps.", "hypothesis": "A cat runs.", "y": 0}\n')
    examples = read_examples(path, "premise", "y", "hypothesis")
    assert examples[0] == Example("A dog runs.", "An animal moves.", "1")
    assert label_names(examples) == ["0", "1"]
    assert label_names([Example("a", label="10"), Example("b", label="9")]) == ["9", "10"]  # numbers sort as numbers


@pytest.mark.parametrize("content,suffix,message", [
    ("text,label\n", ".csv", "holds no examples"),
    ("sentence,label\nhello,pos\n", ".csv", "has no column 'text'; its columns are: sentence, label"),
    ("text,label\nfine,pos\n  ,neg\n", ".csv", "row 3: the 'text' column is empty"),
    ("text,label\nfine,\n", ".csv", "row 2: the 'label' column is empty"),
    ('{"text": "a", "label": "x"}\nnot json\n', ".jsonl", "line 2: not valid JSON"),
    ('["a", "x"]\n', ".jsonl", "not an object"),
    ('{"text": 5, "label": "x"}\n', ".jsonl", "holds 5, not text"),
    ("text,label\n", ".xlsx", "unknown file type '.xlsx'"),
])
def test_bad_files_are_explained(tmp_path, content, suffix, message):
    path = write(tmp_path / f"data{suffix}", content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_examples(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_examples(tmp_path / "nope.csv")


def test_a_label_seen_only_in_dev_is_an_error():
    train = [Example("a", label="pos"), Example("b", label="neg")]
    with pytest.raises(DataError, match="never shows: 'neutral'"):
        label_names(train, [Example("c", label="neutral")])
    with pytest.raises(DataError, match="only one label"):
        label_names(train[:1])


def test_encode_truncates_and_attaches_label_ids():
    class Tok:
        def __call__(self, texts, text_pair=None, truncation=True, max_length=None):
            ids = [[2] + [5] * len(t.split()) + [3] for t in texts]
            return {"input_ids": [i[:max_length] for i in ids], "token_type_ids": [[0] * len(i[:max_length]) for i in ids]}

    features = encode([Example("a b c d e f", label="pos"), Example("g", label="neg")], Tok(), {"neg": 0, "pos": 1}, 4)
    assert features == [{"input_ids": [2, 5, 5, 5], "token_type_ids": [0] * 4, "labels": 1},
                        {"input_ids": [2, 5, 3], "token_type_ids": [0] * 3, "labels": 0}]
