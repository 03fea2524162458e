"""Atomic file writes: every file netstat writes (reports, baselines,
figures, the catalogue) goes through here, so a reader sees the old file or
the new one, never half of one, and an interrupted write leaves the old file
intact. A path that is a symbolic link is written through: its target is
replaced and the link kept. `file_lock` serialises read-modify-write cycles
of one file (the baseline) between processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from filelock import FileLock


def atomic_write(path: str | Path, write: Callable[[IO], Any], binary: bool = False) -> None:
    """Write `path` through `write(handle)` into a temporary file in the same
    directory, then os.replace it over `path`: readers see the old file or the
    new one, never half of one. On any error the old file is left intact and
    the temporary file removed. A symbolic link is followed: the target is
    written, the link stays a link."""
    path = target(path)
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


def target(path: str | Path) -> Path:
    """The file `path` names: a symbolic link's target (even a dangling
    one's), else `path` itself."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def lock_path(path: str | Path) -> Path:
    """The lock file of `path` (of a symbolic link's target): `.NAME.lock`
    beside it. Hidden, and not named *.json: never taken for the file."""
    path = target(path)
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block, waiting for it:
    `filelock.FileLock` on `lock_path(path)` (flock on POSIX, msvcrt on
    Windows; its directory is created). The lock file exists only while a
    process holds or waits for it: the holder removes it before releasing
    the lock, and a process that then gets the lock on a file that was
    removed (or replaced) under it starts again on the new one, so no two
    processes ever hold the lock at once. (A process killed while holding it
    leaves the file, which the next one uses and removes. On Windows an open
    file cannot be removed, so the file stays.) OSError when it cannot be
    created."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    held = _Held(lock)
    while not held.take():
        pass
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        held.lock.release()


class _Held:
    """One `filelock.FileLock` on `path`, and the identity (device, inode) of
    the file its descriptor locked, to tell whether that is still the file
    at `path` (the previous holder may have removed it while we waited)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity: tuple[int, int] | None = None
        self.lock = FileLock(path, thread_local=False, on_acquired=self._record)

    def _record(self, fd: int) -> None:
        stat = os.fstat(fd)
        self.identity = (stat.st_dev, stat.st_ino)

    def take(self) -> bool:
        """Wait for the lock; True when it is held on the file now at the
        path, else released again (the caller tries once more)."""
        self.lock.acquire()
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            now = None
        if now is not None and self.identity in (None, (now.st_dev, now.st_ino)):
            return True
        self.lock.release()
        return False
