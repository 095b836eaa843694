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


def run_pretrain(capsys, corpus, tmp_path, minilm_dir, tiny_config, *extra):
    code = main(pretrain_args(corpus, tmp_path / "out", "--config", str(tiny_config), "--tokenizer", str(minilm_dir),
                              "--max-steps", "1", *extra))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_directory_of_model_files_is_not_a_corpus(tmp_path, minilm_dir, tiny_config, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.safetensors").write_bytes(b"\x02\0\0\0\0\0\0\0{}" + bytes(64))
    (model_dir / "optimizer.pt").write_bytes(b"PK\x03\x04" + bytes(64))
    (model_dir / "config.json").write_text('{"hidden_size": 32}\n\n{"x": 1}\n')
    code, out, err = run_pretrain(capsys, model_dir, tmp_path, minilm_dir, tiny_config)
    assert code == 2
    assert err == (f"minibert pretrain: error: --corpus: corpus directory {model_dir} holds no text files (*.txt, *.text); "
                   "it holds config.json, model.safetensors, optimizer.pt\n")
    assert not (tmp_path / "out").exists()


def test_files_beside_the_text_are_skipped_and_said(tmp_path, small_corpus, minilm_dir, tiny_config, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "reference.txt").write_bytes(small_corpus.read_bytes())
    (corpus / "model.safetensors").write_bytes(b"\x02\0\0\0\0\0\0\0{}")
    code, out, err = run_pretrain(capsys, corpus, tmp_path, minilm_dir, tiny_config)
    assert code == 0
    assert f"note: --corpus: skipped 1 files that are not *.txt or *.text: {corpus / 'model.safetensors'}\n" in err
    assert "corpus: 1 file, 30 documents\n" in out


def test_a_latin1_corpus_names_the_file_and_the_byte(tmp_path, minilm_dir, tiny_config, capsys):
    path = tmp_path / "latin1.txt"
    path.write_bytes("One document.\n\nAnother one, caf\u00e9.\n".encode("latin-1"))
    code, out, err = run_pretrain(capsys, path, tmp_path, minilm_dir, tiny_config)
    assert code == 2
    assert err == (f"minibert pretrain: error: --corpus: {path} is not UTF-8 text (invalid continuation byte at byte 31); "
                   "convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8)\n")


@pytest.mark.parametrize("text, extra, message", [
    ("", [], "--corpus: the corpus (1 file) holds no text"),
    ("One document,\nof two lines.\n", [], "--corpus: next-sentence prediction needs at least 2 documents, the corpus "
     "(1 file) has 1: separate documents with blank lines, or pass --one-document-per-file to make each file one, "
     "or pass --no-nsp to train masked-LM only"),
    ("One document.\n", ["--one-document-per-file"], "the corpus (1 file) has 1: separate documents with blank lines, "
     "or pass --no-nsp"),
])
def test_too_little_text_is_said_in_the_commands_terms(tmp_path, minilm_dir, tiny_config, capsys, text, extra, message):
    path = tmp_path / "small.txt"
    path.write_text(text, encoding="utf-8")
    code, out, err = run_pretrain(capsys, path, tmp_path, minilm_dir, tiny_config, *extra)
    assert code == 2 and err.count("\n") == 1 and message in err
    assert "rank" not in err and "=True" not in err
