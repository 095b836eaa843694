"""Run by tests/test_distributed.py under `torchrun --nproc-per-node 2`: one job per mode.

grads OUT: one optimizer step with DDP and with FSDP, each rank on its half of a fixed batch;
           rank 0 saves the gradients (DDP) and the weights after the step (both) to OUT.
fail:      rank 1 raises during start-up while rank 0 waits in a collective.
hang:      rank 1 hangs (sleeps) while rank 0 waits in a collective with a 5-second timeout.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

import torch

from minibert import BertConfig, BertForPreTraining, distributed
from minibert.pretraining import PretrainingObjective

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


def one_step(strategy: str, ctx, batch) -> tuple[dict, dict]:
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig(**TINY)).train()
    wrapped = distributed.wrap_model(PretrainingObjective(model), ctx, strategy)
    # Plain SGD: the weights after the step differ from the reference as little as the gradients do
    # (Adam's first step, lr * g / |g|, would amplify rounding in near-zero gradients).
    optimizer = torch.optim.SGD(wrapped.parameters(), lr=0.1)
    wrapped(**batch).loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in wrapped.named_parameters()} if strategy == "ddp" else {}
    optimizer.step()
    return grads, distributed.full_state_dict(wrapped)


def main() -> None:
    mode = sys.argv[1]
    ctx = distributed.setup("cpu", timeout=timedelta(seconds=5 if mode == "hang" else 30))
    try:
        if mode == "grads":
            batch = {k: v[2 * ctx.rank : 2 * ctx.rank + 2] for k, v in fixed_batch().items()}
            grads, ddp_weights = one_step("ddp", ctx, batch)
            _, fsdp_weights = one_step("fsdp", ctx, batch)
            if ctx.is_main:
                torch.save({"grads": grads, "ddp": ddp_weights, "fsdp": fsdp_weights}, sys.argv[2])
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
