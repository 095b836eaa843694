"""Cosine similarity and semantic search over sentence embeddings (sentence-transformers' util).

    cos(a, b) = a . b / (|a| |b|)

`semantic_search` finds, for each query, the `top_k` corpus vectors of highest cosine. It
works through the corpus in chunks of `corpus_chunk_size` rows and the queries in chunks of
`query_chunk_size`, keeping only a running top-k per query, so memory stays at one
(query chunk x corpus chunk) score matrix however large the corpus is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def as_matrix(x: Any, what: str = "embeddings") -> torch.Tensor:
    """A (N, D) float tensor from a tensor, a numpy array or a list of vectors; one vector becomes (1, D)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    elif isinstance(x, (list, tuple)):
        if x and isinstance(x[0], torch.Tensor):
            x = torch.stack(list(x))
        else:
            x = torch.tensor(x)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() not in (1, 2):
        raise TypeError(f"{what} must be a (N, D) or (D,) float tensor or array, got {type(x).__name__}"
                        + (f" of shape {tuple(x.shape)}" if hasattr(x, "shape") else ""))
    return x[None] if x.dim() == 1 else x


def cos_sim(a: Any, b: Any) -> torch.Tensor:
    """(N, D) and (M, D) -> (N, M): cos_sim[i][j] = cosine of a[i] and b[j]."""
    a, b = as_matrix(a, "a"), as_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a has vectors of size {a.shape[1]} but b of size {b.shape[1]}: they must have the same size")
    return F.normalize(a, dim=1) @ F.normalize(b.to(a), dim=1).T


def semantic_search(
    query_embeddings: Any,
    corpus_embeddings: Any,
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 10_000,
    top_k: int = 10,
) -> list[list[dict[str, int | float]]]:
    """For each query, the `top_k` closest corpus vectors by cosine, best first:
    [[{"corpus_id": int, "score": float}, ...], ...], one list per query."""
    for name, value in (("top_k", top_k), ("query_chunk_size", query_chunk_size), ("corpus_chunk_size", corpus_chunk_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    queries = F.normalize(as_matrix(query_embeddings, "query_embeddings"), dim=1)
    corpus = as_matrix(corpus_embeddings, "corpus_embeddings")
    if len(corpus) and queries.shape[1] != corpus.shape[1]:
        raise ValueError(f"queries have vectors of size {queries.shape[1]} but the corpus {corpus.shape[1]}")
    k = min(top_k, len(corpus))
    # The running best: (Q, k) scores and corpus ids, -inf until filled.
    best_scores = torch.full((len(queries), k), float("-inf"), dtype=queries.dtype, device=queries.device)
    best_ids = torch.zeros((len(queries), k), dtype=torch.long, device=queries.device)
    for c in range(0, len(corpus), corpus_chunk_size):
        chunk = F.normalize(corpus[c : c + corpus_chunk_size].to(queries), dim=1)  # (C, D)
        for q in range(0, len(queries), query_chunk_size):
            scores = queries[q : q + query_chunk_size] @ chunk.T  # (q, C)
            top, ids = scores.topk(min(k, len(chunk)), dim=1)
            merged_scores = torch.cat([best_scores[q : q + query_chunk_size], top], dim=1)
            merged_ids = torch.cat([best_ids[q : q + query_chunk_size], ids + c], dim=1)
            keep = merged_scores.topk(k, dim=1).indices
            best_scores[q : q + query_chunk_size] = merged_scores.gather(1, keep)
            best_ids[q : q + query_chunk_size] = merged_ids.gather(1, keep)
    return [
        [{"corpus_id": int(i), "score": float(s)} for s, i in zip(scores, ids)]
        for scores, ids in zip(best_scores.tolist(), best_ids.tolist())
    ]
