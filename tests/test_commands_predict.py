"""`minibert predict` with a tagger: the config's architectures says it is one; the entities
printed are transformers' pipeline's on the same checkpoint (first-piece aggregation, long
texts in windows), with their text and character offsets."""

from __future__ import annotations

import json

import pytest

from minibert import BertForTokenClassification
from minibert.cli import main
from tests.pipeline_checkpoints import save_with_random_head
from tests.test_commands_evaluate import TAGS, saved_as_transformers_does

TEXTS = ["Angela Merkel met Siemens executives in München on Tuesday.",
         "Le président Emmanuel Macron a visité Pékin !", "Nothing to see here"]


@pytest.fixture(scope="module")
def tagger_dir(minilm_dir, tmp_path_factory):
    path = save_with_random_head(BertForTokenClassification, minilm_dir, tmp_path_factory.mktemp("tagger"), head_std=0.5,
                                 id2label=dict(enumerate(TAGS)))
    return saved_as_transformers_does(path, BertForTokenClassification)


def test_entities_as_json_equal_transformers(capsys, tagger_dir, tmp_path):
    transformers = pytest.importorskip("transformers")
    (tmp_path / "texts.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    assert main(["predict", "--model", str(tagger_dir), "--input", str(tmp_path / "texts.txt"), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    reference = transformers.pipeline("ner", model=str(tagger_dir), device="cpu", aggregation_strategy="first")(TEXTS, stride=32)
    assert [r["text"] for r in rows] == TEXTS
    for row, expected in zip(rows, reference):
        assert [(e["type"], e["start"], e["end"]) for e in row["entities"]] == [
            (e["entity_group"], e["start"], e["end"]) for e in expected]
        assert all(e["text"] == row["text"][e["start"]:e["end"]] for e in row["entities"])
        assert [e["score"] for e in row["entities"]] == pytest.approx([float(e["score"]) for e in expected], abs=1e-4)


def test_one_tab_separated_line_per_entity(capsys, tagger_dir, tmp_path):
    (tmp_path / "texts.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
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
