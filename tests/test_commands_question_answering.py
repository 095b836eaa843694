"""Question answering on the command line: train -> evaluate -> predict on a tiny reader, and
bad input as one line with exit status 2. (The span search and the pipeline are tested in
tests/test_pipelines_question_answering.py, the task in tests/test_tasks_question_answering.py.)"""

from __future__ import annotations

import json
import shutil
import warnings
from importlib import resources
from pathlib import Path

import pytest
import torch

from minibert import BertConfig, BertModel
from minibert.cli import main
from minibert.metrics import squad_scores
from minibert.squad import read_squad

DATASETS = Path(str(resources.files("minibert") / "datasets"))
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


@pytest.fixture(scope="module")
def files(tmp_path_factory, minilm_dir):
    """A tiny random encoder with MiniLM's vocabulary, and a few paragraphs of the bundled set."""
    d = tmp_path_factory.mktemp("qa")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(d / "tiny")
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_dir / name, d / "tiny" / name)
    for split, n in (("train", 3), ("dev", 2)):
        data = json.loads((DATASETS / f"qa_{split}.json").read_text(encoding="utf-8"))
        data["data"] = data["data"][:n]
        (d / f"{split}.json").write_text(json.dumps(data), encoding="utf-8")
    bad = json.loads((d / "train.json").read_text(encoding="utf-8"))
    bad["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] += 3
    (d / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    return d


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def reader(files):
    out = files / "reader"
    code = main(["train", "--task", "question-answering", "--model", str(files / "tiny"), "--train", str(files / "train.json"),
                 "--eval", str(files / "dev.json"), "--out", str(out), "--epochs", "1", "--max-length", "64",
                 "--doc-stride", "16", "--batch-size", "8"])
    assert code == 0
    return out


def test_train_writes_a_reader_that_evaluate_scores(capsys, files, reader, tmp_path):
    predictions_file = tmp_path / "predictions.json"
    code, out, err = run_cli(capsys, "evaluate", "--model", reader, "--data", files / "dev.json", "--json",
                             "--predictions", predictions_file, "--max-length", "64", "--doc-stride", "16")
    assert code == 0, err
    printed = json.loads(out)
    assert printed["task"] == "question-answering" and printed["examples"] == 14
    predictions = json.loads(predictions_file.read_text(encoding="utf-8"))
    references = read_squad(files / "dev.json").references()
    assert set(predictions) == set(references) and all(isinstance(a, str) for a in predictions.values())
    # the printed scores are those of the written predictions (the official {id: answer} file)
    scores = squad_scores(predictions, references)
    assert {k: printed[k] for k in scores} == pytest.approx(scores)
    assert {"exact_match", "f1", "HasAns_f1", "NoAns_f1"} <= scores.keys()


def test_predict_answers_with_a_span_of_the_context(capsys, reader, tmp_path):
    context = "The Carrow dam was built between 1952 and 1958 across the valley of the river Tarn."
    code, out, err = run_cli(capsys, "predict", "--model", reader, "--question", "When was the dam built?",
                             "--context", context, "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["answer"] == context[answer["start"]:answer["end"]] and 0 < answer["score"] <= 1
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps({"question": q, "context": context}) for q in ("When?", "Where?")) + "\n")
    code, out, err = run_cli(capsys, "predict", "--model", reader, "--input", questions, "--top-k", "2", "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["question"] for line in lines] == ["When?", "Where?"]
    assert all(len(line["answers"]) == 2 for line in lines)


def test_a_bad_answer_start_stops_training_naming_the_question(capsys, files, tmp_path):
    code, out, err = run_cli(capsys, "train", "--task", "question-answering", "--model", files / "tiny",
                             "--train", files / "bad.json", "--out", tmp_path / "r", "--max-length", "64")
    assert code == 2 and "train-00-00" in err and "--skip-bad-answers" in err and len(err.strip().splitlines()) == 1


def test_skip_bad_answers_trains_without_them_and_says_how_many(capsys, files, tmp_path):
    code, out, err = run_cli(capsys, "train", "--task", "question-answering", "--model", files / "tiny", "--train", files / "bad.json",
                             "--out", tmp_path / "r", "--max-length", "64", "--epochs", "1", "--skip-bad-answers")
    assert code == 0 and "skipped 1 question(s) with a bad answer, e.g. 'train-00-00'" in err


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--model", "{tiny}", "--data", "{dev}", "--task", "question-answering"], "has no BertForQuestionAnswering head"),
    (["predict", "--model", "{tiny}", "--question", "Why?", "--context", "Because."], "has no BertForQuestionAnswering head"),
    (["evaluate", "--model", "{reader}", "--data", "{dev}", "--predictions", "{tiny}"], "cannot write"),
    (["evaluate", "--model", "{reader}", "--data", "{missing}"], "does not exist"),
    (["predict", "--model", "{reader}", "--question", "Why?"], "--question needs exactly one of --context and --context-file"),
    (["predict", "--model", "{reader}", "--question", "Why?", "--context", " "], "the context is empty"),
    (["predict", "--model", "{reader}", "--question", "Why?", "--context", "Some text.", "--doc-stride", "60",
      "--max-length", "64"], "doc_stride=60 is too large"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, files, reader, argv, message):
    names = {"tiny": files / "tiny", "dev": files / "dev.json", "reader": reader, "missing": files / "missing.json"}
    with warnings.catch_warnings(record=True) as caught:  # a warning would be a second line on stderr
        warnings.simplefilter("always")
        code, out, err = run_cli(capsys, *[a.format(**names) for a in argv])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not [str(w.message) for w in caught]

