"""Pooling: one vector per sentence from its token vectors, as sentence-transformers' Pooling module.

The token vectors of N sentences come packed, laid end to end: h of shape (T, H), sentence n
owning rows cu_seqlens[n] .. cu_seqlens[n+1]-1 (its L_n tokens, [CLS] first, [SEP] last).
With the tokens t = 1..L_n of sentence n (h_1 is [CLS]):

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

    def __call__(self, hidden: torch.Tensor, cu_seqlens: torch.Tensor, prompt_length: int = 0) -> torch.Tensor:
        """hidden (T, H) packed token vectors, cu_seqlens (N + 1,) -> (N, len(modes) * H)."""
        return torch.cat([pool(hidden, cu_seqlens, mode, prompt_length if not self.include_prompt else 0)
                          for mode in self.modes], dim=-1)


def pool(hidden: torch.Tensor, cu_seqlens: torch.Tensor, mode: str, skip: int = 0) -> torch.Tensor:
    """One pooling mode over packed sentences; the first `skip` tokens of each are left out."""
    T, H = hidden.shape
    starts, ends = cu_seqlens[:-1].long(), cu_seqlens[1:].long()  # (N,)
    lengths = ends - starts
    N = lengths.numel()
    if mode == "cls":  # the first token not skipped (the first one, if all are)
        return hidden[starts + torch.where(lengths > skip, skip, 0)]
    if mode == "lasttoken":
        return hidden[ends - 1]

    sentence = torch.repeat_interleave(torch.arange(N, device=hidden.device), lengths)  # (T,) which sentence
    position = torch.arange(T, device=hidden.device) - starts[sentence]  # (T,) 0-based within it
    if skip:
        keep = position >= skip
        hidden, sentence, position = hidden[keep], sentence[keep], position[keep]
    # Sums in float32 at least, as sentence-transformers accumulates half precision.
    acc = torch.promote_types(hidden.dtype, torch.float32)
    if mode == "max":
        init = torch.full((N, H), float("-inf"), dtype=hidden.dtype, device=hidden.device)
        return init.scatter_reduce(0, sentence[:, None].expand(-1, H), hidden, reduce="amax")
    if mode == "weightedmean":
        weights = (position + 1).to(acc)[:, None]  # (T', 1): token t weighs t
    else:
        weights = torch.ones(len(sentence), 1, dtype=acc, device=hidden.device)
    total = torch.zeros(N, H, dtype=acc, device=hidden.device).index_add_(0, sentence, hidden.to(acc) * weights)
    count = torch.zeros(N, 1, dtype=acc, device=hidden.device).index_add_(0, sentence, weights).clamp(min=1e-9)
    if mode == "mean_sqrt_len_tokens":
        count = count.sqrt()
    return (total / count).to(hidden.dtype)
