"""The model's own behaviour: outputs, masks, input checks, the formulas of its parts."""

from __future__ import annotations

import math

import pytest
import torch

import minibert
from minibert import BertConfig, BertModel
from conftest import DEVICES
from minibert.model import ACT2FN, extended_attention_mask
from minibert.validation import check_inputs

TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=24, type_vocab_size=2)


def tiny_model(**overrides) -> BertModel:
    return BertModel(BertConfig(**{**TINY, **overrides})).eval()


def test_public_building_blocks_are_exported():
    for name in ("BertConfig", "BertModel", "BertEmbeddings", "SinusoidalPositionalEncoding", "MultiHeadSelfAttention",
                 "EncoderLayer", "Encoder", "Pooler", "FeedForward"):
        assert hasattr(minibert, name), name


def test_output_fields_and_tuple_indexing():
    model = tiny_model()
    ids = torch.randint(0, 100, (3, 7))
    out = model(ids, output_hidden_states=True, output_attentions=True)
    assert out.last_hidden_state.shape == (3, 7, 32) and out.pooler_output.shape == (3, 32)
    assert len(out.hidden_states) == 3 and len(out.attentions) == 2
    assert out.attentions[0].shape == (3, 4, 7, 7)
    assert out[0] is out.last_hidden_state and out[1] is out.pooler_output and out["pooler_output"] is out[1]
    assert len(out) == 4
    plain = model(ids)
    assert len(plain) == 2 and plain.hidden_states is None and plain.attentions is None
    as_tuple = model(ids, return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], plain[0])


def test_without_pooler_the_first_field_is_still_the_hidden_state():
    model = BertModel(BertConfig(**TINY), add_pooling_layer=False).eval()
    out = model(torch.randint(0, 100, (2, 5)))
    assert out.pooler_output is None and out[0] is out.last_hidden_state and len(out) == 1


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_attention_probabilities_are_returned_on_every_path_and_ignore_padding(impl):
    model = tiny_model(attn_implementation=impl)
    ids = torch.randint(1, 100, (2, 6))
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    probs = model(ids, attention_mask=mask, output_attentions=True).attentions
    for p in probs:
        torch.testing.assert_close(p.sum(-1), torch.ones(2, 4, 6), atol=1e-6, rtol=0)
        assert p[1, :, :, 3:].abs().max() == 0  # padded keys get no attention at all


@pytest.mark.parametrize("device", DEVICES)
def test_eager_and_sdpa_agree_including_gradients(device):
    torch.manual_seed(0)
    eager = tiny_model(attn_implementation="eager", attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0).to(device)
    sdpa = tiny_model(attn_implementation="sdpa", attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0).to(device)
    sdpa.load_state_dict(eager.state_dict())
    ids = torch.randint(1, 100, (3, 9), device=device)
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    a, b = eager(ids, attention_mask=mask), sdpa(ids, attention_mask=mask)
    torch.testing.assert_close(a.last_hidden_state, b.last_hidden_state, atol=1e-5, rtol=0)
    a.last_hidden_state.sum().backward()
    b.last_hidden_state.sum().backward()
    for (name, p), q in zip(eager.named_parameters(), sdpa.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4, msg=lambda m: f"{name}: {m}")


def test_eager_attention_is_the_written_out_formula():
    q, k, v = (torch.randn(2, 3, 5, 8) for _ in range(3))
    context, probs = minibert.eager_attention(q, k, v, mask=None)
    expected = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1)
    torch.testing.assert_close(probs, expected)
    torch.testing.assert_close(context, expected @ v)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_fully_padded_rows_give_no_nan_or_inf(dtype, impl, device):
    model = tiny_model(attn_implementation=impl).to(device=device, dtype=dtype)
    ids = torch.randint(1, 100, (2, 6), device=device)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]], device=device)
    out = model(ids, attention_mask=mask, output_hidden_states=True)
    for h in out.hidden_states + (out.pooler_output,):
        assert torch.isfinite(h).all()


def test_additive_mask_uses_the_dtype_minimum():
    mask = extended_attention_mask(torch.tensor([[1, 0]]), torch.bfloat16)
    assert mask.shape == (1, 1, 1, 2) and mask.dtype == torch.bfloat16
    assert mask[0, 0, 0, 0] == 0 and mask[0, 0, 0, 1] == torch.finfo(torch.bfloat16).min


def test_gelu_is_the_exact_erf_form():
    x = torch.linspace(-4, 4, 101)
    torch.testing.assert_close(ACT2FN["gelu"](x), 0.5 * x * (1 + torch.erf(x / math.sqrt(2))))


def test_sinusoidal_positions_follow_the_transformer_formula():
    model = tiny_model(position_embedding_type="sinusoidal")
    table = model.embeddings.position_embeddings.table
    H = TINY["hidden_size"]
    for pos in (0, 1, 7, 23):
        for i in range(H // 2):
            angle = pos / 10000 ** (2 * i / H)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
            assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)
    assert not any("position" in k for k in model.state_dict()), "the fixed table is not a weight"


def test_sinusoidal_model_round_trips_through_save_and_load(tmp_path):
    model = tiny_model(position_embedding_type="sinusoidal")
    model.save_pretrained(tmp_path)
    loaded = BertModel.from_pretrained(tmp_path)
    ids = torch.randint(0, 100, (2, 10))
    torch.testing.assert_close(model(ids).last_hidden_state, loaded(ids).last_hidden_state, atol=0, rtol=0)


def test_token_type_and_position_ids_change_the_output():
    model = tiny_model()
    ids = torch.randint(1, 100, (1, 6))
    base = model(ids).last_hidden_state
    assert not torch.allclose(base, model(ids, token_type_ids=torch.ones_like(ids)).last_hidden_state)
    shifted = torch.arange(1, 7)[None]
    assert not torch.allclose(base, model(ids, position_ids=shifted).last_hidden_state)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_ids=torch.tensor([[1, 100]])), r"input_ids contains 100, outside 0..99"),
        (dict(input_ids=torch.tensor([[1, -1]])), r"input_ids contains -1"),
        (dict(input_ids=torch.ones(1, 25, dtype=torch.long)), "25 tokens but the model has only 24 positions"),
        (dict(input_ids=torch.ones(1, 4, dtype=torch.long), token_type_ids=torch.tensor([[0, 1, 2, 0]])), "token_type_ids contains 2"),
        (dict(input_ids=torch.ones(2, 4, dtype=torch.long), attention_mask=torch.ones(2, 5)), r"attention_mask has shape \(2, 5\) but input_ids has \(2, 4\)"),
        (dict(input_ids=torch.ones(4, dtype=torch.long)), r"shape \(batch, sequence\)"),
        (dict(input_ids=torch.ones(1, 4)), "integer token ids"),
        (dict(input_ids=torch.ones(1, 0, dtype=torch.long)), "at least one token"),
        (dict(input_ids=torch.ones(0, 4, dtype=torch.long)), r"shape \(0, 4\), a batch of no sequences"),
        (dict(input_ids=torch.ones(1, 4, dtype=torch.uint8)), r"input_ids must be integer token ids \(int64 or int32\), got dtype torch.uint8"),
        (dict(input_ids=torch.ones(1, 4, dtype=torch.long), token_type_ids=torch.zeros(1, 4)), r"token_type_ids must be integer indices \(int64 or int32\), got dtype torch.float32"),
        (dict(input_ids=torch.ones(1, 4, dtype=torch.long), position_ids=torch.arange(4.0)[None]), r"position_ids must be integer indices .* got dtype torch.float32"),
        (dict(input_ids=torch.ones(4, dtype=torch.uint8), cu_seqlens=torch.tensor([0, 4])), r"input_ids must be integer token ids \(int64 or int32\)"),
        (dict(input_ids=torch.ones(4, dtype=torch.long), cu_seqlens=torch.tensor([0, 4]), token_type_ids=torch.zeros(4)), "token_type_ids must be integer indices"),
    ],
)
def test_bad_input_is_a_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_model()(**kwargs)


def test_ids_on_the_cpu_are_checked_on_every_call():
    model = tiny_model()
    model(torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="input_ids contains 100"):
        model(torch.tensor([[1, 100]]))
    with pytest.raises(ValueError, match="input_ids contains 100"):
        model(torch.tensor([[1, 100]]))


def test_ids_off_the_cpu_are_read_on_the_first_call_only():
    """Reading a GPU tensor's values stalls the device: only the first forward pays for it.
    (The decision looks at the device alone, so a meta tensor stands in for a GPU one.)"""
    model = tiny_model()
    on_device = torch.empty(2, 3, dtype=torch.long, device="meta")
    assert [model._check_values(on_device) for _ in range(3)] == [True, False, False]
    assert all(model._check_values(torch.ones(2, 3, dtype=torch.long)) for _ in range(3))


def test_without_values_only_shapes_and_dtypes_are_checked():
    config = BertConfig(**TINY)
    out_of_vocabulary = torch.tensor([[1, 100]])
    check_inputs(config, out_of_vocabulary, None, None, None, check_values=False)
    with pytest.raises(ValueError, match="input_ids contains 100"):
        check_inputs(config, out_of_vocabulary, None, None, None)
    with pytest.raises(ValueError, match="attention_mask has shape"):
        check_inputs(config, out_of_vocabulary, torch.ones(1, 3), None, None, check_values=False)


def test_non_tensor_input_is_a_type_error():
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        tiny_model()([[1, 2, 3]])


def test_dropout_is_active_in_training_mode_only():
    model = tiny_model(hidden_dropout_prob=0.5)
    ids = torch.randint(1, 100, (2, 8))
    assert torch.equal(model(ids)[0], model(ids)[0])
    model.train()
    assert not torch.equal(model(ids)[0], model(ids)[0])
