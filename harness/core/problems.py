"""Problems in the input: each with where it is and how to fix it, reported all at once."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from harness.core.locations import Loc


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, with where it is and how to fix it."""

    loc: Loc
    message: str

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}"


class SuiteError(Exception):
    """Every problem found in the input; the CLI prints them all and exits 2."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.loc.file, p.loc.line, p.loc.column))
        super().__init__("\n".join(str(p) for p in problems))


def did_you_mean(word: str, choices: set[str] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
