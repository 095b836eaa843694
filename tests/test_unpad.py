"""The unpadded path (minibert.unpad): padding removed once before the embeddings and put
back once at the end, and already-packed input (`input_ids` (T,) + `cu_seqlens`).

Tolerances: fp32 1e-5 absolute, against transformers.BertModel (the reference) and against
minibert's own padded path; gradients 1e-5 absolute plus 1e-5 relative against the padded
path (both compute the same float32 sums in a different order, and a weight's gradient sums
over every token, reaching hundreds: a few ulps of that exceed 1e-5 absolute). Pads are compared nowhere: the unpadded path
leaves zeros there, the padded path values that mean nothing.
"""

from __future__ import annotations

import pytest
import torch

from minibert import BertConfig, BertModel
from minibert.unpad import Packing, pack, unpack, varlen_attention
from conftest import DEVICES

FP32_ATOL = 1e-5
TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=24, type_vocab_size=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def tiny_pair(device="cpu", **overrides) -> tuple[BertModel, BertModel]:
    """The same weights twice: the padded sdpa path and the unpadded one."""
    padded = BertModel(BertConfig(**{**TINY, **overrides})).to(device).eval()
    unpadded = BertModel(BertConfig(**{**TINY, **overrides, "attn_implementation": "unpadded"})).to(device).eval()
    unpadded.load_state_dict(padded.state_dict())
    return padded, unpadded


def right_padded(lengths, S=None, vocab=100, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    S = S or max(lengths)
    ids = torch.randint(1, vocab, (len(lengths), S), generator=g)
    mask = torch.zeros_like(ids)
    types = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
        ids[row, n:] = 0
        types[row, n // 2 : n] = 1
    return ids.to(device), mask.to(device), types.to(device)


def cu_seqlens_of(lengths, device="cpu") -> torch.Tensor:
    return torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], device=device)


# ---- packing helpers --------------------------------------------------------------------


def test_packing_from_mask_gathers_real_tokens_in_order():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 1, 1, 0]])
    packing = Packing.from_attention_mask(mask)
    assert packing.cu_seqlens.tolist() == [0, 3, 4, 6] and packing.max_seqlen == 3
    assert packing.indices.tolist() == [0, 1, 2, 4, 9, 10]
    x = torch.arange(12.0).view(3, 4, 1)
    packed = pack(x, packing)
    assert packed.flatten().tolist() == [0, 1, 2, 4, 9, 10]
    back = unpack(packed, packing, 3, 4)
    assert torch.equal(back, x * mask[..., None])


def test_position_ids_restart_in_each_sequence():
    packing = Packing.from_cu_seqlens(torch.tensor([0, 3, 4, 6]))
    assert packing.position_ids().tolist() == [0, 1, 2, 0, 0, 1]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("lengths", [[5, 2, 5, 1, 7], [4, 4, 4, 2, 2, 6], [3]], ids=["scattered", "side-by-side", "one"])
def test_varlen_attention_equals_attention_per_sequence(device, lengths):
    q, k, v = (torch.randn(sum(lengths), 3, 8, device=device) for _ in range(3))
    packing = Packing.from_cu_seqlens(cu_seqlens_of(lengths, device))
    got = varlen_attention(q, k, v, packing)
    start = 0
    for n in lengths:
        s = slice(start, start + n)
        want = torch.nn.functional.scaled_dot_product_attention(*(t[s].transpose(0, 1) for t in (q, k, v))).transpose(0, 1)
        torch.testing.assert_close(got[s], want, atol=FP32_ATOL, rtol=0)
        start += n


# ---- the model: against the padded path and against transformers ------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_unpadded_equals_padded_on_real_tokens(device):
    padded, unpadded = tiny_pair(device)
    ids, mask, types = right_padded((9, 3, 1, 6), S=11, device=device)
    with torch.no_grad():
        a = padded(ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
        b = unpadded(ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
    real = mask.bool()
    assert b.last_hidden_state.shape == a.last_hidden_state.shape
    torch.testing.assert_close(b.last_hidden_state[real], a.last_hidden_state[real], atol=FP32_ATOL, rtol=0)
    torch.testing.assert_close(b.pooler_output, a.pooler_output, atol=FP32_ATOL, rtol=0)
    assert len(b.hidden_states) == len(a.hidden_states) == 3
    for x, y in zip(b.hidden_states, a.hidden_states):
        torch.testing.assert_close(x[real], y[real], atol=FP32_ATOL, rtol=0)
        assert not x[~real].any(), "the unpadded path leaves zeros at pads"


@pytest.mark.parametrize("device", DEVICES)
def test_real_minilm_unpadded_matches_reference(minilm_dir, device):
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(minilm_dir)
    texts = ["A man is eating food.", "Debian is a free operating system, developed by volunteers all over the world.",
             "Hi", "The quick brown fox jumps over the lazy dog while the cat sleeps."]
    enc = tok(texts, padding=True, return_tensors="pt").to(device)
    ours = BertModel.from_pretrained(minilm_dir, attn_implementation="unpadded", device=device)
    theirs = transformers.BertModel.from_pretrained(minilm_dir, attn_implementation="sdpa").to(device).eval()
    with torch.no_grad():
        a = ours(enc["input_ids"], attention_mask=enc["attention_mask"], token_type_ids=enc["token_type_ids"], output_hidden_states=True)
        b = theirs(**enc, output_hidden_states=True)
    real = enc["attention_mask"].bool()
    assert not bool(real.all()), "the batch must have padding for this test to mean anything"
    torch.testing.assert_close(a.last_hidden_state[real], b.last_hidden_state[real], atol=FP32_ATOL, rtol=0)
    torch.testing.assert_close(a.pooler_output, b.pooler_output, atol=FP32_ATOL, rtol=0)
    for layer, (x, y) in enumerate(zip(a.hidden_states, b.hidden_states, strict=True)):
        torch.testing.assert_close(x[real], y[real], atol=FP32_ATOL, rtol=0, msg=lambda m: f"hidden state {layer}: {m}")
    # The same sequences packed end to end, no padding at all.
    with torch.no_grad():
        packed = ours(enc["input_ids"][real], cu_seqlens=cu_seqlens_of(real.sum(1).tolist(), device),
                      token_type_ids=enc["token_type_ids"][real])
    torch.testing.assert_close(packed.last_hidden_state, b.last_hidden_state[real], atol=FP32_ATOL, rtol=0)
    torch.testing.assert_close(packed.pooler_output, b.pooler_output, atol=FP32_ATOL, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_gradients_equal_the_padded_path(device):
    padded, unpadded = tiny_pair(device)
    ids, mask, types = right_padded((9, 3, 1, 6, 9), S=10, device=device)
    real = mask.bool()
    grads = []
    for model in (padded, unpadded):
        model.train()  # dropout is 0 in TINY, so train mode is deterministic
        model.zero_grad()
        out = model(ids, attention_mask=mask, token_type_ids=types)
        # A loss that touches every real token and the pooler, weighted so no gradient is uniform.
        weights = torch.linspace(-1, 1, out.last_hidden_state.shape[-1], device=device)
        loss = (out.last_hidden_state[real] * weights).sum() + out.pooler_output.pow(2).sum()
        loss.backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=FP32_ATOL, rtol=1e-5, msg=lambda m: f"{name}: {m}")


def test_training_with_dropout_runs_and_gives_finite_gradients():
    model = BertModel(BertConfig(**{**TINY, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
                                    "attn_implementation": "unpadded"})).train()
    ids, mask, types = right_padded((9, 3, 6))
    model(ids, attention_mask=mask, token_type_ids=types).pooler_output.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("device", DEVICES)
def test_packed_input_equals_padded_batch(device):
    padded, unpadded = tiny_pair(device)
    lengths = (9, 3, 1, 6, 3)
    ids, mask, types = right_padded(lengths, device=device)
    real = mask.bool()
    with torch.no_grad():
        a = padded(ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
        # Packed input needs no "unpadded" config: every implementation accepts it.
        b = padded(ids[real], cu_seqlens=cu_seqlens_of(lengths, device), token_type_ids=types[real], output_hidden_states=True)
    assert b.last_hidden_state.shape == (sum(lengths), TINY["hidden_size"])
    assert b.pooler_output.shape == (len(lengths), TINY["hidden_size"])
    torch.testing.assert_close(b.last_hidden_state, a.last_hidden_state[real], atol=FP32_ATOL, rtol=0)
    torch.testing.assert_close(b.pooler_output, a.pooler_output, atol=FP32_ATOL, rtol=0)
    for x, y in zip(b.hidden_states, a.hidden_states, strict=True):
        torch.testing.assert_close(x, y[real], atol=FP32_ATOL, rtol=0)


def test_packed_input_with_explicit_positions_uses_them():
    padded, _ = tiny_pair()
    ids = torch.randint(1, 100, (7,))
    cu = torch.tensor([0, 4, 7])
    with torch.no_grad():
        default = padded(ids, cu_seqlens=cu).last_hidden_state
        same = padded(ids, cu_seqlens=cu, position_ids=torch.tensor([0, 1, 2, 3, 0, 1, 2])).last_hidden_state
        shifted = padded(ids, cu_seqlens=cu, position_ids=torch.tensor([1, 2, 3, 4, 1, 2, 3])).last_hidden_state
    torch.testing.assert_close(same, default, atol=0, rtol=0)
    assert not torch.allclose(shifted, default)


def test_left_padding_and_no_padding_keep_the_padded_path():
    padded, unpadded = tiny_pair()
    ids, mask, _ = right_padded((6, 4, 2), S=6)
    left_mask, left_ids = mask.flip(1), ids.flip(1)
    with torch.no_grad():
        for i, m in ((left_ids, left_mask), (ids[:1], mask[:1])):  # left-padded; one full row, nothing padded
            torch.testing.assert_close(unpadded(i, attention_mask=m).last_hidden_state,
                                       padded(i, attention_mask=m).last_hidden_state, atol=FP32_ATOL, rtol=0)


def test_attention_probabilities_are_still_returned():
    padded, unpadded = tiny_pair()
    ids, mask, _ = right_padded((6, 2))
    with torch.no_grad():
        out = unpadded(ids, attention_mask=mask, output_attentions=True)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (2, 4, 6, 6)


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_unpadded_close_to_padded(device):
    padded, unpadded = tiny_pair(device)
    padded, unpadded = padded.to(torch.bfloat16), unpadded.to(torch.bfloat16)
    ids, mask, types = right_padded((9, 3, 1, 6), device=device)
    real = mask.bool()
    with torch.no_grad():
        a = padded(ids, attention_mask=mask, token_type_ids=types).last_hidden_state[real].float()
        b = unpadded(ids, attention_mask=mask, token_type_ids=types).last_hidden_state[real].float()
    torch.testing.assert_close(b, a, atol=5e-2, rtol=2e-2)  # bf16: 8 significant bits, as in test_model_parity


# ---- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(cu_seqlens=torch.tensor([0, 3, 5])), "end at len\\(input_ids\\) = 6"),
        (dict(cu_seqlens=torch.tensor([1, 3, 6])), "must start at 0"),
        (dict(cu_seqlens=torch.tensor([0, 4, 3, 6])), "increase strictly"),
        (dict(cu_seqlens=torch.tensor([0, 3, 3, 6])), "at least one token"),
        (dict(cu_seqlens=torch.tensor([0.0, 6.0])), "1-D integer tensor"),
        (dict(cu_seqlens=torch.tensor([[0, 6]])), "1-D integer tensor"),
        (dict(cu_seqlens=torch.tensor([6])), "N \\+ 1 offsets"),
        (dict(cu_seqlens=torch.tensor([0, 6]), attention_mask=torch.ones(6)), "not both"),
        (dict(cu_seqlens=torch.tensor([0, 6]), output_attentions=True), "output_attentions"),
        (dict(cu_seqlens=torch.tensor([0, 6]), token_type_ids=torch.zeros(1, 6, dtype=torch.long)), "token_type_ids has shape"),
    ],
)
def test_bad_packed_input_is_a_clear_error(kwargs, message):
    padded, _ = tiny_pair()
    with pytest.raises(ValueError, match=message):
        padded(torch.randint(1, 100, (6,)), **kwargs)


def test_packed_input_errors_name_the_fix():
    padded, _ = tiny_pair()
    with pytest.raises(ValueError, match="pass attention_mask instead of cu_seqlens"):
        padded(torch.randint(1, 100, (2, 3)), cu_seqlens=torch.tensor([0, 3, 6]))
    with pytest.raises(ValueError, match="only 24 positions"):
        padded(torch.randint(1, 100, (30,)), cu_seqlens=torch.tensor([0, 30]))
    with pytest.raises(TypeError, match="cu_seqlens must be a torch.Tensor"):
        padded(torch.randint(1, 100, (6,)), cu_seqlens=[0, 6])
    with pytest.raises(ValueError, match="input_ids contains 100"):
        padded(torch.tensor([1, 100]), cu_seqlens=torch.tensor([0, 2]))


def test_unpadded_is_a_valid_implementation_and_not_saved():
    config = BertConfig(**TINY, attn_implementation="unpadded")
    assert "attn_implementation" not in config.to_dict()
