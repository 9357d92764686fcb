"""Writing a file so a crash never leaves half of it: temp file, fsync, rename.

Cassettes, results.json, run.json and the reports all go through here, so
each gets the same guarantee: a reader sees the old file or the new one.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from harness.core.text_policy import STORABLE_ERRORS


def write_atomic(path: Path, fill: Callable[[TextIO], None]) -> None:
    """Create ``path`` through ``fill(file)``, which may stream (json.dump) rather than build one string."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # Text that is not valid Unicode is written as U+FFFD, never raised (harness/core/text_policy.py).
        with os.fdopen(fd, "w", encoding="utf-8", errors=STORABLE_ERRORS, newline="\n") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # A write killed before its rename (SIGKILL, power loss) leaves its temp file: sweep it with the next write.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.????????.tmp"):  # mkstemp: 8 random characters
        stale.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text))
