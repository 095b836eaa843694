"""The pre-training loop: masked-LM (+ next-sentence) training from raw text, on one process
or many (minibert.distributed), with atomic checkpoints and an exact resume.

One optimizer step:
    for each of `gradient_accumulation_steps` micro-batches of `per_device_batch_size` pairs:
        loss = model(**masked batch).loss / gradient_accumulation_steps; loss.backward()
        (DDP averages the gradients over ranks during the last micro-batch's backward)
    clip the gradient norm, AdamW step, learning-rate schedule step.
So one step sees per_device_batch_size * gradient_accumulation_steps * world_size sequences.

A checkpoint `output_dir/checkpoint-<step>/` holds everything the next step depends on: the
weights, AdamW's moments, the schedule, and per rank the position in the data stream and
the random generators (dropout, masking). Resuming from it continues with the same batches
and masks as if the run had never stopped. Rank 0 writes it with minibert.checkpoints (a
temporary directory renamed when complete), so a crash never leaves a half-written checkpoint
behind, and the next start cleans up after it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from minibert import checkpoints, distributed, weights
from minibert.distributed import DistributedContext
from minibert.heads import labels_at_pads
from minibert.progress import Progress
from minibert.pretraining_data import IGNORE_INDEX, DataCollatorForLanguageModeling, PretrainingDataset
from minibert.training import make_optimizer

PRECISIONS = ("no", "bf16", "fp16")
CHECKPOINT_PREFIX = "checkpoint-"
CHECKPOINT_PATTERN = CHECKPOINT_PREFIX + r"(\d+)"  # group 1: the step
STATE_JSON = "trainer_state.json"  # written last: a checkpoint without it is incomplete


@dataclass
class PretrainingArguments:
    """Defaults follow BERT's pre-training recipe (appendix A.2) where it applies to small runs."""

    output_dir: str
    max_steps: int = 1000
    per_device_batch_size: int = 32
    gradient_accumulation_steps: int = 1
    max_length: int = 128
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-6
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    mlm_probability: float = 0.15
    whole_word_mask: bool = False
    mixed_precision: str = "no"  # "bf16" (CPU or GPU) or "fp16" (GPU, with loss scaling)
    gradient_checkpointing: bool = False
    strategy: str = "ddp"  # with several processes: "ddp" or "fsdp"
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int | None = 2
    seed: int = 0
    one_document_per_file: bool = False

    def __post_init__(self) -> None:
        for name in ("max_steps", "per_device_batch_size", "gradient_accumulation_steps", "logging_steps", "save_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.warmup_steps < 0 or self.learning_rate <= 0:
            raise ValueError("warmup_steps must be >= 0 and learning_rate > 0")
        if self.mixed_precision not in PRECISIONS:
            raise ValueError(f"mixed_precision {self.mixed_precision!r} is not supported; choose one of {PRECISIONS}")
        if self.strategy not in distributed.STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r} is not supported; choose one of {distributed.STRATEGIES}")
        if self.save_total_limit is not None and self.save_total_limit < 1:
            raise ValueError("save_total_limit must be at least 1 (or None to keep every checkpoint)")


@dataclass
class PretrainingState:
    """What the loop has done so far; saved as trainer_state.json in every checkpoint."""

    step: int = 0
    world_size: int = 1
    tokens_seen: int = 0  # real (non-padding) tokens, all ranks together
    # Per rank: [epoch, examples of that epoch already used].
    data_positions: list[list[int]] = field(default_factory=list)
    log_history: list[dict[str, float]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Pieces of the step
# ---------------------------------------------------------------------------------------


def create_optimizer(model: nn.Module, args: PretrainingArguments) -> torch.optim.AdamW:
    """The fine-tuning loop's AdamW (no weight decay on biases and LayerNorm weights) with the
    pre-training arguments' betas and eps."""
    return make_optimizer(
        model, args.learning_rate, args.weight_decay, betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon
    )


def linear_schedule(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The factor on the peak learning rate: 0 -> 1 over the warm-up, then linearly to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def autocast(device: torch.device, mixed_precision: str) -> contextlib.AbstractContextManager:
    if mixed_precision == "no":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if mixed_precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


class ExampleStream:
    """The dataset's examples, epoch after epoch, from a saved position onwards."""

    def __init__(self, dataset: PretrainingDataset, epoch: int = 0, position: int = 0):
        self.dataset, self.epoch, self.position = dataset, epoch, position
        self._iterator = self._examples()

    def _examples(self) -> Iterator[dict[str, Any]]:
        while True:
            self.dataset.set_epoch(self.epoch)
            produced = 0
            for i, example in enumerate(self.dataset):
                produced += 1
                if i < self.position:
                    continue  # already trained on before the resume: regenerated, then skipped
                self.position = i + 1
                yield example
            if produced == 0:
                dataset = self.dataset
                raise ValueError("the corpus yields no training examples: it holds no text" if dataset.world_size == 1 else
                                 f"process {dataset.rank} of {dataset.world_size} has no training examples: the corpus "
                                 "has fewer documents than processes")
            self.epoch, self.position = self.epoch + 1, 0

    def take(self, n: int) -> list[dict[str, Any]]:
        return [next(self._iterator) for _ in range(n)]


@dataclass
class ObjectiveOutput:
    loss: torch.Tensor  # () = masked-LM loss (+ next-sentence loss)
    mlm_logits: torch.Tensor  # (N, V): at the N masked positions only
    mlm_targets: torch.Tensor  # (N,)
    nsp_logits: torch.Tensor | None = None  # (B, 2)
    nsp_labels: torch.Tensor | None = None  # (B,)


class PretrainingObjective(nn.Module):
    """BertForPreTraining's (or BertForMaskedLM's) loss, with the vocabulary projection done
    only at the masked positions.

    The MLM head maps every position to V = 30522 logits, and for small models that is most
    of the compute; only the ~15% masked positions enter the loss, so the head runs on those
    alone (as NVIDIA's and Google's pre-training code do). The loss is the model's own
    (`model(**batch).loss`, tested equal). It is a module so that DDP/FSDP can wrap it.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        if not all(hasattr(model, name) for name in ("bert", "mlm", "get_output_embeddings")):
            raise TypeError(
                f"pre-training needs a BertForPreTraining (masked LM + next sentence) or a BertForMaskedLM, "
                f"got {type(model).__name__}"
            )
        self.model = model
        self.next_sentence = hasattr(model, "nsp")  # BertForPreTraining has the NSP head; BertForMaskedLM not

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
    ) -> ObjectiveOutput:
        model = self.model
        out = model.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         keep_padding=labels_at_pads(labels, attention_mask))
        chosen = labels != IGNORE_INDEX  # (B, S)
        mlm_logits = model.mlm(out.last_hidden_state[chosen], model.get_output_embeddings())  # (N, V)
        targets = labels[chosen]  # (N,)
        # A batch without a single masked token (possible, rarely, for tiny batches) adds 0, not NaN.
        loss = F.cross_entropy(mlm_logits.float(), targets) if targets.numel() else mlm_logits.sum() * 0.0
        nsp_logits = None
        if self.next_sentence:
            if next_sentence_label is None:
                raise ValueError("BertForPreTraining needs next_sentence_label; use BertForMaskedLM for masked-LM only")
            nsp_logits = model.nsp(out.pooler_output)  # (B, 2)
            loss = loss + F.cross_entropy(nsp_logits.float(), next_sentence_label)
        return ObjectiveOutput(loss, mlm_logits, targets, nsp_logits, next_sentence_label)


def inner_model(module: nn.Module) -> nn.Module:
    """The user's model inside the DDP wrapper and the objective."""
    module = distributed.unwrap_model(module)
    return module.model if isinstance(module, PretrainingObjective) else module


@torch.no_grad()
def mlm_metrics(output: ObjectiveOutput) -> dict[str, torch.Tensor]:
    """Sums and counts for masked-LM loss/accuracy and NSP accuracy, so ranks can be added up."""
    logits = output.mlm_logits.float()
    metrics = {
        "mlm_loss_sum": F.cross_entropy(logits, output.mlm_targets, reduction="sum"),
        "mlm_correct": (logits.argmax(-1) == output.mlm_targets).sum(),
        "mlm_count": torch.tensor(output.mlm_targets.numel()),
    }
    if output.nsp_logits is not None:
        metrics["nsp_correct"] = (output.nsp_logits.argmax(-1) == output.nsp_labels).sum()
        metrics["nsp_count"] = torch.tensor(output.nsp_labels.numel())
    return {k: v.detach().double().cpu() for k, v in metrics.items()}


def summarize(sums: dict[str, torch.Tensor]) -> dict[str, float]:
    out = {}
    if "mlm_count" in sums:
        n = max(1.0, float(sums["mlm_count"]))
        out["mlm_loss"] = float(sums["mlm_loss_sum"]) / n
        out["mlm_accuracy"] = float(sums["mlm_correct"]) / n
    if "nsp_count" in sums:
        out["nsp_accuracy"] = float(sums["nsp_correct"]) / max(1.0, float(sums["nsp_count"]))
    return out


def reduce_metrics(sums: dict[str, torch.Tensor], ctx: DistributedContext) -> dict[str, torch.Tensor]:
    if not sums:
        return sums
    names = sorted(sums)
    total = distributed.all_reduce_sum(torch.stack([sums[k] for k in names]), ctx)
    return dict(zip(names, total))


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(
    model: nn.Module, batches: list[dict[str, torch.Tensor]], ctx: DistributedContext | None = None,
    mixed_precision: str = "no",
) -> dict[str, float]:
    """Masked-token loss and accuracy (and NSP accuracy) on fixed, already-masked batches.
    `model`: a PretrainingObjective (possibly wrapped), or a bare model to wrap in one."""
    ctx = ctx or DistributedContext()
    if not isinstance(distributed.unwrap_model(model), PretrainingObjective):
        model = PretrainingObjective(model)
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    for batch in batches:
        batch = {k: v.to(ctx.device) for k, v in batch.items()}
        with autocast(ctx.device, mixed_precision):
            output = model(**batch)
        for k, v in mlm_metrics(output).items():
            sums[k] = sums.get(k, 0) + v
    model.train(was_training)
    return summarize(reduce_metrics(sums, ctx))


def fixed_eval_batches(
    dataset: PretrainingDataset, collator: DataCollatorForLanguageModeling, batch_size: int, max_batches: int, seed: int
) -> list[dict[str, torch.Tensor]]:
    """Held-out batches masked once with a fixed seed, so every evaluation scores the same task."""
    collator.generator = torch.Generator().manual_seed(seed)
    examples, batches = [], []
    for example in dataset:
        examples.append(example)
        if len(examples) == batch_size:
            batches.append(collator(examples))
            examples = []
            if len(batches) == max_batches:
                break
    if examples and len(batches) < max_batches:
        batches.append(collator(examples))
    if not batches:
        raise ValueError("the evaluation corpus produced no examples")
    return batches


# ---------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------


def find_last_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The complete checkpoint with the highest step (temporary directories are ignored)."""
    return checkpoints.newest(output_dir, CHECKPOINT_PATTERN, STATE_JSON)


def save_checkpoint(
    output_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any,
    state: PretrainingState, rng_state: dict[str, Any], args: PretrainingArguments, ctx: DistributedContext,
) -> Path | None:
    """Collect the full state on rank 0 and write it there, atomically (minibert.checkpoints),
    then delete the checkpoints beyond `save_total_limit`."""
    model_state = _model_state(model)  # collective under FSDP
    optimizer_state = distributed.full_optimizer_state_dict(model, optimizer)
    rng_states = distributed.gather_objects(rng_state, ctx)
    final = output_dir / f"{CHECKPOINT_PREFIX}{state.step}"
    if ctx.is_main:
        inner = inner_model(model)

        def write(tmp: Path) -> None:
            weights.write_safetensors(tmp / weights.WEIGHTS_NAME, weights.to_checkpoint_state(model_state, inner.checkpoint_key_map()))
            inner.config.save_pretrained(tmp)
            torch.save(optimizer_state, tmp / "optimizer.pt")
            torch.save({"scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler else None}, tmp / "scheduler.pt")
            torch.save(rng_states, tmp / "rng_state.pt")
            (tmp / "training_args.json").write_text(json.dumps(asdict(args), indent=2))
            (tmp / STATE_JSON).write_text(json.dumps(asdict(state), indent=2))

        checkpoints.save(final, write, complete=STATE_JSON)
        checkpoints.rotate(output_dir, CHECKPOINT_PATTERN, STATE_JSON, args.save_total_limit)
    distributed.barrier(ctx)
    return final if ctx.is_main else None


def _model_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The full weights of the model inside the objective, under the model's own names."""
    return {k.removeprefix("model."): v for k, v in distributed.full_state_dict(module).items()}


def load_checkpoint(
    checkpoint: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any,
    ctx: DistributedContext,
) -> tuple[PretrainingState, dict[str, Any]]:
    """Every rank reads the checkpoint (a filesystem all ranks see) and takes its own part."""
    state = PretrainingState(**json.loads((checkpoint / STATE_JSON).read_text()))
    if state.world_size != ctx.world_size:
        raise ValueError(
            f"{checkpoint} was written by {state.world_size} processes but this run has {ctx.world_size}: "
            "an exact resume needs the same number (each rank continues its own shard of the data)"
        )
    inner = inner_model(model)
    on_disk = weights.read_weights(checkpoint / weights.WEIGHTS_NAME)
    expected = {k: v.shape for k, v in _model_state(model).items()}
    ours, missing, _ = weights.from_checkpoint_state(on_disk, inner.checkpoint_key_map(), expected)
    if missing:
        raise weights.CheckpointError(f"{checkpoint} lacks {', '.join(missing[:5])}: is it from another model?")
    distributed.load_full_state_dict(model, {f"model.{k}": v for k, v in ours.items()})
    distributed.load_full_optimizer_state_dict(model, optimizer, torch.load(checkpoint / "optimizer.pt", weights_only=True))
    others = torch.load(checkpoint / "scheduler.pt", weights_only=True)
    scheduler.load_state_dict(others["scheduler"])
    if scaler is not None and others["scaler"]:
        scaler.load_state_dict(others["scaler"])
    rng_states = torch.load(checkpoint / "rng_state.pt", weights_only=True)
    return state, rng_states[ctx.rank]


# ---------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------


def pretrain(
    model: nn.Module,
    tokenizer: Any,
    corpus: Any,
    args: PretrainingArguments,
    *,
    ctx: DistributedContext | None = None,
    eval_corpus: Any = None,
    eval_batches: int = 8,
    resume: bool = True,
    progress: bool = True,
) -> PretrainingState:
    """Pre-train `model` (BertForPreTraining, or BertForMaskedLM for masked-LM only) on the
    text files `corpus`; returns the final state, whose `log_history` holds the metrics.

    With `resume`, the latest checkpoint in `args.output_dir` is continued exactly. Only rank 0
    writes files and shows progress. `eval_corpus`: held-out text scored (masked-token loss
    and accuracy) before training and every `logging_steps`.
    """
    ctx = ctx or DistributedContext()
    output_dir = Path(args.output_dir)
    if args.max_length > model.config.max_position_embeddings:
        raise ValueError(
            f"max_length {args.max_length} is longer than the model's {model.config.max_position_embeddings} "
            "positions (max_position_embeddings): use a shorter max_length"
        )
    if args.mixed_precision == "fp16" and ctx.device.type != "cuda":
        raise ValueError("mixed_precision='fp16' needs a CUDA device; use 'bf16' on the CPU")
    next_sentence = PretrainingObjective(model).next_sentence
    # Same initial weights on every rank (DDP also broadcasts rank 0's); different dropout per rank.
    torch.manual_seed(args.seed + ctx.rank)

    dataset = PretrainingDataset(
        corpus, tokenizer, args.max_length, seed=args.seed, rank=ctx.rank, world_size=ctx.world_size,
        one_document_per_file=args.one_document_per_file, next_sentence=next_sentence,
    )
    collator = DataCollatorForLanguageModeling(
        tokenizer, args.mlm_probability, args.whole_word_mask,
        generator=torch.Generator().manual_seed(args.seed * 1000 + ctx.rank),
    )
    held_out = None
    if eval_corpus is not None:
        eval_data = PretrainingDataset(
            eval_corpus, tokenizer, args.max_length, seed=args.seed + 1, rank=ctx.rank, world_size=ctx.world_size,
            one_document_per_file=args.one_document_per_file, next_sentence=next_sentence,
        )
        eval_collator = DataCollatorForLanguageModeling(tokenizer, args.mlm_probability, args.whole_word_mask)
        held_out = fixed_eval_batches(eval_data, eval_collator, args.per_device_batch_size, eval_batches, args.seed)

    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    model.train()
    wrapped = distributed.wrap_model(PretrainingObjective(model), ctx, args.strategy)
    optimizer = create_optimizer(wrapped, args)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(args.warmup_steps, args.max_steps))
    scaler = torch.amp.GradScaler(ctx.device.type) if args.mixed_precision == "fp16" else None

    state = PretrainingState(world_size=ctx.world_size, data_positions=[[0, 0] for _ in range(ctx.world_size)])
    if ctx.is_main:  # finish or undo what a crashed run left half-written
        checkpoints.prepare(output_dir, STATE_JSON)
    distributed.barrier(ctx)
    checkpoint = find_last_checkpoint(output_dir) if resume else None
    generators = {"masking": collator.generator}
    if checkpoint is not None:
        state, rng = load_checkpoint(checkpoint, wrapped, optimizer, scheduler, scaler, ctx)
        checkpoints.set_rng_state(rng, ctx.device, generators)
        if ctx.is_main:
            print(f"resuming from {checkpoint} (step {state.step})", flush=True)
    epoch, position = state.data_positions[ctx.rank]
    stream = ExampleStream(dataset, epoch, position)

    if held_out is not None and state.step == 0:
        record = {"step": 0, **{f"eval_{k}": v for k, v in evaluate(wrapped, held_out, ctx, args.mixed_precision).items()}}
        state.log_history.append(record)

    bar = Progress(args.max_steps, "pretrain", enabled=ctx.is_main, use_tqdm=progress, start=state.step, unit="step",
                   stream="stdout")
    window: dict[str, torch.Tensor] = {}
    window_tokens, window_start = 0, time.perf_counter()
    while state.step < args.max_steps:
        for micro in range(args.gradient_accumulation_steps):
            batch = collator(stream.take(args.per_device_batch_size))
            batch = {k: v.to(ctx.device) for k, v in batch.items()}
            last = micro == args.gradient_accumulation_steps - 1
            # DDP all-reduces gradients in backward; skip that on all but the last micro-batch.
            with distributed.gradient_sync(wrapped, enabled=last):
                with autocast(ctx.device, args.mixed_precision):
                    output = wrapped(**batch)
                loss = output.loss / args.gradient_accumulation_steps
                (scaler.scale(loss) if scaler else loss).backward()
            for k, v in mlm_metrics(output).items():
                window[k] = window.get(k, 0) + v
            window_tokens += int(batch["attention_mask"].sum())

        if scaler:
            scaler.unscale_(optimizer)
        if args.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(wrapped.parameters(), args.max_grad_norm)
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1

        if state.step % args.logging_steps == 0 or state.step == args.max_steps:
            window["tokens"] = torch.tensor(float(window_tokens), dtype=torch.float64)
            totals = reduce_metrics(window, ctx)
            seconds = time.perf_counter() - window_start
            state.tokens_seen += int(totals["tokens"])
            record = {"step": state.step, "lr": scheduler.get_last_lr()[0], **summarize(totals),
                      "tokens_per_s": float(totals["tokens"]) / max(seconds, 1e-9), "tokens_seen": state.tokens_seen}
            if held_out is not None:
                record.update({f"eval_{k}": v for k, v in evaluate(wrapped, held_out, ctx, args.mixed_precision).items()})
            state.log_history.append(record)
            shown = _shown(record)
            bar.update(0, shown, line=f"step {record['step']}: {shown}")
            window, window_tokens, window_start = {}, 0, time.perf_counter()
        bar.update(1)

        if state.step % args.save_steps == 0 or state.step == args.max_steps:
            positions = distributed.gather_objects([stream.epoch, stream.position], ctx)
            state.data_positions = [list(p) for p in positions]
            save_checkpoint(output_dir, wrapped, optimizer, scheduler, scaler, state,
                            checkpoints.rng_state(ctx.device, generators), args, ctx)
    bar.close(summary=False)

    # The final model, loadable with from_pretrained, next to its checkpoints.
    final_state = _model_state(wrapped)
    if ctx.is_main:
        inner = inner_model(wrapped)
        weights.write_safetensors(output_dir / weights.WEIGHTS_NAME, weights.to_checkpoint_state(final_state, inner.checkpoint_key_map()))
        inner.config.save_pretrained(output_dir)
        if hasattr(tokenizer, "save_pretrained"):
            tokenizer.save_pretrained(str(output_dir))
        weights.atomic_write_text(output_dir / "pretraining_log.json", json.dumps(state.log_history, indent=1) + "\n")
    distributed.barrier(ctx)
    return state


def _shown(record: dict[str, float]) -> str:
    """The numbers of a log record worth watching, as one short line."""
    shown = {"mlm_loss": "loss {:.3f}", "mlm_accuracy": "mlm acc {:.3f}", "nsp_accuracy": "nsp acc {:.3f}",
             "eval_mlm_accuracy": "eval acc {:.3f}", "tokens_per_s": "{:.0f} tok/s"}
    return ", ".join(fmt.format(record[k]) for k, fmt in shown.items() if k in record)
