"""Pooling: every mode (and a combination) equals sentence-transformers' Pooling module on the
same token vectors (fp32, 1e-5 absolute), with and without the prompt's tokens."""

from __future__ import annotations

import pytest
import torch

from minibert.pooling import POOLING_MODES, Pooling

st_models = pytest.importorskip("sentence_transformers.sentence_transformer.modules")

H = 8
LENGTHS = [5, 1, 9, 3]


def padded():
    """Right-padded token vectors (B, S, H) and their mask; the pads hold nonsense."""
    g = torch.Generator().manual_seed(0)
    S = max(LENGTHS)
    padded = torch.randn(len(LENGTHS), S, H, generator=g)
    mask = torch.zeros(len(LENGTHS), S, dtype=torch.long)
    for b, n in enumerate(LENGTHS):
        mask[b, :n] = 1
        padded[b, n:] = 1000.0  # pads hold nonsense: nothing may read them
    return padded, mask


@pytest.mark.parametrize("modes", [(m,) for m in POOLING_MODES] + [("cls", "mean", "max")])
def test_each_mode_equals_sentence_transformers(modes):
    hidden, mask = padded()
    theirs = st_models.Pooling(H, pooling_mode=modes)({"token_embeddings": hidden, "attention_mask": mask})["sentence_embedding"]
    ours = Pooling(modes)(hidden, mask)
    assert ours.shape == (len(LENGTHS), H * len(modes))
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("mode", ["cls", "mean", "max", "weightedmean", "mean_sqrt_len_tokens"])
def test_leaving_the_prompt_out_equals_sentence_transformers(mode):
    hidden, mask = padded()
    keep = [0, 2, 3]  # sentences longer than the prompt
    hidden, mask = hidden[keep], mask[keep]
    st_pooling = st_models.Pooling(H, pooling_mode=mode, include_prompt=False)
    theirs = st_pooling({"token_embeddings": hidden, "attention_mask": mask, "prompt_length": torch.tensor([2])})["sentence_embedding"]
    torch.testing.assert_close(Pooling((mode,), include_prompt=False)(hidden, mask, prompt_length=2), theirs, atol=1e-5, rtol=0)


def test_the_older_boolean_config_is_read_in_sentence_transformers_order():
    config = {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": True}
    assert Pooling.from_config(config).modes == ("cls", "mean")
    assert Pooling.from_config({"word_embedding_dimension": 384}).modes == ("mean",)
    assert Pooling.from_config({"pooling_mode": "lasttoken", "include_prompt": False}) == Pooling(("lasttoken",), False)


def test_an_unknown_mode_names_it_and_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown pooling mode 'median'; the modes are: cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken"):
        Pooling.from_config({"pooling_mode": "median"})
    with pytest.raises(ValueError, match=r"unknown pooling mode 'pooling_mode_median_tokens'"):
        Pooling.from_config({"pooling_mode_median_tokens": True})
