"""Resuming a fine-tuning run (minibert.resume): a checkpoint of another run (other labels,
data, model, task or settings) is refused with every difference listed unless forced; a
damaged or foreign checkpoint is one CheckpointError (one line from the CLI), never a
traceback or a silent wrong resume; an interrupted `minibert train` says the command that
continues it, and the resume says where it continues."""

from __future__ import annotations

import json
import pickle
import shlex
import shutil

import pytest
import torch

from minibert import BertConfig, BertForSequenceClassification, BertModel, training
from minibert.cli import main
from minibert.resume import LAST_CHECKPOINT, STATE_FILE, STATE_JSON
from minibert.tasks import TextClassification
from minibert.training import TrainingArguments, train
from minibert.weights import CheckpointError
from test_training import TINY, tiny_model, toy_features

ARGS = dict(num_epochs=2, batch_size=4, learning_rate=1e-3, progress=False)


def interrupted_run(out, at_step: int = 4, **changes):
    """A run of 2 epochs of 3 steps, stopped at `at_step`: its checkpoint is the end of epoch 1."""

    def stop(step):
        if step == at_step:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny_model(), toy_features(12), TrainingArguments(output_dir=out, **{**ARGS, **changes}), on_step=stop)
    return out / LAST_CHECKPOINT


# ---------------------------------------------------------------------------------------
# Another run
# ---------------------------------------------------------------------------------------


def test_a_resume_with_other_settings_labels_data_or_task_is_refused_listing_each_difference(tmp_path, capsys):
    interrupted_run(tmp_path)
    other_labels = tiny_model()
    other_labels.config.id2label, other_labels.config.label2id = {0: "neg", 1: "pos"}, {"neg": 0, "pos": 1}

    class OtherTask(TextClassification):
        name = "other-task"

    with pytest.raises(CheckpointError) as caught:
        train(other_labels, toy_features(12, seed=5), TrainingArguments(output_dir=tmp_path, **{**ARGS, "learning_rate": 2e-3}),
              task=OtherTask(), resume=True)
    message = str(caught.value)
    assert "was written by another run" in message and "force_resume=True" in message
    for difference in ["TrainingArguments.learning_rate: 0.001 in the checkpoint, 0.002 now",
                       "labels: ['LABEL_0', 'LABEL_1'] in the checkpoint, ['neg', 'pos'] now",
                       "task: text-classification in the checkpoint, other-task now",
                       "training data: 12 features, sha256 "]:
        assert difference in message
    # The batch size and the model's config are part of it too.
    with pytest.raises(CheckpointError, match="TrainingArguments.batch_size: 4 in the checkpoint, 2 now"):
        train(tiny_model(), toy_features(12), TrainingArguments(output_dir=tmp_path, **{**ARGS, "batch_size": 2}), resume=True)
    with pytest.raises(CheckpointError, match="config hidden_dropout_prob: 0.1 in the checkpoint, 0.2 now"):
        train(tiny_model(hidden_dropout_prob=0.2), toy_features(12), TrainingArguments(output_dir=tmp_path, **ARGS), resume=True)


def test_a_forced_resume_continues_and_says_what_differs(tmp_path, capsys):
    interrupted_run(tmp_path)
    capsys.readouterr()
    result = train(tiny_model(), toy_features(12), TrainingArguments(output_dir=tmp_path, **{**ARGS, "learning_rate": 2e-3}),
                   resume=True, force_resume=True)
    assert result.global_step == 6
    assert "resuming although this run differs from the checkpoint's (forced): TrainingArguments.learning_rate: " \
           "0.001 in the checkpoint, 0.002 now" in capsys.readouterr().err


def test_the_same_run_resumes_and_says_where_it_continues(tmp_path, capsys):
    interrupted_run(tmp_path)
    capsys.readouterr()
    train(tiny_model(seed=9), toy_features(12), TrainingArguments(output_dir=tmp_path, **ARGS), resume=True)
    assert (f"resuming from {tmp_path / LAST_CHECKPOINT} after optimizer step 3: continuing at epoch 2/2, batch 1/3"
            in capsys.readouterr().err)


def test_the_run_is_recorded_as_json_in_the_checkpoint(tmp_path):
    interrupted_run(tmp_path)
    run = json.loads((tmp_path / LAST_CHECKPOINT / STATE_JSON).read_text())["run"]
    assert run["task"] == "text-classification" and run["model class"] == "BertForSequenceClassification"
    assert run["settings"]["learning_rate"] == 1e-3 and run["settings"]["batch_size"] == 4
    assert run["labels"] == ["LABEL_0", "LABEL_1"] and run["config"]["hidden_size"] == TINY["hidden_size"]


def test_a_checkpoint_that_records_no_run_is_refused_unless_forced(tmp_path):
    checkpoint = interrupted_run(tmp_path)
    summary = json.loads((checkpoint / STATE_JSON).read_text())
    del summary["run"]  # as written before runs were recorded
    (checkpoint / STATE_JSON).write_text(json.dumps(summary))
    with pytest.raises(CheckpointError, match="records no run to compare with"):
        train(tiny_model(), toy_features(12), TrainingArguments(output_dir=tmp_path, **ARGS), resume=True)
    assert train(tiny_model(), toy_features(12), TrainingArguments(output_dir=tmp_path, **ARGS), resume=True,
                 force_resume=True).global_step == 6


# ---------------------------------------------------------------------------------------
# Damaged or foreign checkpoints
# ---------------------------------------------------------------------------------------


def _edit_state(**changes):
    def edit(checkpoint):
        state = torch.load(checkpoint / STATE_FILE, weights_only=True)
        state.update({k: (v(state) if callable(v) else v) for k, v in changes.items()})
        torch.save(state, checkpoint / STATE_FILE)
    return edit


def _truncate(name):
    def edit(checkpoint):
        data = (checkpoint / name).read_bytes()
        (checkpoint / name).write_bytes(data[: len(data) // 2])
    return edit


DAMAGE = {
    "truncated": (_truncate(STATE_FILE), "trainer_state.pt cannot be read"),
    "empty": (lambda c: (c / STATE_FILE).write_bytes(b""), r"trainer_state.pt cannot be read \(it is empty\)"),
    "empty-dict": (lambda c: torch.save({}, c / STATE_FILE), "trainer_state.pt lacks optimizer, scheduler, scaler, rng, position, result"),
    "pickle": (lambda c: (c / STATE_FILE).write_bytes(pickle.dumps(object(), protocol=2)), "holds Python objects other than tensors"),
    "wrong-rng": (_edit_state(rng=lambda s: [{**s["rng"][0], "torch": torch.zeros(3, dtype=torch.uint8)}]),
                  "its random generator state does not fit this run"),
    "position-past-the-epoch": (_edit_state(position={"epoch": 0, "batch": 99, "loss_sum": 1.0, "loss_count": 4}),
                                r"its data position \(epoch 1, batch 100\) is past the end of this run \(2 epochs of 3 batches\)"),
    "position-past-the-run": (_edit_state(position={"epoch": 5, "batch": 0, "loss_sum": 0.0, "loss_count": 0}),
                              r"its data position \(epoch 6, batch 1\) is past the end of this run"),
    "foreign-optimizer": (_edit_state(optimizer={"state": {}, "param_groups": [{"params": ["x.weight"]}]}),
                          "its optimizer state is for other parameters than this model's"),
    "foreign-result": (_edit_state(result={"steps": 3}), "its training result is not what minibert saves"),
    "summary-not-json": (lambda c: (c / STATE_JSON).write_text("{not json"), "trainer_state.json is not readable JSON"),
    "no-weights": (lambda c: (c / "model.safetensors").unlink(), "has no model.safetensors"),
    "truncated-weights": (_truncate("model.safetensors"), "model.safetensors"),
}


@pytest.fixture(scope="module")
def checkpoint_of_a_run(tmp_path_factory):
    return interrupted_run(tmp_path_factory.mktemp("run")).parent


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_or_foreign_checkpoint_is_one_checkpoint_error(tmp_path, checkpoint_of_a_run, damage):
    edit, message = DAMAGE[damage]
    out = tmp_path / "run"
    shutil.copytree(checkpoint_of_a_run, out)
    edit(out / LAST_CHECKPOINT)
    model = tiny_model()
    with pytest.raises(CheckpointError, match=message):
        train(model, toy_features(12), TrainingArguments(output_dir=out, **ARGS), resume=True)


# ---------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    words = "good great bad awful the film was food".split()
    (d / "tiny").mkdir()
    (d / "tiny" / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    torch.manual_seed(0)
    BertModel(BertConfig(**{**TINY, "vocab_size": 5 + len(words)})).save_pretrained(d / "tiny")
    rows = [("the film was good", "pos"), ("the food was great", "pos"), ("the film was bad", "neg"),
            ("the food was awful", "neg")] * 3
    (d / "train.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    return d


def cli_train(files, out, *extra):
    return ["train", "--model", str(files / "tiny"), "--train", str(files / "train.csv"), "--out", str(out),
            "--epochs", "2", "--batch-size", "4", *extra]


def interrupt_cli_at(monkeypatch, at_step):
    """Ctrl-C in `minibert train` after optimizer step `at_step`."""
    real_train = training.train

    def stop(step):
        if step == at_step:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", lambda *a, **k: real_train(*a, **{**k, "on_step": stop}))


def test_ctrl_c_says_the_command_that_continues_and_the_resume_says_where(cli_files, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    argv = cli_train(cli_files, out)
    interrupt_cli_at(monkeypatch, 4)  # epoch 1 is 3 steps: its checkpoint is written, then step 4 is interrupted
    assert main(argv) == 130
    last = capsys.readouterr().err.strip().splitlines()[-1]
    expected = shlex.join(["minibert", *argv, "--resume"])
    assert last == (f"minibert train: interrupted; to continue at epoch 2, batch 1 (after optimizer step 3) from "
                    f"{out / LAST_CHECKPOINT}, run: {expected}")
    monkeypatch.undo()
    assert main(shlex.split(expected)[1:]) == 0
    err = capsys.readouterr().err
    assert f"resuming from {out / LAST_CHECKPOINT} after optimizer step 3: continuing at epoch 2/2, batch 1/3" in err


def test_ctrl_c_before_the_first_checkpoint_says_there_is_nothing_to_resume(cli_files, tmp_path, capsys, monkeypatch):
    interrupt_cli_at(monkeypatch, 1)
    assert main(cli_train(cli_files, tmp_path / "out")) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "minibert train: interrupted; no checkpoint was written yet (one is written at the end of each epoch): "
        "run the same command again to start over")


def test_the_cli_refuses_a_resume_with_other_settings_or_data_in_one_line_and_force_continues(cli_files, tmp_path, capsys,
                                                                                              monkeypatch):
    out = tmp_path / "out"
    interrupt_cli_at(monkeypatch, 4)
    assert main(cli_train(cli_files, out)) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert main(cli_train(cli_files, out, "--resume", "--lr", "1e-4")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minibert train: error: ")
    assert "--lr: 5e-05 in the checkpoint, 0.0001 now" in err and "or force the resume (--force)" in err

    data = tmp_path / "train.csv"  # the same file name, one more row
    data.write_text((cli_files / "train.csv").read_text() + "the film was great,pos\n")
    changed = cli_train(cli_files, out, "--resume")
    changed[changed.index("--train") + 1] = str(data)
    assert main(changed) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--train: " in err and "training data: 12 features" in err

    assert main(cli_train(cli_files, out, "--resume", "--lr", "1e-4", "--force")) == 0
    assert "resuming although this run differs from the checkpoint's (forced): --lr: 5e-05" in capsys.readouterr().err


def test_force_without_resume_is_refused(cli_files, tmp_path, capsys):
    assert main(cli_train(cli_files, tmp_path / "out", "--force")) == 2
    assert capsys.readouterr().err == "minibert train: error: --force only makes sense with --resume (it lets a resume continue with other settings)\n"


@pytest.mark.parametrize("damage", ["truncated", "empty-dict", "wrong-rng", "position-past-the-epoch", "summary-not-json"])
def test_the_cli_reports_a_damaged_checkpoint_in_one_line(cli_files, tmp_path, capsys, monkeypatch, damage):
    out = tmp_path / "out"
    interrupt_cli_at(monkeypatch, 4)
    assert main(cli_train(cli_files, out)) == 130
    monkeypatch.undo()
    DAMAGE[damage][0](out / LAST_CHECKPOINT)
    capsys.readouterr()
    assert main(cli_train(cli_files, out, "--resume")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minibert train: error: ") and str(out / LAST_CHECKPOINT) in err
