"""minibert.hub.resolve_file: local directories first, then Hub ids through huggingface_hub."""

from __future__ import annotations

import pytest

from minibert.hub import ModelNotFoundError, resolve_file


def test_local_directory_file_is_returned_as_is(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_file(tmp_path, "config.json") == tmp_path / "config.json"


def test_missing_local_file_lists_what_the_directory_holds(tmp_path):
    (tmp_path / "vocab.txt").write_text("[UNK]\n")
    with pytest.raises(ModelNotFoundError, match=r"has no config.json \(it holds: vocab.txt\)"):
        resolve_file(tmp_path, "config.json")
    assert resolve_file(tmp_path, "config.json", required=False) is None


def test_a_file_instead_of_a_directory_is_explained(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="is a file, not a model directory"):
        resolve_file(tmp_path / "model.safetensors", "config.json")


@pytest.mark.parametrize("bad", [None, "", "   ", 42])
def test_nonsense_names_are_a_type_error(bad):
    with pytest.raises(TypeError, match="model directory or a Hub id"):
        resolve_file(bad, "config.json")


def test_offline_hub_id_not_in_cache(tmp_path):
    with pytest.raises(ModelNotFoundError, match="'bert-base-uncased': it is not a local directory, it is not in the Hugging Face cache"):
        resolve_file("bert-base-uncased", "config.json", cache_dir=tmp_path)


def test_cached_snapshot_without_an_optional_file_gives_none(tmp_path):
    revision = "f" * 40
    repo = tmp_path / "models--org--name"
    (repo / "snapshots" / revision).mkdir(parents=True)
    (repo / "snapshots" / revision / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    assert resolve_file("org/name", "config.json", cache_dir=tmp_path).read_text() == "{}"
    assert resolve_file("org/name", "tokenizer_config.json", required=False, cache_dir=tmp_path) is None
