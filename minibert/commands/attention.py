"""`minibert attention`: heat maps of a model's attention probabilities for a sentence, with
the word pieces on both axes, as a PNG (or SVG/PDF) or a self-contained HTML page.

--layer L --head H: one head; --layer L: all heads of that layer; neither: layers x heads.
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
    p.add_argument("--out", required=True, help="output file: .png, .svg, .pdf, or .html (needs no matplotlib)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from minibert.attention_maps import attention_probabilities, save_attention
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

    model_path, model = load_model(args.model, "BertModel")
    tokenizer = load_tokenizer(model_path)
    batch = tokenizer(args.text, args.pair, truncation=True, return_tensors="pt") if args.pair else \
        tokenizer(args.text, truncation=True, return_tensors="pt")
    input_ids = batch["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(input_ids[0].tolist())
    attentions = attention_probabilities(model, input_ids, batch.get("attention_mask"), batch.get("token_type_ids"))
    title = f"{args.text}" + (f"  |  {args.pair}" if args.pair else "")
    try:
        path = save_attention(out, attentions, tokens, args.layer, args.head, title=title)
    except (ImportError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    L, nh = attentions.shape[:2]
    what = (f"layer {args.layer}, head {args.head}" if args.head is not None
            else f"layer {args.layer}, {nh} heads" if args.layer is not None else f"{L} layers x {nh} heads")
    print(f"wrote {path} ({what}; {len(tokens)} word pieces)")
    return 0
