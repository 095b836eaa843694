"""`minibert parity` on the real all-MiniLM-L6-v2 checkpoint: minibert vs transformers, fp32 1e-5 absolute."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from minibert.cli import main

pytest.importorskip("transformers")


def test_parity_command_reports_every_layer_within_tolerance(minilm_dir, capsys):
    assert main(["parity", "--model", str(minilm_dir), "--ids", "101,1037,2158,2003,5983,2833,1012,102"]) == 0
    out = capsys.readouterr().out
    assert "parity: minibert vs transformers, float32, tolerance |a-b| <= 1e-05" in out
    for step in ["embeddings", "layer 0 attention", "layer 5 output", "pooler"]:
        assert step in out
    assert "all 14 steps within tolerance" in out and " NO" not in out


def test_parity_command_json_on_text(minilm_dir, capsys):
    code = main(["parity", "--model", str(minilm_dir), "--text", "Hello world.", "--text", "A longer second sentence.", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"] is True and data["first_failure"] is None
    assert len(data["rows"]) == 14 and data["atol"] == 1e-5
    assert data["initialized_keys"] == {"minibert": [], "transformers": []}


def test_parity_command_input_errors_are_one_line(minilm_dir, capsys):
    assert main(["parity", "--model", str(minilm_dir), "--ids", "101,x"]) == 2
    assert "--ids must be comma-separated integers" in capsys.readouterr().err
    assert main(["parity", "--model", str(minilm_dir), "--ids", "101,99999"]) == 2
    assert "outside the vocabulary 0..30521" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_parity_command_without_gpu_says_so(minilm_dir, capsys):
    assert main(["parity", "--model", str(minilm_dir), "--device", "cuda"]) == 2
    assert "torch sees no CUDA GPU" in capsys.readouterr().err


def test_parity_command_without_transformers_says_what_to_install(minilm_dir, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    assert main(["parity", "--model", str(minilm_dir)]) == 2
    err = capsys.readouterr().err
    assert "not installed: pip install transformers" in err and err.count("\n") == 1


def test_parity_command_needs_a_class_both_libraries_have(minilm_dir, capsys):
    assert main(["parity", "--model", str(minilm_dir), "--class", "BertForTeaMaking"]) == 2
    assert "transformers has no class of that name" in capsys.readouterr().err
