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


HUB_ID_SCRIPT = """
from minibert.hub import ModelNotFoundError, resolve_file
try:
    resolve_file("bert-base-uncased", "config.json", cache_dir={cache!r})
except ModelNotFoundError as exc:
    print("ModelNotFoundError:", exc)
"""


@pytest.mark.parametrize("env", [{"HF_HUB_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}],
                         ids=["HF_HUB_OFFLINE", "unreachable endpoint"])
def test_an_unreachable_hub_fails_at_once_with_one_message_and_no_retries(tmp_path, env):
    # A fresh interpreter: huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE when it is imported.
    # Port 9 (discard) on localhost refuses the connection, as a machine without network does.
    import os
    import subprocess
    import sys
    from pathlib import Path

    environment = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    environment.update(env, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-c", HUB_ID_SCRIPT.format(cache=str(tmp_path))], env=environment,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ModelNotFoundError: could not load 'bert-base-uncased': it is not a local directory, "
                                  "it is not in the Hugging Face cache, and the Hub cannot be reached")
    assert "Retry" not in done.stdout + done.stderr and "thrown while requesting" not in done.stderr
