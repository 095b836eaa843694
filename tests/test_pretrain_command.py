"""`minibert pretrain`: from scratch and from a checkpoint, resume, and errors as one line."""

from __future__ import annotations

import json

import pytest

from minibert import BertForMaskedLM, BertForPreTraining, BertTokenizer
from minibert.cli import main

TINY_CONFIG = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=64, max_position_embeddings=64, model_type="bert")


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory, corpus_dir):
    """300 lines of the Debian Reference as documents of 10 lines (blank-line separated)."""
    lines = [l for l in (corpus_dir / "en_debian_reference.txt").read_text(encoding="utf-8").splitlines() if l.strip()]
    blocks = ["\n".join(lines[i : i + 10]) for i in range(1000, 1300, 10)]
    path = tmp_path_factory.mktemp("corpus") / "reference.txt"
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "config.json"
    path.write_text(json.dumps(TINY_CONFIG))
    return path


def pretrain_args(corpus, out, *extra) -> list[str]:
    return ["pretrain", "--corpus", str(corpus), "--out", str(out), "--batch-size", "2", "--max-length", "32",
            "--logging-steps", "1", "--save-steps", "2", "--no-progress", *extra]


def test_from_scratch_then_resume(tmp_path, small_corpus, tiny_config, minilm_dir, capsys):
    out = tmp_path / "run"
    args = pretrain_args(small_corpus, out, "--config", str(tiny_config), "--tokenizer", str(minilm_dir))
    assert main(args + ["--max-steps", "2"]) == 0
    printed = capsys.readouterr().out
    assert "from scratch" in printed and "step 2" in printed and "nsp acc" in printed
    model = BertForPreTraining.from_pretrained(out)
    assert model.config.hidden_size == 32
    assert BertTokenizer.from_pretrained(out).vocab_size == 30522  # the vocabulary is saved with the model

    assert main(args + ["--max-steps", "3"]) == 0
    printed = capsys.readouterr().out
    assert "resuming from" in printed and "checkpoint-2" in printed and "done: step 3" in printed


def test_continued_masked_lm_pretraining_from_minilm(tmp_path, small_corpus, minilm_dir, capsys):
    out = tmp_path / "minilm"
    with pytest.warns(UserWarning, match="newly initialised"):  # MiniLM's checkpoint has no MLM head
        rc = main(pretrain_args(small_corpus, out, "--init", str(minilm_dir), "--no-nsp", "--max-steps", "1"))
    assert rc == 0
    printed = capsys.readouterr().out
    assert f"from {minilm_dir}" in printed and "BertForMaskedLM" in printed and "nsp" not in printed
    BertForMaskedLM.from_pretrained(out)


@pytest.mark.parametrize("extra, message", [
    (["--corpus", "/nonexistent/corpus.txt"], "does not exist"),
    (["--config", "gigantic"], "neither one of tiny, mini, small, medium, base"),
])
def test_user_mistakes_are_one_line_errors(tmp_path, small_corpus, minilm_dir, capsys, extra, message):
    args = pretrain_args(small_corpus, tmp_path / "x", "--tokenizer", str(minilm_dir)) + extra
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
