"""`minibert embed`: the SentenceEncoder's vectors, the similarity matrix, --input and --out
(.npy without pickle, .jsonl), and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from minibert import SentenceEncoder
from minibert.cli import main


@pytest.fixture(scope="module")
def encoder(minilm_dir):
    return SentenceEncoder.from_pretrained(minilm_dir)


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_prints_the_similarity_matrix_of_the_encoders_vectors(capsys, minilm_dir, encoder):
    code, out, _ = run_cli(capsys, "embed", "--model", str(minilm_dir), "A man is eating food.", "A man is riding a horse.")
    assert code == 0 and "cosine similarities:" in out
    expected = encoder.similarity(encoder.encode(["A man is eating food."]), encoder.encode(["A man is riding a horse."]))
    assert f"{float(expected[0, 0]):8.3f}" in out.splitlines()[-2]


def test_input_file_to_npy_and_jsonl(capsys, minilm_dir, encoder, tmp_path, corpus_dir):
    lines = [l for l in (corpus_dir / "en_debian_handbook.txt").read_text(encoding="utf-8").splitlines() if l.strip()][300:320]
    (tmp_path / "s.txt").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, "embed", "--model", str(minilm_dir), "--input", str(tmp_path / "s.txt"), "--out", str(tmp_path / "v.npy"))
    assert code == 0 and f"wrote {len(lines)} vectors of size 384" in out and "cosine similarities" not in out
    vectors = np.load(tmp_path / "v.npy", allow_pickle=False)
    assert vectors.dtype == np.float32 and vectors.shape == (len(lines), 384)
    np.testing.assert_allclose(vectors, encoder.encode(lines), atol=1e-6)

    code, _, _ = run_cli(capsys, "embed", "--model", str(minilm_dir), "--input", str(tmp_path / "s.txt"), "--out", str(tmp_path / "v.jsonl"))
    rows = [json.loads(l) for l in (tmp_path / "v.jsonl").read_text(encoding="utf-8").splitlines()]
    assert code == 0 and [r["text"] for r in rows] == lines
    np.testing.assert_allclose(np.array([r["embedding"] for r in rows]), vectors, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # atomic: no temporary left


@pytest.mark.parametrize("argv, message", [
    (["--out", "v.txt"], "--out must end in .npy or .jsonl"),
    (["--input", "missing.txt"], "missing.txt does not exist"),
    (["--model", "no/such/dir/here"], "does not exist"),
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
    (["--input", "x.txt", "a sentence"], "not both"),
])
def test_bad_input_is_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "embed", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
