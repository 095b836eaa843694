"""torch.distributed with 2 CPU processes (gloo), launched by torchrun as a user would.

Each torchrun job starts 2 Python processes that import torch: a few seconds each, so the
jobs are few and each checks several things. Every job runs under a timeout, so a hang fails
the test instead of blocking the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from minibert import BertConfig, BertForPreTraining, BertModel, distributed
from minibert.pretraining import PretrainingObjective
from minibert.training import TrainingArguments, train
from minibert.weights import read_weights
from tests.distributed_worker import FINETUNE, TINY, GradientRecorder, classifier, fixed_batch, toy_features

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 180  # seconds for one torchrun job on a busy 2-core machine


def torchrun(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


# ---- one process, no launcher ---------------------------------------------------------


def test_without_torchrun_variables_it_is_one_process(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    ctx = distributed.setup("cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.is_distributed, ctx.backend) == (0, 1, True, False, None)
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap_model(model, ctx) is model  # no wrapper around a single process


def test_half_set_torchrun_variables_are_a_clear_error(monkeypatch):
    for name in ("LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not: launch with torchrun"):
        distributed.setup("cpu")


def test_unknown_strategy_is_rejected():
    with pytest.raises(ValueError, match="choose one of"):
        distributed.wrap_model(torch.nn.Linear(2, 2), distributed.DistributedContext(), "zero3")


# ---- two processes ---------------------------------------------------------------------


@pytest.mark.slow
def test_two_process_step_equals_one_process_on_the_combined_batch(tmp_path):
    """DDP: each rank's gradients after backward on its half of the batch equal the single
    process's gradients on the whole batch, with and without gradient checkpointing. DDP and
    FSDP: so do the weights after the step."""
    out = tmp_path / "two.pt"
    result = torchrun("tests/distributed_worker.py", "grads", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    two = torch.load(out, weights_only=True)

    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig(**TINY)).train()
    objective = PretrainingObjective(model)
    optimizer = torch.optim.SGD(objective.parameters(), lr=0.1)
    objective(**fixed_batch()).loss.backward()
    grads = {n: p.grad.clone() for n, p in objective.named_parameters()}
    optimizer.step()
    weights = objective.state_dict()

    # fp32: the two halves are summed in another order than the one-process batch, so rounding
    # differs slightly: 1e-6 absolute on values of order 1e-2..1.
    assert {n.removeprefix("module.") for n in two["grads"]} == set(grads)
    for name, grad in two["grads"].items():
        torch.testing.assert_close(grad, grads[name.removeprefix("module.")], rtol=0, atol=1e-6, msg=name)
    # Gradient checkpointing under DDP (non-reentrant recomputation): the same gradients.
    assert two["checkpointed_grads"].keys() == two["grads"].keys()
    for name, grad in two["checkpointed_grads"].items():
        torch.testing.assert_close(grad, grads[name.removeprefix("module.")], rtol=0, atol=1e-6, msg=f"checkpointed {name}")
    for strategy in ("ddp", "fsdp"):
        assert two[strategy].keys() == weights.keys()
        for name, value in weights.items():
            torch.testing.assert_close(two[strategy][name], value, rtol=0, atol=1e-6, msg=f"{strategy} {name}")


@pytest.mark.slow
def test_a_failing_rank_stops_the_whole_run_with_its_error():
    # Rank 0 waits in a barrier for rank 1, which has died: torchrun must end the job, not hang.
    result = torchrun("tests/distributed_worker.py", "fail", timeout=120)
    assert result.returncode != 0
    assert "rank 1 failed on purpose" in result.stderr + result.stdout


@pytest.mark.slow
def test_a_hanging_rank_makes_the_others_time_out_instead_of_waiting_forever():
    # Rank 1 sleeps for 300 s; rank 0's barrier has a 5 s timeout: the job must end long before.
    start = time.perf_counter()
    result = torchrun("tests/distributed_worker.py", "hang", timeout=150)
    assert result.returncode != 0
    assert time.perf_counter() - start < 120
    assert "Timed out waiting 5000ms" in result.stderr + result.stdout  # gloo's message, from rank 0


@pytest.mark.slow
def test_two_process_pretraining_and_its_resume_equal_an_uninterrupted_run(tmp_path, corpus_dir, minilm_dir):
    """`torchrun -m minibert pretrain`: a 4-step run, then the same run resumed from its
    step-2 checkpoint; both end with bit-identical weights (same shards, masks, dropout)."""
    lines = [l for l in (corpus_dir / "en_debian_reference.txt").read_text(encoding="utf-8").splitlines() if l.strip()]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join("\n".join(lines[i : i + 10]) for i in range(2000, 2200, 10)) + "\n", encoding="utf-8")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**TINY, "vocab_size": 30522, "max_position_embeddings": 32, "hidden_dropout_prob": 0.1,
                                  "model_type": "bert"}))
    out = tmp_path / "run"
    command = ["-m", "minibert", "pretrain", "--corpus", str(corpus), "--config", str(config), "--out", str(out),
               "--tokenizer", str(minilm_dir), "--batch-size", "2", "--max-length", "32", "--max-steps", "4",
               "--save-steps", "2", "--save-total-limit", "5", "--no-progress", "--device", "cpu"]

    first = torchrun(*command)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "2 process(es)" in first.stdout and "done: step 4" in first.stdout
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["world_size"] == 2 and len(state["data_positions"]) == 2
    uninterrupted = read_weights(out / "model.safetensors")

    shutil.rmtree(out / "checkpoint-4")
    (out / "model.safetensors").unlink()
    second = torchrun(*command)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming from" in second.stdout and "checkpoint-2" in second.stdout
    resumed = read_weights(out / "model.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    for name in uninterrupted:
        assert torch.equal(resumed[name], uninterrupted[name]), name


@pytest.mark.slow
def test_two_process_fine_tuning_equals_one_process_and_resumes_exactly(tmp_path):
    """minibert.training.train() on 2 processes with batch_size 2 each against 1 process with
    batch_size 4: the same gradients at every step (DDP), including a last batch that leaves
    rank 1 without an example, and the same final weights (DDP and FSDP). A 2-process run
    interrupted at step 5 and resumed from its step-4 checkpoint ends bit-identical."""
    out = tmp_path / "finetune.pt"
    result = torchrun("tests/distributed_worker.py", "finetune", str(out), str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr[-3000:]
    two = torch.load(out, weights_only=True)

    recorder = GradientRecorder()
    model = classifier()
    try:
        train(model, toy_features(9), TrainingArguments(**{**FINETUNE, "batch_size": 4}), toy_features(4, seed=1))
    finally:
        recorder.remove()
    one = {k: v.detach() for k, v in model.state_dict().items()}

    assert len(two["grads"]) == len(recorder.steps) == 6  # 3 steps per epoch, 2 epochs
    for step, (theirs, ours) in enumerate(zip(two["grads"], recorder.steps), 1):
        assert len(theirs) == len(ours)
        for i, (a, b) in enumerate(zip(theirs, ours)):
            # float64 (see classifier()): the halves are summed in another order than the whole
            # batch; a wrongly weighted share would be off by the gradient's own size.
            torch.testing.assert_close(a, b, rtol=0, atol=1e-10, msg=f"step {step}, parameter {i}")
    for strategy in ("ddp", "fsdp"):
        assert two[strategy].keys() == one.keys()
        for name, value in one.items():
            torch.testing.assert_close(two[strategy][name], value, rtol=0, atol=1e-10, msg=f"{strategy} {name}")
        resumed, uninterrupted = two[f"{strategy}_resumed"], two[strategy]
        assert [n for n in uninterrupted if not torch.equal(resumed[n], uninterrupted[n])] == [], strategy


@pytest.mark.slow
def test_torchrun_minibert_train_matches_one_process(tmp_path):
    """`torchrun --nproc-per-node 2 -m minibert train --batch-size 1` against `minibert train
    --batch-size 2` on one process: the same classifier, written once, with its tokenizer."""
    words = "good great fine bad awful poor the film was food".split()
    model_dir = tmp_path / "tiny"
    model_dir.mkdir()
    (model_dir / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    torch.manual_seed(0)
    BertModel(BertConfig(**{**TINY, "vocab_size": 5 + len(words), "max_position_embeddings": 32})).save_pretrained(model_dir)
    rows = [("the film was good", "pos"), ("the food was great", "pos"), ("the film was bad", "neg"),
            ("the food was awful", "neg"), ("the film was fine", "pos")]
    data = tmp_path / "train.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))

    def command(out: Path, batch_size: int) -> list[str]:
        return ["-m", "minibert", "train", "--model", str(model_dir), "--train", str(data), "--eval", str(data),
                "--out", str(out), "--epochs", "2", "--batch-size", str(batch_size), "--lr", "1e-3", "--device", "cpu",
                "--keep-checkpoint"]

    two = torchrun(*command(tmp_path / "two", 1))
    assert two.returncode == 0, two.stderr[-3000:]
    assert "2 processes (ddp) on cpu" in two.stderr
    assert two.stdout.count("best dev accuracy") == 1  # rank 0 alone reports

    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    one = subprocess.run([sys.executable, *command(tmp_path / "one", 2)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert one.returncode == 0, one.stderr[-3000:]
    assert "processes" not in one.stderr

    for name in ("vocab.txt", "config.json", "model.safetensors", "last-checkpoint/trainer_state.pt"):
        assert (tmp_path / "two" / name).is_file(), name
    theirs, ours = read_weights(tmp_path / "two" / "model.safetensors"), read_weights(tmp_path / "one" / "model.safetensors")
    assert theirs.keys() == ours.keys()
    for name in ours:
        # fp32, 6 AdamW steps: the split sums round differently (see the float64 test above).
        torch.testing.assert_close(theirs[name], ours[name], rtol=0, atol=1e-5, msg=name)
