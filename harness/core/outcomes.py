"""A case's verdict over its repeats, the suites' gates and the metrics: what the exit code rests on.

A case run N times leaves N CaseResults (repeat 0..N-1), each passed or failed
on its own checks. Its outcome applies the case's `pass_if` to them: passed
when enough repeats passed, failed when too few could pass even if every
repeat that was not evaluated had passed, and otherwise not decided (error,
interrupted or skipped, like the repeats that were not evaluated). Then the
suite's `min_pass_rate` and a case's `allow_fail` decide which failures the run
tolerates. Pure functions over CaseResults, so `harness run`, `harness merge`,
the pytest plugin, compare and every report agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable
from typing import Any, Protocol

from harness.core.policy import CasePolicy
from harness.core.statuses import ERROR, FAILED, INTERRUPTED, PASSED, SKIPPED


class CaseResult(Protocol):
    """What these functions read of a case result (harness.core.result.CaseResult), named here so the
    result model can aggregate with them without the two modules importing each other."""

    suite: str
    id: str
    status: str
    repeat: int
    score: float | None
    policy: CasePolicy
    turns: list[Any]
    variant: str


EVALUATED = (PASSED, FAILED, ERROR)


@dataclass
class Outcome:
    """One case over all its repeats (one repeat when the case sets none)."""

    suite: str
    id: str
    status: str
    repeats: int
    passed: int
    failed: int
    errored: int
    pass_rate: float | None  # passed / (passed + failed + errored); None when no repeat was evaluated
    policy: Any  # pass_if, as written: "all", "majority" or {"at_least": K}
    flaky: bool  # some repeats passed and some failed
    allow_fail: bool
    tolerated: bool = False  # failed, but the run does not fail on it (allow_fail, or the suite's gate held)
    score: float | None = None  # mean of the repeats' scores (weighted share of passed checks)
    threshold: float | None = None
    file: str = ""
    variant: str = ""  # the suite's variant ("" when the suite has none)

    @property
    def key(self) -> tuple[str, str]:
        return (self.suite, self.label)

    @property
    def label(self) -> str:
        """The case id as reports print it: with its variant in brackets when it has one."""
        return f"{self.id} [{self.variant}]" if self.variant else self.id

    @property
    def tolerated_by(self) -> str | None:
        if not self.tolerated:
            return None
        return "allow_fail" if self.allow_fail else "min_pass_rate"

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict(self)``, written out (results.json writes one per case: the generic deep copy was
        a second of a 10,000-case run's last, serial step); without ``variant`` when the suite has none."""
        policy = self.policy
        data = {"suite": self.suite, "id": self.id, "status": self.status, "repeats": self.repeats,
                "passed": self.passed, "failed": self.failed, "errored": self.errored, "pass_rate": self.pass_rate,
                "policy": dict(policy) if isinstance(policy, dict) else policy, "flaky": self.flaky,
                "allow_fail": self.allow_fail, "tolerated": self.tolerated, "score": self.score,
                "threshold": self.threshold, "file": self.file, "variant": self.variant}  # fmt: skip
        if not self.variant:  # as in schema_version 2 when the suite has no variants
            del data["variant"]
        return data


@dataclass
class SuiteGate:
    """A suite's `min_pass_rate` against the share of its evaluated cases that passed."""

    suite: str
    min_pass_rate: float | None
    passed: int
    evaluated: int

    @property
    def rate(self) -> float | None:
        return self.passed / self.evaluated if self.evaluated else None

    @property
    def ok(self) -> bool | None:
        """None when the suite sets no gate."""
        if self.min_pass_rate is None:
            return None
        return self.rate is None or self.rate >= self.min_pass_rate - 1e-12

    def describe(self) -> str:
        rate = (
            "no case evaluated"
            if self.rate is None
            else f"{self.passed} of {self.evaluated} cases passed ({self.rate:.0%})"
        )
        verdict = {True: "gate held", False: "gate failed", None: "no gate"}[self.ok]
        return f"{rate}; min_pass_rate {self.min_pass_rate:.0%}: {verdict}" if self.min_pass_rate is not None else rate


@dataclass
class MetricTotal:
    """Checks named with `metric:`, counted over every repeat of every case."""

    metric: str
    passed: int
    total: int

    @property
    def share(self) -> float | None:
        return self.passed / self.total if self.total else None

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "passed": self.passed, "total": self.total, "share": self.share}


def case_outcome(repeats: list[CaseResult]) -> Outcome:
    """Apply the case's pass_if to its repeats (all of one case, in any order)."""
    first = repeats[0]
    policy = first.policy
    counts = {PASSED: 0, FAILED: 0, ERROR: 0, INTERRUPTED: 0, SKIPPED: 0}
    for r in repeats:
        counts[r.status] = counts.get(r.status, 0) + 1
    n = len(repeats)
    passed, failed, errored = counts[PASSED], counts[FAILED], counts[ERROR]
    if n == 1:
        status = first.status
    else:
        need = policy.rule.required(n)
        if passed >= need:
            status = PASSED
        elif n - failed < need:  # too few could pass, even if every repeat not evaluated had passed
            status = FAILED
        else:
            status = ERROR if errored else INTERRUPTED if counts[INTERRUPTED] else SKIPPED
    evaluated = passed + failed + errored
    scores = [r.score for r in repeats if r.score is not None]
    return Outcome(
        suite=first.suite, id=first.id, status=status, repeats=n, passed=passed, failed=failed, errored=errored,
        pass_rate=passed / evaluated if evaluated else None, policy=policy.pass_if, flaky=passed > 0 and failed > 0,
        allow_fail=policy.allow_fail, score=sum(scores) / len(scores) if scores else None,
        threshold=policy.threshold, file=first.file, variant=getattr(first, "variant", ""),
    )  # fmt: skip


def group_repeats(cases: list[CaseResult]) -> list[list[CaseResult]]:
    """The repeats of each case, cases in order of first appearance, repeats by index."""
    groups: dict[tuple[str, str, str], list[CaseResult]] = {}
    for c in cases:
        groups.setdefault((c.suite, c.id, getattr(c, "variant", "")), []).append(c)
    return [sorted(g, key=lambda c: c.repeat) if len(g) > 1 else g for g in groups.values()]


def light(cases: Iterable[CaseResult]) -> Iterable[Any]:
    """What aggregates iterate: a run read back from disk (harness/core/case_file.py) has a small head per case
    (status, policy, usage, cost, metrics: no turns), so totals never re-read the file; a list is itself."""
    heads = getattr(cases, "heads", None)
    return cases if heads is None else heads


def outcomes(cases: Iterable[CaseResult]) -> list[Outcome]:
    """Every case's outcome, with the failures the suites' gates and allow_fail tolerate marked.

    A run read back from disk (harness/core/case_file.py) cannot change, so its outcomes are worked out once
    and kept on it: the summary, results.json, every report and the exit code each ask for them."""
    heads = getattr(cases, "heads", None)
    if heads is not None and (kept := getattr(cases, "kept_outcomes", None)) is not None:
        return list(kept)
    repeats = heads if heads is not None else list(cases)  # a run held in memory groups its own results
    found = [case_outcome(g) for g in group_repeats(repeats)]
    gates = suite_gates(found, repeats)
    for o in found:
        gate = gates.get(o.suite)
        o.tolerated = o.status == FAILED and (o.allow_fail or bool(gate and gate.ok))
    if heads is not None:
        cases.kept_outcomes = list(found)  # type: ignore[attr-defined]
    return found


def suite_gates(found: list[Outcome], cases: Iterable[CaseResult]) -> dict[str, SuiteGate]:
    """Each suite's gate, from its cases' outcomes; suites without `min_pass_rate` have ``min_pass_rate=None``."""
    minimum: dict[str, float | None] = {}
    for c in light(cases):
        if minimum.get(c.suite) is None:
            minimum[c.suite] = c.policy.min_pass_rate
    gates: dict[str, SuiteGate] = {}
    for o in found:
        gate = gates.setdefault(o.suite, SuiteGate(o.suite, minimum.get(o.suite), 0, 0))
        if o.status in EVALUATED:
            gate.evaluated += 1
            gate.passed += o.status == PASSED
    return gates


def metric_totals(cases: Iterable[CaseResult]) -> list[MetricTotal]:
    """Per `metric:` name, the checks that passed of those evaluated, in order of first appearance."""
    totals: dict[str, MetricTotal] = {}
    heads = getattr(cases, "heads", None)
    if heads is not None:  # read back from disk: each head has its (metric, passed) pairs
        for head in heads:
            for name, passed in head.metrics:
                m = totals.setdefault(name, MetricTotal(name, 0, 0))
                m.total += 1
                m.passed += passed
        return list(totals.values())
    for case in cases:
        for turn in case.turns:
            for check in turn.checks:
                if check.metric:
                    m = totals.setdefault(check.metric, MetricTotal(check.metric, 0, 0))
                    m.total += 1
                    m.passed += check.passed
    return list(totals.values())


def has_repeats(cases: list[CaseResult]) -> bool:
    return any(c.repeat > 0 or c.policy.repeats > 1 for c in cases)
