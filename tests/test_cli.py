"""The train and predict commands on bad input: one clear line on stderr, exit status 2, no
traceback, and nothing in --out lost. Most cases run in-process through minibert.cli.main; two
run as real subprocesses to check what a user sees (each costs seconds for importing torch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from minibert import BertConfig, BertModel
from minibert.cli import main
from minibert.commands.demo import NEW_SENTENCES

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
    ({"--train": "blank_text.csv"}, "line 3: the 'text' column is empty"),
    ({}, "has a config.json but no weights"),
    ({"--dist-timeout": "0"}, "--dist-timeout must be a positive number of seconds, got 0.0"),
    ({"--lr": "inf"}, "--lr must be a finite number, got inf"),
    ({"--device": "bogus"}, "device='bogus' is not a device; use 'cpu', 'cuda'"),
    ({"--device": "cuda:99"}, "device='cuda:99' but torch sees"),
    ({"--max-length": "1000"}, "--max-length must be between 2 and 32 (the model's maximum), got 1000"),
    ({"--max-length": "1"}, "--max-length must be at least 2 ([CLS] and [SEP]), got 1"),
], ids=["missing-file", "missing-column", "empty", "dev-only-label", "empty-text", "no-weights", "dist-timeout",
        "lr-inf", "device-bogus", "device-missing-gpu", "max-length-above-the-model", "max-length-1"])
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


def test_train_refuses_an_out_it_could_not_write_before_loading_anything(capsys, files, tmp_path):
    """Found before the model is loaded (the model here has no weights, which would be the
    error otherwise), not when the first epoch's model is saved."""
    code, err = run_cli(capsys, *train_args(files, files / "train.csv"))
    assert code == 2 and err == f"minibert train: error: --out {files / 'train.csv'} exists and is not a directory\n"
    code, err = run_cli(capsys, *train_args(files, files / "train.csv" / "run"))
    assert code == 2 and err == (f"minibert train: error: --out: cannot create {files / 'train.csv' / 'run'}: "
                                 f"{files / 'train.csv'} is not a directory\n")


@pytest.mark.parametrize("device,message", [("bogus", "device='bogus' is not a device"), ("cuda:99", "device='cuda:99' but torch sees")])
def test_predict_and_pretrain_refuse_a_device_there_is_not_in_one_line(capsys, files, tmp_path, device, message):
    (tmp_path / "t.txt").write_text("hello\n")
    code, err = run_cli(capsys, "predict", "--model", str(files / "backbone"), "--input", str(tmp_path / "t.txt"), "--device", device)
    assert code == 2 and err.startswith("minibert predict: error: ") and message in err and err.count("\n") == 1
    code, err = run_cli(capsys, "pretrain", "--corpus", str(files / "train.csv"), "--out", str(tmp_path / "p"),
                        "--tokenizer", str(files / "backbone"), "--device", device)
    assert code == 2 and err.startswith("minibert pretrain: error: ") and message in err and err.count("\n") == 1


def test_pretrain_refuses_an_out_that_is_a_file_before_training(capsys, files, tmp_path):
    (tmp_path / "a-file").write_text("keep me")
    code, err = run_cli(capsys, "pretrain", "--corpus", str(files / "train.csv"), "--out", str(tmp_path / "a-file"),
                        "--tokenizer", str(files / "backbone"), "--config", "tiny", "--max-steps", "1")
    assert code == 2 and err == f"minibert pretrain: error: --out {tmp_path / 'a-file'} exists and is not a directory\n"
    assert (tmp_path / "a-file").read_text() == "keep me"


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
    return subprocess.run([sys.executable, "-m", "minibert", *argv], capture_output=True, text=True, env=env, timeout=600)


def test_subprocess_bad_input_prints_no_traceback(files, tmp_path):
    for argv, message in [
        (train_args(files, tmp_path / "a", **{"--train": str(tmp_path / "missing.csv")}), "missing.csv does not exist"),
        (train_args(files, tmp_path / "b"), "no weights"),
    ]:
        result = run_subprocess(*argv)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_demo_end_to_end_reports_dev_accuracy_of_at_least_085(tmp_path, minilm_dir):
    """The README's main-job command, run as a user runs it: the real checkpoint, the shipped
    data, the default settings. The accuracy checked is the one the demo prints."""
    result = run_subprocess("demo", "--out", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    reported = [line for line in lines if line.startswith("dev accuracy: ")]
    assert len(reported) == 1, result.stdout
    accuracy = float(reported[0].split()[2])
    assert accuracy >= 0.85, reported[0]
    start = lines.index("new sentences:")
    classified = [line.split(maxsplit=2) for line in lines[start + 1 : start + 1 + len(NEW_SENTENCES)]]
    assert [c[2] for c in classified] == NEW_SENTENCES
    assert all(c[0] in ("positive", "negative") and c[1].endswith("%") for c in classified)
    # What it saved is the classifier it used: `minibert predict` on the saved model gives the
    # labels and probabilities the demo printed (rounded to 0.1%).
    predicted = subprocess.run(
        [sys.executable, "-m", "minibert", "predict", "--model", str(tmp_path / "demo"), "--input", "-", "--json"],
        input="\n".join(NEW_SENTENCES) + "\n", capture_output=True, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}, timeout=120,
    )
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [r["label"] for r in rows] == [c[0] for c in classified]
    for row, c in zip(rows, classified):
        assert abs(100 * row["score"] - float(c[1].rstrip("%"))) <= 0.051


def test_train_then_predict_round_trip_on_a_tiny_model(capsys, tmp_path):
    """train writes a classifier and its tokenizer into --out; predict reads them back."""
    words = "good great fine bad awful poor the film was food".split()
    model_dir = tmp_path / "tiny"
    model_dir.mkdir()
    (model_dir / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    torch.manual_seed(0)
    BertModel(BertConfig(**{**TINY, "vocab_size": 5 + len(words)})).save_pretrained(model_dir)
    rows = [("the film was good", "pos"), ("the food was great", "pos"), ("the film was bad", "neg"), ("the food was awful", "neg")]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"review": t, "y": y}) + "\n" for t, y in rows))
    out = tmp_path / "out"
    code = main(["train", "--model", str(model_dir), "--train", str(tmp_path / "train.jsonl"), "--eval", str(tmp_path / "train.jsonl"),
                 "--text-column", "review", "--label-column", "y", "--out", str(out), "--epochs", "2", "--batch-size", "2",
                 "--keep-checkpoint"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "best dev accuracy" in captured.out
    assert json.loads((out / "config.json").read_text())["id2label"] == {"0": "neg", "1": "pos"}
    assert (out / "vocab.txt").is_file() and (out / "last-checkpoint" / "trainer_state.pt").is_file()

    (tmp_path / "texts.txt").write_text("the film was great\n\nthe food was poor\n")
    assert main(["predict", "--model", str(out), "--input", str(tmp_path / "texts.txt"), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2  # the blank line is skipped
    for line in lines:
        row = json.loads(line)
        assert row["label"] in ("neg", "pos") and row["probabilities"][row["label"]] == row["score"]
    # --out is now not empty: a second run needs --overwrite (or --resume, which has nothing left to do).
    assert main(["train", "--model", str(model_dir), "--train", str(tmp_path / "train.jsonl"), "--text-column", "review",
                 "--label-column", "y", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_train_deletes_its_resume_checkpoint_when_done_and_says_so(capsys, tmp_path):
    words = "good bad the film".split()
    model_dir = tmp_path / "tiny"
    model_dir.mkdir()
    (model_dir / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    torch.manual_seed(0)
    BertModel(BertConfig(**{**TINY, "vocab_size": 5 + len(words)})).save_pretrained(model_dir)
    (tmp_path / "train.csv").write_text("text,label\nthe film good,pos\nthe film bad,neg\n")
    out = tmp_path / "out"
    code = main(["train", "--model", str(model_dir), "--train", str(tmp_path / "train.csv"), "--out", str(out), "--epochs", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "the resume checkpoint was deleted" in captured.out and "--keep-checkpoint keeps it" in captured.out
    assert (out / "model.safetensors").is_file() and not (out / "last-checkpoint").exists()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_train_refuses_an_option_of_another_task(capsys, files, tmp_path):
    """Each task adds its own options to the one train parser; giving one of another task's is
    a mistake said in one line."""
    code, err = run_cli(capsys, *train_args(files, tmp_path / "out", **{"--tags-column": "labels"}))
    assert code == 2
    assert err == "minibert train: error: --tags-column is an option of --task token-classification, not of --task text-classification\n"
    assert not (tmp_path / "out").exists()


def test_train_warns_about_a_run_too_short_to_learn_in_its_own_flags(capsys, tmp_path):
    """The README recipe's trap on small data: a few optimizer steps, a loss still at chance
    level. Both are said, with the flags to change."""
    words = "good bad the film".split()
    model_dir = tmp_path / "tiny"
    model_dir.mkdir()
    (model_dir / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    torch.manual_seed(0)
    BertModel(BertConfig(**{**TINY, "vocab_size": 5 + len(words)})).save_pretrained(model_dir)
    (tmp_path / "train.csv").write_text("text,label\n" + "the film good,pos\nthe film bad,neg\n" * 5)
    code = main(["train", "--model", str(model_dir), "--train", str(tmp_path / "train.csv"), "--out", str(tmp_path / "out"),
                 "--epochs", "3"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert ("warning: this run makes only 3 optimizer steps (10 examples in batches of 16, 3 epochs), and fine-tuning "
            "rarely gets far in fewer than 50: raise --epochs (e.g. to 50), lower --batch-size, or add training data") in err
    assert "warning: the final training loss 0.6" in err and "Train longer (--epochs, now 3) or with a higher --lr (now 5e-05)" in err


def test_version_prints_the_installed_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"minibert {version('minibert')}\n"


@pytest.mark.parametrize("command", ["pretrain", "parity"])
def test_every_option_says_what_it_does_and_its_default(command):
    import argparse

    from minibert.cli import build_parser

    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = [a for a in subparsers.choices[command]._actions if a.option_strings and a.help != argparse.SUPPRESS]
    assert len(options) > 5
    for action in options:
        assert action.help, f"{command} {action.option_strings[0]} has no help text"
        if action.default not in (None, False, argparse.SUPPRESS):
            assert "default" in action.help, \
                f"{command} {action.option_strings[0]} does not show its default {action.default!r}"
