"""The gate's verdict on a comparison: what fails a pull request, and with which exit code.

A case head could not run fails it with exit 3 (its fix is to re-record or
re-run, not to touch the prompt); a regression beyond the allowance, a new case
that fails, or a pass-rate drop beyond the limit fail it with exit 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core import exit_codes
from harness.core.outcomes import Outcome
from harness.core.result import FAILED, CaseResult, Summary

NEEDS_RERECORD = "needs re-record"  # head could not run the case from its cassette (stale or missing)
NOT_RUN = "not run"  # head could not run the case for another reason (an API error, a broken file, ...)
REGRESSED = "regressed"
FIXED = "fixed"
STILL_FAILING = "still failing"
NEW = "new"
REMOVED = "removed"
CHANGED = "changed"  # the same status, but the request or a reply changed (or a status change none above names)
UNCHANGED = "unchanged"
# The order listings use: what needs attention first. A case that did not run says nothing about the
# prompt until it runs, so it comes first: its fix (re-record) comes before any other judgement.
CHANGE_ORDER = (NEEDS_RERECORD, NOT_RUN, REGRESSED, STILL_FAILING, NEW, REMOVED, CHANGED, FIXED, UNCHANGED)
NOT_EVALUATED = (NEEDS_RERECORD, NOT_RUN)


def count_text(n: int, change: str) -> str:
    """'1 needs re-record', '2 need re-record', '3 regressed'."""
    return f"{n:,} " + ("need re-record" if change == NEEDS_RERECORD and n != 1 else change)


@dataclass
class Metric:
    """One number in base and head; ``delta`` is None when either side has none."""

    base: float | None
    head: float | None

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.head is None else self.head - self.base


@dataclass
class Totals:
    """Counts and totals; tokens, cost and the pass rates leave out what head could not run, on both sides."""

    base: Summary
    head: Summary
    counts: dict[str, int]
    tokens: Metric
    cost_usd: Metric
    duration_ms: Metric
    rates: Metric = field(default_factory=lambda: Metric(None, None))
    new_cases: int = 0
    new_failing: int = 0  # new cases that fail and are not allowed to (not tolerated, no allow_new_failures)
    new_failing_allowed: int = 0  # new cases that fail, allowed by --allow-new-failures or the suite's gate
    left_out: int = 0  # head case results that did not run: left out of tokens, cost and pass rates

    @property
    def pass_rate(self) -> Metric:
        return self.rates

    @property
    def pass_rate_drop(self) -> float:
        """Percentage points lost (0 when the rate held or rose)."""
        delta = self.pass_rate.delta
        return max(0.0, -delta) if delta is not None else 0.0

    @property
    def not_evaluated(self) -> int:
        return sum(self.counts.get(c, 0) for c in NOT_EVALUATED)


@dataclass
class Gate:
    """Tolerances: with neither set, any regression fails the comparison; new failing cases fail it too."""

    allow_regressions: int | None = None
    max_pass_rate_drop: float | None = None  # percentage points
    alpha: float = 0.05  # significance level of a case's drop in pass rate, when both runs have repeats
    allow_new_failures: bool = False  # a suite can also allow its own: `gate: {allow_new_failures: true}`
    # Flags' limits on the growth of cost, tokens and latency (metric -> percent; harness/results/usage_gate.py).
    # Suites' `gate:` blocks are read from the head run; with neither, the usage gate has no figures.
    usage_limits: dict[str, float] = field(default_factory=dict)


@dataclass
class Verdict:
    ok: bool
    reasons: list[str]
    not_evaluated: bool = False  # some head cases could not run: the exit code is 3, whatever else happened

    @property
    def exit_code(self) -> int:
        if self.not_evaluated:
            return exit_codes.NOT_EVALUATED
        return exit_codes.OK if self.ok else exit_codes.FAILED


def verdict(totals: Totals, gate: Gate) -> Verdict:
    """Fail when head could not run a case (exit 3), on regressions beyond the allowance, on new failing
    cases, or on a pass-rate drop beyond the limit."""
    reasons: list[str] = []
    needs, unrun = totals.counts.get(NEEDS_RERECORD, 0), totals.counts.get(NOT_RUN, 0)
    if needs:
        reasons.append(f"{_cases(needs)} {'needs' if needs == 1 else 'need'} re-recording "
                       f"({'its cassette is' if needs == 1 else 'their cassettes are'} stale or missing)")  # fmt: skip
    if unrun:
        reasons.append(f"{_cases(unrun)} not run (an error kept {'it' if unrun == 1 else 'them'} from being "
                       "evaluated; see why below)")  # fmt: skip
    regressed = totals.counts.get(REGRESSED, 0)
    allowed = gate.allow_regressions
    if allowed is None and gate.max_pass_rate_drop is None:
        allowed = 0
    if allowed is not None and regressed > allowed:
        reasons.append(f"{_cases(regressed)} regressed (allowed: {allowed})")
    if totals.new_failing:
        n = totals.new_failing
        reasons.append(f"{n} new {'case fails' if n == 1 else 'cases fail'} (to land {'it' if n == 1 else 'them'} "
                       "failing: --allow-new-failures, or `gate: {allow_new_failures: true}` in the suite)")  # fmt: skip
    drop = totals.pass_rate_drop
    if gate.max_pass_rate_drop is not None and drop > gate.max_pass_rate_drop + 1e-9:
        reasons.append(f"pass rate dropped {drop:.1f} points (allowed: {gate.max_pass_rate_drop:g})")
    return Verdict(ok=not reasons, reasons=reasons, not_evaluated=bool(needs or unrun))


def _cases(n: int) -> str:
    return f"{n:,} case" + ("" if n == 1 else "s")


def new_case_verdicts(only_in_head: dict[tuple[str, str], CaseResult], found: dict[tuple[str, str], Outcome],
                      gate: Gate) -> dict[tuple[str, str], str]:  # fmt: skip
    """Each case only head has: "failing" (fails the gate), "allowed" (fails, but may), or "ok".

    ``found``: head's outcomes by (suite, case id), its repeats aggregated and its tolerances applied.
    """
    new: dict[tuple[str, str], str] = {}
    for key, case in only_in_head.items():
        o = found.get(key)
        if o is None or o.status != FAILED or o.tolerated:
            new[key] = "ok"
        else:
            allowed = gate.allow_new_failures or case.policy.allow_new_failures
            new[key] = "allowed" if allowed else "failing"
    return new
