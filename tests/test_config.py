"""BertConfig reads and writes the Hugging Face config.json format and rejects impossible configs."""

from __future__ import annotations

import json

import pytest

from minibert import BertConfig


def test_defaults_are_bert_base_uncased():
    c = BertConfig()
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size) == (12, 768, 12, 3072)
    assert (c.vocab_size, c.max_position_embeddings, c.type_vocab_size) == (30522, 512, 2)
    assert c.hidden_act == "gelu" and c.layer_norm_eps == 1e-12


def test_unknown_keys_survive_a_round_trip(tmp_path):
    data = {**BertConfig().to_dict(), "architectures": ["BertForMaskedLM"], "my_note": {"a": [1, 2]}}
    (tmp_path / "config.json").write_text(json.dumps(data))
    config = BertConfig.from_pretrained(tmp_path)
    assert config.extra["my_note"] == {"a": [1, 2]}
    config.save_pretrained(tmp_path / "out")
    written = json.loads((tmp_path / "out" / "config.json").read_text())
    assert written["my_note"] == {"a": [1, 2]} and written["architectures"] == ["BertForMaskedLM"]
    assert written["model_type"] == "bert"


def test_attn_implementation_is_a_runtime_choice_not_saved(tmp_path):
    BertConfig(attn_implementation="eager").save_pretrained(tmp_path)
    assert "attn_implementation" not in json.loads((tmp_path / "config.json").read_text())


def test_hidden_size_not_divisible_by_heads_names_both_numbers():
    with pytest.raises(ValueError, match=r"hidden_size \(100\).*num_attention_heads \(12\)"):
        BertConfig(hidden_size=100)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("num_hidden_layers", 0, "num_hidden_layers must be a positive integer"),
        ("hidden_act", "gelu_fast_typo", "hidden_act 'gelu_fast_typo' is not supported"),
        ("position_embedding_type", "rotary", "position_embedding_type 'rotary' is not supported"),
        ("hidden_dropout_prob", 1.5, r"hidden_dropout_prob must be in \[0, 1\)"),
        ("attn_implementation", "flash", "attn_implementation 'flash' is not supported"),
        ("pad_token_id", 40000, "pad_token_id 40000 is outside the vocabulary"),
    ],
)
def test_invalid_values_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        BertConfig(**{field: value})


def test_num_labels_resizes_label_maps_and_loads_from_json():
    c = BertConfig.from_dict({"num_labels": 3})
    assert c.num_labels == 3 and c.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert c.label2id == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}
    c = BertConfig.from_dict({"id2label": {"0": "neg", "1": "pos"}})
    assert c.id2label == {0: "neg", 1: "pos"} and c.label2id == {"neg": 0, "pos": 1}


def test_not_a_bert_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="'gpt2' model; minibert loads BERT models only"):
        BertConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        BertConfig.from_pretrained(tmp_path)


def test_transformers_reads_our_config_and_we_read_theirs(tmp_path):
    transformers = pytest.importorskip("transformers")
    ours = BertConfig(hidden_size=96, num_attention_heads=3, num_hidden_layers=2, layer_norm_eps=1e-5, id2label={0: "a", 1: "b", 2: "c"})
    ours.save_pretrained(tmp_path / "ours")
    theirs = transformers.BertConfig.from_pretrained(tmp_path / "ours")
    assert (theirs.hidden_size, theirs.num_attention_heads, theirs.layer_norm_eps, theirs.num_labels) == (96, 3, 1e-5, 3)
    theirs.save_pretrained(tmp_path / "theirs")
    back = BertConfig.from_pretrained(tmp_path / "theirs")
    assert (back.hidden_size, back.num_attention_heads, back.layer_norm_eps, back.id2label) == (96, 3, 1e-5, {0: "a", 1: "b", 2: "c"})


def test_num_labels_override_wins_over_the_checkpoint_labels():
    saved = BertConfig(id2label={0: "neg", 1: "pos"}).to_dict()
    c = BertConfig.from_dict(saved, num_labels=3)
    assert c.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"} and c.label2id == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}
    # The same number of labels keeps the checkpoint's names.
    c = BertConfig.from_dict(saved, num_labels=2)
    assert c.id2label == {0: "neg", 1: "pos"}
    # A new id2label brings its own label2id, not the checkpoint's.
    c = BertConfig.from_dict(saved, id2label={0: "bad", 1: "good", 2: "meh"})
    assert c.label2id == {"bad": 0, "good": 1, "meh": 2}
    with pytest.raises(ValueError, match="disagrees"):
        BertConfig.from_dict(saved, num_labels=3, id2label={0: "a", 1: "b"})
def test_model_type_is_not_carried_in_extra():
    # to_dict always writes model_type="bert"; reading it back must not make it an unknown key.
    config = BertConfig.from_dict(BertConfig(hidden_size=64, num_attention_heads=4).to_dict())
    assert config.extra == {}
    assert config.to_dict()["model_type"] == "bert"


@pytest.mark.parametrize("field", ["num_hidden_layers", "hidden_size", "vocab_size", "intermediate_size", "max_position_embeddings"])
def test_sizes_no_real_model_has_are_refused_naming_the_limit(field):
    with pytest.raises(ValueError, match=rf"BertConfig.{field} = 1,000,000,000 is larger than any real BERT model's \(minibert's limit is"):
        BertConfig.from_dict({field: 1_000_000_000, "num_attention_heads": 1})


def test_a_billion_labels_are_refused_before_the_label_map_is_built():
    with pytest.raises(ValueError, match=r"num_labels = 1,000,000,000 is larger than any real BERT model's \(minibert's limit is 1,000,000"):
        BertConfig.from_dict({"num_labels": 1_000_000_000})
    config = BertConfig()
    with pytest.raises(ValueError, match="num_labels = 1,000,000,000"):
        config.num_labels = 1_000_000_000


@pytest.mark.parametrize("field, value, message", [
    ("hidden_dropout_prob", None, r"hidden_dropout_prob must be in \[0, 1\), got None"),
    ("attention_probs_dropout_prob", "0.1", r"attention_probs_dropout_prob must be in \[0, 1\), got '0.1'"),
    ("classifier_dropout", [], r"classifier_dropout must be in \[0, 1\), got \[\]"),
    ("layer_norm_eps", None, "layer_norm_eps must be a positive number, got None"),
    ("pad_token_id", None, "pad_token_id must be an integer token id, got None"),
    ("id2label", ["NEG", "POS"], r"id2label must be an object such as \{\"0\": \"NEGATIVE\", \"1\": \"POSITIVE\"\}, got a list"),
    ("id2label", {"zero": "NEG"}, "id2label must map int to str"),
    ("label2id", {"NEG": "zero"}, "label2id must map str to int"),
    ("hidden_act", None, "hidden_act must be a string, got None"),
])
def test_values_of_the_wrong_type_are_a_value_error_naming_the_field(tmp_path, field, value, message):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", field: value}))
    with pytest.raises(ValueError, match=message):
        BertConfig.from_json_file(tmp_path / "config.json")
