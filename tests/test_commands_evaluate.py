"""`minibert evaluate`: a tagger's CoNLL report equals seqeval on the word tags that transformers'
model predicts from the same checkpoint (first piece of each word); a classifier's accuracy and
macro F1 equal those of transformers' predictions; bad input is one line and exit status 2."""

from __future__ import annotations

import json
import re
import warnings

import pytest
import torch

from minibert import BertForSequenceClassification, BertForTokenClassification
from minibert.cli import main
from minibert.commands.demo_ner import dataset_path
from tests.pipeline_checkpoints import save_with_random_head

TAGS = ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER"]


def saved_as_transformers_does(path, head_class):
    """config.json names the head class, as transformers' save_pretrained writes it."""
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "architectures": [head_class.__name__]}))
    return path


@pytest.fixture(scope="module")
def tagger_dir(minilm_dir, tmp_path_factory):
    path = save_with_random_head(BertForTokenClassification, minilm_dir, tmp_path_factory.mktemp("tagger"), head_std=0.5,
                                 id2label=dict(enumerate(TAGS)))
    return saved_as_transformers_does(path, BertForTokenClassification)


@pytest.fixture(scope="module")
def dev_file(tmp_path_factory):
    """The first 30 sentences of the bundled dev set, as a CoNLL file."""
    blocks = dataset_path("dev").read_text(encoding="utf-8").split("\n\n")[:30]
    path = tmp_path_factory.mktemp("data") / "dev.conll"
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def reference_tags(model_dir, sentences) -> list[list[str]]:
    """transformers' fast tokenizer and model: each word's tag is its first piece's argmax."""
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.AutoModelForTokenClassification.from_pretrained(str(model_dir)).eval()
    tags = []
    for words in sentences:
        encoding = tokenizer(words, is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            best = model(**encoding).logits[0].argmax(-1).tolist()
        word_ids = encoding.word_ids(0)
        first = {w: p for p, w in reversed(list(enumerate(word_ids))) if w is not None}
        tags.append([model.config.id2label[best[first[w]]] for w in range(len(words))])
    return tags


def test_tagger_report_equals_seqeval_on_transformers_predictions(capsys, tagger_dir, dev_file):
    seqeval = pytest.importorskip("seqeval.metrics")
    from minibert.tasks.conll import read_tagged

    assert main(["evaluate", "--model", str(tagger_dir), "--data", str(dev_file), "--json"]) == 0
    ours = json.loads(capsys.readouterr().out)
    sentences = read_tagged(dev_file)
    gold, pred = [s.tags for s in sentences], reference_tags(tagger_dir, [s.words for s in sentences])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = seqeval.classification_report(gold, pred, output_dict=True)
    assert ours["task"] == "token-classification" and ours["examples"] == 30
    assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, pred), abs=1e-12)
    assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, pred), abs=1e-12)
    assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, pred), abs=1e-12)
    assert ours["accuracy"] == pytest.approx(seqeval.accuracy_score(gold, pred), abs=1e-12)
    assert ours["support"] == sum(len(s.tags) - s.tags.count("O") - sum(t.startswith("I-") for t in s.tags) for s in sentences)
    assert set(ours["per_type"]) == {k for k in report if not k.endswith(" avg")}
    for name, row in ours["per_type"].items():
        assert row["f1"] == pytest.approx(report[name]["f1-score"], abs=1e-12)
        assert row["support"] == report[name]["support"]
    assert 0 < ours["f1"] < 1  # a random head finds some entities and misses most: a real test

    assert main(["evaluate", "--model", str(tagger_dir), "--data", str(dev_file)]) == 0
    table = capsys.readouterr().out
    assert f"micro avg  {ours['precision']:9.4f} {ours['recall']:9.4f} {ours['f1']:9.4f} {ours['support']:9d}" in table
    assert f"tag accuracy {ours['accuracy']:.4f}" in table


def test_classifier_accuracy_and_macro_f1_equal_transformers_predictions(capsys, minilm_dir, tmp_path):
    transformers = pytest.importorskip("transformers")
    from minibert import data, metrics

    labels = {0: "negative", 1: "positive"}
    path = save_with_random_head(BertForSequenceClassification, minilm_dir, tmp_path / "clf", head_std=0.5, id2label=labels)
    saved_as_transformers_does(path, BertForSequenceClassification)
    dev = data.read_examples(dataset_path("dev").with_name("sentiment_dev.csv"))
    assert main(["evaluate", "--model", str(path), "--data", str(dataset_path("dev").with_name("sentiment_dev.csv")),
                 "--json"]) == 0
    ours = json.loads(capsys.readouterr().out)
    predicted = [r["label"] for r in transformers.pipeline("text-classification", model=str(path), device="cpu")(
        [e.text for e in dev])]
    ids = {"negative": 0, "positive": 1}
    expected_accuracy = metrics.accuracy([ids[p] for p in predicted], [ids[e.label] for e in dev])
    assert ours["task"] == "text-classification"
    assert ours["accuracy"] == pytest.approx(expected_accuracy, abs=1e-12)
    assert ours["macro_f1"] == pytest.approx(metrics.macro_f1([ids[p] for p in predicted], [ids[e.label] for e in dev], [0, 1]),
                                             abs=1e-12)


@pytest.mark.parametrize("content, message", [
    ("EU B-ORG\nsays O\n\nParis B-EVENT\n", r"dev.conll:4: the tag 'B-EVENT' is not one the model was trained on"),
    ("EU NNP B-ORG\nsays O\n", r"dev.conll:2: 2 columns but the file's first line has 3"),
    ("EU B-ORG\nsays X-PER\n", r"dev.conll:2: 'X-PER' is not a tag of the IOB1, IOB2, IOBES or BILOU schemes"),
    ("", "dev.conll holds no sentences"),
])
def test_bad_data_is_one_line(capsys, tagger_dir, tmp_path, content, message):
    (tmp_path / "dev.conll").write_text(content)
    assert main(["evaluate", "--model", str(tagger_dir), "--data", str(tmp_path / "dev.conll")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("minibert evaluate: error: ")
    assert re.search(message, err), err


def test_train_a_tiny_tagger_then_evaluate_it(capsys, tmp_path):
    """`minibert train --task token-classification` writes a tagger with its tags in config.json;
    `minibert evaluate` on the dev file reports what training's last evaluation logged."""
    from minibert import BertConfig, BertModel

    words = "anna bob lives works in at paris oslo acme globex".split()
    model_dir = tmp_path / "tiny"
    model_dir.mkdir()
    (model_dir / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    torch.manual_seed(0)
    tiny = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    BertModel(BertConfig(vocab_size=5 + len(words), **tiny)).save_pretrained(model_dir)
    rows = [(["Anna", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"]),
            (["Bob", "works", "at", "Acme"], ["B-PER", "O", "O", "B-ORG"]),
            (["Anna", "works", "at", "Globex", "in", "Oslo"], ["B-PER", "O", "O", "B-ORG", "O", "B-LOC"])]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"tokens": w, "tags": t}) + "\n" for w, t in rows))
    out = tmp_path / "tagger"
    code = main(["train", "--task", "token-classification", "--model", str(model_dir), "--train", str(tmp_path / "train.jsonl"),
                 "--eval", str(tmp_path / "train.jsonl"), "--words-column", "tokens", "--tags-column", "tags",
                 "--out", str(out), "--epochs", "2", "--batch-size", "2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "(4 labels: O, B-LOC, B-ORG, B-PER); tagging scheme IOB2" in captured.err
    assert "best dev f1" in captured.out
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "O", "1": "B-LOC", "2": "B-ORG", "3": "B-PER"}
    logged = [line for line in captured.err.replace("\r", "\n").splitlines() if line.startswith("train_loss")][-1].split()
    logged = dict(zip(logged[::2], map(float, logged[1::2])))
    assert config["architectures"] == ["BertForTokenClassification"]  # how evaluate and predict know the task
    assert main(["evaluate", "--model", str(out), "--data", str(tmp_path / "train.jsonl"),
                 "--words-column", "tokens", "--tags-column", "tags", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for name in ("f1", "precision", "recall", "accuracy"):
        assert report[name] == pytest.approx(logged[f"eval_{name}"], abs=5e-5)


def test_a_model_that_does_not_say_its_task_needs_task(capsys, minilm_dir, tmp_path, dev_file):
    assert main(["evaluate", "--model", str(minilm_dir), "--data", str(dev_file)]) == 2
    assert "does not say which task it was trained for (architectures: BertModel); pass --task" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(minilm_dir), "--data", str(dev_file), "--task", "token-classification"]) == 2
    assert "has no BertForTokenClassification head" in capsys.readouterr().err
