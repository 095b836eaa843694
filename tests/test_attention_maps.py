"""minibert.attention_maps on the real all-MiniLM-L6-v2 checkpoint and a real sentence:
the probabilities, and the PNG and HTML files (sizes, image dimensions, word pieces)."""

from __future__ import annotations

import builtins
import struct

import pytest
import torch

import minibert
from minibert.attention_maps import attention_html, attention_probabilities, plot_attention, save_attention

# "Tokenization splits unaffable words." in the bert-base-uncased vocabulary.
IDS = torch.tensor([101, 19204, 3989, 19584, 14477, 20961, 3468, 2616, 1012, 102])
TOKENS = ["[CLS]", "token", "##ization", "splits", "una", "##ffa", "##ble", "words", ".", "[SEP]"]


@pytest.fixture(scope="module")
def model(minilm_dir):
    return minibert.BertModel.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def attentions(model):
    return attention_probabilities(model, IDS)


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_ids_are_the_word_pieces(minilm_dir):
    vocab = (minilm_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert [vocab[i] for i in IDS] == TOKENS


def test_probabilities_are_every_layer_and_head_and_rows_sum_to_one(model, attentions):
    assert attentions.shape == (6, 12, 10, 10) and attentions.dtype == torch.float32
    torch.testing.assert_close(attentions.sum(-1), torch.ones(6, 12, 10), atol=1e-5, rtol=0)
    # The same as the model's own output with the eager kernel.
    with torch.no_grad():
        out = model(IDS[None], output_attentions=True)
    torch.testing.assert_close(attentions[3], out.attentions[3][0], atol=0, rtol=0)


@pytest.mark.parametrize("layer, head, min_size, min_px", [(2, 5, 10_000, (400, 400)), (2, None, 30_000, (900, 600)),
                                                           (None, None, 30_000, (1000, 500))])
def test_png_files_have_the_expected_size(tmp_path, attentions, layer, head, min_size, min_px):
    pytest.importorskip("matplotlib")
    path = save_attention(tmp_path / "map.png", attentions, TOKENS, layer, head)
    width, height = png_size(path)
    assert width >= min_px[0] and height >= min_px[1]
    assert min_size <= path.stat().st_size < 2_000_000
    if layer is not None and head is not None:
        # figsize = (max(4, 0.32 S + 1.5) + 1, max(4, 0.32 S + 1.5)) inches at 100 dpi: 570 x 470.
        assert (width, height) == (570, 470)


def test_the_figure_is_returned_with_word_piece_labels(attentions):
    pytest.importorskip("matplotlib")
    fig = plot_attention(attentions, TOKENS, layer=0, head=0)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS
    assert [t.get_text() for t in ax.get_yticklabels()] == TOKENS
    assert ax.get_title() == "layer 0, head 0"


def test_html_page_holds_every_map_and_the_word_pieces(tmp_path, attentions):
    path = save_attention(tmp_path / "maps.html", attentions, TOKENS, title="Tokenization splits unaffable words.")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<table") == 6 * 12 and page.count("<td ") == 6 * 12 * 10 * 10
    for token in TOKENS:
        assert f"<th>{token}</th>" in page and f'<th class="q">{token}</th>' in page
    assert "layer 5, head 11" in page
    # Self-contained: nothing fetched from anywhere.
    assert "http" not in page and "<script" not in page and "<link" not in page and "<img" not in page
    assert 50_000 < path.stat().st_size < 1_000_000


def test_html_single_head_shows_the_probabilities(attentions):
    page = attention_html(attentions, TOKENS, layer=1, head=2)
    assert page.count("<table") == 1
    first_row = attentions[1, 2, 0].tolist()
    assert f"title={first_row[0]:.3f}>" in page
    assert "<td class=c32 " in page or max(first_row) < 31.5 / 32  # the darkest shade means p close to 1


def test_html_escapes_labels(attentions):
    tokens = ["<b>"] + TOKENS[1:]
    page = attention_html(attentions, tokens, layer=0, head=0)
    assert "<th>&lt;b&gt;</th>" in page and "<b>" not in page


def test_html_needs_no_matplotlib(tmp_path, attentions, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert save_attention(tmp_path / "maps.html", attentions, TOKENS, layer=0).stat().st_size > 0
    with pytest.raises(ImportError, match="pip install matplotlib"):
        save_attention(tmp_path / "maps.png", attentions, TOKENS, layer=0)


def test_bad_choices_are_explained(tmp_path, attentions):
    with pytest.raises(ValueError, match=r"layer 6 does not exist: the model has layers 0..5"):
        attention_html(attentions, TOKENS, layer=6)
    with pytest.raises(ValueError, match=r"head 12 does not exist: each layer has heads 0..11"):
        attention_html(attentions, TOKENS, layer=0, head=12)
    with pytest.raises(ValueError, match="without a layer"):
        attention_html(attentions, TOKENS, head=0)
    with pytest.raises(ValueError, match="9 token labels for maps over 10 tokens"):
        attention_html(attentions, TOKENS[:9])
    with pytest.raises(ValueError, match=r"use a \.png, \.svg, \.pdf or \.html"):
        save_attention(tmp_path / "maps.jpg", attentions, TOKENS)
    with pytest.raises(ValueError, match="one sequence"):
        attention_probabilities(minibert.BertModel(minibert.BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                                                                       num_attention_heads=2, intermediate_size=16)),
                                torch.zeros(2, 3, dtype=torch.long))
