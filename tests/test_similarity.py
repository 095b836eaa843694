"""cos_sim and semantic_search: the same as sentence_transformers.util on the same vectors
(scores within 1e-5, the same corpus ids in the same order), chunk sizes changing nothing."""

from __future__ import annotations

import pytest
import torch

from minibert.similarity import cos_sim, semantic_search

st_util = pytest.importorskip("sentence_transformers.util")


def vectors(n, d=32, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def assert_same_results(ours, theirs):
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert [r["corpus_id"] for r in o] == [r["corpus_id"] for r in t]
        assert [r["score"] for r in o] == pytest.approx([r["score"] for r in t], abs=1e-5)


def test_cos_sim_equals_sentence_transformers():
    a, b = vectors(5), vectors(7, seed=1)
    torch.testing.assert_close(cos_sim(a, b), st_util.cos_sim(a, b), atol=1e-6, rtol=0)
    assert cos_sim(a[0].numpy(), b.numpy()).shape == (1, 7)


def test_semantic_search_equals_sentence_transformers():
    queries, corpus = vectors(7), vectors(2_500, seed=1)
    assert_same_results(semantic_search(queries, corpus, top_k=5), st_util.semantic_search(queries, corpus, top_k=5))


def test_a_corpus_of_100000_vectors_is_searched_in_chunks():
    queries, corpus = vectors(16), vectors(100_000, seed=2)
    seen = []
    original = torch.Tensor.__matmul__

    def spy(a, b):
        out = original(a, b)
        seen.append(tuple(out.shape))
        return out

    torch.Tensor.__matmul__ = spy
    try:
        ours = semantic_search(queries, corpus, top_k=10, corpus_chunk_size=10_000)
    finally:
        torch.Tensor.__matmul__ = original
    assert max(n * m for n, m in seen) == 16 * 10_000  # never a 16 x 100,000 score matrix
    assert_same_results(ours, st_util.semantic_search(queries, corpus, top_k=10))


@pytest.mark.parametrize("corpus_chunk_size,query_chunk_size", [(1, 1), (7, 3), (10_000, 100)])
def test_chunk_sizes_change_nothing(corpus_chunk_size, query_chunk_size):
    queries, corpus = vectors(9), vectors(50, seed=3)
    expected = semantic_search(queries, corpus, top_k=4)
    assert_same_results(semantic_search(queries, corpus, top_k=4, corpus_chunk_size=corpus_chunk_size,
                                        query_chunk_size=query_chunk_size), expected)


def test_top_k_larger_than_the_corpus_returns_the_whole_corpus():
    results = semantic_search(vectors(2), vectors(3, seed=4), top_k=10)
    assert [len(r) for r in results] == [3, 3]
    assert all(r[0]["score"] >= r[1]["score"] >= r[2]["score"] for r in results)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        semantic_search(vectors(1), vectors(3), top_k=0)
    with pytest.raises(ValueError, match="queries have vectors of size 32 but the corpus 16"):
        semantic_search(vectors(1), vectors(3, d=16))
    with pytest.raises(TypeError, match="corpus_embeddings must be a"):
        semantic_search(vectors(1), "text")
