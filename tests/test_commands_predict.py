"""`minibert predict` runs minibert.pipeline on the task the checkpoint's config names, and
prints each text with its answer; a tagger's entities are transformers' pipeline's on the same
checkpoint (first-piece aggregation, long texts in windows), with their text and character offsets."""

from __future__ import annotations

import json
import warnings

import pytest

from minibert import BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification, pipeline
from minibert.cli import main
from tests.pipeline_checkpoints import save_with_random_head
from tests.test_commands_evaluate import TAGS, saved_as_transformers_does

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


TAGGER_TEXTS = ["Angela Merkel met Siemens executives in München on Tuesday.",
         "Le président Emmanuel Macron a visité Pékin !", "Nothing to see here"]


@pytest.fixture(scope="module")
def tagger_dir(minilm_dir, tmp_path_factory):
    path = save_with_random_head(BertForTokenClassification, minilm_dir, tmp_path_factory.mktemp("tagger"), head_std=0.5,
                                 id2label=dict(enumerate(TAGS)))
    return saved_as_transformers_does(path, BertForTokenClassification)


def test_entities_as_json_equal_transformers(capsys, tagger_dir, tmp_path):
    transformers = pytest.importorskip("transformers")
    (tmp_path / "texts.txt").write_text("\n".join(TAGGER_TEXTS) + "\n", encoding="utf-8")
    assert main(["predict", "--model", str(tagger_dir), "--input", str(tmp_path / "texts.txt"), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    reference = transformers.pipeline("ner", model=str(tagger_dir), device="cpu", aggregation_strategy="first")(TAGGER_TEXTS, stride=32)
    assert [r["text"] for r in rows] == TAGGER_TEXTS
    for row, expected in zip(rows, reference):
        assert [(e["type"], e["start"], e["end"]) for e in row["entities"]] == [
            (e["entity_group"], e["start"], e["end"]) for e in expected]
        assert all(e["text"] == row["text"][e["start"]:e["end"]] for e in row["entities"])
        assert [e["score"] for e in row["entities"]] == pytest.approx([float(e["score"]) for e in expected], abs=1e-4)


def test_one_tab_separated_line_per_entity(capsys, tagger_dir, tmp_path):
    (tmp_path / "texts.txt").write_text("\n".join(TAGGER_TEXTS) + "\n", encoding="utf-8")
    assert main(["predict", "--model", str(tagger_dir), "--input", str(tmp_path / "texts.txt"), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["predict", "--model", str(tagger_dir), "--input", str(tmp_path / "texts.txt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = [f"{n}\t{e['text']}\t{e['type']}\t{e['start']}\t{e['end']}\t{e['score']:.4f}"
                for n, row in enumerate(rows, start=1) for e in row["entities"]]
    assert lines == expected and lines


def test_classifier_options_are_refused_for_a_tagger(capsys, tagger_dir, tmp_path):
    (tmp_path / "texts.txt").write_text("Paris\n")
    assert main(["predict", "--model", str(tagger_dir), "--input", str(tmp_path / "texts.txt"), "--max-length", "16"]) == 2
    assert "is a tagger" in capsys.readouterr().err
