"""Labelled text from CSV or JSON Lines files, checked, then tokenized into training features.

A file holds one example per row (CSV, with a header) or per line (JSON Lines, one object per
line); a text column, optionally a second text column for text pairs (entailment, question /
answer), and a label column. Everything a user can get wrong in such a file is reported as a
`DataError` that names the file, the row and the column.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

CSV_SUFFIXES = (".csv", ".tsv")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


class DataError(ValueError):
    """A data file that cannot be used as it is: missing, empty, a missing column or value."""


@dataclass
class Example:
    text: str
    text_pair: str | None = None
    label: str | None = None


def read_rows(path: str | os.PathLike) -> list[tuple[int, dict]]:
    """The rows of a CSV/TSV file (first line: the column names) or a JSON Lines file, each with
    the file line it starts on (blank lines are skipped but counted, so errors can name the line)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_file() and suffix not in JSONL_SUFFIXES + CSV_SUFFIXES:
        raise DataError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; use .csv, .tsv or .jsonl")
    text = read_text(path)
    if suffix in JSONL_SUFFIXES:
        return _jsonl_rows(path, text)
    return _csv_rows(path, text, delimiter="\t" if suffix == ".tsv" else ",")


def read_text(path: str | os.PathLike) -> str:
    """The whole of a UTF-8 text file (a leading byte-order mark dropped), or a DataError naming
    the file, and the byte offset of the first undecodable byte."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if not path.is_file():
        raise DataError(f"{path} is not a file")
    raw = path.read_bytes()
    skip = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0  # offsets count in the file, BOM included
    try:
        return raw[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {skip + exc.start})") from None


def text_lines(text: str) -> list[str]:
    """One text per line, stripped, blank lines dropped. Only "\n" ends a line (a "\r" before
    it is stripped): U+2028, U+0085 and \x0b are characters of the text, as in read_rows."""
    return [line.strip() for line in text.split("\n") if line.strip()]


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    # Only "\n" ends a JSON Lines record: str.splitlines() would also split on U+2028, U+0085
    # and \x0b, which JSON allows inside strings.
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg}); JSON Lines needs one object per line") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}, line {number}: a JSON {type(row).__name__}, not an object with named fields")
        rows.append((number, row))
    return rows


def _csv_rows(path: Path, text: str, delimiter: str) -> list[tuple[int, dict]]:
    # The csv module reads a quoted field across line breaks; newline="" hands it the line
    # endings untouched, and only \n, \r and \r\n end a line (not U+2028 and the like).
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header, rows, previous_end = None, [], 0
    for fields in reader:
        number, previous_end = previous_end + 1, reader.line_num
        if not any(field.strip() for field in fields):
            continue
        if header is None:
            header = fields
            continue
        if len(fields) > len(header):
            raise DataError(
                f"{path}, line {number}: {len(fields)} fields but the header names {len(header)} columns; "
                f"put a field that contains {delimiter!r} in double quotes"
            )
        rows.append((number, dict(zip(header, fields + [None] * (len(header) - len(fields))))))
    return rows


def read_examples(
    path: str | os.PathLike,
    text_column: str = "text",
    label_column: str | None = "label",
    text_pair_column: str | None = None,
) -> list[Example]:
    """Read and check one file: every row needs a non-empty text (and pair) and a label."""
    rows = read_rows(path)
    if not rows:
        raise DataError(f"{path} holds no examples")
    columns = [c for c in (text_column, text_pair_column, label_column) if c is not None]
    present = list(rows[0][1].keys())
    for column in columns:
        if column not in present:
            raise DataError(f"{path} has no column {column!r}; its columns are: {', '.join(map(str, present))}")
    examples = []
    for line, row in rows:
        values = {}
        for column in columns:
            value = row.get(column)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise DataError(f"{path}, line {line}: the {column!r} column is empty")
            if column == label_column:
                value = _label(value)
                if value is None:
                    raise DataError(
                        f"{path}, line {line}: the {column!r} column holds {row[column]!r}; "
                        "a label must be a string or a whole number"
                    )
            elif not isinstance(value, str):
                raise DataError(f"{path}, line {line}: the {column!r} column holds {value!r}, not text")
            values[column] = value
        examples.append(Example(values[text_column], values.get(text_pair_column), values.get(label_column)))
    return examples


def _label(value) -> str | None:
    """The label's name: a string as written (stripped); a whole number as its digits, so that
    1, "1", 1.0 and "1.0" are one label. None for anything else (true, 0.5, lists, objects)."""
    if isinstance(value, bool):  # before int: bool is an int subclass, and true is not the label 1
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else None
    if isinstance(value, str):
        value = value.strip()
        return str(int(value.split(".")[0])) if _WHOLE_NUMBER_WITH_DECIMALS.fullmatch(value) else value
    return None


# "1.0": how spreadsheets and pandas write a whole-number label once the column holds floats.
_WHOLE_NUMBER_WITH_DECIMALS = re.compile(r"[+-]?[0-9]+\.0*")


def label_names(train: Sequence[Example], dev: Sequence[Example] = ()) -> list[str]:
    """The training labels, sorted (numerically when they are all numbers). A label that only
    the dev set has could never be predicted: an error, not a silent zero score."""
    names = sorted({e.label for e in train}, key=lambda s: (0, float(s), s) if _is_number(s) else (1, 0.0, s))
    if len(names) < 2:
        raise DataError(f"the training data has only one label ({names[0]!r}); a classifier needs at least two")
    unseen = sorted({e.label for e in dev} - set(names))
    if unseen:
        raise DataError(
            f"the evaluation data has labels the training data never shows: {', '.join(map(repr, unseen))}; "
            "add training examples for them or remove them from the evaluation data"
        )
    return names


def encode(examples: Sequence[Example], tokenizer, label2id: dict[str, int] | None, max_length: int) -> list[dict]:
    """Tokenize (truncating to max_length tokens, no padding: batches are padded later, each
    to its own longest member) and attach the label ids."""
    texts = [e.text for e in examples]
    pairs = [e.text_pair for e in examples] if examples and examples[0].text_pair is not None else None
    encoded = tokenizer(texts, text_pair=pairs, truncation=True, max_length=max_length)
    types = encoded.get("token_type_ids") or [[0] * len(ids) for ids in encoded["input_ids"]]
    features = []
    for example, ids, t in zip(examples, encoded["input_ids"], types):
        feature = {"input_ids": list(ids), "token_type_ids": list(t)}
        if label2id is not None:
            feature["labels"] = label2id[example.label]
        features.append(feature)
    return features


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False
