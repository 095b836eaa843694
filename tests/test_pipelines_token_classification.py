"""token-classification: the same entities as transformers' pipeline on the same checkpoint (a
randomly initialised tagging head on the real MiniLM encoder, whose arbitrary predictions are
where aggregation bugs hide), for every aggregation strategy; scores within 1e-4, everything
else (labels, words, character offsets, indices) exactly equal."""

from __future__ import annotations

import json

import pytest

from minibert import BertForSequenceClassification, BertForTokenClassification, pipeline
from minibert.tasks.token_classification import STRATEGIES
from tests.pipeline_checkpoints import save_with_random_head

LABELS = dict(enumerate(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]))

TEXTS = [
    "Angela Merkel met Siemens executives in München on Tuesday.",
    "Le président Emmanuel Macron a visité Pékin ; il était accompagné de Françoise Nyssen !",
    "¿Dónde está São Paulo? — «Naïve» café‑owners in Zürich (CH) said: 'it's 3.5% cheaper…'",
    "東京で日本語を話すJohn Smithさん、大丈夫?",
    "Владимир Путин и Си Цзиньпин встретились в Москве.",
    "e\u0301cole Ma\u0301laga ﬁne İstanbul 😀 x\u200by",
    "antidisestablishmentarianism of Schwarzenegger's Nürburgring...!!!???",
    "U.S.-based A.I. start-ups (e.g. OpenAI, Anthropic) raised $1.2bn in Q3/2023 -- per @reuters #news",
    "",
    "   ",
]


@pytest.fixture(scope="module")
def tagger_dir(minilm_dir, tmp_path_factory):
    # Weights N(0, 0.5) rather than BERT's N(0, 0.02): confident labels that change from piece
    # to piece, so that every grouping rule is exercised.
    return save_with_random_head(BertForTokenClassification, minilm_dir, tmp_path_factory.mktemp("tagger"),
                                 head_std=0.5, id2label=LABELS)


@pytest.fixture(scope="module")
def ours(tagger_dir):
    return pipeline("ner", model=tagger_dir, batch_size=4)


@pytest.fixture(scope="module")
def theirs(tagger_dir):
    return transformers_pipeline(tagger_dir)


@pytest.fixture(scope="module")
def texts(corpus_dir):
    """The hand-written cases above, real sentences from the shared corpus and its mixed-script lines."""
    lines = [l.strip() for l in (corpus_dir / "en_debian_handbook.txt").read_text(encoding="utf-8").splitlines() if l.strip()]
    mixed = [json.loads(l)["text"] for l in (corpus_dir / "mixed.jsonl").read_text(encoding="utf-8").splitlines()]
    return TEXTS + lines[200:204] + [m[:300] for m in mixed[:40:5]]


def transformers_pipeline(path, **kwargs):
    transformers = pytest.importorskip("transformers")
    return transformers.pipeline("token-classification", model=str(path), device="cpu", **kwargs)


def assert_same(ours: list, theirs: list) -> None:
    assert len(ours) == len(theirs), (ours, theirs)
    for o, t in zip(ours, theirs):
        assert o.keys() == t.keys()
        assert {k: v for k, v in o.items() if k != "score"} == {k: v for k, v in t.items() if k != "score"}
        assert o["score"] == pytest.approx(float(t["score"]), abs=1e-4)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_equals_transformers(ours, theirs, texts, strategy):
    found, expected = ours(texts, aggregation_strategy=strategy), theirs(texts, aggregation_strategy=strategy)
    assert len(found) == len(expected) == len(texts)
    for text, o, t in zip(texts, found, expected):
        assert_same(o, t)
        for entity in o:  # offsets point into the original text
            assert 0 <= entity["start"] < entity["end"] <= len(text)


def test_one_text_gives_one_list_and_a_list_gives_lists(ours, theirs):
    assert isinstance(ours(TEXTS[0]), list) and isinstance(ours(TEXTS[0])[0], dict)
    assert_same(ours(TEXTS[0]), theirs(TEXTS[0]))
    assert [len(r) for r in ours(TEXTS[:2])] == [len(ours(TEXTS[0])), len(ours(TEXTS[1]))]


def test_strategy_given_when_the_pipeline_is_built(tagger_dir, theirs):
    built = pipeline("token-classification", model=tagger_dir, aggregation_strategy="average")
    assert_same(built(TEXTS[1]), theirs(TEXTS[1], aggregation_strategy="average"))


def test_ignore_labels(ours, theirs):
    assert_same(ours(TEXTS[0], aggregation_strategy="simple", ignore_labels=[]),
                theirs(TEXTS[0], aggregation_strategy="simple", ignore_labels=[]))


@pytest.mark.parametrize("strategy", ["simple", "first", "average", "max"])
def test_long_text_in_overlapping_windows(ours, theirs, corpus_dir, strategy):
    text = (corpus_dir / "en_debian_reference.txt").read_text(encoding="utf-8")[:4000]
    found = ours(text, aggregation_strategy=strategy, stride=64)
    assert_same(found, theirs(text, aggregation_strategy=strategy, stride=64))
    assert found[-1]["end"] > 3000  # past the first window of 512 pieces: the whole text was read


def test_bad_calls_are_explained(ours, minilm_dir, tmp_path):
    with pytest.raises(ValueError, match="aggregation_strategy must be one of none, simple, first, average, max; got 'mean'"):
        ours("x", aggregation_strategy="mean")
    with pytest.raises(ValueError, match="stride reads a long text in overlapping windows"):
        ours("x", stride=16)
    with pytest.raises(TypeError, match="takes a string"):
        ours([["Angela", "Merkel"]])
    with pytest.raises(TypeError, match="unknown keyword argument"):
        ours("x", aggregation="simple")
    # A sentence classifier as transformers saves it: its "classifier" layer loads into a tagger
    # without a missing weight; config.json's architectures tells them apart.
    classifier = save_with_random_head(BertForSequenceClassification, minilm_dir, tmp_path / "clf", id2label={0: "a", 1: "b"})
    config = json.loads((classifier / "config.json").read_text())
    (classifier / "config.json").write_text(json.dumps({**config, "architectures": ["BertForSequenceClassification"]}))
    with pytest.warns(UserWarning, match="loaded into BertForTokenClassification"), \
            pytest.raises(ValueError, match="holds a BertForSequenceClassification .* not the BertForTokenClassification"):
        pipeline("ner", model=classifier)
