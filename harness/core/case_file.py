"""A run's cases read back from disk one at a time, so a 100,000-case run never holds them all.

The journal already has every finished case as one JSON line. ``CaseFile`` is the
sequence of a run's cases in plan order, each entry either the (offset, length)
of its line in that file or, for the few cases never written there (interrupted,
or kept because the disk failed), the case itself. Iterating it parses one line at
a time: results.json and every report are written from it with memory that does
not grow with the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, overload

from harness.core.policy import CasePolicy
from harness.core.reply import Usage
from harness.core.result import CaseResult, case_from_dict, case_json

Span = tuple[int, int]  # byte offset and length of one JSON line


@dataclass(frozen=True, slots=True)
class CaseHead:
    """What the totals, outcomes, gates and exit code read of a case, without its turns (a few hundred bytes).

    A run read back from disk keeps one of these per case, so the summary, outcomes and metrics
    need no pass over the files; renderers that show turns read the cases themselves."""

    suite: str
    id: str
    status: str
    repeat: int
    score: float | None
    policy: CasePolicy
    file: str
    variant: str
    model: str
    error: str | None
    reason: str | None
    recording: dict[str, Any] | None
    usage: Usage
    cost_usd: float | None
    metrics: tuple[tuple[str, bool], ...]  # (metric, passed) of each check that names a `metric:`

    @property
    def label(self) -> str:
        return f"{self.id} [{self.variant}]" if self.variant else self.id

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.suite, self.label, self.repeat)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by every `--workers` worker for each case it sends: the frozen dataclass default restores a
        # field at a time through dataclasses.fields() (half the parent's CPU time while a 10,000-case replay ran).
        return (CaseHead, tuple(getattr(self, name) for name in _HEAD_FIELDS))


_HEAD_FIELDS = tuple(f.name for f in fields(CaseHead))


def head_of(case: CaseResult) -> CaseHead:
    """The small part of a case that aggregates need."""
    metrics = tuple((c.metric, c.passed) for t in case.turns for c in t.checks if c.metric)
    return CaseHead(case.suite, case.id, case.status, case.repeat, case.score, case.policy, case.file, case.variant,
                    case.model, case.error, case.reason, case.recording, case.usage, case.cost_usd, metrics)  # fmt: skip


class CaseFile(Sequence[CaseResult]):
    """Cases in a fixed order, read from JSON lines of ``path`` as they are iterated (never cached)."""

    def __init__(self, path: Path, entries: list[Span | CaseResult], heads: list[CaseHead]):
        self.path = Path(path)
        self._entries = entries
        self.heads = heads  # one per case, in the same order
        self.kept_outcomes: list[Any] | None = None  # harness/core/outcomes.py works them out once

    def reordered(self, order: list[int]) -> CaseFile:
        """The same cases in another order (positions into this one)."""
        return CaseFile(self.path, [self._entries[i] for i in order], [self.heads[i] for i in order])

    def where(self, keep: Callable[[CaseHead], bool]) -> Iterator[CaseResult]:
        """The cases whose head ``keep`` accepts, in order, reading only their lines (the failures of a large
        run that mostly passed, without parsing every case)."""
        return self._read([entry for entry, head in zip(self._entries, self.heads) if keep(head)])

    def raw(self) -> Iterator[dict[str, Any] | CaseResult]:
        """Each case as its journal line's JSON (what case_to_dict made of it), or the case when it is held."""
        return (json.loads(e) if isinstance(e, bytes) else e for e in self._each(self._entries))

    def json_lines(self) -> Iterator[str]:
        """Each case as its journal line's text (compact JSON, ``case_json``), held cases encoded the same way."""
        return (e.decode("utf-8", "replace").rstrip("\n") if isinstance(e, bytes) else case_json(e)
                for e in self._each(self._entries))  # fmt: skip

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, index: int) -> CaseResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[CaseResult]: ...

    def __getitem__(self, index: int | slice) -> CaseResult | list[CaseResult]:
        if isinstance(index, slice):
            return list(self._read(self._entries[index]))
        return next(self._read([self._entries[index]]))

    def __iter__(self) -> Iterator[CaseResult]:
        return self._read(self._entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CaseFile({str(self.path)!r}, {len(self)} cases)"

    def _read(self, entries: list[Span | CaseResult]) -> Iterator[CaseResult]:
        return (case_from_dict(json.loads(e)) if isinstance(e, bytes) else e for e in self._each(entries))

    def _each(self, entries: list[Span | CaseResult]) -> Iterator[bytes | CaseResult]:
        """Each entry's journal line (bytes) or its held case, in order; the file is opened only when a line is read."""
        if not any(isinstance(e, tuple) for e in entries):
            yield from entries  # type: ignore[misc]
            return
        with self.path.open("rb") as f:
            for entry in entries:
                if isinstance(entry, tuple):
                    f.seek(entry[0])
                    yield f.read(entry[1])
                else:
                    yield entry


def cases_where(cases: Iterable[CaseResult], keep: Callable[[Any], bool]) -> Iterator[CaseResult]:
    """The cases ``keep`` accepts (it sees a CaseHead, or the case itself for a run held in memory); from a
    CaseFile only the accepted cases are read back."""
    if isinstance(cases, CaseFile):
        return cases.where(keep)
    return (case for case in cases if keep(case))
