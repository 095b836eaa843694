"""`minibert search`: embeds a text file once, caches its vectors beside it (keyed by the file
and the model, no pickle), and prints the best matches, as minibert.semantic_search ranks them."""

from __future__ import annotations

import numpy as np
import pytest

from minibert import SentenceEncoder, semantic_search
from minibert.cli import main


@pytest.fixture(scope="module")
def handbook_slice(corpus_dir, tmp_path_factory):
    """300 lines of the Debian handbook (a chapter on configuration and the network)."""
    lines = (corpus_dir / "en_debian_handbook.txt").read_text(encoding="utf-8").splitlines()[2000:2300]
    path = tmp_path_factory.mktemp("search") / "handbook.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_search_prints_the_best_matches_and_caches_the_vectors(capsys, minilm_dir, handbook_slice):
    argv = ["search", "--model", str(minilm_dir), "--corpus", str(handbook_slice), "network configuration", "--top-k", "3"]
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0 and "vectors cached in" in out
    (cache,) = handbook_slice.parent.glob("handbook.txt.minibert-*.npy")
    passages = [l.strip() for l in handbook_slice.read_text(encoding="utf-8").splitlines() if l.strip()]
    vectors = np.load(cache, allow_pickle=False)
    assert vectors.shape == (len(passages), 384)

    encoder = SentenceEncoder.from_pretrained(minilm_dir)
    (hits,) = semantic_search(encoder.encode(["network configuration"]), encoder.encode(passages), top_k=3)
    printed = [l for l in out.splitlines() if l.strip()[:2] in ("1.", "2.", "3.")]
    assert len(printed) == 3
    for line, hit in zip(printed, hits):
        assert f"{hit['score']:.4f}" in line and passages[hit["corpus_id"]][:50] in line

    code, again, _ = run_cli(capsys, *argv)  # the second time, from the cache
    assert code == 0 and "read from" in again and again.split("\n", 1)[1] == out.split("\n", 1)[1]


def test_an_edited_file_is_embedded_again(capsys, minilm_dir, tmp_path):
    corpus = tmp_path / "notes.txt"
    corpus.write_text("Debian is an operating system.\nCats sleep a lot.\n", encoding="utf-8")
    assert main(["search", "--model", str(minilm_dir), "--corpus", str(corpus), "linux"]) == 0
    corpus.write_text("Debian is an operating system.\nCats sleep a lot.\nDogs bark.\n", encoding="utf-8")
    assert main(["search", "--model", str(minilm_dir), "--corpus", str(corpus), "linux"]) == 0
    out = capsys.readouterr().out
    assert out.count("vectors cached in") == 2 and len(list(tmp_path.glob("notes.txt.minibert-*.npy"))) == 2


def test_paragraphs(capsys, minilm_dir, tmp_path):
    corpus = tmp_path / "p.txt"
    corpus.write_text("Debian is an operating\nsystem made by volunteers.\n\nCats sleep\na lot.\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, "search", "--model", str(minilm_dir), "--corpus", str(corpus), "--paragraphs", "linux distribution", "--top-k", "1")
    assert code == 0 and "line 1: Debian is an operating system made by volunteers." in out


@pytest.mark.parametrize("argv, message", [
    (["--corpus", "missing.txt", "q"], "--corpus missing.txt does not exist"),
    (["--corpus", "empty.txt", "q"], "has no text to search"),
    (["--corpus", "empty.txt", "q", "--top-k", "0"], "--top-k must be a positive integer"),
])
def test_bad_input_is_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.txt").write_text("\n\n")
    code, _, err = run_cli(capsys, "search", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
