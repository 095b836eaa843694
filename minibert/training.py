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
that was not; a checkpoint of another run (other data, labels, model or settings) or a
damaged one is refused (minibert.resume). When the run completes, the checkpoint is deleted
unless `keep_checkpoint`.

Honest on small data: without `num_epochs` the run makes about 100 optimizer steps
(default_epochs); a run of fewer than 50 steps, or one that ends with its training loss near
the task's chance level, is warned about. Problems that would waste a run are found before
it: non-finite hyper-parameters, a missing device, an unwritable output_dir; a loss that
becomes NaN or infinite stops it before that step is applied.

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
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from minibert import checkpoints, distributed
from minibert.distributed import DistributedContext
from minibert.pretrained import PreTrainedBert
from minibert.progress import Progress
from minibert.resume import (
    LAST_CHECKPOINT,
    STATE_JSON,
    check_same_run,
    describe_run,
    find_checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from minibert.tasks import DEFAULT_TASK, Feature, Task, collate, get_task

MIXED_PRECISION = ("no", "bf16", "fp16")


@dataclass
class TrainingArguments:
    output_dir: str | os.PathLike | None = None  # where the best model and the last checkpoint go
    num_epochs: int | None = None  # None: from the data size (default_epochs): about 100 optimizer steps, 3 to 50 epochs
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
            if name in ("num_epochs", "save_steps") and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TrainingArguments.{name} must be a positive integer, got {value!r}")
        # inf or nan would train to a NaN model and save it: refused here, before any step.
        for name in ("learning_rate", "weight_decay", "warmup_ratio", "max_grad_norm"):
            value = getattr(self, name)
            if name == "max_grad_norm" and value is None:
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"TrainingArguments.{name} must be a finite number, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"TrainingArguments.learning_rate must be positive, got {self.learning_rate!r}")
        if not 0 <= self.warmup_ratio <= 1:
            raise ValueError(f"TrainingArguments.warmup_ratio must be in [0, 1], got {self.warmup_ratio!r}")
        if self.weight_decay < 0:
            raise ValueError(f"TrainingArguments.weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"TrainingArguments.max_grad_norm must be positive (or None: no clipping), got {self.max_grad_norm!r}")
        if self.strategy not in distributed.STRATEGIES:
            raise ValueError(f"TrainingArguments.strategy must be one of {distributed.STRATEGIES}, got {self.strategy!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"TrainingArguments.mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        if self.device is not None:
            distributed.resolve_device(self.device)  # a bad name or a missing GPU: said now, not at the first batch


# Small data: fine-tuning needs optimizer steps, not epochs. A run whose number of epochs is
# not given makes at least AUTO_STEPS steps (3 to MAX_AUTO_EPOCHS epochs); any run of fewer
# than FEW_STEPS steps, or that ends with a training loss above NEAR_CHANCE x the task's
# chance level, gets a warning that says what to change.
AUTO_STEPS, MIN_AUTO_EPOCHS, MAX_AUTO_EPOCHS = 100, 3, 50
FEW_STEPS = 50
NEAR_CHANCE = 0.8


def default_epochs(steps_per_epoch: int) -> int:
    """The number of epochs of a run that does not set one: enough for AUTO_STEPS optimizer
    steps, at least 3 (the usual recipe, which large data sets reach anyway) and at most 50."""
    return min(MAX_AUTO_EPOCHS, max(MIN_AUTO_EPOCHS, math.ceil(AUTO_STEPS / steps_per_epoch)))


# The settings that shape the optimisation: a resume with other values is another run.
RUN_SETTINGS = ("num_epochs", "batch_size", "gradient_accumulation_steps", "learning_rate", "weight_decay",
                "warmup_ratio", "max_grad_norm", "mixed_precision", "seed", "metric")


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
    force_resume: bool = False,
    run_info: dict[str, Any] | None = None,
    on_step: Callable[[int], None] | None = None,
    save_model: Callable[[Path], None] | None = None,
    log: Callable[[str], None] | None = None,
    ctx: DistributedContext | None = None,
) -> TrainingResult:
    """Fine-tune `model` in place; see the module docstring for the recipe.

    With `args.output_dir`, the best model (or, without eval data, the last one) is saved
    there with `save_pretrained` after each epoch, together with whatever `save_model(dir)`
    adds (the CLI saves the tokenizer), and `last-checkpoint/` is written for resuming (and
    deleted when the run completes, unless `args.keep_checkpoint`).
    Each checkpoint records what identifies the run (minibert.resume.describe_run: the task,
    model config and labels, a hash of the features, the settings of RUN_SETTINGS, and
    `run_info`, any JSON-ready facts the caller adds); `resume=True` refuses a checkpoint of
    another run, listing the differences, unless `force_resume=True`.
    `on_step(global_step)` is called after each optimizer step. `log(line)` receives the
    loop's messages (where a resume continues, each epoch's scores, advice about the run);
    default: printed to stderr. Only rank 0 logs; the per-epoch scores only with `args.progress`.
    `task`: a minibert.tasks.Task (or its name) that pads the batches and scores the dev set;
    default: text classification.

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
    say = (log or _print) if ctx.is_main else (lambda line: None)
    if out_dir is not None:
        prepare_output_dir(out_dir, ctx)
    global_batch = args.batch_size * world
    batches_per_epoch = math.ceil(len(train_features) / global_batch)
    steps_per_epoch = math.ceil(batches_per_epoch / args.gradient_accumulation_steps)
    args = plan_epochs(args, len(train_features), global_batch, steps_per_epoch, say if not resume else lambda line: None)
    total_steps = steps_per_epoch * args.num_epochs
    run = describe_run(model, task.name, {k: getattr(args, k) for k in RUN_SETTINGS}, train_features, eval_features,
                       run_info) if out_dir is not None else None
    if resume:
        checkpoint_dir = find_checkpoint(out_dir)
        changed = check_same_run(checkpoint_dir, run, force_resume)
        if changed:
            say(f"resuming although this run differs from the checkpoint's (forced): {'; '.join(changed)}")
    pad_id = args.pad_token_id if args.pad_token_id is not None else model.config.pad_token_id
    show = args.progress and ctx.is_main

    seed_everything(args.seed + ctx.rank)  # the same order everywhere (epoch_order), different dropout per rank
    wrapped = distributed.wrap_model(model, ctx, args.strategy)
    optimizer = make_optimizer(wrapped, args.learning_rate, args.weight_decay)
    scheduler = linear_schedule(optimizer, round(args.warmup_ratio * total_steps), total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=args.mixed_precision == "fp16")
    result = TrainingResult()
    position = {"epoch": 0, "batch": 0, "loss_sum": 0.0, "loss_count": 0}
    if resume:
        position = load_checkpoint(checkpoint_dir, wrapped, optimizer, scheduler, scaler, result, ctx,
                                   args.num_epochs, batches_per_epoch)
    start_epoch, start_batch = position["epoch"], position["batch"]
    if resume:
        where = (f"epoch {start_epoch + 1}/{args.num_epochs}, batch {start_batch + 1}/{batches_per_epoch}"
                 if start_epoch < args.num_epochs else "the end of the last epoch: nothing is left to train")
        say(f"resuming from {checkpoint_dir} after optimizer step {result.global_step}: continuing at {where}")
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
        try:
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
                step_loss = distributed.all_reduce_sum(step_loss, ctx)  # (the same on every process)
                if not math.isfinite(step_loss[0].item()):
                    raise FloatingPointError(
                        f"the training loss became {step_loss[0].item()} at optimizer step {result.global_step + 1} "
                        f"(epoch {epoch + 1}): training stopped before applying that step, and saved nothing after it. "
                        f"The learning rate is probably too high: lower TrainingArguments.learning_rate ({args.learning_rate:g})"
                    )
                if args.max_grad_norm is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(wrapped.parameters(), args.max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                result.global_step += 1
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
                                    result, {"epoch": epoch, "batch": index + 1, "loss_sum": loss_sum, "loss_count": loss_count},
                                    ctx, run)
        except BaseException:  # an error or Ctrl-C: the bar ends here, before the message about it
            progress.close(summary=False)
            raise
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
            if show:
                say("  ".join(f"{k} {v:.4f}" for k, v in entry.items() if k != "epoch") + (" (best)" if improved else ""))
        else:
            improved = True
        if out_dir is not None:
            model_state = distributed.full_state_dict(wrapped)  # gathered once for both files (a collective under FSDP)
            if improved:
                save_best(wrapped, model_state, out_dir, save_model, ctx)
            save_checkpoint(wrapped, model_state, optimizer, scheduler, scaler, checkpoint_dir, result,
                            {"epoch": epoch + 1, "batch": 0, "loss_sum": 0.0, "loss_count": 0}, ctx, run)
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
    warn_if_near_chance(result, args, task, train_features, model.config, say)
    model.eval()
    return result


def prepare_output_dir(out_dir: Path, ctx: DistributedContext) -> None:
    """Before any training: rank 0, which writes, checks it can write `out_dir` and finishes or
    undoes what a crashed run left there; every process stops if it cannot (none waits)."""
    problem = None
    if ctx.is_main:
        try:
            checkpoints.check_writable(out_dir)
            checkpoints.prepare(out_dir, STATE_JSON)
        except OSError as exc:
            problem = f"TrainingArguments.output_dir: {exc}"
    problem = distributed.gather_objects(problem, ctx)[0]
    if problem is not None:
        raise OSError(problem)


def plan_epochs(args: TrainingArguments, num_examples: int, global_batch: int, steps_per_epoch: int,
                say: Callable[[str], None]) -> TrainingArguments:
    """`args` with num_epochs chosen from the data size when it is None (default_epochs), and
    a warning when the run makes too few optimizer steps to get far, saying what to change."""
    if args.num_epochs is None:
        args = dataclasses.replace(args, num_epochs=default_epochs(steps_per_epoch))
        say(f"TrainingArguments.num_epochs not set: {args.num_epochs} epochs of {steps_per_epoch} optimizer steps "
            f"for {num_examples} training examples")
    total_steps = steps_per_epoch * args.num_epochs
    if total_steps < FEW_STEPS:
        say(f"warning: this run makes only {total_steps} optimizer steps ({num_examples} examples in batches of "
            f"{global_batch * args.gradient_accumulation_steps}, {args.num_epochs} epochs), and fine-tuning rarely gets "
            f"far in fewer than {FEW_STEPS}: raise TrainingArguments.num_epochs (e.g. to "
            f"{default_epochs(steps_per_epoch)}), lower TrainingArguments.batch_size, or add training data")
    return args


def warn_if_near_chance(result: TrainingResult, args: TrainingArguments, task: Task, train_features, config,
                        say: Callable[[str], None]) -> None:
    """A run that ends with its training loss still near the task's chance level has learnt
    next to nothing, whatever its dev score says: say so, and what to change."""
    chance = task.chance_loss(train_features, config)
    loss = result.history[-1].get("train_loss") if result.history else None
    if chance is not None and loss is not None and loss > NEAR_CHANCE * chance:
        say(f"warning: the final training loss {loss:.3f} is still near chance level ({chance:.3f}, the loss of a model "
            f"that has learnt nothing): it has barely learnt the task. Train longer "
            f"(TrainingArguments.num_epochs, now {args.num_epochs}) or with a higher TrainingArguments.learning_rate "
            f"(now {args.learning_rate:g}), and check that the labels follow from the texts")


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
# Log lines
# ---------------------------------------------------------------------------------------


def _print(line: str) -> None:
    print(line, file=sys.stderr)
