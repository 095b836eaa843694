"""The pre-training loop: its objective against the models' own loss, learning, checkpoints,
exact resume, gradient checkpointing and mixed precision (one process; two: test_distributed)."""

from __future__ import annotations

import json
import os
import random
import shutil

import pytest
import torch

from minibert import BertConfig, BertForMaskedLM, BertForPreTraining
from minibert.pretraining import (
    PretrainingArguments,
    PretrainingObjective,
    create_optimizer,
    find_last_checkpoint,
    linear_schedule,
    pretrain,
)
from minibert.pretraining_data import DataCollatorForLanguageModeling, PretrainingDataset
from minibert.weights import read_weights
from tests.test_pretraining_data import NumberTokenizer

TINY = dict(vocab_size=NumberTokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=64)


@pytest.fixture(scope="module")
def counting_corpus(tmp_path_factory):
    """Documents of lines that count modulo 20 from a random start: 20 of the 1000 tokens,
    each a neighbour plus one, so a tiny model's loss falls well below ln(1000) quickly."""
    rng = random.Random(0)
    blocks = []
    for _ in range(30):
        lines = []
        for _ in range(8):
            start, n = rng.randrange(20), rng.randint(5, 15)
            lines.append(" ".join(str((start + k) % 20) for k in range(n)))
        blocks.append("\n".join(lines))
    path = tmp_path_factory.mktemp("counting") / "counting.txt"
    path.write_text("\n\n".join(blocks) + "\n")
    return path


def args_for(tmp_path, **overrides) -> PretrainingArguments:
    defaults = dict(output_dir=str(tmp_path / "run"), max_steps=4, per_device_batch_size=4, max_length=32,
                    learning_rate=1e-3, logging_steps=2, save_steps=2, save_total_limit=None)
    return PretrainingArguments(**{**defaults, **overrides})


def new_model(cls=BertForPreTraining, **config):
    torch.manual_seed(0)
    return cls(BertConfig(**{**TINY, **config}))


def run(tmp_path, corpus, model=None, **overrides):
    model = model or new_model()
    state = pretrain(model, NumberTokenizer(), corpus, args_for(tmp_path, **overrides), progress=False)
    return model, state


# ---- the objective ----------------------------------------------------------------------


@pytest.mark.parametrize("cls", [BertForPreTraining, BertForMaskedLM])
def test_objective_equals_the_model_s_own_loss_and_gradients(cls, counting_corpus):
    """Computing the vocabulary projection at the masked positions only changes nothing:
    fp32, 1e-5 absolute on the loss and every gradient."""
    model = new_model(cls, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).train()
    data = PretrainingDataset(counting_corpus, NumberTokenizer(), 32, next_sentence=cls is BertForPreTraining)
    examples = [e for _, e in zip(range(6), data)]
    batch = DataCollatorForLanguageModeling(NumberTokenizer(), generator=torch.Generator().manual_seed(0))(examples)
    if cls is BertForMaskedLM:
        assert "next_sentence_label" not in batch

    reference = model(**batch).loss
    reference.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    loss = PretrainingObjective(model)(**batch).loss
    loss.backward()
    torch.testing.assert_close(loss, reference, rtol=0, atol=1e-5)
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], rtol=0, atol=1e-5, msg=name)


def test_a_model_without_an_mlm_head_is_refused():
    from minibert import BertModel

    with pytest.raises(TypeError, match="needs a BertForPreTraining .* or a BertForMaskedLM, got BertModel"):
        PretrainingObjective(BertModel(BertConfig(**TINY)))


# ---- the loop ---------------------------------------------------------------------------


def test_masked_lm_loss_falls(tmp_path, counting_corpus):
    _, state = run(tmp_path, counting_corpus, max_steps=24, per_device_batch_size=8, logging_steps=8,
                   save_steps=24, learning_rate=1e-2)
    log = [r for r in state.log_history if "mlm_loss" in r]
    assert [r["step"] for r in log] == [8, 16, 24]
    assert log[0]["mlm_loss"] > log[1]["mlm_loss"] > log[2]["mlm_loss"], log
    # From ln(1000) = 6.9 (uniform over the vocabulary) towards ln(20) = 3.0 (the 20 tokens used).
    assert log[-1]["mlm_loss"] < 4.0, log
    assert all(0.0 <= r["nsp_accuracy"] <= 1.0 and r["tokens_per_s"] > 0 for r in log)


def test_held_out_accuracy_is_logged_from_step_0(tmp_path, counting_corpus):
    model = new_model()
    state = pretrain(model, NumberTokenizer(), counting_corpus, args_for(tmp_path, max_steps=2),
                     eval_corpus=counting_corpus, eval_batches=2, progress=False)
    assert state.log_history[0]["step"] == 0 and "eval_mlm_accuracy" in state.log_history[0]
    assert "eval_mlm_loss" in state.log_history[-1] and "eval_nsp_accuracy" in state.log_history[-1]


def test_checkpoints_are_complete_and_the_final_model_loads(tmp_path, counting_corpus):
    model, state = run(tmp_path, counting_corpus, max_steps=6, save_total_limit=2)
    out = tmp_path / "run"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint")) == ["checkpoint-4", "checkpoint-6"]
    assert not list(out.glob(".*tmp")), "no temporary directory is left behind"
    assert find_last_checkpoint(out).name == "checkpoint-6"
    for name in ("model.safetensors", "config.json", "optimizer.pt", "scheduler.pt", "rng_state.pt", "trainer_state.json"):
        assert (out / "checkpoint-6" / name).is_file()
    assert json.loads((out / "pretraining_log.json").read_text()) == state.log_history
    loaded = BertForPreTraining.from_pretrained(out)
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


@pytest.mark.parametrize("gradient_accumulation_steps", [1, 2])
def test_resume_continues_exactly_as_an_uninterrupted_run(tmp_path, counting_corpus, gradient_accumulation_steps):
    """Dropout on, masks random, data streamed: resuming from checkpoint-2 of a 4-step run
    must give bit-identical weights to the run that never stopped."""
    options = dict(max_steps=4, save_steps=2, gradient_accumulation_steps=gradient_accumulation_steps)
    _, full = run(tmp_path, counting_corpus, **options)
    out = tmp_path / "run"
    uninterrupted = read_weights(out / "model.safetensors")

    shutil.rmtree(out / "checkpoint-4")
    (out / "model.safetensors").unlink()
    _, resumed = run(tmp_path, counting_corpus, model=new_model(), **options)
    def without_timing(log):
        return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in log]

    assert without_timing(resumed.log_history) == without_timing(full.log_history)
    again = read_weights(out / "model.safetensors")
    assert again.keys() == uninterrupted.keys()
    for name in uninterrupted:
        assert torch.equal(again[name], uninterrupted[name]), name


def test_resume_with_another_number_of_processes_is_refused(tmp_path, counting_corpus):
    run(tmp_path, counting_corpus, max_steps=2)
    state_file = tmp_path / "run" / "checkpoint-2" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "world_size": 2}))
    with pytest.raises(ValueError, match="written by 2 processes but this run has 1"):
        run(tmp_path, counting_corpus, model=new_model(), max_steps=4)


def test_gradient_checkpointing_trains_to_the_same_weights(tmp_path, counting_corpus):
    plain, _ = run(tmp_path / "plain", counting_corpus, max_steps=2)
    checkpointed, _ = run(tmp_path / "ckpt", counting_corpus, max_steps=2, gradient_checkpointing=True)
    assert checkpointed.is_gradient_checkpointing
    # Recomputation repeats the same operations with the same dropout: fp32, 1e-6 absolute.
    for (name, a), b in zip(plain.state_dict().items(), checkpointed.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6, msg=name)


def test_bf16_mixed_precision_trains(tmp_path, counting_corpus):
    _, state = run(tmp_path, counting_corpus, max_steps=2, mixed_precision="bf16")
    assert all(torch.isfinite(torch.tensor(r["mlm_loss"])) for r in state.log_history if "mlm_loss" in r)


# ---- pieces -----------------------------------------------------------------------------


def test_schedule_warms_up_then_decays_linearly_to_zero():
    factor = linear_schedule(warmup_steps=3, total_steps=13)
    assert [round(factor(s), 4) for s in (0, 1, 2, 3, 8, 13)] == [0.25, 0.5, 0.75, 1.0, 0.5, 0.0]


def test_no_weight_decay_on_biases_and_layer_norms():
    model = new_model()
    groups = create_optimizer(model, PretrainingArguments(output_dir="x", weight_decay=0.01)).param_groups
    decayed = {id(p) for p in groups[0]["params"]}
    for name, param in model.named_parameters():
        assert (id(param) in decayed) == (param.ndim == 2), name
    assert groups[1]["weight_decay"] == 0.0


def test_sequences_longer_than_the_model_s_positions_are_refused(tmp_path, counting_corpus):
    with pytest.raises(ValueError, match="max_length 128 is longer than the model's 64 positions"):
        run(tmp_path, counting_corpus, max_length=128)


@pytest.mark.parametrize("bad, match", [(dict(max_steps=0), "max_steps"), (dict(mixed_precision="fp8"), "fp8"),
                                        (dict(strategy="zero"), "strategy")])
def test_bad_arguments_are_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        PretrainingArguments(output_dir="x", **bad)


def test_a_checkpoint_whose_save_was_killed_before_its_rename_is_resumed_and_leftovers_go(tmp_path, counting_corpus, capsys):
    """Killed after checkpoint-4 was written in full but before its rename, with an orphan
    temporary file beside it: the next start renames it into place and resumes from step 4."""
    run(tmp_path, counting_corpus, max_steps=4)
    out = tmp_path / "run"
    os.replace(out / "checkpoint-4", out / ".checkpoint-4.new")
    (out / ".model.safetensors.q8w7e6.tmp").write_bytes(b"\0" * 64)
    assert find_last_checkpoint(out).name == "checkpoint-2"  # before the start that recovers it
    capsys.readouterr()
    _, state = run(tmp_path, counting_corpus, model=new_model(), max_steps=4)
    assert "checkpoint-4 (step 4)" in capsys.readouterr().out
    assert state.step == 4 and find_last_checkpoint(out).name == "checkpoint-4"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
