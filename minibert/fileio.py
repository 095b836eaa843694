"""Writing files safely: every file minibert saves goes through here.

A file is written under a temporary name beside its destination and renamed over it, so a
crash leaves the old file or the new one, never half of one; and it gets the permissions a
plain `open()` would have given it (0666 less the umask), not the private mode of a
temporary file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write_bytes(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Write through `write(temp_path)` into a temporary file beside `path`, then rename:
    a crash leaves the old file or the new one, never half of one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); a saved model is for others to read too, so
        # give it the mode a plain open() would: 0666 less the umask (0644 typically). After
        # `write`, not before: a writer may replace the file rather than fill it (the
        # safetensors library writes its own private file), and the new one must get it too.
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _umask() -> int:
    # Linux shows the umask without changing it; elsewhere reading it means setting it (for
    # an instant, process-wide) and putting it straight back.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
