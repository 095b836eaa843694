"""Checkpoints with a randomly initialised task head on the real MiniLM encoder, saved by
minibert's save_pretrained (with the tokenizer files) so that minibert and transformers both
load them: the head's weights are random, but the same on both sides."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import torch

TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json")


def save_with_random_head(head_class, minilm_dir: Path, out: Path, seed: int = 0, head_std: float | None = None,
                          **config) -> Path:
    """`head_class` on MiniLM's encoder, its new weights drawn with `seed`, written to `out`.
    `head_std`: draw the new weight matrices from N(0, head_std) instead of BERT's N(0, 0.02), for
    confident predictions that vary from token to token (a tagger's aggregation needs them)."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the head is new: that is the point
        model = head_class.from_pretrained(minilm_dir, **config)
    with torch.no_grad():  # biases start at zero: give them values, so a swapped bias would show
        for name, p in model.named_parameters():
            if name in model.loading_info.initialized_keys and name.endswith("bias"):
                p.normal_(0, 0.5)
            elif name in model.loading_info.initialized_keys and head_std is not None and p.dim() == 2:
                p.normal_(0, head_std)
    model.save_pretrained(out)
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_dir / name, out / name)
    return out
