"""`minibert info` on the real all-MiniLM-L6-v2 checkpoint, run in-process through minibert.cli.main."""

from __future__ import annotations

import json

from minibert.cli import main


def test_info_shows_config_parameters_files_and_keys(minilm_dir, capsys):
    assert main(["info", "--model", str(minilm_dir)]) == 0
    out = capsys.readouterr().out
    assert "class: BertModel" in out
    assert "  hidden_size: 384" in out and "  layer_norm_eps: 1e-12" in out
    assert "dtype: float32 (checkpoint: float32)" in out
    assert "model.safetensors: safetensors, 90.9 MB" in out
    assert "parameters: 22,713,216" in out
    assert "encoder layer 5" in out and "pooler" in out
    assert "keys loaded from the checkpoint: 79" in out  # 5 embedding + 6 x 12 layer + 2 pooler (qkv fused)
    assert "keys newly initialised (not in the checkpoint): 0" in out


def test_info_json_lists_every_loaded_key(minilm_dir, capsys):
    assert main(["info", "--model", str(minilm_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["parameters"] == sum(data["parameters_by_part"].values()) == 22_713_216
    assert "encoder.layers.0.attention.qkv.weight" in data["loaded_keys"]
    assert data["initialized_keys"] == [] and data["unexpected_keys"] == []
    assert data["files"] == [{"name": "model.safetensors", "format": "safetensors",
                              "bytes": (minilm_dir / "model.safetensors").stat().st_size}]


def test_info_reports_newly_initialised_keys(tmp_path, minilm_dir, capsys):
    from minibert.weights import read_safetensors, write_safetensors

    state = {k: v for k, v in read_safetensors(minilm_dir / "model.safetensors").items() if not k.startswith("pooler.")}
    write_safetensors(tmp_path / "model.safetensors", state)
    (tmp_path / "config.json").write_text((minilm_dir / "config.json").read_text())
    assert main(["info", "--model", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "keys newly initialised (not in the checkpoint): 2: pooler.dense.bias, pooler.dense.weight" in captured.out
    assert captured.err == ""  # reported once, in the output, not as a warning


def test_info_errors_are_one_line(tmp_path, capsys):
    assert main(["info", "--model", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minibert info: error: ") and "does not exist" in err and err.count("\n") == 1
    assert main(["info", "--model", str(tmp_path), "--class", "Linear"]) == 2
    err = capsys.readouterr().err
    assert "is not a minibert model class; choose one of" in err and "BertModel" in err and "BertForSequenceClassification" in err
