"""Question answering data in the SQuAD formats, read and checked.

Two layouts hold the same thing, a question about a context and the gold answers as spans of it:

* the official SQuAD v1.1 / v2.0 JSON, nested:
  `{"data": [{"paragraphs": [{"context": ..., "qas": [{"id", "question", "answers":
  [{"text", "answer_start"}], "is_impossible"}]}]}]}`
* flat JSON Lines, one question per line, as the `datasets` library writes SQuAD:
  `{"id", "question", "context", "answers": {"text": [...], "answer_start": [...]}}`.

No answers (or `"is_impossible": true`) means the question cannot be answered from its context
(SQuAD v2.0). Every `answer_start` must point at its `text` in the context: a wrong offset would
silently teach the model the wrong span, so it is an error naming the question; with
`skip_bad_answers=True` such questions are left out and listed in `QAData.skipped` instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from minibert.data import DataError


@dataclass
class QAExample:
    id: str
    question: str
    context: str
    answers: list[str] = field(default_factory=list)  # gold texts; empty = unanswerable
    answer_starts: list[int] = field(default_factory=list)  # character offset of each in `context`


@dataclass
class QAData:
    examples: list[QAExample]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id, why) of questions left out

    @property
    def has_unanswerable(self) -> bool:
        return any(not e.answers for e in self.examples)

    def references(self) -> dict[str, list[str]]:
        """id -> gold answer texts, the form `minibert.metrics.squad_scores` takes."""
        return {e.id: list(e.answers) for e in self.examples}


def read_squad(path: str | os.PathLike, skip_bad_answers: bool = False) -> QAData:
    """Read and check a SQuAD v1.1/v2.0 JSON file or a JSON Lines file of flat questions."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if not path.is_file():
        raise DataError(f"{path} is not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None  # not one JSON document: JSON Lines
    if isinstance(whole, dict) and "data" in whole:
        records = list(_nested_records(path, whole))
    else:
        records = list(_flat_records(path, text))
    data = QAData([])
    seen: set[str] = set()
    for where, record in records:
        example, problem = _check(path, where, record)
        if example.id in seen:
            raise DataError(f"{path}: the id {example.id!r} is used twice; every question needs its own id")
        seen.add(example.id)
        if problem is None:
            data.examples.append(example)
        elif skip_bad_answers:
            data.skipped.append((example.id, problem))
        else:
            raise DataError(f"{path}, question {example.id!r}: {problem} (pass --skip-bad-answers to leave such questions out)")
    if not data.examples:
        raise DataError(f"{path} holds no questions" + (f" ({len(data.skipped)} skipped for bad answers)" if data.skipped else ""))
    return data


def _nested_records(path: Path, document: dict):
    """(where, flat record) for each question of the official nested layout."""
    if not isinstance(document["data"], list):
        raise DataError(f"{path}: 'data' must be a list of articles")
    for a, article in enumerate(document["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError(f"{path}: article {a} has no 'paragraphs' list")
        for p, paragraph in enumerate(paragraphs):
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(qas, list):
                raise DataError(f"{path}: article {a}, paragraph {p} has no 'qas' list")
            for q, qa in enumerate(qas):
                if not isinstance(qa, dict):
                    raise DataError(f"{path}: article {a}, paragraph {p}, question {q} is not an object")
                answers = qa.get("answers", [])
                if not isinstance(answers, list) or not all(isinstance(x, dict) for x in answers):
                    raise DataError(f"{path}: question {qa.get('id', q)!r}: 'answers' must be a list of {{text, answer_start}}")
                if qa.get("is_impossible") and answers:
                    raise DataError(f"{path}: question {qa.get('id', q)!r} is marked is_impossible but has answers")
                record = {
                    "id": qa.get("id"), "question": qa.get("question"), "context": paragraph.get("context"),
                    "answers": {"text": [x.get("text") for x in answers], "answer_start": [x.get("answer_start") for x in answers]},
                }
                yield f"article {a}, paragraph {p}, question {q}", record


def _flat_records(path: Path, text: str):
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}, line {number}: not valid JSON ({exc.msg}); use SQuAD JSON ({{\"data\": [...]}}) or JSON Lines"
            ) from None
        if not isinstance(record, dict):
            raise DataError(f"{path}, line {number}: a JSON {type(record).__name__}, not a question object")
        yield f"line {number}", record


def _check(path: Path, where: str, record: dict) -> tuple[QAExample, str | None]:
    """The example and, if one of its answers does not match its context, what is wrong."""
    qid = record.get("id")
    if qid is None or (isinstance(qid, str) and not qid.strip()):
        raise DataError(f"{path}, {where}: the question has no 'id'")
    qid = str(qid)
    for key in ("question", "context"):
        value = record.get(key)
        if not isinstance(value, str) or not value.strip():
            state = "missing" if value is None else "empty" if isinstance(value, str) else f"{type(value).__name__}, not text"
            raise DataError(f"{path}, question {qid!r}: the {key} is {state}")
    answers = record.get("answers") or {"text": [], "answer_start": []}
    if not isinstance(answers, dict) or not isinstance(answers.get("text"), list) or not isinstance(answers.get("answer_start"), list):
        raise DataError(f"{path}, question {qid!r}: 'answers' must be {{\"text\": [...], \"answer_start\": [...]}}")
    texts, starts = answers["text"], answers["answer_start"]
    if len(texts) != len(starts):
        raise DataError(f"{path}, question {qid!r}: {len(texts)} answer texts but {len(starts)} answer_start values")
    context = record["context"]
    example = QAExample(qid, record["question"], context, [], [])
    for text, start in zip(texts, starts):
        if not isinstance(text, str) or not text:
            raise DataError(f"{path}, question {qid!r}: an answer text is empty or not text ({text!r})")
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise DataError(f"{path}, question {qid!r}: answer_start must be a non-negative integer, got {start!r}")
        example.answers.append(text)
        example.answer_starts.append(start)
    for text, start in zip(example.answers, example.answer_starts):
        if start + len(text) > len(context):
            return example, f"the answer {text!r} at answer_start={start} runs past the end of its context ({len(context)} characters)"
        if context[start:start + len(text)] != text:
            return example, f"answer_start={start} points at {context[start:start + len(text)]!r}, not at the answer {text!r}"
    return example, None
