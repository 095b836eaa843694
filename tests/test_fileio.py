"""minibert.fileio: the atomic file writer."""

from __future__ import annotations

import os
import stat

import pytest

from minibert.fileio import atomic_write_text


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_respect_the_umask(tmp_path, umask):
    # A temporary file is private (0600); the file users get must have the usual mode.
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "config.json", "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert path.read_text() == "{}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary file left behind
