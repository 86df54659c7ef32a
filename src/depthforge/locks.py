"""One writer at a time: an exclusive lock on a manifest part or a run folder, held for a whole job.

Written on ``fcntl.flock`` by hand rather than with ``filelock``: a refused process must name the
holder, so the holder writes its pid into the lock file, and ``filelock`` truncates that file on
every attempt. The kernel drops a flock when its process dies, so the lock of a killed job never
blocks its resume. Lock files are hidden (``.NAME.lock``) and stay in place, empty once released:
removing them would let two processes lock two different files of the same name.
"""

import fcntl
import os
import socket
from pathlib import Path
from types import TracebackType


class LockHeld(RuntimeError):
    """Another running process holds the lock."""


class WriterLock:
    """``with WriterLock(target):`` holds the lock file of ``target`` (``lock_file``, by default the
    hidden sibling ``.NAME.lock``), or raises ``LockHeld`` at once."""

    def __init__(self, target: Path, lock_file: Path | None = None) -> None:
        self.target = target
        self.path = lock_file or target.with_name(f".{target.name}.lock")
        self._fd: int | None = None

    def __enter__(self) -> "WriterLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "an unknown process"
            os.close(fd)
            raise LockHeld(
                f"{self.target}: another process is writing it ({holder}); wait for it to end,"
                " or give this job another folder or shard"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # a free lock names nobody
            os.close(self._fd)  # closing drops the flock
            self._fd = None
