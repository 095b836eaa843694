"""Opt-in int8 CPU inference (minibert.quantization): what is quantized, how close it stays to
float32 on real sentences, and that nothing quantized reaches the disk.

Quality bound: mean-pooled all-MiniLM-L6-v2 embeddings of real sentences keep a cosine
similarity of at least 0.95 each and 0.98 on average to the float32 ones. int8 rounds each
weight row and each activation batch to 256 levels (128 on CPUs without VNNI), so outputs are
close, not equal; issue 18 aims at 0.99, which benchmarks/bench_quantize.py measures on more
sentences (this CPU: 0.984 minimum, 0.993 mean over 64; 0.962 / 0.976 with 7-bit activations)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import minibert
from minibert import BertConfig, BertForSequenceClassification, BertModel, BertTokenizer
from minibert.cli import main
from minibert.quantization import Int8Linear
from pipeline_checkpoints import save_with_random_head

SENTENCES = [
    "A man is eating food.",
    "Debian is a free operating system, developed by volunteers all over the world.",
    "The package manager resolves dependencies before it installs anything.",
    "Hi",
]
TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=24)


def embeddings(model, tokenizer, sentences):
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state  # (B, S, H)
    mask = batch["attention_mask"][..., None].float()  # (B, S, 1)
    return (hidden * mask).sum(1) / mask.sum(1)  # (B, H)


def test_every_linear_layer_becomes_int8_and_nothing_else(minilm_dir):
    model = BertModel.from_pretrained(minilm_dir, quantize="int8")
    assert model.quantized == "int8" and not model.training
    linear = [m for m in model.modules() if type(m) is nn.Linear]
    int8 = [m for m in model.modules() if isinstance(m, Int8Linear)]
    assert linear == [] and len(int8) == 6 * 4 + 1  # per layer: qkv, out, intermediate, output; the pooler
    assert model.embeddings.word_embeddings.weight.dtype == torch.float32


def test_int8_embeddings_of_real_sentences_stay_close_to_float32(minilm_dir):
    tokenizer = BertTokenizer.from_pretrained(minilm_dir)
    fp32 = embeddings(BertModel.from_pretrained(minilm_dir), tokenizer, SENTENCES)
    int8 = embeddings(BertModel.from_pretrained(minilm_dir).quantize("int8"), tokenizer, SENTENCES)
    cosine = torch.nn.functional.cosine_similarity(fp32, int8, dim=-1)
    assert cosine.min() >= 0.95 and cosine.mean() >= 0.98, cosine
    assert not torch.equal(fp32, int8), "int8 must actually change the arithmetic"


def test_a_quantized_model_is_not_saved_and_the_float32_files_stay(tmp_path):
    model = BertForSequenceClassification(BertConfig(**TINY))
    model.save_pretrained(tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()
    model.quantize("int8")
    with pytest.raises(ValueError, match="saved models stay float32"):
        model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    again = BertForSequenceClassification.from_pretrained(tmp_path)
    assert again.quantized is None and again.classifier.weight.dtype == torch.float32


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: BertModel(BertConfig(**TINY)).quantize("int4"), r"quantize='int4' is not supported; choose one of \('int8',\)"),
        (lambda: BertModel(BertConfig(**TINY)).quantize("int8").quantize("int8"), "already quantized to int8"),
        (lambda: BertModel(BertConfig(**TINY)).to(torch.bfloat16).quantize("int8"), "starts from float32 weights"),
        (lambda: BertModel(BertConfig(**TINY)).to("meta").quantize("int8"), "runs on the CPU only"),
    ],
)
def test_what_cannot_be_quantized_is_a_clear_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_pipeline_quantize_int8_gives_the_float32_labels_on_real_sentences(minilm_dir, tmp_path):
    path = save_with_random_head(BertForSequenceClassification, minilm_dir, tmp_path / "clf")
    fp32 = minibert.pipeline("text-classification", model=path)
    int8 = minibert.pipeline("text-classification", model=path, quantize="int8")
    assert int8.model.quantized == "int8" and fp32.model.quantized is None
    # The head is random, so scores sit near each other: labels are compared where fp32 is sure.
    for a, b in zip(fp32(SENTENCES), int8(SENTENCES)):
        if a["score"] > 0.55:
            assert a["label"] == b["label"]
        assert abs(a["score"] - b["score"]) < 0.05
    with pytest.raises(ValueError, match="runs on the CPU only"):
        minibert.pipeline("text-classification", model=path, quantize="int8", device="cuda")


def test_predict_and_embed_take_quantize_int8(minilm_dir, tmp_path, capsys):
    path = save_with_random_head(BertForSequenceClassification, minilm_dir, tmp_path / "clf")
    (tmp_path / "texts.txt").write_text("\n".join(SENTENCES) + "\n")
    assert main(["predict", "--model", str(path), "--input", str(tmp_path / "texts.txt"), "--json", "--quantize", "int8"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == SENTENCES
    assert main(["embed", "--quantize", "int8", "A man is eating food.", "A man eats bread."]) == 0
    assert "cosine similarities" in capsys.readouterr().out
    assert main(["predict", "--model", str(path), "--input", str(tmp_path / "texts.txt"), "--quantize", "int8",
                 "--device", "cuda"]) == 2
    assert "runs on the CPU only" in capsys.readouterr().err
