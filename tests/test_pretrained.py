"""from_pretrained / save_pretrained: every file format, the legacy layout, round trips with
transformers both ways, and loud failures for checkpoints that do not fit.

Outputs are compared with transformers within 1e-5 absolute (fp32)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from checkpoints import BERT_BASE_UNCASED, legacy_state_dict, write_config, write_legacy_checkpoint
from minibert import BertConfig, BertModel, CheckpointError, ModelNotFoundError

transformers = pytest.importorskip("transformers")

SMALL = dict(BERT_BASE_UNCASED, vocab_size=200, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=128, max_position_embeddings=32)


def reference_output(path, ids, mask=None):
    model = transformers.BertModel.from_pretrained(path, attn_implementation="eager").eval()
    with torch.no_grad():
        return model(ids, attention_mask=mask).last_hidden_state


def our_output(model, ids, mask=None):
    with torch.no_grad():
        return model(ids, attention_mask=mask).last_hidden_state


@pytest.fixture(scope="module")
def bert_base_formats(tmp_path_factory) -> dict[str, Path]:
    """bert-base-uncased's exact shapes, random weights, in each of the original file layouts."""
    return {fmt: write_legacy_checkpoint(tmp_path_factory.mktemp(fmt), BERT_BASE_UNCASED, fmt) for fmt in ("bin", "safetensors", "sharded")}


@pytest.mark.parametrize("fmt", ["bin", "safetensors", "sharded"])
def test_bert_base_legacy_layout_loads_in_every_format(bert_base_formats, fmt):
    path = bert_base_formats[fmt]
    model = BertModel.from_pretrained(path)
    info = model.loading_info
    assert info.initialized_keys == []
    # The pre-training heads are reported as unused, the position_ids buffer silently skipped.
    assert set(info.unexpected_keys) == {
        "cls.predictions.bias", "cls.predictions.decoder.weight", "cls.predictions.transform.dense.weight",
        "cls.predictions.transform.dense.bias", "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.transform.LayerNorm.bias", "cls.seq_relationship.weight", "cls.seq_relationship.bias",
    }
    assert model.num_parameters() == 109_482_240  # bert-base-uncased's BertModel
    ids = torch.randint(1, 30522, (2, 12))
    torch.testing.assert_close(our_output(model, ids), reference_output(path, ids), atol=1e-5, rtol=0)


def test_legacy_gamma_beta_map_to_layernorm_weight_and_bias(tmp_path):
    state = legacy_state_dict(SMALL, with_heads=False)
    write_legacy_checkpoint(tmp_path, SMALL, "bin")
    model = BertModel.from_pretrained(tmp_path)
    assert torch.equal(model.embeddings.norm.weight, state["bert.embeddings.LayerNorm.gamma"])
    assert torch.equal(model.encoder.layers[1].output_norm.bias, state["bert.encoder.layer.1.output.LayerNorm.beta"])


def test_fused_projection_is_query_key_value_stacked(tmp_path):
    state = legacy_state_dict(SMALL, with_heads=False)
    write_legacy_checkpoint(tmp_path, SMALL, "safetensors")
    qkv = BertModel.from_pretrained(tmp_path).encoder.layers[0].attention.qkv
    p = "bert.encoder.layer.0.attention.self."
    assert torch.equal(qkv.weight, torch.cat([state[p + "query.weight"], state[p + "key.weight"], state[p + "value.weight"]]))
    assert torch.equal(qkv.bias, torch.cat([state[p + "query.bias"], state[p + "key.bias"], state[p + "value.bias"]]))


@pytest.mark.parametrize("options", [{}, {"max_shard_size": "40KB"}, {"safe_serialization": False}])
def test_what_minibert_saves_transformers_loads_exactly(tmp_path, options):
    write_legacy_checkpoint(tmp_path / "src", SMALL, "bin")
    ours = BertModel.from_pretrained(tmp_path / "src")
    ours.save_pretrained(tmp_path / "out", **options)
    theirs, info = transformers.BertModel.from_pretrained(tmp_path / "out", attn_implementation="eager", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ids = torch.randint(1, 200, (3, 10))
    mask = torch.ones_like(ids)
    mask[2, 6:] = 0
    with torch.no_grad():  # real tokens: the default path leaves zeros at pads
        real = mask.bool()
        torch.testing.assert_close(ours(ids, attention_mask=mask).last_hidden_state[real],
                                   theirs.eval()(ids, attention_mask=mask).last_hidden_state[real], atol=1e-5, rtol=0)
    if "max_shard_size" in options:
        assert (tmp_path / "out" / "model.safetensors.index.json").is_file()
        assert len(list((tmp_path / "out").glob("model-*-of-*.safetensors"))) > 1
    # Atomic writes leave no temporary files behind.
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_what_transformers_saves_minibert_loads_exactly(tmp_path):
    theirs = transformers.BertModel(transformers.BertConfig(**SMALL)).eval()
    theirs.save_pretrained(tmp_path)
    ours = BertModel.from_pretrained(tmp_path)
    assert ours.loading_info.unexpected_keys == [] and ours.loading_info.initialized_keys == []
    ids = torch.randint(1, 200, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).last_hidden_state, theirs(ids).last_hidden_state, atol=1e-5, rtol=0)


def test_minibert_round_trip_is_bit_exact(tmp_path):
    model = BertModel(BertConfig(**SMALL))
    model.save_pretrained(tmp_path)
    loaded = BertModel.from_pretrained(tmp_path)
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_save_pretrained_writes_a_given_state_dict_and_refuses_another_models(tmp_path):
    """state_dict=: what training saves for a model whose own tensors are shards (FSDP)."""
    model, other = BertModel(BertConfig(**SMALL)), BertModel(BertConfig(**SMALL))
    model.save_pretrained(tmp_path / "other", state_dict=other.state_dict())
    loaded = BertModel.from_pretrained(tmp_path / "other")
    for (name, a), b in zip(other.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    partial = {k: v for k, v in model.state_dict().items() if "pooler" not in k}
    with pytest.raises(ValueError, match="state_dict does not hold this model's weights: 2 names differ, e.g. pooler"):
        model.save_pretrained(tmp_path / "partial", state_dict=partial)
    assert not (tmp_path / "partial").exists()


def test_missing_backbone_weight_is_an_error_naming_the_key(tmp_path):
    write_legacy_checkpoint(tmp_path, SMALL, "bin")
    state = torch.load(tmp_path / "pytorch_model.bin", weights_only=True)
    del state["bert.encoder.layer.1.intermediate.dense.weight"]
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"encoder.layer.1.intermediate.dense.weight"):
        BertModel.from_pretrained(tmp_path)


def test_shape_mismatch_is_an_error_naming_the_key_and_both_shapes(tmp_path):
    write_legacy_checkpoint(tmp_path, SMALL, "bin")
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "intermediate_size": 256}))
    with pytest.raises(CheckpointError, match=r"'encoder.layer.0.intermediate.dense.weight' has shape \(128, 64\) but the model expects \(256, 64\)"):
        BertModel.from_pretrained(tmp_path)


def test_missing_pooler_is_initialised_and_reported_by_name(tmp_path):
    state = {k: v for k, v in legacy_state_dict(SMALL, with_heads=False).items() if "pooler" not in k}
    write_config(tmp_path, SMALL)
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.warns(UserWarning, match=r"newly initialised: pooler.dense.bias, pooler.dense.weight"):
        model = BertModel.from_pretrained(tmp_path)
    assert model.loading_info.initialized_keys == ["pooler.dense.bias", "pooler.dense.weight"]
    assert torch.isfinite(model.pooler.dense.weight).all() and model.pooler.dense.weight.std() > 0


def test_pickles_that_run_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    write_config(tmp_path, SMALL)
    import pickle

    with open(tmp_path / "pytorch_model.bin", "wb") as f:
        pickle.dump({"bert.embeddings.word_embeddings.weight": Exploit()}, f)
    with pytest.raises(Exception, match="(?i)weights.only|unpickl"):
        BertModel.from_pretrained(tmp_path)
    assert not marker.exists()


def test_dtype_options(tmp_path):
    write_legacy_checkpoint(tmp_path, SMALL, "safetensors")
    assert BertModel.from_pretrained(tmp_path).dtype == torch.float32
    assert BertModel.from_pretrained(tmp_path, dtype=torch.bfloat16).dtype == torch.bfloat16
    assert BertModel.from_pretrained(tmp_path, torch_dtype="float16").dtype == torch.float16
    assert BertModel.from_pretrained(tmp_path, dtype="auto").dtype == torch.float32
    with pytest.raises(ValueError, match="dtype must be a floating torch dtype"):
        BertModel.from_pretrained(tmp_path, dtype="int8")


def test_overrides_reach_the_config(tmp_path):
    write_legacy_checkpoint(tmp_path, SMALL, "safetensors")
    model = BertModel.from_pretrained(tmp_path, hidden_dropout_prob=0.0, attn_implementation="eager")
    assert model.config.hidden_dropout_prob == 0.0 and model.encoder.layers[0].attention.implementation == "eager"
    assert not model.training  # eval mode after loading, as transformers does


def test_directory_without_weights_says_what_it_expected(tmp_path):
    write_config(tmp_path, SMALL)
    with pytest.raises(ModelNotFoundError, match="no weights: expected one of model.safetensors"):
        BertModel.from_pretrained(tmp_path)


def test_damaged_safetensors_file_is_a_clear_error(tmp_path):
    write_config(tmp_path, SMALL)
    (tmp_path / "model.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        BertModel.from_pretrained(tmp_path)


def test_changing_loaded_weights_never_changes_the_file(tmp_path):
    # Safetensors weights are a copy-on-write memory map of the file: training writes to private pages.
    write_legacy_checkpoint(tmp_path, SMALL, "safetensors")
    before = (tmp_path / "model.safetensors").read_bytes()
    model = BertModel.from_pretrained(tmp_path)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert (tmp_path / "model.safetensors").read_bytes() == before


def test_hub_id_offline_and_uncached_gives_one_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not in the Hugging Face cache.*Pass the path of a local model directory"):
        BertModel.from_pretrained("bert-base-uncased", cache_dir=tmp_path)


def test_hub_id_resolves_through_the_cache(tmp_path):
    """A Hub snapshot already in the cache loads offline, through huggingface_hub."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--someone--tiny-bert"
    snapshot = repo / "snapshots" / revision
    write_legacy_checkpoint(snapshot, SMALL, "safetensors")
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    model = BertModel.from_pretrained("someone/tiny-bert", cache_dir=tmp_path)
    ids = torch.randint(1, 200, (1, 5))
    torch.testing.assert_close(our_output(model, ids), reference_output(snapshot, ids), atol=1e-5, rtol=0)


def test_path_that_does_not_exist_is_not_sent_to_the_hub(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        BertModel.from_pretrained(str(tmp_path / "nowhere" / "model"))


# ---- checkpoints that do not fit their config.json (issue 13, items 1 and 14) ------------


def test_a_config_with_fewer_layers_than_the_checkpoint_is_an_error(tmp_path):
    write_legacy_checkpoint(tmp_path, SMALL, "safetensors")
    write_config(tmp_path, dict(SMALL, num_hidden_layers=1))
    with pytest.raises(CheckpointError, match="config.json says num_hidden_layers=1 but the checkpoint has 2 encoder layers"):
        BertModel.from_pretrained(tmp_path)


def test_a_huge_layer_count_is_refused_before_anything_is_built(tmp_path):
    write_legacy_checkpoint(tmp_path, SMALL, "safetensors")
    write_config(tmp_path, dict(SMALL, num_hidden_layers=1_000_000_000))
    with pytest.raises(ValueError, match=r"num_hidden_layers = 1,000,000,000 is larger than any real BERT model's \(minibert's limit is 1,000"):
        BertModel.from_pretrained(tmp_path)
    write_config(tmp_path, dict(SMALL, num_hidden_layers=900))  # within the limit, but not this checkpoint
    with pytest.raises(CheckpointError, match="num_hidden_layers=900 but the checkpoint has 2"):
        BertModel.from_pretrained(tmp_path)


def test_a_learned_position_table_the_config_does_not_use_is_an_error(tmp_path):
    write_legacy_checkpoint(tmp_path, SMALL, "safetensors")
    write_config(tmp_path, dict(SMALL, position_embedding_type="sinusoidal"))
    with pytest.raises(CheckpointError, match=r"1 encoder weights this config.json does not use: embeddings.position_embeddings.weight\. "
                                              r"config.json says position_embedding_type='sinusoidal'"):
        BertModel.from_pretrained(tmp_path)


def test_unused_attention_weights_are_an_error_naming_them(tmp_path):
    state = legacy_state_dict(SMALL, with_heads=False)
    state["bert.encoder.layer.0.attention.self.relative_key.weight"] = torch.zeros(4, 4)
    write_config(tmp_path, SMALL)
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="encoder weights this config.json does not use: encoder.layer.0.attention.self.relative_key.weight"):
        BertModel.from_pretrained(tmp_path)


def test_pretraining_heads_and_position_ids_stay_a_note_when_loading_the_encoder(tmp_path):
    write_legacy_checkpoint(tmp_path, SMALL, "safetensors")  # with cls.* heads and the position_ids buffer
    model = BertModel.from_pretrained(tmp_path)
    assert model.loading_info.unexpected_keys and all(k.startswith("cls.") for k in model.loading_info.unexpected_keys)


# ---- saving into a used directory (issue 13, item 2) ---------------------------------------


def small_model(seed: int) -> BertModel:
    torch.manual_seed(seed)
    return BertModel(BertConfig(**{k: v for k, v in SMALL.items()}))


@pytest.mark.parametrize("first, second", [
    (dict(), dict(safe_serialization=False)),
    (dict(safe_serialization=False), dict()),
    (dict(max_shard_size="100KB"), dict()),
    (dict(), dict(max_shard_size="100KB")),
    (dict(max_shard_size="100KB"), dict(max_shard_size="200KB")),
])
def test_saving_over_another_layout_replaces_every_old_weight_file(tmp_path, first, second):
    small_model(1).save_pretrained(tmp_path, **first)
    new = small_model(2)
    new.save_pretrained(tmp_path, **second)
    weight_files = sorted(p.name for p in tmp_path.iterdir() if p.name != "config.json")
    if second.get("max_shard_size"):
        index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
        assert weight_files == sorted({*index["weight_map"].values(), "model.safetensors.index.json"})
    else:
        assert weight_files == ["pytorch_model.bin" if second else "model.safetensors"]
    loaded = BertModel.from_pretrained(tmp_path)
    for key, value in new.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, atol=0, rtol=0)


def test_a_directory_with_two_weight_layouts_is_refused_naming_both(tmp_path):
    small_model(1).save_pretrained(tmp_path)
    small_model(2).save_pretrained(tmp_path / "other", safe_serialization=False)
    (tmp_path / "other" / "pytorch_model.bin").rename(tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="holds two weight layouts, model.safetensors and pytorch_model.bin"):
        BertModel.from_pretrained(tmp_path)


def test_a_hub_snapshot_with_two_layouts_of_the_same_weights_loads_the_safetensors(tmp_path):
    snapshot = tmp_path / "models--org--name" / "snapshots" / ("a" * 40)
    model = small_model(1)
    model.save_pretrained(snapshot, safe_serialization=False)
    model.save_pretrained(snapshot / "st")
    (snapshot / "st" / "model.safetensors").rename(snapshot / "model.safetensors")
    assert BertModel.from_pretrained(snapshot).loading_info.checkpoint_files == [str(snapshot / "model.safetensors")]


# ---- file modes (issue 13, item 12) ------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("options", [dict(), dict(max_shard_size="100KB"), dict(safe_serialization=False)])
def test_saved_files_get_the_mode_the_umask_gives(tmp_path, options):
    old = os.umask(0o022)
    try:
        small_model(1).save_pretrained(tmp_path, **options)
    finally:
        os.umask(old)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()}
    assert len(modes) >= 2 and set(modes.values()) == {"0o644"}, modes


# ---- typed errors instead of tracebacks (issue 13, item 13) --------------------------------


def test_integer_weights_are_a_checkpoint_error(tmp_path):
    state = legacy_state_dict(SMALL, with_heads=False)
    state["bert.encoder.layer.0.output.dense.weight"] = state["bert.encoder.layer.0.output.dense.weight"].to(torch.int8)
    write_config(tmp_path, SMALL)
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="'encoder.layer.0.output.dense.weight' holds torch.int8 values; minibert loads floating-point weights"):
        BertModel.from_pretrained(tmp_path)


def test_a_pickle_weights_only_refuses_says_how_to_convert_it(tmp_path):
    import argparse

    write_config(tmp_path, SMALL)
    torch.save({"args": argparse.Namespace(lr=1e-3)}, tmp_path / "pytorch_model.bin")  # harmless, still refused
    with pytest.raises(CheckpointError, match=r"refuses to unpickle.*convert it to safetensors once: python -c .*save_file\(torch.load"):
        BertModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("device, message", [
    ("bogus", "device='bogus' is not a device; use 'cpu', 'cuda'"),
    pytest.param("cuda", "device='cuda' but torch sees no CUDA GPU; use device='cpu'",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")),
])
def test_an_unusable_device_is_a_value_error_before_loading(tmp_path, device, message):
    write_legacy_checkpoint(tmp_path, SMALL, "safetensors")
    with pytest.raises(ValueError, match=message):
        BertModel.from_pretrained(tmp_path, device=device)


@pytest.mark.parametrize("damage", ["int8 weights", "pickle", "null dropout", "id2label list"])
def test_the_cli_prints_a_bad_checkpoint_as_one_line(tmp_path, capsys, damage):
    from minibert.cli import main

    write_legacy_checkpoint(tmp_path, SMALL, "bin")
    config = json.loads((tmp_path / "config.json").read_text())
    if damage == "int8 weights":
        state = torch.load(tmp_path / "pytorch_model.bin", weights_only=True)
        torch.save({k: v.to(torch.int8) for k, v in state.items()}, tmp_path / "pytorch_model.bin")
    elif damage == "pickle":
        import argparse

        torch.save({"args": argparse.Namespace(lr=1e-3)}, tmp_path / "pytorch_model.bin")
    elif damage == "null dropout":
        (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_dropout_prob": None}))
    else:
        (tmp_path / "config.json").write_text(json.dumps({**config, "id2label": ["NEG", "POS"]}))
    assert main(["info", "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minibert info: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_a_keyword_that_is_neither_an_option_nor_a_config_field_is_a_warning(tmp_path):
    import warnings

    write_legacy_checkpoint(tmp_path, SMALL, "safetensors")
    with pytest.warns(UserWarning, match=r"num_lables= is neither a loading option nor a BertConfig field, so it changes nothing; did you mean num_labels=\?"):
        BertModel.from_pretrained(tmp_path, num_lables=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        BertModel.from_pretrained(tmp_path, num_labels=3, hidden_dropout_prob=0.0, dtype="float32")
    assert not [w for w in caught if "neither a loading option" in str(w.message)]
