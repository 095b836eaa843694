"""Words with one tag each: the CoNLL-2003 column format and JSON Lines, checked.

CoNLL (.conll, .txt, .tsv): one word per line, its tag in the last column, the columns
separated by spaces (by tabs in .tsv), a blank line after each sentence; `-DOCSTART-` lines
mark documents and are skipped:

    -DOCSTART- -X- -X- O

    EU NNP B-NP B-ORG
    rejects VBZ B-VP O
    German JJ B-NP B-MISC

JSON Lines (.jsonl, .json, .ndjson): one sentence per line, {"words": [...], "ner": [...]}
(other keys by name, e.g. tokens / ner_tags), the tags as strings or as integers that index
a list of tag names.

Every tag must belong to one of the IOB1, IOB2, IOBES or BILOU schemes (`metrics.split_tag`);
everything a user can get wrong in such a file is a `DataError` that says where.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from minibert import metrics
from minibert.data import JSONL_SUFFIXES, DataError, read_rows

COLUMN_SUFFIXES = (".conll", ".txt", ".tsv")
DOCSTART = "-DOCSTART-"


@dataclass
class TaggedSentence:
    words: list[str]
    tags: list[str] | None  # None: words to be tagged
    where: str = ""  # "file:line" (CoNLL) or "file, line n" (JSON Lines): for error messages


def read_tagged(
    path: str | os.PathLike,
    words_column: str = "words",
    tags_column: str | None = "ner",
    label_names: Sequence[str] | None = None,
) -> list[TaggedSentence]:
    """Read one file of tagged sentences, CoNLL columns or JSON Lines by its suffix.

    `words_column`, `tags_column`: the JSON keys (CoNLL files: the first and the last column).
    `tags_column=None` reads words only. `label_names`: the tag of each integer in JSON files
    whose tags are integers (as in the Hugging Face `conll2003` data set)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in COLUMN_SUFFIXES:
        sentences = _read_columns(path, with_tags=tags_column is not None)
    elif suffix in JSONL_SUFFIXES:
        sentences = _read_json_lines(path, words_column, tags_column, label_names)
    elif not path.is_file():
        raise DataError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    else:
        raise DataError(
            f"{path}: unknown file type {suffix or '(no suffix)'!r}; use CoNLL columns (.conll, .txt, .tsv) or JSON Lines (.jsonl)"
        )
    if not sentences:
        raise DataError(f"{path} holds no sentences")
    for sentence in sentences:
        for i, tag in enumerate(sentence.tags or ()):
            try:
                metrics.split_tag(tag)
            except ValueError as exc:
                where = sentence.where if suffix not in COLUMN_SUFFIXES else _line_of(sentence.where, i)
                raise DataError(f"{where}: {exc}") from None
    return sentences


def _read_columns(path: Path, with_tags: bool) -> list[TaggedSentence]:
    text = _read_text(path)
    separator = "\t" if path.suffix.lower() == ".tsv" else None  # None: any run of spaces
    sentences: list[TaggedSentence] = []
    words: list[str] = []
    tags: list[str] = []
    first_line = columns = None  # the first token line sets the number of columns for the file

    def close_sentence():
        if words:
            sentences.append(TaggedSentence(list(words), list(tags) if with_tags else None, f"{path}:{first_line}"))
        words.clear()
        tags.clear()

    # Only "\n" ends a line (and "\r\n"): a word may hold any other character str.splitlines() breaks at.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        fields = [f.strip() for f in line.split(separator)] if line.strip() else []
        if not fields:
            close_sentence()
            continue
        if fields[0] == DOCSTART:
            close_sentence()
            continue
        if columns is None:
            columns = len(fields)
            if with_tags and columns < 2:
                raise DataError(
                    f"{path}:{number}: one column ({line.strip()!r}); a CoNLL line holds a word and its tag (in the last column)"
                )
        elif len(fields) != columns:
            raise DataError(
                f"{path}:{number}: {len(fields)} columns but the file's first line has {columns}; every line must "
                f"hold the word first and the tag last{' (columns separated by tabs)' if separator else ''}"
            )
        if not words:
            first_line = number
        words.append(fields[0])
        tags.append(fields[-1])
    close_sentence()
    return sentences


def _line_of(where: str, token: int) -> str:
    """`file:first_line` of a sentence -> `file:line` of its token-th word (CoNLL: one per line)."""
    file, _, line = where.rpartition(":")
    return f"{file}:{int(line) + token}"


def _read_json_lines(
    path: Path, words_column: str, tags_column: str | None, label_names: Sequence[str] | None
) -> list[TaggedSentence]:
    sentences = []
    for number, row in read_rows(path):
        where = f"{path}, line {number}"
        for column in (words_column, tags_column):
            if column is not None and column not in row:
                raise DataError(f"{where} has no key {column!r}; its keys are: {', '.join(map(str, row))}")
        words = row[words_column]
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
            raise DataError(f"{where}: {words_column!r} must be a non-empty list of words (non-empty strings), got {words!r}")
        tags = None
        if tags_column is not None:
            tags = _tag_names(row[tags_column], label_names, f"{where}: {tags_column!r}")
            if len(tags) != len(words):
                raise DataError(f"{where}: {len(words)} words but {len(tags)} tags; give every word one tag")
        sentences.append(TaggedSentence(words, tags, where))
    return sentences


def _tag_names(tags, label_names: Sequence[str] | None, where: str) -> list[str]:
    if not isinstance(tags, list):
        raise DataError(f"{where} must be a list of tags, got {tags!r}")
    if all(isinstance(t, str) for t in tags):
        return tags
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in tags):
        raise DataError(f"{where} must hold tags as strings, or integers with the list of tag names; got {tags!r}")
    if label_names is None:
        raise DataError(f"{where} holds integer tags; give the tag names too (label_names, --label-names O,B-PER,I-PER,...)")
    bad = next((t for t in tags if not 0 <= t < len(label_names)), None)
    if bad is not None:
        raise DataError(f"{where}: tag {bad} is not an index into the {len(label_names)} tag names")
    return [label_names[t] for t in tags]


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if not path.is_file():
        raise DataError(f"{path} is not a file")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


# ---------------------------------------------------------------------------------------
# The tag set
# ---------------------------------------------------------------------------------------


def tag_names(train: Sequence[TaggedSentence], dev: Sequence[TaggedSentence] = ()) -> list[str]:
    """The training tags, sorted, "O" first. A tag that only the evaluation data has could
    never be predicted: an error naming it, not a silently lower score."""
    seen = {t for s in train for t in s.tags}
    names = sorted(seen - {"O"})
    if not names:
        raise DataError("the training data has no entity tags (every word is O); a tagger needs at least one entity")
    names = ["O", *names] if "O" in seen else names
    for sentence in dev:
        unseen = sorted(set(sentence.tags) - seen)
        if unseen:
            raise DataError(
                f"{sentence.where}: the evaluation data has tags the training data never shows: "
                f"{', '.join(map(repr, unseen))}; add training sentences with them or remove them from the evaluation data"
            )
    return names


def scheme(sentences: Sequence[TaggedSentence]) -> str:
    """The tagging scheme of these sentences: "IOB1", "IOB2", "IOBES" or "BILOU"
    (see `metrics.detect_scheme`). IOBES and BILOU letters in one data set are an error."""
    letters = {t[0] for s in sentences for t in s.tags}
    if letters & {"E", "S"} and letters & {"L", "U"}:
        raise DataError("the data mixes IOBES tags (E-, S-) with BILOU tags (L-, U-); use one scheme")
    return metrics.detect_scheme([s.tags for s in sentences])
