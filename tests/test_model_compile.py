"""torch.compile(model) works: the compiled model gives the eager model's outputs.

Uses a tiny config (compiling is slow: tens of seconds on 2 cores) and the inductor
backend, which generates C++ on CPU: skipped with the reason when no C++ compiler is found.
Tolerance 1e-5 absolute: inductor fuses and reorders float32 operations.
The unpadded path compiles too, in pieces: reading the sequence lengths to the host
(Packing) and the input checks are graph breaks by nature.
"""

from __future__ import annotations

import shutil

import pytest
import torch

from minibert import BertConfig, BertModel

TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=24)


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["sdpa", "unpadded"])
def test_compiled_model_matches_eager(impl):
    if shutil.which("g++") is None and shutil.which("c++") is None and shutil.which("clang++") is None:
        pytest.skip("torch.compile's inductor backend needs a C++ compiler on CPU (none found: install g++)")
    model = BertModel(BertConfig(**TINY, attn_implementation=impl)).eval()
    ids = torch.randint(1, 100, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    compiled = torch.compile(model)
    with torch.no_grad():
        want = model(ids, attention_mask=mask)
        got = compiled(ids, attention_mask=mask)
    torch.testing.assert_close(got.last_hidden_state, want.last_hidden_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(got.pooler_output, want.pooler_output, atol=1e-5, rtol=0)
