"""Pass rates over repeats, base against head: the numbers behind a statistically sound comparison.

With repeats in both runs a case is a sample of passes and failures, and a
drop is a regression only when a one-sided Fisher exact test finds it
unlikely under "nothing changed" (5 of 5 then 0 of 5: p = 0.004; 5 of 5 then
4 of 5: p = 0.5, noise). Suite pass rates, pooled over every evaluated repeat,
come with Wilson intervals and their change with a Newcombe interval. The
numbers live here; ``harness.results.compare`` decides and ``harness.report`` renders.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.result import ERROR, FAILED, PASSED, CaseResult
from harness.results.stats import Interval, fisher_drop_p_value, newcombe_difference, wilson_interval

CONFIDENCE = 0.95
MIN_INTERVAL_RUNS = 2  # at n = 1 a 95% interval is [20.7%, 100%] or [0%, 79.3%] whatever happened: not shown


def fmt_p(p: float) -> str:
    """A p-value with three significant digits: 0.00397, 0.5, 1."""
    return f"{p:.3g}"


@dataclass(frozen=True)
class PassCounts:
    """Passing repeats out of those evaluated (passed, failed or errored; skipped ones say nothing)."""

    passed: int
    total: int

    @classmethod
    def of(cls, results: list[CaseResult]) -> PassCounts:
        return cls(sum(r.status == PASSED for r in results), sum(r.status in (PASSED, FAILED, ERROR) for r in results))

    @property
    def rate(self) -> float | None:
        return self.passed / self.total if self.total else None

    @property
    def interval(self) -> Interval:
        return wilson_interval(self.passed, self.total, CONFIDENCE)

    def __str__(self) -> str:
        return f"{self.passed}/{self.total}"

    def describe(self) -> str:
        """'42/50 = 84.0% [71.5%, 91.7%]'; '1/1 = 100.0%' (an interval around one run says nothing)."""
        if not self.total:
            return "0/0"
        if self.total < MIN_INTERVAL_RUNS:
            return f"{self} = {self.rate:.1%}"
        ci = self.interval
        return f"{self} = {self.rate:.1%} [{ci.low:.1%}, {ci.high:.1%}]"


@dataclass(frozen=True)
class CaseStats:
    """One case's repeats in base and head, and how surprising the change is."""

    base: PassCounts
    head: PassCounts
    p_drop: float  # one-sided Fisher exact: P(head this low or lower | same pass rate)
    p_rise: float  # the same test the other way, for fixes
    alpha: float

    @classmethod
    def of(cls, base: list[CaseResult], head: list[CaseResult], alpha: float) -> CaseStats:
        b, h = PassCounts.of(base), PassCounts.of(head)
        return cls(b, h, fisher_drop_p_value(b.passed, b.total, h.passed, h.total),
                   fisher_drop_p_value(h.passed, h.total, b.passed, b.total), alpha)  # fmt: skip

    @property
    def dropped(self) -> bool:
        """Significantly lower in head."""
        return self.p_drop < self.alpha

    @property
    def rose(self) -> bool:
        return self.p_rise < self.alpha

    def describe(self) -> str:
        """'pass rate 5/5 -> 0/5, p = 0.00397 (significant at 0.05)'."""
        text = f"pass rate {self.base} \u2192 {self.head}"
        if self.rose and not self.dropped:
            return f"{text}, p = {fmt_p(self.p_rise)} for the rise (significant at {self.alpha:g})"
        verdict = "significant" if self.dropped else "not significant"
        return f"{text}, p = {fmt_p(self.p_drop)} ({verdict} at {self.alpha:g})"


@dataclass(frozen=True)
class SuiteRate:
    """A suite's pass rate over every evaluated repeat of its cases, in base and head."""

    suite: str
    base: PassCounts
    head: PassCounts

    @property
    def difference(self) -> Interval | None:
        """Newcombe interval for head's rate minus base's; None when either side has no data."""
        if not self.base.total or not self.head.total:
            return None
        return newcombe_difference(self.base.passed, self.base.total, self.head.passed, self.head.total, CONFIDENCE)

    @property
    def delta(self) -> float | None:
        if self.base.rate is None or self.head.rate is None:
            return None
        return self.head.rate - self.base.rate

    def describe_delta(self) -> str:
        """'-40.0 pp [-70.1, -2.3]'; without the interval when either side is a single run."""
        d, ci = self.delta, self.difference
        if d is None or ci is None:
            return "\u2014"
        if min(self.base.total, self.head.total) < MIN_INTERVAL_RUNS:
            return f"{100 * d:+.1f} pp"
        return f"{100 * d:+.1f} pp [{100 * ci.low:+.1f}, {100 * ci.high:+.1f}]"


def suite_rates(base: list[CaseResult], head: list[CaseResult]) -> list[SuiteRate]:
    """Per suite (in head's order, then suites only in base), pooled over every repeat."""
    groups: dict[str, tuple[list[CaseResult], list[CaseResult]]] = {}
    for c in head:
        groups.setdefault(c.suite, ([], []))[1].append(c)
    for c in base:
        groups.setdefault(c.suite, ([], []))[0].append(c)
    return [SuiteRate(name, PassCounts.of(b), PassCounts.of(h)) for name, (b, h) in groups.items()]
