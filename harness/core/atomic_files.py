"""Writing a file so a crash never leaves half of it: temp file, fsync, rename.

Cassettes, results.json, run.json and the reports all go through here, so
each gets the same guarantee: a reader sees the old file or the new one.
"""

from __future__ import annotations

import os
import re
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
    _sweep(path)


_TEMP_NAME = re.compile(r"\.(.+)\.[^.]{8}\.tmp")  # mkstemp's name above: the file's name, 8 random characters
_stale: dict[str, dict[str, list[str]]] = {}  # folder -> file name -> its temp files there when first listed


def _sweep(path: Path) -> None:
    """Remove the temp files a killed write of ``path`` left (SIGKILL or power loss before the rename).

    Each folder is listed once per process, not at every write: listing a folder of 100,000 cassettes at
    each one's write made recording them quadratic. A temp file of this name found then is removed when
    the name is next written; one that appears later (another process's write in flight) is left alone."""
    folder = str(path.parent)
    found = _stale.get(folder)
    if found is None:
        found = _stale[folder] = {}
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if match := _TEMP_NAME.fullmatch(entry.name):
                        found.setdefault(match.group(1), []).append(entry.path)
        except OSError:
            pass
    for stale in found.pop(path.name, ()):
        Path(stale).unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text))
