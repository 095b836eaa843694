"""Pooling: one vector per sentence from its token vectors, as sentence-transformers' Pooling module.

The token vectors of a batch of N sentences come right-padded: h of shape (N, S, H) and the
attention mask (N, S), 1 on the L_n real tokens of sentence n ([CLS] first, [SEP] last), 0 on
pads, which no mode ever reads. With the real tokens t = 1..L of a sentence (h_1 is [CLS]):

    cls                    v = h_1
    lasttoken              v = h_L
    mean                   v = (1/L) sum_t h_t
    mean_sqrt_len_tokens   v = (1/sqrt(L)) sum_t h_t
    max                    v_d = max_t h_t,d                    (each dimension on its own)
    weightedmean           v = sum_t t h_t / sum_t t             (later tokens weigh more)

Several modes concatenate their vectors in the order given: (N, modes x H). With
`include_prompt=False`, the first `prompt_length` tokens (the prompt's) are left out of every
mode, keeping the others' positions t (so their weights) as they were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")

# sentence-transformers' older config.json: one boolean per mode, in this order.
LEGACY_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class Pooling:
    modes: tuple[str, ...] = ("mean",)
    include_prompt: bool = True

    def __post_init__(self) -> None:
        modes = (self.modes,) if isinstance(self.modes, str) else tuple(self.modes)
        object.__setattr__(self, "modes", modes)
        if not modes:
            raise ValueError(f"pooling needs at least one mode; the modes are: {', '.join(POOLING_MODES)}")
        for mode in modes:
            if mode not in POOLING_MODES:
                raise ValueError(f"unknown pooling mode {mode!r}; the modes are: {', '.join(POOLING_MODES)}")

    @classmethod
    def from_config(cls, config: dict) -> "Pooling":
        """Read a 1_Pooling/config.json: `pooling_mode` (a name or a list), or the older booleans."""
        if "pooling_mode" in config:
            modes = config["pooling_mode"]
        else:
            unknown = sorted(k for k in config if k.startswith("pooling_mode_") and k not in LEGACY_KEYS and config[k])
            if unknown:
                raise ValueError(f"unknown pooling mode {unknown[0]!r}; the modes are: {', '.join(LEGACY_KEYS)}")
            modes = tuple(mode for key, mode in LEGACY_KEYS.items() if config.get(key)) or ("mean",)
        return cls(modes, bool(config.get("include_prompt", True)))

    @classmethod
    def from_file(cls, path: str | Path) -> "Pooling":
        try:
            config = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); a sentence-transformers pooling config is expected") from None
        if not isinstance(config, dict):
            raise ValueError(f"{path} holds a {type(config).__name__}, not a JSON object")
        try:
            return cls.from_config(config)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def __call__(self, hidden: torch.Tensor, attention_mask: torch.Tensor, prompt_length: int = 0) -> torch.Tensor:
        """hidden (N, S, H) right-padded token vectors, attention_mask (N, S) -> (N, len(modes) * H)."""
        skip = prompt_length if not self.include_prompt else 0
        return torch.cat([pool(hidden, attention_mask, mode, skip) for mode in self.modes], dim=-1)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str, skip: int = 0) -> torch.Tensor:
    """One pooling mode over right-padded sentences; the first `skip` tokens of each are left out."""
    N, S, H = hidden.shape
    lengths = attention_mask.sum(1)  # (N,)
    rows = torch.arange(N, device=hidden.device)
    if mode == "cls":  # the first token not skipped (the first one, if all are)
        return hidden[rows, torch.where(lengths > skip, skip, 0)]
    if mode == "lasttoken":
        return hidden[rows, lengths - 1]

    keep = attention_mask.bool()  # (N, S)
    if skip:
        keep = keep.clone()
        keep[:, :skip] = False
    if mode == "max":
        return hidden.masked_fill(~keep[..., None], float("-inf")).amax(dim=1)
    # Sums in float32 at least, as sentence-transformers accumulates half precision.
    acc = torch.promote_types(hidden.dtype, torch.float32)
    weights = keep.to(acc)  # (N, S): 1 on the tokens pooled
    if mode == "weightedmean":
        weights = weights * torch.arange(1, S + 1, dtype=acc, device=hidden.device)  # token t weighs t
    total = torch.einsum("nsh,ns->nh", hidden.to(acc), weights)  # (N, H)
    count = weights.sum(1, keepdim=True).clamp(min=1e-9)  # (N, 1)
    if mode == "mean_sqrt_len_tokens":
        count = count.sqrt()
    return (total / count).to(hidden.dtype)
