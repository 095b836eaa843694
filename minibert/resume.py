"""Resuming a fine-tuning run: what `output_dir/last-checkpoint/` holds, the checks that it is
whole and that it belongs to the run being resumed, and putting it back.

    last-checkpoint/
        model.safetensors, config.json   the weights at the saved position (save_pretrained)
        trainer_state.pt                 optimizer, scheduler, scaler and RNG states, the data
                                         position, the result so far: tensors and plain data
                                         only, read with torch.load(weights_only=True)
        trainer_state.json               a readable summary and the run's identity; written
                                         last, it marks the checkpoint complete
                                         (minibert.checkpoints)

The identity of a run (`describe_run`) is what must not change between an interruption and
its resume: the task, the model's class and config, the labels, a hash of the training and
eval features, the optimisation settings, and whatever the caller adds (the CLI: the model
it was given and the size and hash of each data file). A resume whose identity differs is
refused with every difference listed, unless it is forced. A damaged or foreign checkpoint is
a `weights.CheckpointError` that names the file and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
from pathlib import Path
from typing import Any, Sequence

import torch

from minibert import checkpoints, distributed, weights
from minibert.distributed import DistributedContext
from minibert.tasks.base import MODEL_INPUTS

LAST_CHECKPOINT = "last-checkpoint"
STATE_FILE = "trainer_state.pt"
STATE_JSON = "trainer_state.json"
STATE_KEYS = ("optimizer", "scheduler", "scaler", "rng", "position", "result")

# Config fields that do not change what training computes: left out of a run's identity.
# (The labels are compared on their own, under "labels".)
NOT_IDENTITY = ("id2label", "label2id", "architectures", "attn_implementation", "torch_dtype", "dtype",
                "transformers_version", "_name_or_path")


# ---------------------------------------------------------------------------------------
# The identity of a run
# ---------------------------------------------------------------------------------------


def describe_run(model: torch.nn.Module, task_name: str, settings: dict[str, Any], train_features: Sequence[dict],
                 eval_features: Sequence[dict] | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON-ready description of a run, stored in each checkpoint and compared on resume.
    `settings`: the TrainingArguments that shape the optimisation; `extra`: what else the
    caller knows of the run (JSON-ready; the CLI: its --model and the data files' digests)."""
    inner = distributed.unwrap_model(model)
    config = inner.config.to_dict()
    id2label = config.get("id2label") or {}
    return {
        "task": task_name,
        "model class": type(inner).__name__,
        "config": {k: v for k, v in config.items() if k not in NOT_IDENTITY},
        "labels": [id2label[k] for k in sorted(id2label, key=int)],
        "training data": features_digest(train_features),
        "eval data": features_digest(eval_features) if eval_features else None,
        "settings": settings,
        **(extra or {}),
    }


def features_digest(features: Sequence[dict]) -> str:
    """`<count> features, sha256 <first 16 hex digits>` of their model inputs and labels:
    any change to the data, its tokenization or its truncation changes it."""
    digest = hashlib.sha256()
    for feature in features:
        model_inputs = {k: feature[k] for k in MODEL_INPUTS if k in feature}
        digest.update(json.dumps(model_inputs, sort_keys=True, default=_plain).encode())
        digest.update(b"\n")
    return f"{len(features)} features, sha256 {digest.hexdigest()[:16]}"


def file_digest(path: str | Path) -> str:
    """`<size> bytes, sha256 <first 16 hex digits>` of a data file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"{Path(path).stat().st_size} bytes, sha256 {digest.hexdigest()[:16]}"


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


# How the entries of describe_run's nested dicts are named in a difference.
NESTED = {"settings": "TrainingArguments.", "config": "config "}


def differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """One item per entry that differs: `name: <saved> in the checkpoint, <current> now`
    (the settings and the config compared field by field)."""
    found = []
    for key in sorted(set(saved) | set(current), key=lambda k: (k in NESTED, k)):
        old, new = saved.get(key), current.get(key)
        if key in NESTED and isinstance(old, dict) and isinstance(new, dict):
            found += [f"{NESTED[key]}{k}: {_short(old.get(k))} in the checkpoint, {_short(new.get(k))} now"
                      for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        elif old != new:
            found.append(f"{key}: {_short(old)} in the checkpoint, {_short(new)} now")
    return found


def check_same_run(directory: Path, run: dict[str, Any], force: bool = False) -> list[str]:
    """The differences between `run` and the run that wrote the checkpoint in `directory`:
    a CheckpointError listing them, or, with `force`, returned for the caller to report. A
    checkpoint that records no run (written by an older minibert) counts as different."""
    saved = read_identity(directory)
    found = differences(saved, run) if saved is not None else ["the checkpoint records no run to compare with "
                                                                "(written by an older minibert)"]
    if found and not force:
        raise weights.CheckpointError(
            f"{directory} was written by another run: {'; '.join(found)}. Resume with the settings and data it was "
            "written with, or force the resume (force_resume=True) to continue it with these"
        )
    return found


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_identity(directory: Path) -> dict[str, Any] | None:
    """The run identity saved in `directory/trainer_state.json` (None in a checkpoint written
    before identities were saved)."""
    path = directory / STATE_JSON
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise weights.CheckpointError(f"{path} is not readable JSON ({exc}): {_DAMAGED}") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("run", {}), dict):
        raise weights.CheckpointError(f"{path} is not a summary minibert.training wrote: {_DAMAGED}")
    return summary.get("run")


_DAMAGED = ("the checkpoint is damaged or was not written by minibert's fine-tuning loop; delete it (or the whole "
            "output directory) and train again without resuming")


# ---------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------


def save_checkpoint(model, model_state: dict[str, torch.Tensor], optimizer, scheduler, scaler, directory: Path,
                    result, position: dict, ctx: DistributedContext, run: dict[str, Any]) -> None:
    """Write the whole checkpoint (minibert.checkpoints.save: a crash leaves the previous one or
    this one, never new weights with old state; trainer_state.json, written last, marks it
    complete). `model_state`: distributed.full_state_dict(model); `result`: the TrainingResult
    so far; `run`: describe_run(...). Every process takes part (its random generators are
    saved too); rank 0 writes."""
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
        summary = {**position, "world_size": ctx.world_size, **dataclasses.asdict(result), "run": run}

        def write(staging: Path) -> None:
            distributed.unwrap_model(model).save_pretrained(staging, state_dict=model_state)
            weights.atomic_write_bytes(staging / STATE_FILE, lambda tmp: torch.save(state, tmp))
            weights.atomic_write_text(staging / STATE_JSON, json.dumps(summary, indent=2) + "\n")

        checkpoints.save(directory, write, complete=STATE_JSON)
    distributed.barrier(ctx)


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


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
    if not (directory / weights.WEIGHTS_NAME).is_file():
        raise weights.CheckpointError(f"{directory} has no {weights.WEIGHTS_NAME}: {_DAMAGED}")
    state = weights.read_safetensors(directory / weights.WEIGHTS_NAME)
    state = weights.normalize_checkpoint_keys(state, inner.backbone_prefix)
    expected = {k: v.shape for k, v in inner.state_dict().items()}
    ours, missing, _ = weights.from_checkpoint_state(state, inner.checkpoint_key_map(), expected)
    if missing:
        raise weights.CheckpointError(f"{directory} lacks {len(missing)} weights of this model, e.g. {missing[0]}")
    distributed.load_full_state_dict(model, ours)


def read_state(directory: Path, world_size: int, num_epochs: int, batches_per_epoch: int) -> dict[str, Any]:
    """trainer_state.pt, checked to be whole and to fit this run before anything is restored:
    a truncated, empty or foreign file, a missing part, the random states of another number
    of processes, or a data position outside this run's epochs is a CheckpointError."""
    path = directory / STATE_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise weights.CheckpointError(f"{directory} has no {STATE_FILE}: {_DAMAGED}") from None
    except pickle.UnpicklingError:  # what weights_only refuses: never unpickled
        raise weights.CheckpointError(f"{path} holds Python objects other than tensors and plain data, which minibert "
                                      f"does not unpickle: {_DAMAGED}") from None
    except Exception as exc:  # noqa: BLE001  torch.load fails in many ways (EOFError, RuntimeError, OSError, ...)
        reason = "it is empty" if path.stat().st_size == 0 else f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        raise weights.CheckpointError(f"{path} cannot be read ({reason}): {_DAMAGED}") from None
    missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise weights.CheckpointError(f"{path} lacks {', '.join(missing)}: {_DAMAGED}")
    rng = state["rng"]
    if not isinstance(rng, list) or not all(isinstance(r, dict) and isinstance(r.get("torch"), torch.Tensor) for r in rng):
        raise weights.CheckpointError(f"{path}: its random generator states are not what minibert saves: {_DAMAGED}")
    if len(rng) != world_size:
        raise weights.CheckpointError(
            f"{directory} was written by {len(rng)} process(es) but this run has {world_size}: "
            "an exact resume needs the same number (the batches are split by process)"
        )
    position = state["position"]
    counters = ("epoch", "batch", "loss_count")
    if (not isinstance(position, dict) or not all(isinstance(position.get(k), int) and position[k] >= 0 for k in counters)
            or not isinstance(position.get("loss_sum"), (int, float))):
        raise weights.CheckpointError(f"{path}: its data position {_short(position)} is not what minibert saves: {_DAMAGED}")
    epoch, batch = position["epoch"], position["batch"]
    if epoch > num_epochs or batch >= batches_per_epoch or (batch and epoch == num_epochs):
        raise weights.CheckpointError(
            f"{path}: its data position (epoch {epoch + 1}, batch {batch + 1}) is past the end of this run "
            f"({num_epochs} epochs of {batches_per_epoch} batches): it was written for other data or settings"
        )
    if not isinstance(state["result"], dict) or not isinstance(state["result"].get("global_step"), int):
        raise weights.CheckpointError(f"{path}: its training result is not what minibert saves: {_DAMAGED}")
    return state


def load_checkpoint(directory: Path, model, optimizer, scheduler, scaler, result, ctx: DistributedContext,
                    num_epochs: int, batches_per_epoch: int) -> dict:
    """Restore everything save_checkpoint wrote into the model, optimizer, scheduler, scaler,
    random generators and `result` (a TrainingResult); returns the data position to continue
    from. Each part that does not fit is a CheckpointError naming it."""
    state = read_state(directory, ctx.world_size, num_epochs, batches_per_epoch)
    path = directory / STATE_FILE
    saved_result = state["result"]
    unknown = set(saved_result) - {f.name for f in dataclasses.fields(result)}
    if unknown:
        raise weights.CheckpointError(f"{path}: its training result has fields minibert does not write "
                                      f"({', '.join(sorted(unknown))}): {_DAMAGED}")
    check_optimizer_state(state["optimizer"], model, optimizer, path)
    load_weights(model, directory)
    for part, restore in [
        ("optimizer", lambda: distributed.load_full_optimizer_state_dict(model, optimizer, state["optimizer"])),
        ("scheduler", lambda: scheduler.load_state_dict(state["scheduler"])),
        ("gradient scaler", lambda: scaler.load_state_dict(state["scaler"])),
        ("random generator", lambda: checkpoints.set_rng_state(state["rng"][ctx.rank], ctx.device)),
    ]:
        try:
            restore()
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise weights.CheckpointError(f"{path}: its {part} state does not fit this run ({exc}): {_DAMAGED}") from None
    if scheduler.last_epoch != saved_result["global_step"]:
        raise weights.CheckpointError(f"{path}: its scheduler is at step {scheduler.last_epoch} but its result at "
                                      f"step {saved_result['global_step']}: {_DAMAGED}")
    for key, value in saved_result.items():
        setattr(result, key, value)
    return state["position"]


def check_optimizer_state(saved: Any, model, optimizer, path: Path) -> None:
    """The saved AdamW state names this model's parameters, in this optimizer's groups, with
    their shapes (loading a foreign one would otherwise go through, or fail deep in torch)."""
    if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict) or not isinstance(saved.get("param_groups"), list):
        raise weights.CheckpointError(f"{path}: its optimizer state is not what minibert saves: {_DAMAGED}")
    names = {id(p): name for name, p in distributed.unwrap_model(model).named_parameters()}
    ours = [[names.get(id(p)) for p in group["params"]] for group in optimizer.param_groups]
    if [g.get("params") if isinstance(g, dict) else None for g in saved["param_groups"]] != ours:
        raise weights.CheckpointError(f"{path}: its optimizer state is for other parameters than this model's: "
                                      f"it was written for another model")
    shapes = {name: tuple(p.shape) for name, p in distributed.unwrap_model(model).named_parameters()}
    for name, moments in saved["state"].items():
        if not isinstance(moments, dict) or any(isinstance(v, torch.Tensor) and v.dim() and tuple(v.shape) != shapes.get(name)
                                                for v in moments.values()):
            raise weights.CheckpointError(f"{path}: its optimizer state for {name} does not have the parameter's shape "
                                          f"{shapes.get(name)}: it was written for another model")
