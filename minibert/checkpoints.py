"""Checkpoint directories written so that a crash at any moment loses at most the save in progress.

Both loops (fine-tuning: `last-checkpoint/`, pre-training: `checkpoint-<step>/`) keep their own
file layout and use this one mechanism:

    save(final, write, complete)    write(staging_dir) fills `.NAME.new/`, whose `complete` file
                                    is written last; then the swap:
                                        rename NAME -> .NAME.old      (if NAME exists)
                                        rename .NAME.new -> NAME
                                        remove .NAME.old
    recover(final, complete)        after a crash, whatever step it hit: keep the newest
                                    complete copy under the canonical NAME, remove the rest
    check_writable(directory)       before a run trains: fail now if it could not save later
    prepare(directory, complete)    at the start of a run: recover every checkpoint in the
                                    directory and remove the temporary files that interrupted
                                    writes left (`.model.safetensors.XXXX.tmp`, ...)
    newest(directory, pattern, key) the complete checkpoint with the highest key
    rotate(directory, pattern, key, keep)

Which copy is newest never needs a clock: a complete `.NAME.new` exists only when a save
finished writing but did not finish swapping, so it is newer than NAME, which is newer than
`.NAME.old`.

The random generators (Python, NumPy, torch CPU and CUDA, and any named torch.Generator)
are part of every checkpoint: `rng_state()` and `set_rng_state()`.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

STAGING, PREVIOUS = ".new", ".old"
# What weights.atomic_write_bytes leaves when killed mid-write: `.<file name>.<random>.tmp`.
TEMP_FILE = re.compile(r"\..+\.[A-Za-z0-9_]+\.tmp")


def staging_path(final: Path) -> Path:
    return final.with_name(f".{final.name}{STAGING}")


def previous_path(final: Path) -> Path:
    return final.with_name(f".{final.name}{PREVIOUS}")


def is_complete(directory: Path, complete: str) -> bool:
    return (directory / complete).is_file()


def save(final: str | os.PathLike, write: Callable[[Path], None], complete: str) -> Path:
    """Write a checkpoint directory through `write(staging)`, which must write the file
    `complete` last, and swap it in for `final`. A failure while writing removes the
    unfinished staging directory; a crash anywhere is undone by `recover`."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    recover(final, complete)  # a previous save may have stopped half-way
    staging, previous = staging_path(final), previous_path(final)
    staging.mkdir()
    try:
        write(staging)
        if not is_complete(staging, complete):
            raise RuntimeError(f"the checkpoint writer did not write {complete} into {staging}")
    except BaseException:
        delete(staging, complete)
        raise
    if final.exists():
        os.replace(final, previous)
    os.replace(staging, final)
    delete(previous, complete)
    return final


def recover(final: str | os.PathLike, complete: str) -> Path | None:
    """Leave the newest complete copy of checkpoint `final` under its own name (staging,
    then final, then previous) and remove the others; returns `final`, or None when there is
    no complete copy. Safe to interrupt and run again."""
    final = Path(final)
    staging, previous = staging_path(final), previous_path(final)
    if is_complete(staging, complete):
        if final.exists():
            delete(previous, complete)
            os.replace(final, previous)
        os.replace(staging, final)
    elif not is_complete(final, complete) and is_complete(previous, complete):
        delete(final, complete)
        os.replace(previous, final)
    delete(staging, complete)
    delete(previous, complete)
    return final if is_complete(final, complete) else None


def check_writable(directory: str | os.PathLike) -> None:
    """Raise OSError, saying why, when `directory` could not be written: before training,
    not after an epoch's work. An existing directory gets a file written into it and removed;
    a new one is checked against its nearest existing parent, and nothing is created."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise OSError(f"{directory} exists and is not a directory")
    if directory.is_dir():
        try:  # named like an interrupted atomic write, so that `prepare` removes it after a crash
            fd, name = tempfile.mkstemp(prefix=".write-test.", suffix=".tmp", dir=directory)
            os.close(fd)
            os.unlink(name)
        except OSError as exc:
            raise OSError(f"cannot write into {directory}: {exc.strerror}") from None
        return
    parent = directory.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OSError(f"cannot create {directory}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OSError(f"cannot create {directory}: {parent} is not writable")


def prepare(directory: str | os.PathLike, complete: str) -> list[Path]:
    """Recover every checkpoint of `directory` (see `recover`) and delete the temporary files
    interrupted atomic writes left in it and in its checkpoints. Returns what was removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    for path in list(directory.iterdir()):
        for suffix in (STAGING, PREVIOUS):
            if path.is_dir() and path.name.startswith(".") and path.name.endswith(suffix):
                recover(directory / path.name[1 : -len(suffix)], complete)
    removed = []
    for folder in [directory, *(p for p in directory.iterdir() if p.is_dir())]:
        for path in folder.iterdir():
            if path.is_file() and TEMP_FILE.fullmatch(path.name):
                path.unlink()
                removed.append(path)
    return removed


def newest(directory: str | os.PathLike, pattern: str, complete: str) -> Path | None:
    """The complete checkpoint whose name matches `pattern` (a regex whose group 1 is a step
    number) with the highest step."""
    found = _matching(Path(directory), pattern, complete)
    return found[-1][1] if found else None


def rotate(directory: str | os.PathLike, pattern: str, complete: str, keep: int | None) -> None:
    """Delete all but the `keep` newest complete checkpoints matching `pattern`."""
    if keep is None:
        return
    for _, path in _matching(Path(directory), pattern, complete)[:-keep]:
        delete(path, complete)


def _matching(directory: Path, pattern: str, complete: str) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    return sorted(
        (int(m.group(1)), p) for p in directory.iterdir()
        if (m := re.fullmatch(pattern, p.name)) and is_complete(p, complete)
    )


def remove(final: str | os.PathLike, complete: str) -> None:
    """Delete a checkpoint and any staging or previous copy of it."""
    final = Path(final)
    for path in (staging_path(final), final, previous_path(final)):
        delete(path, complete)


def delete(directory: Path, complete: str) -> None:
    """Remove a checkpoint directory, its `complete` file first: a crash half-way through
    leaves an incomplete directory, which nothing takes for a checkpoint, never a complete-looking
    one with files missing."""
    if not directory.exists():
        return
    marker = directory / complete
    if marker.is_file():
        os.unlink(marker)
    shutil.rmtree(directory)


# ---------------------------------------------------------------------------------------
# Random generators: saved as tensors and plain values, so that torch.load(weights_only=True)
# reads them back
# ---------------------------------------------------------------------------------------


def rng_state(device: torch.device | str = "cpu", generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """The state of every random generator a training step may draw from: Python's, NumPy's,
    torch's (the CPU's, and `device`'s when it is a GPU), and the named `generators` (e.g. the
    masking one). One process per device: each saves its own device's generator."""
    device = torch.device(device)
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss_next],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": [torch.cuda.get_rng_state(device)] if device.type == "cuda" else [],
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
    }


def set_rng_state(state: dict[str, Any], device: torch.device | str = "cpu",
                  generators: dict[str, torch.Generator] | None = None) -> None:
    """Restore what `rng_state` saved, into the global generators, `device`'s and the named ones."""
    device = torch.device(device)
    if "python" in state:  # pre-training checkpoints written before this module saved torch's and the named ones only
        version, internal, gauss_next = state["python"]
        random.setstate((version, tuple(internal.tolist()), gauss_next))
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda", [])
    cuda = [cuda] if isinstance(cuda, torch.Tensor) else cuda  # older checkpoints: one tensor, or one per GPU
    if cuda and device.type == "cuda":
        torch.cuda.set_rng_state(cuda[device.index or 0] if len(cuda) > 1 else cuda[0], device)
    named = state.get("generators", state)
    for name, generator in (generators or {}).items():
        generator.set_state(named[name])
