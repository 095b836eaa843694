"""Running BERT without padding: pack the real tokens once, unpack once at the end.

A padded batch (B, S) spends most of its work on pad tokens when lengths vary: embeddings,
every projection, the feed-forward and every LayerNorm treat a pad like a word. Only
attention mixes tokens, so only attention needs to know where one sequence ends and the
next begins. The unpadded path therefore

1. gathers the T real tokens of the batch into one packed (T, H) tensor (`pack`),
2. runs every per-token layer on those T rows only,
3. runs attention per sequence, given the cumulative sequence offsets `cu_seqlens`
   (sequence i is rows cu_seqlens[i]:cu_seqlens[i + 1]), and
4. scatters the result back into (B, S, H) at the very end (`unpack`), zeros at pads.

The attention of step 3 is computed exactly, per device, by whichever method measured
fastest (benchmarks/bench_attention.py):
- CUDA: jagged nested tensors through `scaled_dot_product_attention`, which dispatch to the
  variable-length flash / memory-efficient kernels;
- CPU (and anything else): sequences of equal length are stacked and attended in one
  `scaled_dot_product_attention` call per distinct length. Nested tensors were 5-15x slower
  than this on CPU (they fall back to per-sequence math there). One gather puts the
  sequences of each length side by side and `split` hands each length its rows: slicing or
  gathering per length instead would, in backward, write a full (T, nh, hd) gradient for
  every length, which made a training step on 32 paragraphs 2x slower than the padded path.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Packing:
    """Where the sequences of a packed batch start and end; built once per forward pass.

    cu_seqlens: (N + 1,) int64 cumulative lengths, 0 first, T last.
    indices:    (T,) positions of the real tokens in the flattened (B * S) padded batch,
                or None when the input came packed.
    groups:     for the per-length attention: (length, g) for each distinct length, g sequences
                of it, in order of first appearance. Empty on CUDA, which attends jagged tensors directly.
    grouped:    (T,) the packed rows in group order (every sequence of the first length, then
                of the second, ...), or None when packed order is group order already (each
                length's sequences lie side by side, e.g. every length distinct).
    order:      (T,) the inverse: the row of the grouped outputs each packed row takes, or None.
    """

    cu_seqlens: torch.Tensor
    max_seqlen: int
    indices: torch.Tensor | None
    groups: tuple[tuple[int, int], ...]
    grouped: torch.Tensor | None
    order: torch.Tensor | None

    @property
    def num_sequences(self) -> int:
        return self.cu_seqlens.numel() - 1

    @property
    def num_tokens(self) -> int:
        return int(self.cu_seqlens[-1])

    @classmethod
    def from_cu_seqlens(cls, cu_seqlens: torch.Tensor, indices: torch.Tensor | None = None) -> "Packing":
        cu_seqlens = cu_seqlens.to(torch.int64)
        lengths = cu_seqlens.diff()  # (N,)
        lengths_list = lengths.tolist()  # the one host sync of the unpadded path
        groups, grouped, order = (), None, None
        if cu_seqlens.device.type != "cuda":
            groups, grouped, order = _length_groups(cu_seqlens[:-1], lengths_list)
        return cls(cu_seqlens, max(lengths_list), indices, groups, grouped, order)

    @classmethod
    def from_attention_mask(cls, attention_mask: torch.Tensor) -> "Packing":
        """(B, S) of 1 = real token, 0 = padding. Real tokens keep their order, so each
        row's tokens are contiguous in the packed tensor whatever side was padded."""
        keep = attention_mask.to(torch.bool)
        indices = keep.flatten().nonzero().squeeze(1)  # (T,)
        cu_seqlens = F.pad(keep.sum(1).cumsum(0), (1, 0))  # (B + 1,)
        return cls.from_cu_seqlens(cu_seqlens, indices)

    def position_ids(self) -> torch.Tensor:
        """(T,) each token's position within its own sequence: 0, 1, ..., length - 1."""
        starts = self.cu_seqlens[:-1].repeat_interleave(self.cu_seqlens.diff())  # (T,)
        return torch.arange(self.num_tokens, device=self.cu_seqlens.device) - starts


def _length_groups(starts: torch.Tensor, lengths: list[int]):
    by_length: dict[int, list[int]] = {}  # insertion-ordered: first appearance first
    for sequence, length in enumerate(lengths):
        by_length.setdefault(length, []).append(sequence)
    groups = tuple((length, len(sequences)) for length, sequences in by_length.items())
    in_group_order = [s for sequences in by_length.values() for s in sequences]
    if in_group_order == list(range(len(lengths))):
        return groups, None, None  # packed order is group order: nothing to gather
    device = starts.device
    sequences = torch.tensor(in_group_order, device=device)  # (N,)
    seq_lengths = torch.tensor(lengths, device=device)[sequences]  # (N,)
    # Row i of sequence s is starts[s] + i: every sequence's rows, sequences in group order.
    first = starts[sequences].repeat_interleave(seq_lengths)  # (T,)
    offset = torch.arange(first.numel(), device=device) - F.pad(seq_lengths.cumsum(0)[:-1], (1, 0)).repeat_interleave(seq_lengths)
    grouped = first + offset  # (T,)
    order = torch.empty_like(grouped)
    order[grouped] = torch.arange(grouped.numel(), device=device)
    return groups, grouped, order


def pack(x: torch.Tensor, packing: Packing) -> torch.Tensor:
    """(B, S, ...) -> (T, ...): the real tokens only."""
    return x.flatten(0, 1).index_select(0, packing.indices)


def unpack(x: torch.Tensor, packing: Packing, batch: int, seq_len: int) -> torch.Tensor:
    """(T, ...) -> (B, S, ...), zeros at the padded positions."""
    padded = x.new_zeros(batch * seq_len, *x.shape[1:]).index_copy(0, packing.indices, x)
    return padded.view(batch, seq_len, *x.shape[1:])


def varlen_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, packing: Packing, dropout_p: float = 0.0
) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d_k)) V within each sequence of a packed batch.

    q, k, v: (T, nh, hd). Returns the context (T, nh, hd). No mask is needed: a sequence's
    queries only ever see that sequence's keys.
    """
    if not packing.groups:  # CUDA: jagged tensors, one variable-length kernel call
        offsets = packing.cu_seqlens
        q, k, v = (torch.nested.nested_tensor_from_jagged(t, offsets).transpose(1, 2) for t in (q, k, v))  # (N, nh, j, hd)
        context = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)  # (N, nh, j, hd)
        return context.transpose(1, 2).values()  # (T, nh, hd)
    if packing.grouped is not None:  # one gather: each length's sequences side by side
        q, k, v = (t.index_select(0, packing.grouped) for t in (q, k, v))
    sizes = [g * L for L, g in packing.groups]
    contexts = []
    for (L, g), q_g, k_g, v_g in zip(packing.groups, q.split(sizes), k.split(sizes), v.split(sizes)):
        q_g, k_g, v_g = (t.unflatten(0, (g, L)).transpose(1, 2) for t in (q_g, k_g, v_g))  # (g, nh, L, hd): g sequences of L tokens
        context = F.scaled_dot_product_attention(q_g, k_g, v_g, dropout_p=dropout_p)  # (g, nh, L, hd)
        contexts.append(context.transpose(1, 2).flatten(0, 1))  # (g * L, nh, hd)
    context = torch.cat(contexts)  # (T, nh, hd), in group order
    return context if packing.order is None else context.index_select(0, packing.order)  # back in packed order
