"""Reading SQuAD v1.1/v2.0 JSON and flat JSON Lines: what is read, and what is refused."""

from __future__ import annotations

import json

import pytest

from minibert.data import DataError
from minibert.squad import read_squad

CONTEXT = "Minibert was written in Python. It runs on CPUs."


def squad_file(tmp_path, qas, name="data.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": CONTEXT, "qas": qas}]}]}))
    return path


def test_nested_squad_v2_with_answerable_and_unanswerable_questions(tmp_path):
    path = squad_file(tmp_path, [
        {"id": "a", "question": "In what language?", "answers": [{"text": "Python", "answer_start": 24}, {"text": "Python.", "answer_start": 24}]},
        {"id": "b", "question": "Who wrote it?", "answers": [], "is_impossible": True},
    ])
    data = read_squad(path)
    assert [e.id for e in data.examples] == ["a", "b"]
    assert data.examples[0].context == CONTEXT and data.examples[0].answer_starts == [24, 24]
    assert data.references() == {"a": ["Python", "Python."], "b": []}
    assert data.has_unanswerable and data.skipped == []


def test_flat_json_lines(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"id": "1", "question": "Runs on?", "context": CONTEXT, "answers": {"text": ["CPUs"], "answer_start": [43]}},
            {"id": "2", "question": "Speed?", "context": CONTEXT, "answers": {"text": [], "answer_start": []}}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = read_squad(path)
    assert data.references() == {"1": ["CPUs"], "2": []}


def test_an_answer_start_that_misses_its_text_is_an_error_naming_the_question(tmp_path):
    path = squad_file(tmp_path, [{"id": "q7", "question": "Language?", "answers": [{"text": "Python", "answer_start": 20}]}])
    with pytest.raises(DataError, match=r"question 'q7': answer_start=20 points at ' in Py', not at the answer 'Python'.*--skip-bad-answers"):
        read_squad(path)


def test_an_answer_start_beyond_its_context_is_an_error(tmp_path):
    path = squad_file(tmp_path, [{"id": "q8", "question": "Language?", "answers": [{"text": "Python", "answer_start": 500}]}])
    with pytest.raises(DataError, match="q8.*runs past the end of its context"):
        read_squad(path)


def test_skip_bad_answers_leaves_them_out_and_counts_them(tmp_path):
    path = squad_file(tmp_path, [
        {"id": "good", "question": "Language?", "answers": [{"text": "Python", "answer_start": 24}]},
        {"id": "bad", "question": "Language?", "answers": [{"text": "Python", "answer_start": 3}]},
    ])
    data = read_squad(path, skip_bad_answers=True)
    assert [e.id for e in data.examples] == ["good"]
    assert [qid for qid, _ in data.skipped] == ["bad"]


@pytest.mark.parametrize("key, value, message", [
    ("question", "   ", "the question is empty"),
    ("question", None, "the question is missing"),
    ("id", None, "has no 'id'"),
])
def test_missing_or_empty_fields_are_errors(tmp_path, key, value, message):
    qa = {"id": "q", "question": "Language?", "answers": []}
    qa[key] = value
    with pytest.raises(DataError, match=message):
        read_squad(squad_file(tmp_path, [qa]))


def test_an_empty_context_is_an_error(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"id": "c1", "question": "Why?", "context": "", "answers": {"text": [], "answer_start": []}}))
    with pytest.raises(DataError, match="question 'c1': the context is empty"):
        read_squad(path)


def test_duplicate_ids_and_contradictions_are_errors(tmp_path):
    qa = {"id": "q", "question": "Language?", "answers": []}
    with pytest.raises(DataError, match="used twice"):
        read_squad(squad_file(tmp_path, [qa, qa]))
    impossible = {"id": "q", "question": "Language?", "is_impossible": True, "answers": [{"text": "Python", "answer_start": 24}]}
    with pytest.raises(DataError, match="is_impossible but has answers"):
        read_squad(squad_file(tmp_path, [impossible]))


def test_not_json_is_an_error(tmp_path):
    path = tmp_path / "d.json"
    path.write_text("{not json")
    with pytest.raises(DataError, match="line 1: not valid JSON"):
        read_squad(path)
