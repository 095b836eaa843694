"""Reading labelled text: CSV, TSV and JSON Lines, text pairs, and a clear DataError for each
mistake a data file can have."""

from __future__ import annotations

import json

import pytest

from minibert import data
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
    ("text,label\nfine,pos\n  ,neg\n", ".csv", "line 3: the 'text' column is empty"),
    ("text,label\nfine,\n", ".csv", "line 2: the 'label' column is empty"),
    ('{"text": "a", "label": "x"}\nnot json\n', ".jsonl", "line 2: not valid JSON"),
    ('["a", "x"]\n', ".jsonl", "not an object"),
    ('{"text": 5, "label": "x"}\n', ".jsonl", "holds 5, not text"),
    ("text,label\n", ".xlsx", "unknown file type '.xlsx'"),
])
def test_bad_files_are_explained(tmp_path, content, suffix, message):
    path = write(tmp_path / f"data{suffix}", content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_examples(path)


def test_a_quoted_csv_field_keeps_its_line_break(tmp_path):
    path = write(tmp_path / "a.csv", 'text,label\n"great\nproduct",pos\n"bad\r\nthing",neg\n')
    assert read_examples(path) == [Example("great\nproduct", None, "pos"), Example("bad\r\nthing", None, "neg")]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c"])
def test_unicode_line_separators_are_text_not_line_breaks(tmp_path, separator):
    csv_file = write(tmp_path / "a.csv", f"text,label\none{separator}two,pos\nthree,neg\n")
    assert read_examples(csv_file) == [Example(f"one{separator}two", None, "pos"), Example("three", None, "neg")]
    # JSON allows U+2028, U+2029 and U+0085 unescaped inside a string (not the control characters)
    if separator in "\u2028\u2029\x85":
        jsonl_file = write(tmp_path / "a.jsonl", f'{{"text": "one{separator}two", "label": "pos"}}\n{{"text": "three", "label": "neg"}}\n')
        assert read_examples(jsonl_file) == [Example(f"one{separator}two", None, "pos"), Example("three", None, "neg")]


def test_a_row_with_more_fields_than_the_header_is_an_error(tmp_path):
    path = write(tmp_path / "a.csv", "text,label\nGood, very good.,pos\n")
    with pytest.raises(DataError, match="line 2: 3 fields but the header names 2 columns; put a field that contains ',' in double quotes"):
        read_examples(path)


def test_undecodable_bytes_name_the_file_and_byte_offset(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\u00e9,pos\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.csv is not UTF-8 text \(invalid continuation byte at byte 14\)"):
        read_examples(path)


def test_errors_name_the_file_line_after_blank_lines_and_multi_line_fields(tmp_path):
    csv_file = write(tmp_path / "a.csv", 'text,label\nfine,pos\n\n\n"two\nlines",neg\n  ,neg\n')
    with pytest.raises(DataError, match="a.csv, line 7: the 'text' column is empty"):
        read_examples(csv_file)
    jsonl_file = write(tmp_path / "a.jsonl", '{"text": "a", "label": "x"}\n\n  \n{"text": 5, "label": "y"}\n')
    with pytest.raises(DataError, match="a.jsonl, line 4: the 'text' column holds 5, not text"):
        read_examples(jsonl_file)


def test_equal_numbers_are_one_label(tmp_path):
    jsonl_file = write(tmp_path / "a.jsonl", "".join(
        json.dumps({"text": t, "label": y}) + "\n" for t, y in [("a", 1), ("b", "1"), ("c", 1.0), ("d", 0), ("e", " 0 ")]))
    assert [e.label for e in read_examples(jsonl_file)] == ["1", "1", "1", "0", "0"]
    csv_file = write(tmp_path / "a.csv", "text,label\na,1\nb,1.0\nc,2\n")
    assert label_names(read_examples(csv_file)) == ["1", "2"]


@pytest.mark.parametrize("label", [True, False, 0.5, [1], {"name": "pos"}, float("inf")])
def test_a_label_must_be_a_string_or_a_whole_number(tmp_path, label):
    path = write(tmp_path / "a.jsonl", '{"text": "a", "label": "pos"}\n' + json.dumps({"text": "b", "label": label}) + "\n")
    with pytest.raises(DataError, match=r"a.jsonl, line 2: the 'label' column holds .*; a label must be a string or a whole number"):
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


def test_text_files_split_on_line_feeds_only_and_name_undecodable_bytes(tmp_path):
    """The one-text-per-line files of predict, embed and search: U+2028, U+0085 and \\x0b stay
    inside their text (as in CSV and JSON Lines); a CRLF file reads as its lines."""
    assert data.text_lines("a\u2028b\u0085c\x0bd\r\n\n  e  \n") == ["a\u2028b\u0085c\x0bd", "e"]
    path = tmp_path / "texts.txt"
    path.write_bytes(b"\xef\xbb\xbfok\nbad \xff byte\n")
    with pytest.raises(data.DataError, match=r"texts.txt is not UTF-8 text \(invalid start byte at byte 10\)"):
        data.read_text(path)
    path.write_bytes(b"\xef\xbb\xbfok\n")
    assert data.read_text(path) == "ok\n"
