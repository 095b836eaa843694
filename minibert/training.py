"""Fine-tuning: a small training loop, not a framework.

`train(model, train_features, args, eval_features=None)` runs the recipe of Devlin et al.
(2018, appendix A.3) as everyone uses it today:

    AdamW, weight decay on the weight matrices only (not on biases and LayerNorm),
    learning rate warmed up linearly for `warmup_ratio` of the steps, then decayed linearly to 0,
    gradients clipped to `max_grad_norm`, optionally accumulated over several batches,
    optionally in mixed precision (torch.autocast: bf16 on CPU or GPU, fp16 with a GradScaler on GPU),
    evaluation after each epoch, and the best model (by `metric` on the dev set) kept.

Reproducible: the same seed and data give the same final weights on the CPU. Each epoch's
order is a permutation drawn from a generator seeded with (seed, epoch), and dropout draws
from the global torch generator, whose state is part of every checkpoint.

Resumable: `output_dir/last-checkpoint/` holds the weights (model.safetensors), and
`trainer_state.pt` the optimizer, scheduler, scaler and RNG states and the data position
(epoch, batch); minibert.checkpoints writes it whole or not at all, whenever a crash comes.
A run that is interrupted and resumed with `resume=True` ends with the same weights as one
that was not. When the run completes, the checkpoint is deleted unless `keep_checkpoint`.

Several processes: launched with torchrun and given `ctx=minibert.distributed.setup()`, each
process trains the model (wrapped in DDP, or sharded by FSDP) on its share of every batch; a step with
`batch_size` examples per process on n processes computes the same gradients as one process
with a batch n times larger (tested). Only rank 0 writes checkpoints and prints.

What is specific to a task (its data, features, how a batch is padded, the metrics, the
metric that picks the best epoch) is a `minibert.tasks.Task`, passed as `task=` (default:
text classification). The loop hands the task every eval output it asks for and gets the
metrics back; it never looks at labels itself.

A feature is a dict {"input_ids": [int], "token_type_ids": [int] (optional), "labels": ...,
any metadata}; the task's `collate` pads a batch of them to its longest member (dynamic
padding) and leaves the metadata out (minibert.tasks.base).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from minibert import checkpoints, distributed, weights
from minibert.distributed import DistributedContext
from minibert.pretrained import PreTrainedBert
from minibert.progress import Progress
from minibert.tasks import DEFAULT_TASK, Feature, Task, collate, get_task

LAST_CHECKPOINT = "last-checkpoint"
STATE_FILE = "trainer_state.pt"
STATE_JSON = "trainer_state.json"
MIXED_PRECISION = ("no", "bf16", "fp16")


@dataclass
class TrainingArguments:
    output_dir: str | os.PathLike | None = None  # where the best model and the last checkpoint go
    num_epochs: int = 3
    batch_size: int = 16  # per process: a step sees batch_size x processes x gradient_accumulation_steps examples
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float | None = 1.0
    gradient_accumulation_steps: int = 1
    mixed_precision: str = "no"  # "no", "bf16" or "fp16" (fp16: CUDA only)
    seed: int = 42
    metric: str | None = None  # the eval metric that picks the best epoch (default: the task's; ties: the lower eval loss)
    save_steps: int | None = None  # also checkpoint every this many optimizer steps (default: each epoch's end)
    load_best_at_end: bool = True  # end with the best epoch's weights, not the last epoch's
    keep_checkpoint: bool = False  # keep output_dir/last-checkpoint/ after the run completes (it is for resuming)
    device: str | None = None  # default: where the model is (with several processes: the context's)
    strategy: str = "ddp"  # with several processes (torchrun): "ddp" or "fsdp"; see minibert.distributed
    progress: bool = True
    pad_token_id: int | None = None  # default: the model config's

    def __post_init__(self) -> None:
        for name in ("num_epochs", "batch_size", "eval_batch_size", "gradient_accumulation_steps", "save_steps"):
            value = getattr(self, name)
            if name == "save_steps" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TrainingArguments.{name} must be a positive integer, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not 0 <= self.warmup_ratio <= 1:
            raise ValueError(f"warmup_ratio must be in [0, 1], got {self.warmup_ratio!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.strategy not in distributed.STRATEGIES:
            raise ValueError(f"strategy must be one of {distributed.STRATEGIES}, got {self.strategy!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")


@dataclass
class TrainingResult:
    global_step: int = 0  # optimizer steps taken
    epoch: int = 0  # epochs completed
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per epoch: train loss, eval metrics
    best_metric: float | None = None
    best_loss: float | None = None  # the eval loss of the best epoch: breaks ties of best_metric
    best_epoch: int | None = None


# ---------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------


def batches(features: Sequence[Feature], batch_size: int, order: Sequence[int] | None = None):
    order = range(len(features)) if order is None else order
    for i in range(0, len(order), batch_size):
        yield [features[j] for j in order[i : i + batch_size]]


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The shuffled order of epoch `epoch`: a function of (seed, epoch) only, so a resumed run
    sees exactly the order the interrupted one would have."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


# ---------------------------------------------------------------------------------------
# Optimizer and schedule
# ---------------------------------------------------------------------------------------


def make_optimizer(
    model: torch.nn.Module,
    learning_rate: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.optim.AdamW:
    """AdamW; decay only the matrices (ndim >= 2): biases and LayerNorm gains stay undecayed.
    (Pre-training passes BERT's own betas and eps; fine-tuning keeps AdamW's defaults.)"""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps)


def linear_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """lr(t) = lr * t / warmup for t < warmup, then lr * (total - t) / (total - warmup)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------


def train(
    model: PreTrainedBert,
    train_features: Sequence[Feature],
    args: TrainingArguments,
    eval_features: Sequence[Feature] | None = None,
    *,
    task: Task | str | None = None,
    resume: bool = False,
    on_step: Callable[[int], None] | None = None,
    save_model: Callable[[Path], None] | None = None,
    ctx: DistributedContext | None = None,
) -> TrainingResult:
    """Fine-tune `model` in place; see the module docstring for the recipe.

    With `args.output_dir`, the best model (or, without eval data, the last one) is saved
    there with `save_pretrained` after each epoch, together with whatever `save_model(dir)`
    adds (the CLI saves the tokenizer), and `last-checkpoint/` is written for resuming (and
    deleted when the run completes, unless `args.keep_checkpoint`).
    `on_step(global_step)` is called after each optimizer step. `task`: a minibert.tasks.Task
    (or its name) that pads the batches and scores the dev set; default: text classification.

    `ctx` (from `minibert.distributed.setup()` under torchrun): train on several processes.
    Every process passes the same features; each optimizer step takes the next
    `batch_size * world_size` examples of the epoch's order and process r trains on every
    world_size-th of them, starting at the r-th. Only rank 0 writes files and shows progress.
    The device is then the context's.
    """
    if not isinstance(args, TrainingArguments):
        raise TypeError(f"args must be a TrainingArguments, got {type(args).__name__}")
    if len(train_features) == 0:
        raise ValueError("the training set is empty")
    task = resolve_task(task)
    metric = args.metric or task.metric
    if ctx is None:
        ctx = DistributedContext(device=torch.device(args.device) if args.device else model.device)
    device, world = ctx.device, ctx.world_size
    if args.mixed_precision == "fp16" and device.type != "cuda":
        raise ValueError("mixed_precision='fp16' needs a CUDA device; use 'bf16' on the CPU")
    out_dir = Path(args.output_dir) if args.output_dir is not None else None
    checkpoint_dir = out_dir / LAST_CHECKPOINT if out_dir is not None else None
    if out_dir is not None:
        if ctx.is_main:  # finish or undo what a crashed run left half-written
            checkpoints.prepare(out_dir, STATE_JSON)
        distributed.barrier(ctx)
    if resume:
        checkpoint_dir = find_checkpoint(out_dir)
    pad_id = args.pad_token_id if args.pad_token_id is not None else model.config.pad_token_id
    show = args.progress and ctx.is_main

    seed_everything(args.seed + ctx.rank)  # the same order everywhere (epoch_order), different dropout per rank
    wrapped = distributed.wrap_model(model, ctx, args.strategy)
    global_batch = args.batch_size * world
    batches_per_epoch = math.ceil(len(train_features) / global_batch)
    steps_per_epoch = math.ceil(batches_per_epoch / args.gradient_accumulation_steps)
    total_steps = steps_per_epoch * args.num_epochs
    optimizer = make_optimizer(wrapped, args.learning_rate, args.weight_decay)
    scheduler = linear_schedule(optimizer, round(args.warmup_ratio * total_steps), total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=args.mixed_precision == "fp16")
    result = TrainingResult()
    position = {"epoch": 0, "batch": 0, "loss_sum": 0.0, "loss_count": 0}
    if resume:
        position = load_checkpoint(checkpoint_dir, wrapped, optimizer, scheduler, scaler, result, ctx)
    start_epoch, start_batch = position["epoch"], position["batch"]
    best_in_memory = None  # without an output_dir, the best weights are kept here

    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.mixed_precision)
    for epoch in range(start_epoch, args.num_epochs):
        model.train()
        order = epoch_order(len(train_features), args.seed, epoch)
        progress = Progress(batches_per_epoch, f"epoch {epoch + 1}/{args.num_epochs}", enabled=show, start=start_batch)
        epoch_start, examples_seen = time.perf_counter(), 0
        loss_sum, loss_count = (position["loss_sum"], position["loss_count"]) if start_batch else (0.0, 0)
        if start_batch == 0:
            result.history.append({"epoch": epoch + 1})
        group: list[list[Feature]] = []
        all_batches = list(batches(train_features, global_batch, order))
        for index in range(start_batch, batches_per_epoch):
            group.append(all_batches[index])
            last = index == batches_per_epoch - 1
            if len(group) < args.gradient_accumulation_steps and not last:
                continue
            # One optimizer step over the group's batches, all processes together; each loss is
            # weighted by its share of the step's examples, so accumulating k batches on n
            # processes equals one batch k * n times larger. (DDP and FSDP average the
            # processes' gradients, hence the factor `world`.)
            n_examples = sum(len(b) for b in group)
            step_loss = torch.zeros(2, dtype=torch.float64)  # (loss * examples, examples) of this process
            for i, global_features in enumerate(group):
                features = global_features[ctx.rank :: world]
                weight = len(features) / n_examples * world
                if not features:  # fewer examples than processes: join the backward with weight 0
                    features = global_features[:1]
                    weight = 0.0
                batch = {k: v.to(device) for k, v in task.collate(features, pad_id).items()}
                with distributed.gradient_sync(wrapped, enabled=i == len(group) - 1):
                    with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                        loss = wrapped(**batch).loss
                    scaler.scale(loss * weight).backward()
                if weight:
                    step_loss += torch.tensor([loss.item() * len(features), len(features)], dtype=torch.float64)
            if args.max_grad_norm is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(wrapped.parameters(), args.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            result.global_step += 1
            step_loss = distributed.all_reduce_sum(step_loss, ctx)
            loss_sum += step_loss[0].item()
            loss_count += int(step_loss[1].item())
            examples_seen += n_examples
            rate = examples_seen / max(time.perf_counter() - epoch_start, 1e-9)
            progress.update(len(group), f"loss {loss_sum / loss_count:.4f}  lr {scheduler.get_last_lr()[0]:.2e}  "
                                        f"{rate:.1f} examples/s")
            group = []
            if on_step is not None:
                on_step(result.global_step)
            if checkpoint_dir is not None and not last and args.save_steps and result.global_step % args.save_steps == 0:
                save_checkpoint(wrapped, distributed.full_state_dict(wrapped), optimizer, scheduler, scaler, checkpoint_dir,
                                result, {"epoch": epoch, "batch": index + 1, "loss_sum": loss_sum, "loss_count": loss_count}, ctx)
        progress.close()
        start_batch = 0
        result.epoch = epoch + 1
        entry = result.history[-1]
        entry["train_loss"] = loss_sum / loss_count
        if eval_features:
            # Every process scores the whole dev set (small, and FSDP needs all of them in each forward).
            scores = evaluate(model, eval_features, task=task, batch_size=args.eval_batch_size, pad_token_id=pad_id,
                              device=device, autocast_dtype=autocast_dtype)
            entry.update({f"eval_{k}": v for k, v in scores.items()})
            if metric not in scores:
                raise ValueError(f"metric {metric!r} is not computed for this model; choose one of {sorted(scores)}")
            improved = result.best_metric is None or is_better(metric, scores, result)
            if improved:
                result.best_metric, result.best_loss, result.best_epoch = scores[metric], scores.get("loss"), epoch + 1
            _log(show, "  ".join(f"{k} {v:.4f}" for k, v in entry.items() if k != "epoch") + (" (best)" if improved else ""))
        else:
            improved = True
        if out_dir is not None:
            model_state = distributed.full_state_dict(wrapped)  # gathered once for both files (a collective under FSDP)
            if improved:
                save_best(wrapped, model_state, out_dir, save_model, ctx)
            save_checkpoint(wrapped, model_state, optimizer, scheduler, scaler, checkpoint_dir, result,
                            {"epoch": epoch + 1, "batch": 0, "loss_sum": 0.0, "loss_count": 0}, ctx)
        elif improved and eval_features and args.load_best_at_end:
            best_in_memory = {k: v.clone() for k, v in distributed.full_state_dict(wrapped).items()}
    if args.load_best_at_end and eval_features and result.best_epoch != result.epoch:
        if out_dir is not None:
            load_weights(wrapped, out_dir)
        elif best_in_memory is not None:
            distributed.load_full_state_dict(wrapped, best_in_memory)
    if checkpoint_dir is not None and not args.keep_checkpoint:
        if ctx.is_main:  # the run is complete: nothing to resume, and the optimizer state is large
            checkpoints.remove(checkpoint_dir, STATE_JSON)
        distributed.barrier(ctx)
    model.eval()
    return result


def resolve_task(task: Task | str | None) -> Task:
    """A Task instance from a Task, a task name, or None (text classification)."""
    if isinstance(task, Task):
        return task
    if task is None or isinstance(task, str):
        return get_task(task or DEFAULT_TASK)()
    raise TypeError(f"task must be a minibert.tasks.Task or a task name, got {type(task).__name__}")


LOWER_IS_BETTER = ("loss", "mse")


def is_better(metric: str, scores: dict[str, float], best: TrainingResult) -> bool:
    """A better metric, or the same one with a lower eval loss (small dev sets tie often;
    without labels, hence without a loss, the earlier epoch stays)."""
    sign = -1 if metric in LOWER_IS_BETTER else 1
    loss, best_loss = scores.get("loss"), best.best_loss
    tie_break = (-loss, -best_loss) if loss is not None and best_loss is not None else (0.0, 0.0)
    return (sign * scores[metric], tie_break[0]) > (sign * best.best_metric, tie_break[1])


def save_best(model: torch.nn.Module, model_state: dict[str, torch.Tensor], out_dir: Path,
              save_model: Callable[[Path], None] | None, ctx: DistributedContext) -> None:
    """`model_state`: distributed.full_state_dict(model). Rank 0 writes; the others wait."""
    if ctx.is_main:
        distributed.unwrap_model(model).save_pretrained(out_dir, state_dict=model_state)
        if save_model is not None:
            save_model(out_dir)
    distributed.barrier(ctx)


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------


def evaluate(
    model: PreTrainedBert,
    features: Sequence[Feature],
    *,
    task: Task | str | None = None,
    batch_size: int = 64,
    pad_token_id: int | None = None,
    device: torch.device | str | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """The mean loss (when the features are labelled) and the task's metrics on `features`
    (default task: text classification: accuracy and macro F1, or the mse of a regression).

    The model runs over every feature; the outputs the task names (`task.outputs`) are kept
    per feature, on the CPU in fp32, trimmed to the feature's length for `task.token_outputs`,
    and handed with the features to `task.compute_metrics`."""
    if len(features) == 0:
        raise ValueError("the evaluation set is empty")
    task = resolve_task(task)
    device = torch.device(device) if device is not None else model.device
    pad_id = pad_token_id if pad_token_id is not None else model.config.pad_token_id
    was_training = model.training
    model.eval()
    loss_sum, loss_count = 0.0, 0
    outputs: dict[str, list[torch.Tensor]] = {name: [] for name in task.outputs}
    with torch.inference_mode():
        for chunk in batches(features, batch_size):
            batch = {k: v.to(device) for k, v in task.collate(chunk, pad_id).items()}
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                out = model(**batch)
            if out.loss is not None:
                loss_sum += out.loss.float().item() * len(chunk)
                loss_count += len(chunk)
            for name in task.outputs:
                value = getattr(out, name, None)
                if value is None:
                    raise ValueError(f"task {task.name!r} needs the model output {name!r}, which {type(model).__name__} "
                                     f"does not give; is it the right model for this task ({task.model_class.__name__})?")
                value = value.float().cpu()  # (B, ...)
                for i, feature in enumerate(chunk):
                    outputs[name].append(value[i, : len(feature["input_ids"])] if name in task.token_outputs else value[i])
    model.train(was_training)
    scores = {"loss": loss_sum / loss_count} if loss_count else {}
    for name, value in task.compute_metrics(outputs, features, model.config).items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"task {task.name!r}: compute_metrics must return numbers, but {name!r} is a "
                            f"{type(value).__name__}; flatten it (e.g. per-type scores as '<type>_f1')")
        scores[name] = float(value)
    return scores


# ---------------------------------------------------------------------------------------
# Checkpoints: weights as safetensors, the rest as tensors and plain data (weights_only loads)
# ---------------------------------------------------------------------------------------


def save_checkpoint(model, model_state: dict[str, torch.Tensor], optimizer, scheduler, scaler, directory: Path,
                    result: TrainingResult, position: dict, ctx: DistributedContext) -> None:
    """Write the whole checkpoint (minibert.checkpoints.save: a crash leaves the previous one or
    this one, never new weights with old state; trainer_state.json, written last, marks it
    complete). `model_state`: distributed.full_state_dict(model). Every process takes part
    (its random generators are saved too); rank 0 writes."""
    optimizer_state = distributed.full_optimizer_state_dict(model, optimizer)
    rng_states = distributed.gather_objects(checkpoints.rng_state(ctx.device), ctx)
    if ctx.is_main:
        state = {
            "optimizer": optimizer_state,
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng_states,  # one per process
            "position": position,
            "result": dataclasses.asdict(result),
        }
        summary = {**position, "world_size": ctx.world_size, **dataclasses.asdict(result)}

        def write(staging: Path) -> None:
            distributed.unwrap_model(model).save_pretrained(staging, state_dict=model_state)
            weights.atomic_write_bytes(staging / STATE_FILE, lambda tmp: torch.save(state, tmp))
            weights.atomic_write_text(staging / STATE_JSON, json.dumps(summary, indent=2) + "\n")

        checkpoints.save(directory, write, complete=STATE_JSON)
    distributed.barrier(ctx)


def find_checkpoint(out_dir: Path | None) -> Path:
    """`out_dir/last-checkpoint/` when it is complete (checkpoints.prepare has already put the
    newest complete copy there, whatever step of a save a crash interrupted)."""
    if out_dir is not None and checkpoints.is_complete(out_dir / LAST_CHECKPOINT, STATE_JSON):
        return out_dir / LAST_CHECKPOINT
    raise FileNotFoundError(f"resume=True but there is no checkpoint to resume from in {out_dir}")


def load_weights(model: torch.nn.Module, directory: Path) -> None:
    """Copy a saved model's weights into `model`'s existing parameters, which an optimizer
    made before keeps pointing at. Under DDP or FSDP every process calls it and keeps its part."""
    inner = distributed.unwrap_model(model)
    state = weights.read_safetensors(directory / weights.WEIGHTS_NAME)
    state = weights.normalize_checkpoint_keys(state, inner.backbone_prefix)
    expected = {k: v.shape for k, v in inner.state_dict().items()}
    ours, missing, _ = weights.from_checkpoint_state(state, inner.checkpoint_key_map(), expected)
    if missing:
        raise weights.CheckpointError(f"{directory} lacks {len(missing)} weights of this model, e.g. {missing[0]}")
    distributed.load_full_state_dict(model, ours)


def load_checkpoint(directory: Path, model, optimizer, scheduler, scaler, result: TrainingResult,
                    ctx: DistributedContext) -> dict:
    """Restore everything save_checkpoint wrote; returns the data position to continue from."""
    state = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)
    if len(state["rng"]) != ctx.world_size:
        raise ValueError(
            f"{directory} was written by {len(state['rng'])} process(es) but this run has {ctx.world_size}: "
            "an exact resume needs the same number (the batches are split by process)"
        )
    load_weights(model, directory)
    distributed.load_full_optimizer_state_dict(model, optimizer, state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    checkpoints.set_rng_state(state["rng"][ctx.rank], ctx.device)
    for key, value in state["result"].items():
        setattr(result, key, value)
    return state["position"]


# ---------------------------------------------------------------------------------------
# Log lines
# ---------------------------------------------------------------------------------------


def _log(enabled: bool, message: str) -> None:
    if enabled:
        print(message, file=sys.stderr)
