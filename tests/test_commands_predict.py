"""`minibert predict` runs minibert.pipeline on the task the checkpoint's config names, and
prints each text with its answer."""

from __future__ import annotations

import json
import warnings

import pytest

from minibert import BertForMaskedLM, BertForSequenceClassification, pipeline
from minibert.cli import main
from tests.pipeline_checkpoints import save_with_random_head

TEXTS = ["What a lovely day.", "The package failed to install."]


@pytest.fixture(scope="module")
def classifier_dir(minilm_dir, tmp_path_factory):
    return save_with_random_head(BertForSequenceClassification, minilm_dir, tmp_path_factory.mktemp("clf"),
                                 id2label={0: "negative", 1: "positive"})


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def texts_file(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


def test_each_text_is_printed_with_its_label(capsys, classifier_dir, texts_file):
    code, out, _ = run_cli(capsys, "predict", "--model", str(classifier_dir), "--input", str(texts_file), "--device", "cpu")
    expected = pipeline("text-classification", model=classifier_dir)(TEXTS)
    assert code == 0
    assert out.splitlines() == [f"{e['label']}\t{e['score']:.4f}\t{t}" for e, t in zip(expected, TEXTS)]


def test_json_has_the_text_label_score_and_probabilities(capsys, classifier_dir, texts_file):
    code, out, _ = run_cli(capsys, "predict", "--model", str(classifier_dir), "--input", str(texts_file), "--json", "--device", "cpu")
    rows = [json.loads(l) for l in out.splitlines()]
    assert code == 0 and [r["text"] for r in rows] == TEXTS
    for r in rows:
        assert set(r["probabilities"]) == {"negative", "positive"} and r["probabilities"][r["label"]] == r["score"]


def test_the_task_comes_from_the_configs_architectures(capsys, minilm_dir, tmp_path):
    path = save_with_random_head(BertForMaskedLM, minilm_dir, tmp_path / "mlm")
    config = json.loads((path / "config.json").read_text())
    config["architectures"] = ["BertForMaskedLM"]  # as every head writes it once issue 14 lands
    (path / "config.json").write_text(json.dumps(config))
    (tmp_path / "masked.txt").write_text("Debian is a free [MASK] system.\n")
    code, out, _ = run_cli(capsys, "predict", "--model", str(path), "--input", str(tmp_path / "masked.txt"), "--device", "cpu")
    text, answer = out.rstrip("\n").split("\t")
    assert code == 0 and text == "Debian is a free [MASK] system."
    printed, expected = json.loads(answer), pipeline("fill-mask", model=path)(text)
    assert [a["sequence"] for a in printed] == [e["sequence"] for e in expected]
    assert [a["score"] for a in printed] == pytest.approx([e["score"] for e in expected], abs=1e-6)


def test_a_checkpoint_without_a_classifier_is_one_line(capsys, minilm_dir, texts_file):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code, _, err = run_cli(capsys, "predict", "--model", str(minilm_dir), "--input", str(texts_file), "--device", "cpu")
    assert code == 2 and "has no BertForSequenceClassification head" in err and "minibert train" in err
    assert len(err.strip().splitlines()) == 1


def test_an_unknown_task_lists_the_tasks(capsys, classifier_dir, texts_file):
    code, _, err = run_cli(capsys, "predict", "--model", str(classifier_dir), "--input", str(texts_file), "--task", "summarize")
    assert code == 2 and "unknown task 'summarize'; the tasks are:" in err
