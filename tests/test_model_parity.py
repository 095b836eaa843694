"""Parity with transformers.BertModel on the same weights and the same inputs.

Tolerances: fp32 outputs agree within 1e-5 absolute (both libraries do the same float32
operations, possibly in a different order); bf16 within 5e-2 absolute plus 2e-2 relative
(bf16 keeps 8 significant bits: one rounding is up to 4e-3 relative, a few ulps of 0.016
each at the hidden states' scale of 1-10, and 6-12 layers of different rounding orders add up). The reference runs eager attention whenever attention
probabilities are compared, because its sdpa path does not return them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import minibert
from checkpoints import BERT_BASE_UNCASED, write_legacy_checkpoint
from conftest import DEVICES

transformers = pytest.importorskip("transformers")

FP32_ATOL = 1e-5
BF16_ATOL = 5e-2
BF16_RTOL = 2e-2

ODD_CONFIGS = {
    "1-layer": dict(BERT_BASE_UNCASED, vocab_size=500, hidden_size=64, num_hidden_layers=1, num_attention_heads=4, intermediate_size=128),
    "hidden96-3heads-16pos-1type": dict(BERT_BASE_UNCASED, vocab_size=300, hidden_size=96, num_hidden_layers=2, num_attention_heads=3,
                                         intermediate_size=192, max_position_embeddings=16, type_vocab_size=1),
    "3-types-relu": dict(BERT_BASE_UNCASED, vocab_size=300, hidden_size=48, num_hidden_layers=3, num_attention_heads=2,
                         intermediate_size=96, type_vocab_size=3, hidden_act="relu", layer_norm_eps=1e-5),
}


def load_pair(path: Path, impl: str, device: str, dtype=torch.float32):
    ours = minibert.BertModel.from_pretrained(path, attn_implementation=impl, dtype=dtype, device=device)
    ref_impl = impl
    theirs = transformers.BertModel.from_pretrained(path, attn_implementation=ref_impl, dtype=dtype).to(device).eval()
    return ours, theirs


def padded_batch(config: dict, lengths=(13, 7, 1, 10), device="cpu", seed=0):
    """Sequences of different lengths, padded right, with two segments where the config has them."""
    g = torch.Generator().manual_seed(seed)
    S = max(lengths)
    ids = torch.randint(1, config["vocab_size"], (len(lengths), S), generator=g)
    mask = torch.zeros_like(ids)
    types = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
        ids[row, n:] = 0
        types[row, n // 2 : n] = min(1, config["type_vocab_size"] - 1) if config["type_vocab_size"] > 1 else 0
        if config["type_vocab_size"] > 2:
            types[row, : n // 3] = 2
    return ids.to(device), mask.to(device), types.to(device)


def assert_outputs_match(ours, theirs, atol, check_attentions=True):
    torch.testing.assert_close(ours.last_hidden_state, theirs.last_hidden_state, atol=atol, rtol=0)
    torch.testing.assert_close(ours.pooler_output, theirs.pooler_output, atol=atol, rtol=0)
    assert len(ours.hidden_states) == len(theirs.hidden_states)
    for layer, (a, b) in enumerate(zip(ours.hidden_states, theirs.hidden_states)):
        torch.testing.assert_close(a, b, atol=atol, rtol=0, msg=lambda m: f"hidden state {layer}: {m}")
    if check_attentions:
        assert len(ours.attentions) == len(theirs.attentions)
        for layer, (a, b) in enumerate(zip(ours.attentions, theirs.attentions)):
            torch.testing.assert_close(a, b, atol=atol, rtol=0, msg=lambda m: f"attention {layer}: {m}")


def run_both(ours, theirs, ids, mask, types, with_attentions: bool):
    kwargs = dict(attention_mask=mask, token_type_ids=types, output_hidden_states=True, output_attentions=with_attentions)
    with torch.no_grad():
        return ours(ids, **kwargs), theirs(ids, **kwargs)


@pytest.fixture(scope="module")
def bert_base_dir(tmp_path_factory) -> Path:
    """bert-base-uncased's exact shapes, random weights, the original (legacy) file layout."""
    return write_legacy_checkpoint(tmp_path_factory.mktemp("bert-base") , BERT_BASE_UNCASED, "safetensors")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_real_minilm_matches_reference_fp32(minilm_dir, impl, device):
    config = minibert.BertConfig.from_pretrained(minilm_dir).to_dict()
    ours, theirs = load_pair(minilm_dir, impl, device)
    ids, mask, types = padded_batch(config, device=device)
    a, b = run_both(ours, theirs, ids, mask, types, with_attentions=False)
    assert_outputs_match(a, b, FP32_ATOL, check_attentions=False)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_real_minilm_attention_probabilities_match_reference(minilm_dir, impl, device):
    # Asking for the probabilities gives them on both of our paths; the reference's eager path computes them.
    config = minibert.BertConfig.from_pretrained(minilm_dir).to_dict()
    ours = minibert.BertModel.from_pretrained(minilm_dir, attn_implementation=impl, device=device)
    theirs = transformers.BertModel.from_pretrained(minilm_dir, attn_implementation="eager").to(device).eval()
    ids, mask, types = padded_batch(config, device=device)
    a, b = run_both(ours, theirs, ids, mask, types, with_attentions=True)
    assert all(p is not None for p in a.attentions)
    assert_outputs_match(a, b, FP32_ATOL)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_bert_base_shapes_match_reference_fp32(bert_base_dir, impl, device):
    ours, theirs = load_pair(bert_base_dir, impl, device)
    ids, mask, types = padded_batch(BERT_BASE_UNCASED, lengths=(40, 17, 33), device=device)
    a, b = run_both(ours, theirs, ids, mask, types, with_attentions=False)
    assert_outputs_match(a, b, FP32_ATOL, check_attentions=False)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("name", list(ODD_CONFIGS))
def test_odd_configs_match_reference(tmp_path, name, impl, device):
    config = ODD_CONFIGS[name]
    path = write_legacy_checkpoint(tmp_path, config, "bin", seed=3)
    ours = minibert.BertModel.from_pretrained(path, attn_implementation=impl, device=device)
    theirs = transformers.BertModel.from_pretrained(path, attn_implementation="eager").to(device).eval()
    lengths = (config["max_position_embeddings"], 5, 9) if config["max_position_embeddings"] <= 16 else (12, 5, 9)
    ids, mask, types = padded_batch(config, lengths=lengths, device=device)
    a, b = run_both(ours, theirs, ids, mask, types, with_attentions=True)
    assert_outputs_match(a, b, FP32_ATOL)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_real_minilm_matches_reference_bf16(minilm_dir, impl, device):
    config = minibert.BertConfig.from_pretrained(minilm_dir).to_dict()
    ours, theirs = load_pair(minilm_dir, impl, device, dtype=torch.bfloat16)
    assert ours.dtype == torch.bfloat16
    ids, mask, types = padded_batch(config, device=device)
    a, b = run_both(ours, theirs, ids, mask, types, with_attentions=False)
    # Compare real tokens only: padded positions carry no meaning and bf16 noise there is larger.
    real = mask.bool()
    torch.testing.assert_close(a.last_hidden_state[real].float(), b.last_hidden_state[real].float(), atol=BF16_ATOL, rtol=BF16_RTOL)
    torch.testing.assert_close(a.pooler_output.float(), b.pooler_output.float(), atol=BF16_ATOL, rtol=BF16_RTOL)


@pytest.mark.parametrize("device", DEVICES)
def test_sentence_embeddings_of_real_text_match_reference(minilm_dir, device):
    """The job the checkpoint was trained for: mean-pooled sentence embeddings, with ids from the reference tokenizer."""
    tok = transformers.AutoTokenizer.from_pretrained(minilm_dir)
    texts = ["A man is eating food.", "A man is riding a white horse on an enclosed ground.", "Debian is a free operating system."]
    enc = tok(texts, padding=True, return_tensors="pt").to(device)
    ours = minibert.BertModel.from_pretrained(minilm_dir, device=device)
    theirs = transformers.BertModel.from_pretrained(minilm_dir).to(device).eval()
    with torch.no_grad():
        a = ours(enc["input_ids"], attention_mask=enc["attention_mask"], token_type_ids=enc["token_type_ids"])
        b = theirs(**enc)
    real = enc["attention_mask"].bool()
    assert not bool(real.all()), "the batch must have padding for the default (unpadded) path to run"
    # The default path leaves zeros at pads, so the tokens compared are the real ones, and the
    # embeddings, mean-pooled over them, come out the same.
    torch.testing.assert_close(a.last_hidden_state[real], b.last_hidden_state[real], atol=FP32_ATOL, rtol=0)
    weights = enc["attention_mask"][..., None].float()  # (B, S, 1)
    mean = lambda h: (h * weights).sum(1) / weights.sum(1)  # noqa: E731  (B, H)
    torch.testing.assert_close(mean(a.last_hidden_state), mean(b.last_hidden_state), atol=FP32_ATOL, rtol=0)


def real_sentence_pairs(corpus_dir: Path, count: int = 16) -> tuple[list[str], list[str]]:
    """Consecutive paragraphs of the Debian handbook as (sentence A, sentence B) pairs, from a
    few words to far past 128 tokens, so that truncation at 128 is exercised too."""
    lines = [line.strip() for line in (corpus_dir / "en_debian_handbook.txt").read_text(encoding="utf-8").splitlines()]
    paragraphs = [line for line in lines[400:] if len(line.split()) >= 3]
    step = len(paragraphs) // (2 * count)
    firsts = [paragraphs[2 * i * step] for i in range(count)]
    seconds = [paragraphs[2 * i * step + 1] for i in range(count)]
    return firsts, seconds


@pytest.mark.parametrize("head_dim", [32, 48, 64])
def test_eager_attention_rounds_as_the_reference_does(head_dim):
    """The same float32 operations in the same order as transformers' eager attention
    (scores multiplied by head_dim ** -0.5, mask added, softmax), so the probabilities and
    the context agree bit for bit (tolerance 0) on the same q, k, v and padding mask.
    Dividing by sqrt(head_dim) instead differs by up to 1e-6 where sqrt(head_dim) is inexact."""
    from transformers.models.bert.modeling_bert import eager_attention_forward

    g = torch.Generator().manual_seed(0)
    q, k, v = (3 * torch.randn(3, 4, 128, head_dim, generator=g) for _ in range(3))
    keep = torch.ones(3, 128)
    keep[1, 70:] = 0
    mask = minibert.model.extended_attention_mask(keep, torch.float32)  # (B, 1, 1, S)
    context, probs = minibert.eager_attention(q, k, v, mask)
    ref_context, ref_probs = eager_attention_forward(torch.nn.Module().eval(), q, k, v, mask, scaling=head_dim**-0.5)
    torch.testing.assert_close(probs, ref_probs, atol=0, rtol=0)
    torch.testing.assert_close(context, ref_context.transpose(1, 2), atol=0, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("checkpoint", ["minilm", "bert-base-shapes"])
def test_real_sentence_pairs_up_to_128_tokens_match_reference_in_every_probability(
    request, minilm_dir, corpus_dir, checkpoint, device
):
    """Real text, two segments, padding and truncation at 128 tokens: every attention
    probability of every real token, layer and head within 1e-5 of transformers' eager
    attention (measured: 2.8e-6 for MiniLM), and the hidden states too."""
    path = minilm_dir if checkpoint == "minilm" else request.getfixturevalue("bert_base_dir")
    tok = transformers.AutoTokenizer.from_pretrained(minilm_dir)  # the same uncased vocabulary as bert-base
    firsts, seconds = real_sentence_pairs(corpus_dir)
    enc = tok(firsts, seconds, padding=True, truncation="longest_first", max_length=128, return_tensors="pt").to(device)
    lengths = enc["attention_mask"].sum(1)
    assert int(lengths.max()) == 128 and int(lengths.min()) < 32  # short and truncated pairs alike
    assert bool((enc["token_type_ids"] == 1).any())
    ours = minibert.BertModel.from_pretrained(path, attn_implementation="eager", device=device)
    theirs = transformers.BertModel.from_pretrained(path, attn_implementation="eager").to(device).eval()
    a, b = run_both(ours, theirs, enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], with_attentions=True)
    # Every probability of every real token (a query row: its distribution over all keys,
    # the padded ones included, where both give exactly 0). Rows of padding positions are
    # left out: nothing reads their outputs, and their hidden states drift apart (1.7e-4 at
    # layer 4 of MiniLM on this batch) far faster than those of real tokens (7e-6).
    real = enc["attention_mask"].bool()  # (B, S)
    for layer, (x, y) in enumerate(zip(a.attentions, b.attentions)):  # (B, nh, S, S) each
        worst = float((x - y).transpose(1, 2)[real].abs().max())
        assert worst <= FP32_ATOL, f"layer {layer}: an attention probability differs by {worst:.2e}"
    for layer, (x, y) in enumerate(zip(a.hidden_states, b.hidden_states)):
        torch.testing.assert_close(x[real], y[real], atol=FP32_ATOL, rtol=0, msg=lambda m: f"hidden state {layer}: {m}")
    torch.testing.assert_close(a.pooler_output, b.pooler_output, atol=FP32_ATOL, rtol=0)
