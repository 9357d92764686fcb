"""One run at a time per output folder: an advisory lock that dies with the process.

Two runs writing the same `--out` both exited 0, the first one's results were
lost and journal.jsonl held a torn line. A run holds an exclusive ``flock`` on
``.harness.lock`` in the folder for as long as it writes there. The kernel
releases it when the process ends, however it ends (even SIGKILL), so a killed
run never leaves a stale lock; the file itself stays, holding the last
holder's pid for the message a second run prints.
"""

from __future__ import annotations

import os
from pathlib import Path

LOCK_FILE = ".harness.lock"


class FolderBusy(Exception):
    """Another process holds the folder's lock; the message names it and what to do."""


class FolderLock:
    """The lock on one output folder, held from ``acquire`` until ``release`` (or the process ends)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, what: str = "--out") -> FolderLock:
        """Take the lock or raise FolderBusy at once (never waits); a no-op where fcntl does not exist."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks of this kind; runs are not protected from each other
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise FolderBusy(f"another harness run (pid {holder}) is writing to {self.folder}; wait for it to "
                             f"finish, or choose another {what}") from None  # fmt: skip
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
