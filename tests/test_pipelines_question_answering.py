"""question-answering: the same answers as transformers 4.57's question-answering pipeline.

transformers 5 has no question-answering pipeline, so the reference is golden outputs recorded
from 4.57 by tests/golden/make_qa_golden.py (re-runnable, see its docstring): the real MiniLM
encoder with random QA heads whose weights the golden file holds, long real contexts from
corpus/ cut into many windows, top_k, handle_impossible_answer, align_to_words both ways.
Answers and character offsets must be equal, scores within 1e-4.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from minibert import BertForQuestionAnswering, BertModel, BertTokenizer, pipeline

GOLDEN = Path(__file__).parent / "golden" / "qa_pipeline.json"


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def model(minilm_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the QA head is new; its weights come from the golden file
        return BertForQuestionAnswering.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    return BertTokenizer.from_pretrained(minilm_dir)


def with_head(model, head):
    with torch.no_grad():
        model.qa_outputs.weight.copy_(torch.tensor(head["weight"]))  # (2, H)
        model.qa_outputs.bias.copy_(torch.tensor(head["bias"]))  # (2,)
    return model


def assert_same(ours, theirs):
    """Same structure (dict, list of dicts, list of lists), same answers and offsets, scores within 1e-4."""
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), (ours, theirs)
        for o, t in zip(ours, theirs):
            assert_same(o, t)
        return
    assert isinstance(ours, dict) and ours.keys() == theirs.keys()
    assert (ours["answer"], ours["start"], ours["end"]) == (theirs["answer"], theirs["start"], theirs["end"])
    assert ours["score"] == pytest.approx(theirs["score"], abs=1e-4)


def test_the_golden_file_comes_from_transformers_4_57_on_minilm(golden):
    assert golden["transformers"].startswith("4.57.")
    assert "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db" in golden["model"]
    kinds = [c["kwargs"] for c in golden["cases"]]
    # what the cases must reach: many windows, top_k, the null answer winning, both alignments
    assert max(c["windows"] for c in golden["cases"]) >= 20
    assert any(k.get("top_k", 1) > 1 for k in kinds) and any(k.get("align_to_words") is False for k in kinds)
    assert any(c["expected"] == {"score": c["expected"]["score"], "start": 0, "end": 0, "answer": ""}
               for c in golden["cases"] if isinstance(c["expected"], dict))


@pytest.mark.slow
def test_answers_equal_transformers_4_57(golden, model, tokenizer):
    for case in golden["cases"]:
        qa = pipeline("question-answering", model=with_head(model, golden["heads"][case["head"]]), tokenizer=tokenizer, batch_size=8)
        ours = qa(question=case["question"], context=golden["contexts"][case["context"]], **case["kwargs"])
        assert_same(ours, case["expected"])


def test_a_long_context_is_cut_into_overlapping_windows(golden, model, tokenizer):
    qa = pipeline("question-answering", model=model, tokenizer=tokenizer)
    context = golden["contexts"]["handbook"]
    windows = qa.preprocess({"question": "Who maintains Debian?", "context": context}, max_seq_len=64, doc_stride=16, max_question_len=64)
    assert len(windows) > 10
    for window in windows:
        assert len(window["input_ids"]) <= 64
        assert window["sequence_ids"][0] is None and window["input_ids"][0] == tokenizer.cls_token_id
    # neighbours share doc_stride=16 context tokens
    first, second = ([o for o, s in zip(w["offset_mapping"], w["sequence_ids"]) if s == 1] for w in windows[:2])
    assert first[-16:] == second[:16]


def test_every_answer_is_the_exact_span_of_the_context(golden, model, tokenizer):
    qa = pipeline("question-answering", model=with_head(model, golden["heads"]["head_a"]), tokenizer=tokenizer)
    context = golden["contexts"]["mixed"]
    for align in (True, False):
        for answer in qa(question="What is this?", context=context, top_k=5, max_seq_len=48, doc_stride=12, align_to_words=align):
            assert answer["answer"] == context[answer["start"]:answer["end"]] and answer["answer"]


def test_batching_does_not_change_the_answers(golden, model, tokenizer):
    qa = pipeline("question-answering", model=with_head(model, golden["heads"]["head_b"]), tokenizer=tokenizer)
    context = golden["contexts"]["reference"]
    questions = ["What is it?", "Which file is read first by the shell at start?", "Why?"]
    one_by_one = [qa(question=q, context=context, max_seq_len=64, doc_stride=16, batch_size=1) for q in questions]
    assert_same(qa(question=questions, context=context, max_seq_len=64, doc_stride=16, batch_size=7), one_by_one)


@pytest.mark.parametrize("call, error, message", [
    (dict(question="", context="Some text."), ValueError, "the question is empty"),
    (dict(question="Why?", context="   "), ValueError, "the context is empty"),
    (dict(question="Why?"), TypeError, "needs question= and context= .missing: context"),
    (dict(question=["a?", "b?"], context=["x", "y", "z"]), ValueError, "2 questions but 3 contexts"),
    (dict(question="why " * 30, context="Some text.", max_seq_len=24), ValueError,
     "a question of 30 tokens leaves no room for the context in a window of max_seq_len=24"),
    (dict(question="Why?", context="Some text.", max_seq_len=24, doc_stride=19), ValueError,
     "doc_stride=19 is too large: a window of max_seq_len=24 tokens holds only 19 context tokens"),
    (dict(question="Why?", context="Some text.", max_seq_len=24, doc_stride=30), ValueError, r"doc_stride \(30\) is larger than max_seq_len \(24\)"),
    (dict(question="why " * 70, context="Some text."), ValueError, "has 70 tokens, more than max_question_len=64"),
    (dict(question="Why?", context="Some text.", top_k=0), ValueError, "top_k must be a positive integer"),
])
def test_bad_input_is_a_clear_error(model, tokenizer, call, error, message):
    qa = pipeline("question-answering", model=model, tokenizer=tokenizer)
    with pytest.raises(error, match=message):
        qa(**call)


@pytest.mark.filterwarnings("ignore:.*holds a BertModel checkpoint")  # said before the error below
def test_a_checkpoint_without_a_qa_head_is_refused(minilm_dir, tmp_path):
    BertModel.from_pretrained(minilm_dir).save_pretrained(tmp_path)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (tmp_path / name).write_bytes((minilm_dir / name).read_bytes())
    with pytest.raises(ValueError, match=r"has no BertForQuestionAnswering head .*qa_outputs.weight.*minibert train --task question-answering"):
        pipeline("question-answering", model=tmp_path)
