"""`minibert attention`: heat maps of a model's attention probabilities for a sentence, with
the word pieces on both axes, as a PNG (or SVG/PDF) or a self-contained HTML page.

--layer L --head H: one head; --layer L: all heads of that layer; neither: layers x heads.
Maps grow with the square of the text's length, so each view has a most word pieces it can
show (attention_maps.max_tokens); a longer text is an error that says how to narrow it.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("attention", help="draw attention maps for a sentence (PNG, SVG, PDF or HTML)")
    p.add_argument("--model", help="model directory or Hub id (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--text", required=True, help="the sentence")
    p.add_argument("--pair", help="a second sentence (segment B), as for sentence-pair tasks")
    p.add_argument("--layer", type=int, help="the layer, from 0 (default: all layers)")
    p.add_argument("--head", type=int, help="the head, from 0 (needs --layer; default: all heads)")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="cut the text to this many word pieces, [CLS] and [SEP] included "
                        "(default: %(default)s, the model's own limit)")
    p.add_argument("--out", required=True, help="output file: .png, .svg, .pdf, or .html (needs no matplotlib)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from minibert.attention_maps import attention_probabilities, max_tokens, save_attention
    from minibert.cli import CommandError
    from minibert.commands.info import load_model, load_tokenizer

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".svg", ".pdf", ".html", ".htm"):
        raise CommandError(f"--out {args.out!r}: use a .png, .svg, .pdf or .html file name")
    if not out.parent.is_dir():
        raise CommandError(f"--out {args.out!r}: the directory {out.parent} does not exist")
    if not args.text.strip():
        raise CommandError("--text is empty")
    if args.head is not None and args.layer is None:
        raise CommandError("--head needs --layer: choose the layer too")

    least = 5 if args.pair else 3  # [CLS] text [SEP] (pair [SEP])
    if args.max_tokens is not None and args.max_tokens < least:
        raise CommandError(f"--max-tokens must be at least {least} (room for [CLS], [SEP] and a word piece of each text), "
                           f"got {args.max_tokens}")

    model_path, model = load_model(args.model, "BertModel")
    tokenizer = load_tokenizer(model_path)
    texts = (args.text, args.pair) if args.pair else (args.text,)
    batch = tokenizer(*texts, truncation=True, max_length=args.max_tokens, return_tensors="pt")
    input_ids = batch["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(input_ids[0].tolist())
    full_length = len(tokenizer(*texts, verbose=False)["input_ids"])
    cut = f", cut from {full_length}" if full_length > len(tokens) else ""
    config = model.config
    kind = "html" if out.suffix.lower() in (".html", ".htm") else "image"
    most = max_tokens(config.num_hidden_layers, config.num_attention_heads, args.layer, args.head, kind)
    if len(tokens) > most:
        view = "one head" if args.head is not None else "one layer" if args.layer is not None else "all layers"
        narrower = "" if args.head is not None else " or draw one head (--layer L --head H)" if args.layer is not None \
            else " or draw one layer (--layer L) or one head (--layer L --head H)"
        raise CommandError(
            f"{len(tokens)} word pieces are too many for {'an image' if kind == 'image' else 'a page'} "
            f"of {view} (at most {most}): cut the text with --max-tokens {most}{narrower}"
        )
    attentions = attention_probabilities(model, input_ids, batch.get("attention_mask"), batch.get("token_type_ids"))
    title = _shortened(args.text) + (f"  |  {_shortened(args.pair)}" if args.pair else "")
    if cut:
        title += f"\n(the first {len(tokens)} of {full_length} word pieces)"
    try:
        path = save_attention(out, attentions, tokens, args.layer, args.head, title=title)
    except (ImportError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    L, nh = attentions.shape[:2]
    what = (f"layer {args.layer}, head {args.head}" if args.head is not None
            else f"layer {args.layer}, {nh} heads" if args.layer is not None else f"{L} layers x {nh} heads")
    print(f"wrote {path} ({what}; {len(tokens)} word pieces{cut})")
    return 0


def _shortened(text: str, most: int = 60) -> str:
    """The text for a figure's title, in one line that fits above a small map."""
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1] + "…"
