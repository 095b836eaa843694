"""minibert.inspect: the layer-by-layer parity report, against transformers.BertModel on the
real all-MiniLM-L6-v2 checkpoint. Tolerance: the fp32 parity contract, 1e-5 absolute."""

from __future__ import annotations

import json

import pytest
import torch

import minibert
from minibert.inspect import ParityReport, parameter_counts, parity_report

transformers = pytest.importorskip("transformers")

# "A man is eating food." / "Hello world." with bert-base-uncased ids, the second padded.
IDS = torch.tensor([[101, 1037, 2158, 2003, 5983, 2833, 1012, 102], [101, 7592, 2088, 1012, 102, 0, 0, 0]])
MASK = (IDS != 0).long()
STEPS = ["embeddings"] + [f"layer {i} {part}" for i in range(6) for part in ("attention", "output")] + ["pooler"]


@pytest.fixture(scope="module")
def reference(minilm_dir):
    model, info = transformers.BertModel.from_pretrained(minilm_dir, output_loading_info=True)
    return model.eval(), info


@pytest.fixture
def ours(minilm_dir):
    # A fresh load per test (memory-mapped, cheap): some tests change its weights in memory.
    return minibert.BertModel.from_pretrained(minilm_dir)


def test_real_checkpoint_is_within_tolerance_at_every_step(ours, reference):
    model, info = reference
    report = parity_report(ours, model, IDS, MASK, reference_loading_info=info)
    assert [row.name for row in report.rows] == STEPS
    assert report.atol == 1e-5 and report.rtol == 0.0
    assert report.ok, report.format_table()
    assert report.first_failure is None
    assert all(row.max_abs <= 1e-5 for row in report.rows)
    # Token-level rows compare the 8 + 5 real tokens only; the pooler one vector per sequence.
    assert report.rows[0].shape == (13, 384) and report.rows[-1].shape == (2, 384)
    assert report.diagnostics() == []


@pytest.mark.parametrize("layer, norm, step", [(2, "attention_norm", "layer 2 attention"), (4, "output_norm", "layer 4 output")])
def test_a_changed_layernorm_weight_is_named_as_the_first_difference(ours, reference, layer, norm, step):
    with torch.no_grad():
        getattr(ours.encoder.layers[layer], norm).weight[7] += 0.25
    report = parity_report(ours, reference[0], IDS, MASK)
    assert not report.ok
    assert report.first_failure.name == step
    first = [row.name for row in report.rows].index(step)
    assert all(row.ok for row in report.rows[:first])
    hf_name = {"attention_norm": "attention.output.LayerNorm", "output_norm": "output.LayerNorm"}[norm]
    assert list(report.weight_differences) == [f"encoder.layer.{layer}.{hf_name}.weight"]
    assert report.weight_differences[f"encoder.layer.{layer}.{hf_name}.weight"] == pytest.approx(0.25)
    table = report.format_table()
    assert f"{step}" in table and "<== first over tolerance" in table
    assert table.count("<==") == 1


def test_a_layer_norm_eps_mismatch_is_diagnosed(minilm_dir, ours):
    other = minibert.BertModel.from_pretrained(minilm_dir, layer_norm_eps=1e-3)
    report = parity_report(other, ours, IDS, MASK, model_name="eps 1e-3", reference_name="eps 1e-12")
    assert report.config_differences == {"layer_norm_eps": (1e-3, 1e-12)}
    assert len(report.layer_norm_eps_differences) == 13  # embeddings + 2 per layer
    assert "config differs: layer_norm_eps = 0.001 in eps 1e-3, 1e-12 in eps 1e-12" in report.diagnostics()
    assert not report.ok  # eps 1e-3 is large next to the variance of some rows


def test_two_minibert_models_of_one_checkpoint_agree_exactly(minilm_dir, ours):
    other = minibert.BertModel.from_pretrained(minilm_dir, attn_implementation="eager")
    report = parity_report(ours, other, IDS, MASK)
    assert report.reference_name == "reference"
    assert report.ok and report.weight_differences == {}


def test_newly_initialised_keys_are_reported(tmp_path, minilm_dir, ours):
    from minibert.weights import read_safetensors, write_safetensors

    state = {k: v for k, v in read_safetensors(minilm_dir / "model.safetensors").items() if not k.startswith("pooler.")}
    write_safetensors(tmp_path / "model.safetensors", state)
    (tmp_path / "config.json").write_text((minilm_dir / "config.json").read_text())
    with pytest.warns(UserWarning, match="newly initialised"):
        no_pooler = minibert.BertModel.from_pretrained(tmp_path)
    report = parity_report(no_pooler, ours, IDS, MASK)
    assert report.initialized_keys["minibert"] == ["pooler.dense.bias", "pooler.dense.weight"]
    assert report.first_failure.name == "pooler"
    assert any("newly initialised: pooler.dense.bias, pooler.dense.weight" in line for line in report.diagnostics())


def test_json_holds_every_row_and_the_verdict(ours, reference):
    with torch.no_grad():
        ours.embeddings.norm.bias[0] += 1.0
    report = parity_report(ours, reference[0], IDS, MASK)
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["first_failure"] == "embeddings"
    assert [row["name"] for row in data["rows"]] == STEPS
    assert data["rows"][0]["ok"] is False and data["rows"][0]["max_abs"] > 0.5
    assert data["weight_differences"] == {"embeddings.LayerNorm.bias": pytest.approx(1.0)}


def test_the_models_mode_is_restored(ours, reference):
    ours.train()
    report = parity_report(ours, reference[0], IDS, MASK)
    assert report.ok  # compared in eval mode: no dropout
    assert ours.training


def test_bad_inputs_are_explained(ours, reference):
    with pytest.raises(ValueError, match=r"\(batch, sequence\)"):
        parity_report(ours, reference[0], IDS[0])
    with pytest.raises(ValueError, match="attention_mask has shape"):
        parity_report(ours, reference[0], IDS, MASK[:, :3])
    with pytest.raises(TypeError, match="compares two models"):
        parity_report(ours, "bert-base-uncased", IDS)
    with pytest.raises(TypeError, match="is not a BERT model"):
        parity_report(ours, torch.nn.Linear(2, 2), IDS)


def test_non_finite_values_still_give_valid_json():
    report = ParityReport("a", "b", "float32", 1e-5, 0.0)
    from minibert.inspect import ParityRow

    report.rows.append(ParityRow("embeddings", (1, 4), float("nan"), float("inf"), False))
    data = json.loads(report.to_json())
    assert data["rows"][0]["max_abs"] == "nan" and data["rows"][0]["mean_abs"] == "inf"


def test_parameter_counts_add_up_to_the_model(ours):
    counts = parameter_counts(ours)
    assert list(counts) == ["embeddings"] + [f"encoder layer {i}" for i in range(6)] + ["pooler"]
    assert sum(counts.values()) == ours.num_parameters() == 22_713_216
    H, I = 384, 1536
    assert counts["encoder layer 0"] == 4 * (H * H + H) + 2 * 2 * H + (H * I + I) + (I * H + H)
    assert counts["embeddings"] == (30522 + 512 + 2) * H + 2 * H


def test_default_tolerances_are_the_parity_contract():
    from test_model_parity import BF16_ATOL, BF16_RTOL, FP32_ATOL

    from minibert.inspect import default_tolerance

    assert default_tolerance(torch.float32) == (FP32_ATOL, 0.0)
    assert default_tolerance(torch.bfloat16) == (BF16_ATOL, BF16_RTOL)
