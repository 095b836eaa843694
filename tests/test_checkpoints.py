"""One checkpoint mechanism for both loops: a checkpoint directory is replaced whole or not at
all. A crash is simulated at every file-system step of a save (and again at every step of the
recovery that follows): the next start always finds the newest complete checkpoint under its
canonical name, later saves go there, and nothing temporary is left behind."""

from __future__ import annotations

import os
import random
import shutil

import numpy as np
import pytest
import torch

from minibert import checkpoints

MARK = "state.json"  # the file each writer below writes last


class Killed(BaseException):
    """A crash: not an Exception, so no `except Exception` handler treats it as an error."""


class Crashing:
    """Stands in for the os / shutil modules inside minibert.checkpoints, and dies at the
    k-th file-system call that changes something (rename, unlink, rmtree)."""

    def __init__(self, module, k: int, counter: list[int]):
        self.module, self.k, self.counter = module, k, counter

    def __getattr__(self, name):
        real = getattr(self.module, name)
        if name not in ("replace", "unlink", "rmtree"):
            return real

        def step(*args, **kwargs):
            self.counter[0] += 1
            if self.counter[0] == self.k:
                raise Killed(f"killed at step {self.k} ({name})")
            return real(*args, **kwargs)

        return step


def crash_at(monkeypatch, k: int) -> list[int]:
    counter = [0]
    monkeypatch.setattr(checkpoints, "os", Crashing(os, k, counter))
    monkeypatch.setattr(checkpoints, "shutil", Crashing(shutil, k, counter))
    return counter


def writer(version: int):
    def write(directory):
        (directory / "weights.bin").write_text(f"weights {version}")
        (directory / MARK).write_text(str(version))

    return write


def version_of(directory) -> int:
    assert (directory / "weights.bin").read_text() == f"weights {(directory / MARK).read_text()}"
    return int((directory / MARK).read_text())


def test_a_save_replaces_the_checkpoint_and_leaves_nothing_else(tmp_path):
    final = tmp_path / "last-checkpoint"
    checkpoints.save(final, writer(1), MARK)
    checkpoints.save(final, writer(2), MARK)
    assert version_of(final) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last-checkpoint"]


def crashed_save_then_crashed_recovery(out, monkeypatch, k: int, k_recovery: int) -> tuple[bool, bool]:
    """Save version 1, then version 2 killed at step k, then a start killed at step
    k_recovery of its recovery (0: not killed). Returns whether each crash happened."""
    final = out / "last-checkpoint"
    checkpoints.save(final, writer(1), MARK)
    crashes = []
    for step, action in ((k, lambda: checkpoints.save(final, writer(2), MARK)),
                         (k_recovery, lambda: checkpoints.prepare(out, MARK))):
        crash_at(monkeypatch, step)
        try:
            action()
            crashes.append(False)
        except Killed:
            crashes.append(True)
        monkeypatch.undo()
    return crashes[0], crashes[1]


def test_a_crash_at_any_step_of_a_save_and_of_the_recovery_keeps_the_newest_complete_checkpoint(tmp_path, monkeypatch):
    cases = []
    k = 1
    while crashed_save_then_crashed_recovery(tmp_path / f"probe-{k}", monkeypatch, k, 0)[0]:
        k_recovery = 0
        while True:
            out = tmp_path / f"{k}-{k_recovery}"
            crashed, recovery_crashed = crashed_save_then_crashed_recovery(out, monkeypatch, k, k_recovery)
            if k_recovery and not recovery_crashed:
                break  # every step of the recovery has been tried
            cases.append((k, k_recovery))
            checkpoints.prepare(out, MARK)  # the next start
            final = out / "last-checkpoint"
            assert version_of(final) == 2, (k, k_recovery)  # the save had finished writing
            assert sorted(p.name for p in out.iterdir()) == ["last-checkpoint"], (k, k_recovery)
            checkpoints.save(final, writer(3), MARK)  # later saves go to the canonical name
            assert version_of(final) == 3 and sorted(p.name for p in out.iterdir()) == ["last-checkpoint"]
            k_recovery += 1
        k += 1
    assert k > 3 and len(cases) > k, cases  # the save has several steps, and recoveries were interrupted too


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path):
    final = tmp_path / "last-checkpoint"
    checkpoints.save(final, writer(1), MARK)

    def dies_half_way(directory):
        (directory / "weights.bin").write_text("half")
        raise Killed

    with pytest.raises(Killed):
        checkpoints.save(final, dies_half_way, MARK)
    assert version_of(final) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["last-checkpoint"]
    # A kill gives no chance to clean up: the next start removes the unfinished directory.
    staging = checkpoints.staging_path(final)
    staging.mkdir()
    (staging / "weights.bin").write_text("half")
    checkpoints.prepare(tmp_path, MARK)
    assert version_of(final) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["last-checkpoint"]


def test_prepare_removes_the_temporary_files_of_interrupted_writes_and_nothing_else(tmp_path):
    checkpoints.save(tmp_path / "last-checkpoint", writer(1), MARK)
    orphans = [tmp_path / ".model.safetensors.k2j4_x9.tmp", tmp_path / "last-checkpoint" / ".trainer_state.pt.ab12cd.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"\0" * 16)
    kept = [tmp_path / "model.safetensors", tmp_path / "notes.tmp", tmp_path / ".hidden"]
    for path in kept:
        path.write_text("user file")
    removed = checkpoints.prepare(tmp_path, MARK)
    assert sorted(removed) == sorted(orphans)
    assert all(path.exists() for path in kept) and not any(o.exists() for o in orphans)


def test_newest_and_rotate_count_complete_checkpoints_only(tmp_path):
    pattern = r"checkpoint-(\d+)"
    for step in (2, 4, 10):
        checkpoints.save(tmp_path / f"checkpoint-{step}", writer(step), MARK)
    (tmp_path / "checkpoint-12").mkdir()  # incomplete: no MARK
    assert checkpoints.newest(tmp_path, pattern, MARK).name == "checkpoint-10"
    checkpoints.rotate(tmp_path, pattern, MARK, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10", "checkpoint-12", "checkpoint-4"]


def test_rng_state_round_trips_every_generator_and_loads_with_weights_only(tmp_path):
    masking = torch.Generator().manual_seed(5)
    state = checkpoints.rng_state("cpu", {"masking": masking})
    torch.save(state, tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=masking).item())
    checkpoints.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True), "cpu", {"masking": masking})
    again = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=masking).item())
    assert again == expected


def test_rng_state_of_an_older_pre_training_checkpoint_still_restores():
    """Before minibert.checkpoints, pre-training saved torch's generator and the masking one only."""
    masking = torch.Generator().manual_seed(7)
    old = {"torch": torch.get_rng_state(), "masking": masking.get_state()}
    expected = (torch.rand(1).item(), torch.rand(1, generator=masking).item())
    checkpoints.set_rng_state(old, "cpu", {"masking": masking})
    assert (torch.rand(1).item(), torch.rand(1, generator=masking).item()) == expected
