"""Attention maps: what each head of each layer looks at, as heat maps with the word pieces
on both axes.

Row i of a map is the distribution softmax(q_i K^T / sqrt(d_k)) of token i over all tokens
(each row sums to 1); column j is how much each token takes from token j. Three views:

- one head of one layer (`layer=L, head=H`), labelled;
- every head of one layer as a grid (`layer=L`), labelled;
- the whole model, layers x heads, as small unlabelled thumbnails (neither given).

`plot_attention` returns a matplotlib Figure (matplotlib is optional: `pip install matplotlib`).
`attention_html` writes the same maps as a self-contained HTML page of coloured tables:
no matplotlib, no scripts, no network, and the word pieces are real text in the page.

Both grow with the square of the sequence length, so both are bounded: an image is at most
MAX_IMAGE_PIXELS a side, a page at most MAX_HTML_CELLS coloured cells (about 30 bytes each).
`max_tokens` says how many word pieces a view can show; more is a ValueError, not an
8 GB image or a 100 MB page.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn


def attention_probabilities(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    token_type_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Every layer's attention probabilities for one sequence: (L, nh, S, S), float32, on the CPU.

    input_ids: (S,) or (1, S). Asking for attentions makes minibert use the eager kernel,
    the one that forms the probabilities; the model's train/eval mode is kept, but the
    forward pass runs in eval mode so that dropout does not blur the maps.
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() not in (1, 2) or (input_ids.dim() == 2 and input_ids.shape[0] != 1):
        raise ValueError("input_ids must hold one sequence: shape (S,) or (1, S)")
    input_ids = input_ids.reshape(1, -1)
    device = next(model.parameters()).device
    kwargs = {"attention_mask": attention_mask, "token_type_ids": token_type_ids}
    kwargs = {k: v.reshape(1, -1).to(device) for k, v in kwargs.items() if v is not None}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(input_ids.to(device), output_attentions=True, **kwargs)
    finally:
        model.train(was_training)
    return torch.stack([a[0] for a in out.attentions]).float().cpu()  # (L, nh, S, S)


def check_selection(attentions: torch.Tensor, tokens: Sequence[str], layer: int | None, head: int | None) -> None:
    """Say clearly what is wrong with a layer/head choice or with maps and labels that do not fit."""
    if not isinstance(attentions, torch.Tensor) or attentions.dim() != 4 or attentions.shape[-1] != attentions.shape[-2]:
        raise ValueError("attentions must be a (layers, heads, S, S) tensor, as attention_probabilities returns")
    L, nh, S, _ = attentions.shape
    if len(tokens) != S:
        raise ValueError(f"{len(tokens)} token labels for maps over {S} tokens; give one label per token")
    if head is not None and layer is None:
        raise ValueError("a head was chosen without a layer; choose the layer too (--layer L --head H)")
    if layer is not None and not (isinstance(layer, int) and 0 <= layer < L):
        raise ValueError(f"layer {layer!r} does not exist: the model has layers 0..{L - 1}")
    if head is not None and not (isinstance(head, int) and 0 <= head < nh):
        raise ValueError(f"head {head!r} does not exist: each layer has heads 0..{nh - 1}")


MAX_IMAGE_PIXELS = 4000  # a side: a labelled map of ~190 word pieces, ~50 MB to draw
MAX_HTML_CELLS = 500_000  # ~15 MB of page: one head of 700 word pieces, a layer of 12 heads at 200
_DPI = 100


def max_tokens(num_layers: int, num_heads: int, layer: int | None = None, head: int | None = None,
               kind: str = "image") -> int:
    """The most word pieces a view (one head; one layer's heads; all layers, when layer is
    None) can show as an image ("image") or an HTML page ("html") within the bounds above.
    0 when the view does not fit even for one word piece (a model with very many layers)."""
    if kind not in ("image", "html"):
        raise ValueError(f"kind must be 'image' or 'html', got {kind!r}")
    maps = 1 if head is not None else num_heads if layer is not None else num_layers * num_heads
    if kind == "html":
        return math.isqrt(MAX_HTML_CELLS // maps)
    fits = lambda S: max(_figure_inches(num_layers, num_heads, layer, head, S)) * _DPI <= MAX_IMAGE_PIXELS
    if layer is None:  # unlabelled thumbnails of a fixed size, whatever S: only the model's shape counts
        return MAX_IMAGE_PIXELS if fits(1) else 0
    S = 0
    while fits(S + 1):
        S += 1
    return S


def _check_size(attentions: torch.Tensor, layer: int | None, head: int | None, kind: str) -> None:
    L, nh, S, _ = attentions.shape
    most = max_tokens(L, nh, layer, head, kind)
    if S <= most:
        return
    view = f"layer {layer}, head {head}" if head is not None else f"all {nh} heads of layer {layer}" \
        if layer is not None else f"all {L} layers x {nh} heads"
    bound = f"{MAX_IMAGE_PIXELS} pixels a side" if kind == "image" else f"{MAX_HTML_CELLS:,} cells"
    raise ValueError(
        f"{S} word pieces are too many for {'an image' if kind == 'image' else 'a page'} of {view}: "
        f"at most {most} fit in {bound}; pass fewer tokens, or choose one layer or one head"
    )


# ---------------------------------------------------------------------------------------
# Figures (matplotlib)
# ---------------------------------------------------------------------------------------


def _matplotlib_figure():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "attention maps as images need matplotlib, which is not installed: pip install matplotlib "
            "(or pip install 'minibert[plot]'); an .html page needs nothing extra"
        ) from None
    return Figure


def plot_attention(
    attentions: torch.Tensor,
    tokens: Sequence[str],
    layer: int | None = None,
    head: int | None = None,
    title: str | None = None,
):
    """A matplotlib Figure of one head, one layer's heads, or all layers x heads (see the module doc).

    attentions: (L, nh, S, S) from `attention_probabilities`; tokens: the S word pieces.
    The Figure is not attached to pyplot, so it works in scripts and servers alike:
    `plot_attention(...).savefig("map.png")`.
    """
    check_selection(attentions, tokens, layer, head)
    _check_size(attentions, layer, head, "image")
    Figure = _matplotlib_figure()
    L, nh, S, _ = attentions.shape
    labels = list(tokens)
    size = _figure_inches(L, nh, layer, head, S)
    if layer is not None and head is not None:
        fig = Figure(figsize=size, dpi=_DPI, layout="constrained")
        ax = fig.add_subplot()
        image = ax.imshow(attentions[layer, head].numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
        _label_axes(ax, labels, fontsize=9)
        ax.set_xlabel("key: the token attended to")
        ax.set_ylabel("query: the token attending")
        ax.set_title(_heading(title, f"layer {layer}, head {head}"))
        fig.colorbar(image, ax=ax, shrink=0.8, label="attention probability")
        return fig
    if layer is not None:
        cols = min(nh, 4)
        fig = Figure(figsize=size, dpi=_DPI, layout="constrained")
        axes = fig.subplots(math.ceil(nh / cols), cols, squeeze=False)
        for h, ax in enumerate(axes.flat):
            if h >= nh:
                ax.set_axis_off()
                continue
            image = ax.imshow(attentions[layer, h].numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
            _label_axes(ax, labels, fontsize=6)
            ax.set_title(f"head {h}", fontsize=9)
        fig.supxlabel("key: the token attended to", fontsize=10)
        fig.supylabel("query: the token attending", fontsize=10)
        fig.suptitle(_heading(title, f"layer {layer}: all {nh} heads"))
        fig.colorbar(image, ax=axes, shrink=0.6, label="attention probability")
        return fig
    # Unlabelled thumbnails: fixed margins instead of the (slow, for L x nh axes) layout engine.
    width, height = size
    fig = Figure(figsize=size, dpi=_DPI)
    axes = fig.subplots(L, nh, squeeze=False, gridspec_kw=dict(
        left=0.6 / width, right=1 - 1.4 / width, bottom=0.5 / height, top=1 - 0.8 / height, wspace=0.1, hspace=0.1))
    for (l, h), ax in _grid(axes, L, nh):
        image = ax.imshow(attentions[l, h].numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks([])
        ax.set_yticks([])
        if l == 0:
            ax.set_title(f"h{h}", fontsize=8)
        if h == 0:
            ax.set_ylabel(f"layer {l}", fontsize=8)
    fig.text(0.5, 0.15 / height, "each map: query (rows) x key (columns)", ha="center", fontsize=9)
    colour_bar = fig.add_axes((1 - 1.0 / width, 0.5 / height, 0.15 / width, 1 - 1.3 / height))
    fig.colorbar(image, cax=colour_bar, label="attention probability")
    fig.suptitle(_heading(title, f"all {L} layers x {nh} heads"))
    return fig


def _figure_inches(L: int, nh: int, layer: int | None, head: int | None, S: int) -> tuple[float, float]:
    """(width, height) of the figure for a view of S word pieces: room for each labelled
    row and column, the titles, the axis labels and the colour bar."""
    if layer is not None and head is not None:
        side = max(4.0, 0.2 * S + 2.0)
        return side + 1.0, side
    if layer is not None:
        cols = min(nh, 4)
        cell = max(2.5, 0.14 * S + 1.2)
        return cols * cell + 1.2, math.ceil(nh / cols) * cell + 0.9
    return nh * 1.0 + 2.0, L * 1.0 + 1.3


def _heading(title: str | None, view: str) -> str:
    return f"{title}\n{view}" if title else view


def _grid(axes, rows: int, cols: int):
    for l in range(rows):
        for h in range(cols):
            yield (l, h), axes[l][h]


def _label_axes(ax, labels: list[str], fontsize: int) -> None:
    positions = range(len(labels))
    ax.set_xticks(positions, labels, rotation=90, fontsize=fontsize)  # keys: attended to
    ax.set_yticks(positions, labels, fontsize=fontsize)  # queries: attending
    ax.tick_params(length=0)


# ---------------------------------------------------------------------------------------
# A self-contained HTML page
# ---------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
.maps { display: flex; flex-wrap: wrap; gap: 1.5em; }
figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: .3em; }
table.attn { border-collapse: collapse; font-size: 11px; }
table.attn td { width: 14px; height: 14px; padding: 0; }
table.attn th { font-weight: normal; padding: 0 3px; white-space: nowrap; }
table.attn thead th { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; padding: 3px 0; }
table.attn th.q { text-align: right; }
"""


# 33 shades, white (p = 0) to dark blue (p = 1) like matplotlib's "Blues", as CSS classes:
# a cell is then `<td class=c12 title=0.375>`, which keeps a page of 72 maps small.
_SHADES = 32


def _shade_css() -> str:
    rules = []
    for level in range(_SHADES + 1):
        p = level / _SHADES
        r, g, b = (round(255 + (t - 255) * p) for t in (8, 48, 107))
        rules.append(f"td.c{level} {{ background: #{r:02x}{g:02x}{b:02x}; }}")
    return "\n".join(rules)


def _map_table(probs: torch.Tensor, labels: list[str], caption: str) -> str:
    head = "".join(f"<th>{label}</th>" for label in labels)
    rows = []
    for i, row in enumerate(probs.tolist()):
        cells = "".join(f"<td class=c{round(p * _SHADES)} title={p:.3f}></td>" for p in row)
        rows.append(f'<tr><th class="q">{labels[i]}</th>{cells}</tr>')
    return (f"<figure><figcaption>{html.escape(caption)}</figcaption><table class=\"attn\">"
            f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></figure>")


def attention_html(
    attentions: torch.Tensor,
    tokens: Sequence[str],
    layer: int | None = None,
    head: int | None = None,
    title: str = "Attention maps",
) -> str:
    """The maps `plot_attention` draws, as one static HTML page (a string): one head, one
    layer's heads, or every layer's heads. Hovering a cell shows its probability."""
    check_selection(attentions, tokens, layer, head)
    _check_size(attentions, layer, head, "html")
    L, nh, S, _ = attentions.shape
    labels = [html.escape(str(t)) for t in tokens]
    if layer is not None and head is not None:
        sections = [("", [(f"layer {layer}, head {head}", attentions[layer, head])])]
    else:
        layers = [layer] if layer is not None else range(L)
        sections = [(f"layer {l}", [(f"layer {l}, head {h}", attentions[l, h]) for h in range(nh)]) for l in layers]
    body = []
    for heading, maps in sections:
        if heading:
            body.append(f"<h2>{heading}</h2>")
        body.append('<div class="maps">' + "".join(_map_table(p, labels, c) for c, p in maps) + "</div>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}{_shade_css()}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Tokens: {' '.join(f'<code>{t}</code>' for t in labels)}</p>"
        "<p>Row: the token that attends (query); column: the token attended to (key). "
        "Each row sums to 1; darker is more attention.</p>"
        + "".join(body)
        + "</body></html>\n"
    )


def save_attention(
    path: str | os.PathLike,
    attentions: torch.Tensor,
    tokens: Sequence[str],
    layer: int | None = None,
    head: int | None = None,
    title: str | None = None,
) -> Path:
    """Write the maps to `path`: .html (no matplotlib needed), or .png / .svg / .pdf. Atomic."""
    from minibert.weights import atomic_write_bytes, atomic_write_text

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return atomic_write_text(path, attention_html(attentions, tokens, layer, head, title or "Attention maps"))
    if suffix not in (".png", ".svg", ".pdf"):
        raise ValueError(f"cannot write attention maps to {path.name!r}: use a .png, .svg, .pdf or .html file name")
    fig = plot_attention(attentions, tokens, layer, head, title)
    # No creation date or version in the file, so the same maps give the same bytes.
    metadata = {"Software": None} if suffix == ".png" else {"Date": None} if suffix == ".svg" else {"CreationDate": None}
    return atomic_write_bytes(path, lambda tmp: fig.savefig(tmp, format=suffix[1:], metadata=metadata))
