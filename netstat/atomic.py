"""Atomic file writes: every file netstat writes (reports, baselines,
figures, the catalogue) goes through here, so a reader sees the old file or
the new one, never half of one, and an interrupted write leaves the old file
intact. `file_lock` serialises read-modify-write cycles of one file (the
baseline) between processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]


def atomic_write(path: str | Path, write: Callable[[IO], Any], binary: bool = False) -> None:
    """Write `path` through `write(handle)` into a temporary file in the same
    directory, then os.replace it over `path`: readers see the old file or the
    new one, never half of one. On any error the old file is left intact and
    the temporary file removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n")) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text))


def lock_path(path: str | Path) -> Path:
    """The lock file of `path`: `.NAME.lock` beside it."""
    path = Path(path)
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block, waiting for it: flock
    on `lock_path(path)` (its directory and the lock file are created; the
    lock file stays, since removing it would let a third process lock a new
    file while a second still holds the old one). OSError when it cannot be
    created. Without fcntl (Windows) the block runs unlocked."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
