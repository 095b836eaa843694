"""feature-extraction: the same token vectors as transformers' pipeline on the real MiniLM
checkpoint (within 1e-4), as nested lists [1][tokens][hidden] or a (1, tokens, hidden) tensor."""

from __future__ import annotations

import pytest
import torch

from minibert import pipeline


@pytest.fixture(scope="module")
def ours(minilm_dir):
    return pipeline("feature-extraction", model=minilm_dir, batch_size=4)


@pytest.fixture(scope="module")
def theirs(minilm_dir):
    transformers = pytest.importorskip("transformers")
    return transformers.pipeline("feature-extraction", model=str(minilm_dir), device="cpu")


@pytest.fixture(scope="module")
def texts(corpus_dir):
    lines = [l.strip() for l in (corpus_dir / "en_debian_handbook.txt").read_text(encoding="utf-8").splitlines() if l.strip()]
    return lines[200:207] + ["", "A short one."]


def test_token_vectors_equal_transformers_as_nested_lists(ours, theirs, texts):
    mine, reference = ours(texts), theirs(texts)
    assert len(mine) == len(reference)
    for m, r in zip(mine, reference):
        assert isinstance(m, list) and len(m) == 1 and len(m[0]) == len(r[0])  # [1][tokens][hidden]
        torch.testing.assert_close(torch.tensor(m), torch.tensor(r), atol=1e-4, rtol=0)


def test_return_tensors(ours, theirs, texts):
    mine = ours(texts[0], return_tensors=True)
    assert isinstance(mine, torch.Tensor) and mine.dim() == 3 and mine.shape[0] == 1
    torch.testing.assert_close(mine, theirs(texts[0], return_tensors=True), atol=1e-4, rtol=0)


def test_truncation(ours, theirs):
    long = "word " * 600
    mine = ours(long, truncation=True, return_tensors=True)
    assert mine.shape[1] == 512
    torch.testing.assert_close(mine, theirs(long, truncation=True, return_tensors=True), atol=1e-4, rtol=0)


def test_a_non_string_is_named_by_index(ours):
    with pytest.raises(TypeError, match=r"inputs\[2\]: feature-extraction takes a string, got NoneType"):
        ours(["a", "b", None])
