"""Repeats, pass policies, gates and metrics in words: one wording for the terminal, Markdown, HTML and JUnit.

Computed once per run (``RunView.of``), so a 10,000-case report aggregates once.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.outcomes import MetricTotal, Outcome, SuiteGate, metric_totals, outcomes, suite_gates
from harness.core.policy import PassPolicy
from harness.core.result import PASSED, CaseResult, RunResult


def policy_text(pass_if: object) -> str:
    return str(PassPolicy.from_json(pass_if))


def outcome_text(o: Outcome) -> str:
    """'3/5 repeats passed (60%), pass_if majority'; '' for a case run once."""
    if o.repeats <= 1:
        return ""
    rate = f" ({o.pass_rate:.0%})" if o.pass_rate is not None else ""
    return f"{o.passed}/{o.repeats} repeats passed{rate}, pass_if {policy_text(o.policy)}"


def tolerated_text(o: Outcome, gate: SuiteGate | None) -> str:
    if o.tolerated_by == "allow_fail":
        return "allowed to fail (allow_fail: true)"
    if o.tolerated_by == "min_pass_rate" and gate is not None:
        return f"tolerated: the suite's gate held ({gate.describe()})"
    return ""


@dataclass
class RunView:
    """A run's outcomes, gates and metrics, looked up by case."""

    outcomes: list[Outcome]
    gates: dict[str, SuiteGate]
    metrics: list[MetricTotal]

    @classmethod
    def of(cls, run: RunResult) -> RunView:
        found = outcomes(run.cases)
        return cls(found, suite_gates(found, run.cases), metric_totals(run.cases))

    def __post_init__(self) -> None:
        self._by_key = {o.key: o for o in self.outcomes}

    def outcome(self, case: CaseResult) -> Outcome | None:
        return self._by_key.get((case.suite, case.label))

    @property
    def repeated(self) -> list[Outcome]:
        """Cases run more than once: flaky and failing first."""
        rows = [o for o in self.outcomes if o.repeats > 1]
        return sorted(rows, key=lambda o: (o.status == PASSED, not o.flaky))

    @property
    def gated(self) -> list[SuiteGate]:
        return [g for g in self.gates.values() if g.min_pass_rate is not None]

    def note(self, case: CaseResult) -> str:
        """Why a repeat that did not pass does not fail the run, or ''."""
        o = self.outcome(case)
        if o is None or case.status == PASSED:
            return ""
        if o.status == PASSED and o.repeats > 1:
            return f"the case passes: {outcome_text(o)}"
        return tolerated_text(o, self.gates.get(o.suite))

    def counts(self, case: CaseResult) -> bool:
        """Whether this result's failure fails the run (not forgiven by pass_if, allow_fail or a gate)."""
        return case.status != PASSED and not self.note(case)
