"""The training loop on a tiny random model: it learns, it is reproducible, an interrupted and
resumed run equals an uninterrupted one bit for bit (CPU), and its pieces (optimizer groups,
schedule, accumulation, padding, checkpoint files) do what the docs say."""

from __future__ import annotations

import json
import random

import pytest
import torch

from conftest import DEVICES
from minibert import BertConfig, BertForSequenceClassification, BertForTokenClassification
from minibert.resume import LAST_CHECKPOINT, STATE_FILE
from minibert.training import (
    TrainingArguments,
    collate,
    evaluate,
    linear_schedule,
    make_optimizer,
    train,
)

TINY = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=32)


def tiny_model(seed: int = 0, **overrides) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(BertConfig(**{**TINY, **overrides}))


def toy_features(n: int, seed: int = 0) -> list[dict]:
    """Label 1 when token 7 occurs in the sequence: learnable from a handful of examples."""
    rng = random.Random(seed)
    features = []
    for i in range(n):
        ids = [2] + [rng.randrange(10, 50) for _ in range(rng.randrange(3, 12))] + [3]
        label = i % 2
        if label:
            ids[rng.randrange(1, len(ids) - 1)] = 7
        features.append({"input_ids": ids, "token_type_ids": [0] * len(ids), "labels": label})
    return features


def weights_of(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def test_loss_decreases_until_a_small_batch_is_learnt():
    model = tiny_model()
    data = toy_features(8)
    before = evaluate(model, data)
    result = train(model, data, TrainingArguments(num_epochs=40, batch_size=8, learning_rate=1e-2, warmup_ratio=0.0,
                                                  load_best_at_end=False, progress=False), eval_features=data)
    after = evaluate(model, data)
    assert after["loss"] < before["loss"] / 4
    assert after["accuracy"] == 1.0
    assert result.global_step == 40 and result.best_metric == 1.0
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_same_seed_same_final_weights():
    data = toy_features(20)
    args = TrainingArguments(num_epochs=2, batch_size=4, learning_rate=1e-3, seed=3, progress=False)
    finals = []
    for _ in range(2):
        model = tiny_model()
        train(model, data, args)
        finals.append(weights_of(model))
    assert_same_weights(*finals)
    model = tiny_model()
    train(model, data, TrainingArguments(**{**args.__dict__, "seed": 4}))
    assert not torch.equal(weights_of(model)["classifier.weight"], finals[0]["classifier.weight"])


@pytest.mark.parametrize("interrupt_at,save_steps", [(6, None), (7, 2)], ids=["epoch-end", "mid-epoch"])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, interrupt_at, save_steps):
    """2 epochs of 5 steps (dropout on, so the RNG state matters). epoch-end: stopped during
    the first step of epoch 2, resumed from the end of epoch 1; mid-epoch: resumed from step 6."""
    data, dev = toy_features(20), toy_features(6, seed=1)
    args = dict(num_epochs=2, batch_size=4, learning_rate=1e-3, save_steps=save_steps, progress=False)
    straight = tiny_model()
    expected = train(straight, data, TrainingArguments(output_dir=tmp_path / "a", **args), eval_features=dev)

    def stop(step):
        if step == interrupt_at:
            raise KeyboardInterrupt

    interrupted = tiny_model()
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, data, TrainingArguments(output_dir=tmp_path / "b", **args), eval_features=dev, on_step=stop)
    saved = json.loads((tmp_path / "b" / LAST_CHECKPOINT / "trainer_state.json").read_text())
    assert saved["global_step"] == (5 if save_steps is None else 6)

    resumed = tiny_model(seed=99)  # other initial weights: the checkpoint's must replace them
    result = train(resumed, data, TrainingArguments(output_dir=tmp_path / "b", **args), eval_features=dev, resume=True)
    assert_same_weights(weights_of(resumed), weights_of(straight))
    assert (result.global_step, result.best_epoch, result.best_metric) == (expected.global_step, expected.best_epoch, expected.best_metric)
    assert result.history == expected.history


def test_checkpoint_state_loads_with_weights_only_and_the_best_model_is_saved(tmp_path):
    data = toy_features(12)
    model = tiny_model()
    train(model, data, TrainingArguments(output_dir=tmp_path, num_epochs=1, batch_size=4, keep_checkpoint=True, progress=False),
          eval_features=data)
    state = torch.load(tmp_path / LAST_CHECKPOINT / STATE_FILE, weights_only=True)
    assert set(state) == {"optimizer", "scheduler", "scaler", "rng", "position", "result"}
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "config.json").is_file()
    assert not list(tmp_path.glob("**/*.tmp")) and not (tmp_path / (LAST_CHECKPOINT + ".new")).exists()
    again = BertForSequenceClassification.from_pretrained(tmp_path)
    assert_same_weights(weights_of(again), weights_of(model))


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        train(tiny_model(), toy_features(4), TrainingArguments(output_dir=tmp_path, progress=False), resume=True)


def test_resume_with_another_number_of_processes_is_a_clear_error(tmp_path):
    train(tiny_model(), toy_features(4), TrainingArguments(output_dir=tmp_path, num_epochs=1, keep_checkpoint=True, progress=False))
    state_file = tmp_path / LAST_CHECKPOINT / STATE_FILE
    state = torch.load(state_file, weights_only=True)
    assert len(state["rng"]) == 1  # one random state per process
    state["rng"] = state["rng"] * 2  # as if written by 2 processes
    torch.save(state, state_file)
    with pytest.raises(ValueError, match="written by 2 process\\(es\\) but this run has 1"):
        train(tiny_model(), toy_features(4), TrainingArguments(output_dir=tmp_path, num_epochs=1, progress=False), resume=True)


def test_gradient_accumulation_equals_one_larger_batch():
    data = toy_features(16)
    common = dict(num_epochs=1, learning_rate=1e-3, progress=False)
    big, small = (tiny_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0) for _ in range(2))
    train(big, data, TrainingArguments(batch_size=8, **common))
    train(small, data, TrainingArguments(batch_size=4, gradient_accumulation_steps=2, **common))
    for (name, a), b in zip(big.state_dict().items(), small.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=lambda m: f"{name}: {m}")


def test_weight_decay_skips_biases_and_layernorm():
    model = tiny_model()
    decay, no_decay = make_optimizer(model, 1e-3, 0.01).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(names[id(p)].endswith("weight") and "norm" not in names[id(p)] for p in decay["params"])
    assert {names[id(p)] for p in no_decay["params"]} >= {"bert.embeddings.norm.weight", "classifier.bias"}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_linear_warmup_then_linear_decay():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = linear_schedule(optimizer, warmup_steps=2, total_steps=6)
    rates = []
    for _ in range(7):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates == pytest.approx([0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0])


def test_collate_pads_to_the_longest_and_ignores_padded_token_labels():
    batch = collate([{"input_ids": [2, 5, 3], "labels": [0, 1, 0]}, {"input_ids": [2, 3], "labels": [1, 1]}], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[2, 5, 3], [2, 3, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[0, 1, 0], [1, 1, -100]]


def test_token_classification_reports_entity_f1():
    torch.manual_seed(0)
    model = BertForTokenClassification(BertConfig(**TINY, id2label={0: "O", 1: "B-X", 2: "I-X"}))
    data = [{"input_ids": [2, 7, 8, 9, 3], "labels": [-100, 1, 2, 0, -100]}, {"input_ids": [2, 9, 7, 3], "labels": [-100, 0, 1, -100]}]
    train(model, data, TrainingArguments(num_epochs=30, batch_size=2, learning_rate=1e-2, warmup_ratio=0.0, progress=False))
    scores = evaluate(model, data)
    assert scores["entity_f1"] == 1.0 and scores["accuracy"] == 1.0


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_autocast_trains(device):
    model = tiny_model()
    data = toy_features(8)
    result = train(model, data, TrainingArguments(num_epochs=2, batch_size=4, mixed_precision="bf16", device=device, progress=False))
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in result.history)
    assert model.dtype == torch.float32  # autocast computes in bf16; the weights stay fp32


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_fp16_with_grad_scaler_trains_on_cuda():
    model = tiny_model()
    result = train(model, toy_features(8), TrainingArguments(num_epochs=2, batch_size=4, mixed_precision="fp16", device="cuda", progress=False))
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in result.history)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="fp16"):
        train(tiny_model(), toy_features(4), TrainingArguments(mixed_precision="fp16", device="cpu", progress=False))
    with pytest.raises(ValueError, match="batch_size"):
        TrainingArguments(batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        train(tiny_model(), [], TrainingArguments(progress=False))


def test_best_epoch_is_the_best_metric_and_ties_go_to_the_lower_loss():
    from minibert.training import TrainingResult, is_better

    best = TrainingResult(best_metric=0.9, best_loss=0.3)
    assert is_better("accuracy", {"accuracy": 0.95, "loss": 0.5}, best)
    assert is_better("accuracy", {"accuracy": 0.9, "loss": 0.2}, best)
    assert not is_better("accuracy", {"accuracy": 0.9, "loss": 0.4}, best)
    assert is_better("mse", {"mse": 0.1, "loss": 0.1}, TrainingResult(best_metric=0.2, best_loss=0.2))  # lower is better


def test_a_crash_between_the_renames_of_a_save_resumes_exactly_and_saves_back_to_last_checkpoint(tmp_path, monkeypatch):
    """Killed after the old checkpoint was moved aside and before the new one took its name
    (the end of epoch 2 of 3): the resume starts from the new one, ends with the weights of an
    uninterrupted run, and the run's checkpoints are under last-checkpoint/ again."""
    import os

    from minibert import checkpoints

    data, dev = toy_features(12), toy_features(4, seed=1)
    args = dict(num_epochs=3, batch_size=4, learning_rate=1e-3, keep_checkpoint=True, progress=False)
    straight = tiny_model()
    train(straight, data, TrainingArguments(output_dir=tmp_path / "a", **args), eval_features=dev)

    class KilledBetweenRenames(BaseException):
        pass

    saves = []

    class OsDyingAtTheSecondRenameOfTheSecondSave:
        def __getattr__(self, name):
            return getattr(os, name)

        def replace(self, source, target):
            if str(source).endswith(".last-checkpoint.new"):
                saves.append(source)
                if len(saves) == 2:
                    raise KilledBetweenRenames
            return os.replace(source, target)

    monkeypatch.setattr(checkpoints, "os", OsDyingAtTheSecondRenameOfTheSecondSave())
    with pytest.raises(KilledBetweenRenames):
        train(tiny_model(), data, TrainingArguments(output_dir=tmp_path / "b", **args), eval_features=dev)
    monkeypatch.undo()
    assert not (tmp_path / "b" / LAST_CHECKPOINT).exists()  # only the hidden copies are left

    resumed = tiny_model(seed=99)
    train(resumed, data, TrainingArguments(output_dir=tmp_path / "b", **args), eval_features=dev, resume=True)
    assert_same_weights(weights_of(resumed), weights_of(straight))
    saved = json.loads((tmp_path / "b" / LAST_CHECKPOINT / "trainer_state.json").read_text())
    assert saved["epoch"] == 3
    assert sorted(p.name for p in (tmp_path / "b").iterdir() if p.name.startswith(".")) == []


def test_temporary_files_of_an_interrupted_run_are_removed_at_the_next_start(tmp_path):
    tmp_path.joinpath(".model.safetensors.x1y2z3.tmp").write_bytes(b"\0" * 64)  # as a killed atomic write leaves it
    (tmp_path / LAST_CHECKPOINT).mkdir()
    (tmp_path / LAST_CHECKPOINT / ".trainer_state.pt.abcdef.tmp").write_bytes(b"\0" * 64)
    (tmp_path / ".last-checkpoint.new").mkdir()  # a checkpoint that was still being written
    train(tiny_model(), toy_features(4), TrainingArguments(output_dir=tmp_path, num_epochs=1, progress=False))
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []


def test_the_resume_checkpoint_is_deleted_when_the_run_completes_unless_kept(tmp_path):
    data = toy_features(8)
    train(tiny_model(), data, TrainingArguments(output_dir=tmp_path / "a", num_epochs=1, progress=False), eval_features=data)
    assert (tmp_path / "a" / "model.safetensors").is_file() and not (tmp_path / "a" / LAST_CHECKPOINT).exists()
    train(tiny_model(), data, TrainingArguments(output_dir=tmp_path / "b", num_epochs=1, keep_checkpoint=True, progress=False),
          eval_features=data)
    assert (tmp_path / "b" / LAST_CHECKPOINT / STATE_FILE).is_file()


@pytest.mark.parametrize("name,value", [("learning_rate", float("inf")), ("learning_rate", float("nan")),
                                        ("weight_decay", float("inf")), ("max_grad_norm", float("inf")),
                                        ("warmup_ratio", float("nan"))])
def test_non_finite_hyper_parameters_are_rejected(name, value):
    with pytest.raises(ValueError, match=f"TrainingArguments.{name} must be a finite number, got {value}"):
        TrainingArguments(**{name: value})


def test_a_loss_that_becomes_nan_stops_the_run_with_a_clear_error_and_saves_no_model(tmp_path):
    model = tiny_model()

    def poison(step):  # what a far too high learning rate does after a few steps
        if step == 2:
            with torch.no_grad():
                model.classifier.weight.fill_(float("nan"))

    with pytest.raises(FloatingPointError, match=r"loss became nan at optimizer step 3 \(epoch 1\).*learning_rate \(0.001\)"):
        train(model, toy_features(20), TrainingArguments(output_dir=tmp_path, num_epochs=1, batch_size=4, learning_rate=1e-3,
                                                         progress=False), eval_features=toy_features(4), on_step=poison)
    assert not (tmp_path / "model.safetensors").exists() and not (tmp_path / LAST_CHECKPOINT).exists()


def test_an_output_dir_that_cannot_be_written_fails_before_the_first_step(tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    steps = []
    for out, message in [(tmp_path / "a-file", "exists and is not a directory"),
                         (tmp_path / "a-file" / "run", "a-file is not a directory")]:
        with pytest.raises(OSError, match=message):
            train(tiny_model(), toy_features(8), TrainingArguments(output_dir=out, num_epochs=1, batch_size=4, progress=False),
                  on_step=steps.append)
    assert steps == []



def test_unset_epochs_are_chosen_from_the_data_size_for_about_100_steps():
    from minibert.training import default_epochs

    # steps per epoch -> epochs: 100 steps, at least the usual 3 epochs, at most 50
    assert [default_epochs(s) for s in (1, 2, 3, 8, 33, 34, 100, 5000)] == [50, 50, 34, 13, 4, 3, 3, 3]


def test_a_small_data_set_without_epochs_trains_for_100_steps_and_says_so():
    lines = []
    result = train(tiny_model(), toy_features(12), TrainingArguments(batch_size=8, learning_rate=1e-2, progress=False),
                   log=lines.append)
    assert (result.epoch, result.global_step) == (50, 100)
    assert lines == ["TrainingArguments.num_epochs not set: 50 epochs of 2 optimizer steps for 12 training examples"]


def test_a_run_of_few_steps_is_warned_about_saying_what_to_change():
    """The README recipe on 30 examples: batch 16, 3 epochs = 6 optimizer steps."""
    lines = []
    train(tiny_model(), toy_features(30), TrainingArguments(num_epochs=3, batch_size=16, progress=False), log=lines.append)
    assert lines[0] == ("warning: this run makes only 6 optimizer steps (30 examples in batches of 16, 3 epochs), and "
                        "fine-tuning rarely gets far in fewer than 50: raise TrainingArguments.num_epochs (e.g. to 50), "
                        "lower TrainingArguments.batch_size, or add training data")


def test_a_run_that_ends_near_chance_level_is_warned_about_and_one_that_learnt_is_not():
    data = toy_features(8)
    lines = []
    train(tiny_model(), data, TrainingArguments(num_epochs=60, batch_size=8, learning_rate=1e-7, progress=False),
          log=lines.append)
    assert len(lines) == 1 and lines[0].startswith("warning: the final training loss 0.6")
    assert "near chance level (0.693, the loss of a model that has learnt nothing)" in lines[0]
    assert "TrainingArguments.num_epochs, now 60" in lines[0] and "TrainingArguments.learning_rate (now 1e-07)" in lines[0]
    lines = []
    train(tiny_model(), data, TrainingArguments(num_epochs=60, batch_size=8, learning_rate=1e-2, warmup_ratio=0.0,
                                                progress=False), log=lines.append)
    assert lines == []
