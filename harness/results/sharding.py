"""Split a run into stable, balanced shards, and merge the shards' results into one run.

Shard K of N (1-based): every case is sorted by ``(suite, case id)`` and the
cases are dealt out round-robin, so the i-th case in that order (counting from
0) belongs to shard ``i % N + 1``. The assignment depends only on the set of
cases -- not on file order, the machine, the Python hash seed or the clock --
so N CI jobs given the same suites cover every case exactly once, and shard
sizes differ by at most one case. (Adding a case can move later cases to
another shard; coverage stays exact, which is all a CI matrix needs.)

Pure functions over plain types: the CLI reads and writes the files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness.core.result import CaseResult, RunResult

T = TypeVar("T")

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")

# Settings that change a case's outcome: shards that disagree on them are merged with a warning.
OUTCOME_SETTINGS = ("model", "cassettes")


class ShardError(ValueError):
    """A --shard value that is not K/N with 1 <= K <= N."""


class MergeError(ValueError):
    """Results that cannot be combined: duplicate cases, different schema versions, nothing given."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``total``, both counted from 1 as people (and CI matrices) count."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"

    def owns(self, position: int) -> bool:
        """Whether the case at ``position`` in the sorted order belongs to this shard."""
        return position % self.total == self.index - 1


def parse_shard(text: str) -> Shard:
    """Parse ``K/N``; raise ShardError with the fix."""
    match = _SHARD.fullmatch(text)
    if not match:
        raise ShardError(f"expected K/N, e.g. 2/4 for the second of four shards, got {text!r}")
    index, total = int(match.group(1)), int(match.group(2))
    if total < 1 or not 1 <= index <= total:
        raise ShardError(f"shard {index}/{total} does not exist; K must be between 1 and N, e.g. 1/{max(total, 1)}")
    return Shard(index, total)


def shard_key(item: Any) -> tuple[str, str]:
    """The sort key of a case plan (or anything with ``.key == (suite, case id)``)."""
    suite, case_id = item.key[:2]
    return (suite, case_id)


def select_shard(items: Sequence[T], shard: Shard, key: Callable[[T], tuple[str, str]] = shard_key) -> list[T]:
    """The items of ``shard``, in their original order (so a shard runs like a filtered full run)."""
    order = sorted(range(len(items)), key=lambda i: key(items[i]))
    chosen = {i for position, i in enumerate(order) if shard.owns(position)}
    return [item for i, item in enumerate(items) if i in chosen]


@dataclass
class Merged:
    """The combined run, and anything odd about its inputs that did not stop the merge."""

    run: RunResult
    warnings: list[str] = field(default_factory=list)


def _fingerprints(sources: Sequence[tuple[str, RunResult]]) -> dict[str, str]:
    """Every suite's fingerprint, when the shards agree on it (shards of different suites cannot be re-run)."""
    found: dict[str, set[str]] = {}
    for _, run in sources:
        for suite, digest in run.fingerprints.items():
            found.setdefault(suite, set()).add(digest)
    return {suite: next(iter(digests)) for suite, digests in found.items() if len(digests) == 1}


def merge_runs(sources: Sequence[tuple[str, RunResult]]) -> Merged:
    """Combine disjoint runs (named by where they came from) into one run.

    Refuses mixed schema versions and any case present in two inputs, listing
    every duplicate. Cases are ordered by (suite, case id, repeat): the order
    of the whole run is not recoverable from its shards, and a fixed order
    keeps the merged file stable.
    """
    if not sources:
        raise MergeError("nothing to merge: give at least one results.json")
    versions = {run.schema_version for _, run in sources}
    if len(versions) > 1:
        listed = ", ".join(f"{name} has {run.schema_version}" for name, run in sources)
        raise MergeError(f"results use different schema versions ({listed}); "
                         "re-run every shard with the same prompt-harness version")  # fmt: skip
    seen: dict[tuple[str, str, int], str] = {}
    duplicates: list[str] = []
    cases: list[CaseResult] = []
    for name, run in sources:
        for case in run.cases:
            if case.key in seen:
                repeat = f" (repeat {case.repeat})" if case.repeat else ""
                duplicates.append(f"{case.suite} / {case.label}{repeat} is in both {seen[case.key]} and {name}")
                continue
            seen[case.key] = name
            cases.append(case)
    if duplicates:
        more = f" (and {len(duplicates) - 10} more)" if len(duplicates) > 10 else ""
        raise MergeError("the same case appears in more than one input, so the inputs are not disjoint shards; "
                         "merge each shard once:\n  " + "\n  ".join(duplicates[:10]) + more)  # fmt: skip
    cases.sort(key=lambda c: c.key)
    first = sources[0][1]
    settings = {k: v for k, v in first.settings.items() if k != "shard"}
    settings["merged_from"] = [name for name, _ in sources]
    shards = [run.settings.get("shard") for _, run in sources]
    if any(shards):
        settings["shards"] = shards
    starts = [run.started_at for _, run in sources if run.started_at]
    merged = RunResult(
        settings=settings,
        cases=cases,
        started_at=min(starts) if starts else "",
        duration_ms=max(run.duration_ms for _, run in sources),  # the shards ran side by side
        schema_version=first.schema_version,
        fingerprints=_fingerprints(sources),
    )
    return Merged(merged, _setting_warnings(sources) + _coverage_warnings(sources))


_CHOOSING_SETTINGS = (("paths", "PATH"), ("cases", "--case"), ("variants", "--variant"))


def expected_shards_problem(sources: Sequence[tuple[str, RunResult]], expected: int) -> str | None:
    """Why the inputs are not exactly shards 1/N..N/N of one N-way split (N = ``expected``), or None.

    A merge that only warns lets a CI gate pass on three of four shards when one job
    died before uploading; `harness merge --expect-shards N` refuses instead.
    """
    parsed: list[Shard] = []
    for name, run in sources:
        text = run.settings.get("shard")
        try:
            parsed.append(parse_shard(text) if isinstance(text, str) else parse_shard(""))
        except ShardError:
            return f"{name} was not run with --shard, so it cannot be one of {expected} shards"
    for key, flag in _CHOOSING_SETTINGS:  # what decides the cases a shard is cut from
        if len({repr(run.settings.get(key) or []) for _, run in sources}) > 1:
            listed = "; ".join(f"{name}: {run.settings.get(key) or []}" for name, run in sources)
            return (f"the shards did not run the same suites: their {flag} differ ({listed}); cut every shard from "
                    "the same run")  # fmt: skip
    totals = sorted({s.total for s in parsed})
    if totals != [expected]:
        split = " and ".join(f"{n}-way" for n in totals)
        return f"expected {expected} shards, got {len(parsed)} of a {split} split ({', '.join(map(str, parsed))})"
    missing = sorted(set(range(1, expected + 1)) - {s.index for s in parsed})
    if missing:
        listed = ", ".join(f"{k}/{expected}" for k in missing)
        return (f"expected {expected} shards, got {len(parsed)}: shard{'s' if len(missing) > 1 else ''} {listed} "
                f"{'are' if len(missing) > 1 else 'is'} missing; the merged run would leave its cases out")  # fmt: skip
    return None


def _setting_warnings(sources: Sequence[tuple[str, RunResult]]) -> list[str]:
    warnings = []
    for key in OUTCOME_SETTINGS:
        values = {repr(run.settings.get(key)) for _, run in sources}
        if len(values) > 1:
            listed = ", ".join(f"{name}: {run.settings.get(key)!r}" for name, run in sources)
            warnings.append(f"inputs ran with different `{key}` settings ({listed}); outcomes may not be comparable")
    return warnings


def _coverage_warnings(sources: Sequence[tuple[str, RunResult]]) -> list[str]:
    """Say which shards of a K/N split are missing, when every input says which shard it was."""
    parsed: list[Shard] = []
    for _, run in sources:
        text = run.settings.get("shard")
        if not isinstance(text, str):
            return []
        try:
            parsed.append(parse_shard(text))
        except ShardError:
            return []
    totals = {s.total for s in parsed}
    if len(totals) > 1:
        return [f"inputs come from different splits ({', '.join(str(s) for s in parsed)}); cases may be missing or repeated"]
    (total,) = totals
    missing = sorted(set(range(1, total + 1)) - {s.index for s in parsed})
    if missing:
        return [f"shard(s) {', '.join(f'{k}/{total}' for k in missing)} not given; the merged run is incomplete"]
    return []
