"""minibert.attention_maps on the real all-MiniLM-L6-v2 checkpoint and a real sentence:
the probabilities, and the PNG and HTML files (sizes, image dimensions, word pieces)."""

from __future__ import annotations

import builtins
import struct

import pytest
import torch

import minibert
from minibert.attention_maps import (MAX_HTML_CELLS, MAX_IMAGE_PIXELS, attention_html, attention_probabilities, max_tokens,
                                     plot_attention, save_attention)

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
        # figsize = (max(4, 0.2 S + 2) + 1, max(4, 0.2 S + 2)) inches at 100 dpi: 500 x 400.
        assert (width, height) == (500, 400)


def test_the_figure_is_returned_with_word_piece_labels(attentions):
    pytest.importorskip("matplotlib")
    fig = plot_attention(attentions, TOKENS, layer=0, head=0)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS
    assert [t.get_text() for t in ax.get_yticklabels()] == TOKENS
    assert ax.get_title() == "layer 0, head 0"
    assert ax.get_xlabel() == "key: the token attended to" and ax.get_ylabel() == "query: the token attending"


@pytest.mark.parametrize("layer, head", [(0, 0), (0, None), (None, None)])
def test_every_view_has_a_colour_bar_and_says_which_axis_is_query_and_key(attentions, layer, head):
    pytest.importorskip("matplotlib")
    fig = plot_attention(attentions, TOKENS, layer, head)
    colour_bars = [ax for ax in fig.axes if ax.get_ylabel() == "attention probability"]
    assert len(colour_bars) == 1
    assert colour_bars[0].get_ylim() == (0.0, 1.0)
    words = " ".join([fig.get_supxlabel(), fig.get_supylabel()] + [t.get_text() for t in fig.texts]
                     + [fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()])
    assert "query" in words and "key" in words


def random_maps(layers, heads, S):
    return torch.softmax(torch.randn(layers, heads, S, S, generator=torch.Generator().manual_seed(0)), dim=-1)


def test_how_many_word_pieces_each_view_can_show():
    # MiniLM's shape, 6 layers x 12 heads: one labelled head, one layer of 12, thumbnails of the whole model.
    assert max_tokens(6, 12, layer=2, head=5) == 185
    assert max_tokens(6, 12, layer=2) == 60
    assert max_tokens(6, 12) == MAX_IMAGE_PIXELS  # thumbnails have a fixed size, whatever the length
    assert max_tokens(1000, 12) == 0  # 1000 rows of thumbnails cannot fit in 4000 pixels
    # A page: at most MAX_HTML_CELLS cells, S x S per map.
    assert max_tokens(6, 12, 2, 5, kind="html") == 707 and 707 ** 2 <= MAX_HTML_CELLS < 708 ** 2
    assert max_tokens(6, 12, 2, kind="html") == 204 and max_tokens(6, 12, kind="html") == 83


@pytest.mark.parametrize("layer, head", [(2, 5), (2, None)])
def test_an_image_is_at_most_max_image_pixels_a_side(layer, head):
    pytest.importorskip("matplotlib")
    most = max_tokens(6, 12, layer, head)
    fig = plot_attention(random_maps(6, 12, most), [f"w{i}" for i in range(most)], layer, head)
    assert max(fig.get_size_inches() * fig.dpi) <= MAX_IMAGE_PIXELS
    too_many = random_maps(6, 12, most + 1)
    with pytest.raises(ValueError, match=rf"{most + 1} word pieces are too many for an image of .*: at most {most} fit "
                                         rf"in {MAX_IMAGE_PIXELS} pixels a side; pass fewer tokens, or choose one layer or one head"):
        plot_attention(too_many, [f"w{i}" for i in range(most + 1)], layer, head)


@pytest.mark.slow
def test_a_saved_png_of_the_longest_head_is_within_the_bound(tmp_path):
    pytest.importorskip("matplotlib")
    most = max_tokens(6, 12, 2, 5)
    path = save_attention(tmp_path / "head.png", random_maps(6, 12, most), [f"w{i}" for i in range(most)], 2, 5)
    assert max(png_size(path)) <= MAX_IMAGE_PIXELS


def test_a_page_is_at_most_max_html_cells():
    most = max_tokens(6, 12, layer=2, kind="html")
    page = attention_html(random_maps(6, 12, most), [f"w{i}" for i in range(most)], layer=2)
    assert page.count("<td ") == 12 * most * most <= MAX_HTML_CELLS
    with pytest.raises(ValueError, match=rf"{most + 1} word pieces are too many for a page of all 12 heads of layer 2: "
                                         rf"at most {most} fit in {MAX_HTML_CELLS:,} cells"):
        attention_html(random_maps(6, 12, most + 1), [f"w{i}" for i in range(most + 1)], layer=2)


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
