"""The train and predict commands on bad input: one clear line on stderr, exit status 2, no
traceback, and nothing in --out lost. Most cases run in-process through minibert.cli.main; two
run as real subprocesses to check what a user sees (each costs seconds for importing torch)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from minibert import BertConfig, BertModel
from minibert.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    (d / "train.csv").write_text("text,label\nI loved it.,pos\nI hated it.,neg\nGreat!,pos\n")
    (d / "dev.csv").write_text("text,label\nSuperb.,pos\nAwful.,neg\n")
    (d / "dev_new_label.csv").write_text("text,label\nFine.,neutral\n")
    (d / "empty.csv").write_text("text,label\n")
    (d / "blank_text.csv").write_text("text,label\nI loved it.,pos\n,neg\n")
    (d / "no_weights").mkdir()
    BertConfig(**TINY).save_pretrained(d / "no_weights")
    torch.manual_seed(0)
    BertModel(BertConfig(**TINY)).save_pretrained(d / "backbone")
    return d


def run_cli(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


def train_args(files, out, **changes):
    args = {"--model": str(files / "no_weights"), "--train": str(files / "train.csv"), "--eval": str(files / "dev.csv"),
            "--out": str(out), **changes}
    return ["train"] + [x for k, v in args.items() if v is not None for x in (k, v)]


@pytest.mark.parametrize("changes,message", [
    ({"--train": "missing.csv"}, "missing.csv does not exist"),
    ({"--text-column": "sentence"}, "has no column 'sentence'; its columns are: text, label"),
    ({"--train": "empty.csv"}, "holds no examples"),
    ({"--eval": "dev_new_label.csv"}, "labels the training data never shows: 'neutral'"),
    ({"--train": "blank_text.csv"}, "row 3: the 'text' column is empty"),
    ({}, "has a config.json but no weights"),
], ids=["missing-file", "missing-column", "empty", "dev-only-label", "empty-text", "no-weights"])
def test_train_bad_input_is_one_line_and_exit_2(capsys, files, tmp_path, changes, message):
    changes = {k: (str(files / v) if k in ("--train", "--eval") and v != "missing.csv" else v) for k, v in changes.items()}
    code, err = run_cli(capsys, *train_args(files, tmp_path / "out", **changes))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("minibert train: error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_train_refuses_a_non_empty_out_and_keeps_its_files(capsys, files, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, err = run_cli(capsys, *train_args(files, out, **{"--model": str(files / "backbone")}))
    assert code == 2 and "exists and is not empty" in err and "--overwrite" in err
    assert (out / "notes.txt").read_text() == "keep me" and sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_predict_bad_input(capsys, files, tmp_path):
    code, err = run_cli(capsys, "predict", "--model", str(files / "backbone"), "--input", str(tmp_path / "none.txt"))
    assert code == 2 and "none.txt does not exist" in err
    (tmp_path / "blank.txt").write_text("\n  \n")
    code, err = run_cli(capsys, "predict", "--model", str(files / "backbone"), "--input", str(tmp_path / "blank.txt"))
    assert code == 2 and "no text to classify" in err
    (tmp_path / "t.txt").write_text("hello\n")
    code, err = run_cli(capsys, "predict", "--model", str(files / "no_weights"), "--input", str(tmp_path / "t.txt"))
    assert code == 2 and "no weights" in err


def run_subprocess(*argv):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "minibert", *argv], capture_output=True, text=True, env=env, timeout=120)


def test_subprocess_bad_input_prints_no_traceback(files, tmp_path):
    for argv, message in [
        (train_args(files, tmp_path / "a", **{"--train": str(tmp_path / "missing.csv")}), "missing.csv does not exist"),
        (train_args(files, tmp_path / "b"), "no weights"),
    ]:
        result = run_subprocess(*argv)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
