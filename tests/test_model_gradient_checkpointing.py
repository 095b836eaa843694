"""Gradient checkpointing in the encoder: activations recomputed in backward, same gradients."""

from __future__ import annotations

import pytest
import torch

from minibert import BertConfig, BertModel
from tests.conftest import DEVICES

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=64, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)


def loss_and_grads(model: BertModel, input_ids, attention_mask) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad()
    torch.manual_seed(1234)  # the same dropout masks in both runs
    out = model(input_ids, attention_mask=attention_mask)
    loss = out.last_hidden_state.pow(2).mean() + out.pooler_output.sum()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_gradients_are_the_same_with_and_without_checkpointing(device, attn_implementation):
    model = BertModel(BertConfig(**TINY, attn_implementation=attn_implementation)).to(device).train()
    input_ids = torch.randint(1, 99, (3, 20), device=device)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 15:] = 0  # padding too, so the mask goes through the checkpointed layers
    plain_loss, plain = loss_and_grads(model, input_ids, attention_mask)

    calls = []
    hooks = [layer.register_forward_pre_hook(lambda *_: calls.append(1)) for layer in model.encoder.layers]
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing
    loss, grads = loss_and_grads(model, input_ids, attention_mask)
    for h in hooks:
        h.remove()

    # Each layer started twice: once forward, once recomputed during backward (a pre-hook, because
    # the recomputation stops as soon as it has what backward needs, before a forward hook would run).
    assert len(calls) == 2 * TINY["num_hidden_layers"]
    # fp32: recomputation repeats the same operations, so 1e-6 absolute is ample.
    torch.testing.assert_close(loss, plain_loss, rtol=0, atol=1e-6)
    assert grads.keys() == plain.keys()
    for name in plain:
        torch.testing.assert_close(grads[name], plain[name], rtol=0, atol=1e-6, msg=name)


def test_checkpointing_is_off_in_eval_mode():
    model = BertModel(BertConfig(**TINY))
    model.gradient_checkpointing_enable()
    model.eval()
    calls = []
    model.encoder.layers[0].register_forward_pre_hook(lambda *_: calls.append(1))
    model(torch.randint(1, 99, (1, 5))).last_hidden_state.sum().backward()
    assert len(calls) == 1
    model.gradient_checkpointing_disable()
    assert not model.is_gradient_checkpointing
