"""Where something is in a file, so every message can point at the line to fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Loc:
    """A place in a file, 1-based, as editors show it.

    Line 0 is the path as a whole (a missing file); column 0 is a whole line (a row of a data
    file, a line of a prompt file), shown as ``file:line``.
    """

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"
