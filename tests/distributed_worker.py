"""Run by tests/test_distributed.py under `torchrun --nproc-per-node 2`: one job per mode.

grads OUT: one optimizer step with DDP and with FSDP, each rank on its half of a fixed batch;
           rank 0 saves the gradients (DDP, also with gradient checkpointing) and the weights
           after the step (both) to OUT.
finetune OUT DIR: minibert.training.train() with DDP and with FSDP: each step's gradients
           (DDP), the final weights, and the final weights of a run interrupted at step 5
           and resumed from its checkpoint in DIR; rank 0 saves them to OUT.
fail:      rank 1 raises during start-up while rank 0 waits in a collective.
hang:      rank 1 hangs (sleeps) while rank 0 waits in a collective with a 5-second timeout.
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from minibert import BertConfig, BertForPreTraining, BertForSequenceClassification, distributed
from minibert.pretraining import PretrainingObjective
from minibert.training import TrainingArguments, train

TINY = dict(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def fixed_batch() -> dict[str, torch.Tensor]:
    """4 sequences; rows 0-1 and rows 2-3 have the same number of masked tokens, so the
    mean of the two halves' mean losses is the mean loss of the whole batch."""
    g = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, 50, (4, 12), generator=g)
    labels = torch.full_like(input_ids, -100)
    for row, positions in enumerate([(1, 4), (2, 7), (3, 5), (6, 9)]):
        labels[row, list(positions)] = input_ids[row, list(positions)]
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 10:] = 0
    attention_mask[3, 9:] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": torch.zeros_like(input_ids),
            "labels": labels, "next_sentence_label": torch.tensor([0, 1, 1, 0])}


def one_step(strategy: str, ctx, batch, gradient_checkpointing: bool = False) -> tuple[dict, dict]:
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig(**TINY)).train()
    if gradient_checkpointing:
        model.gradient_checkpointing_enable()
    wrapped = distributed.wrap_model(PretrainingObjective(model), ctx, strategy)
    # Plain SGD: the weights after the step differ from the reference as little as the gradients do
    # (Adam's first step, lr * g / |g|, would amplify rounding in near-zero gradients).
    optimizer = torch.optim.SGD(wrapped.parameters(), lr=0.1)
    wrapped(**batch).loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in wrapped.named_parameters()} if strategy == "ddp" else {}
    optimizer.step()
    return grads, distributed.full_state_dict(wrapped)


# ---- fine-tuning ------------------------------------------------------------------------

# Per process; on one process the same run takes batch_size 4. 9 examples make batches of
# 4, 4 and 1: in the last, rank 1 has no example and joins the backward with weight 0.
FINETUNE = dict(num_epochs=2, batch_size=2, learning_rate=1e-3, warmup_ratio=0.25, load_best_at_end=False, progress=False)


def classifier() -> BertForSequenceClassification:
    """In float64: over several AdamW steps this tiny model carries fp32 rounding of the split
    sums up to 1e-3 relative (also on one process, accumulating 2 x 2 instead of 4), which would
    blur the comparison; in float64 a correct split agrees to about 1e-12."""
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(**TINY)).double()


def toy_features(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    features = []
    for i in range(n):
        ids = [2] + [rng.randrange(10, 50) for _ in range(rng.randrange(3, 12))] + [3]
        features.append({"input_ids": ids, "token_type_ids": [0] * len(ids), "labels": i % 2})
    return features


class GradientRecorder:
    """Records every optimizer step's gradients (in parameter order), whoever made the optimizer."""

    def __init__(self):
        self.steps: list[list[torch.Tensor]] = []
        self.handle = register_optimizer_step_pre_hook(self.record)

    def record(self, optimizer, args, kwargs) -> None:
        self.steps.append([p.grad.detach().clone() for g in optimizer.param_groups for p in g["params"]])

    def remove(self) -> None:
        self.handle.remove()


class Interrupted(Exception):
    pass


def stop_at(step: int):
    def on_step(global_step: int) -> None:
        if global_step == step:
            raise Interrupted

    return on_step


def finetune(ctx, directory: Path) -> dict:
    data, dev = toy_features(9), toy_features(4, seed=1)
    results = {}
    for strategy in ("ddp", "fsdp"):
        recorder = GradientRecorder() if strategy == "ddp" else None
        model = classifier()
        args = TrainingArguments(**FINETUNE, strategy=strategy, output_dir=directory / strategy, save_steps=2)
        train(model, data, args, dev, ctx=ctx)
        if recorder is not None:
            recorder.remove()
            results["grads"] = recorder.steps
        results[strategy] = distributed.full_state_dict(model)

        args.output_dir = directory / f"{strategy}-interrupted"
        try:
            train(classifier(), data, args, dev, ctx=ctx, on_step=stop_at(5))
        except Interrupted:
            pass
        model = classifier()
        train(model, data, args, dev, ctx=ctx, resume=True)
        results[f"{strategy}_resumed"] = distributed.full_state_dict(model)
    return results


def main() -> None:
    mode = sys.argv[1]
    ctx = distributed.setup("cpu", timeout=timedelta(seconds=5 if mode == "hang" else 30))
    try:
        if mode == "grads":
            batch = {k: v[2 * ctx.rank : 2 * ctx.rank + 2] for k, v in fixed_batch().items()}
            grads, ddp_weights = one_step("ddp", ctx, batch)
            _, fsdp_weights = one_step("fsdp", ctx, batch)
            checkpointed, _ = one_step("ddp", ctx, batch, gradient_checkpointing=True)
            if ctx.is_main:
                torch.save({"grads": grads, "ddp": ddp_weights, "fsdp": fsdp_weights,
                            "checkpointed_grads": checkpointed}, sys.argv[2])
        elif mode == "finetune":
            results = finetune(ctx, Path(sys.argv[3]))
            if ctx.is_main:
                torch.save(results, sys.argv[2])
        elif mode == "fail":
            if ctx.rank == 1:
                raise RuntimeError("rank 1 failed on purpose")
            distributed.barrier(ctx)  # waits for rank 1, which never comes
        elif mode == "hang":
            if ctx.rank == 1:
                time.sleep(300)
            distributed.barrier(ctx)  # rank 0: gives up after the timeout
    finally:
        distributed.teardown(ctx)


if __name__ == "__main__":
    main()
    # Every result is written and the process group is gone. About one run in six, torch
    # 2.13 then aborts at interpreter exit ("terminate called without an active exception",
    # a C++ thread destroyed while joinable) after everything above has finished, also before
    # this session's changes; leaving without the interpreter's teardown keeps that crash out
    # of the tests' verdict. A failure above still raises, and exits non-zero, as before.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
