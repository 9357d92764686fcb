"""Base-vs-head alignment and the regression verdict: pure data, no rendering.

Cases are aligned by (suite, case id, repeat). Every aligned pair gets a status
change, the checks that flipped, a word-level diff of each reply, the change in
the request (system prompt, messages, params, model) and the deltas of tokens,
cost and latency, so a reviewer sees a prompt edit beside its effect. A case
with repeats in both runs is one diff instead, judged by its pass rate over the
repeats with a significance test (``harness.results.pass_rates``), so noise is not a
regression. The renderers in ``harness.report`` only lay this out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness.core.outcomes import Outcome, case_outcome, group_repeats, outcomes
from harness.core.result import ERROR, FAILED, PASSED, CaseResult, RunResult, Summary
from harness.results.gate import (  # fmt: skip
    CHANGE_ORDER,
    CHANGED,
    FIXED,
    NEEDS_RERECORD,
    NEW,
    NOT_EVALUATED,
    NOT_RUN,
    REGRESSED,
    REMOVED,
    STILL_FAILING,
    UNCHANGED,
    Gate,
    Metric,
    Totals,
    Verdict,
    count_text,
    new_case_verdicts,
    verdict,
)
from harness.results.changes import (  # fmt: skip
    DELETE,
    EQUAL,
    INSERT,
    CheckFlip,
    Op,
    ParamChange,
    ReplyDiff,
    TextChange,
    check_flips,
    compared_turns,
    not_run_text,
    param_changes,
    prompt_changes,
    reply_diffs,
    turn_cost,
    turn_latency,
    turn_tokens,
    unrun_share,
    word_diff,
)
from harness.results.pass_rates import CaseStats, SuiteRate, suite_rates
from harness.results.rerecord import SuiteRerecord, rerecord_commands
from harness.results.transcript import turn_inputs
from harness.results.usage_gate import UsageGate, usage_gate

__all__ = ["CHANGED", "DELETE", "EQUAL", "INSERT", "NEW", "REMOVED", "CheckFlip", "Gate", "Op", "ParamChange",
           "ReplyDiff", "TextChange", "Verdict", "count_text", "word_diff"]  # fmt: skip

@dataclass
class CaseDiff:
    """Everything that changed in one case between base and head."""

    suite: str
    id: str
    repeat: int
    change: str
    base: CaseResult | None
    head: CaseResult | None
    flips: list[CheckFlip] = field(default_factory=list)
    prompt: list[TextChange] = field(default_factory=list)
    params: list[ParamChange] = field(default_factory=list)
    replies: list[ReplyDiff] = field(default_factory=list)
    tokens: Metric = field(default_factory=lambda: Metric(None, None))
    cost_usd: Metric = field(default_factory=lambda: Metric(None, None))
    latency_ms: Metric = field(default_factory=lambda: Metric(None, None))
    # With repeats in both runs: the case's pass rates and their test, and its aggregated statuses;
    # `base`/`head` are then one telling pair of repeats (`repeat` is its index), shown as the example.
    stats: CaseStats | None = None
    outcomes: tuple[str | None, str | None] = (None, None)
    not_run: str = ""  # for a case head could not run: which turn errored and which were not reached

    @property
    def label(self) -> str:
        return f"{self.suite} / {self.id}" + (f" [repeat {self.repeat + 1}]" if self.repeat and self.stats is None else "")

    @property
    def base_status(self) -> str | None:
        if self.stats is not None:
            return self.outcomes[0]
        return self.base.status if self.base else None

    @property
    def head_status(self) -> str | None:
        if self.stats is not None:
            return self.outcomes[1]
        return self.head.status if self.head else None

    @property
    def head_label(self) -> str:
        """The head's status as a reviewer reads it: "not run: turn 1 errored" rather than "error"."""
        if self.change in NOT_EVALUATED:
            return f"not run: {self.not_run}" if self.not_run else "not run"
        return self.head_status or "absent"

    @property
    def request_changed(self) -> bool:
        return bool(self.prompt or self.params)

    @property
    def replies_changed(self) -> bool:
        return any(r.changed for r in self.replies)

    @property
    def checks_edited(self) -> bool:
        """A check whose outcome flipped was itself changed (its expected value): the test moved, not the model."""
        return any(f.edited for f in self.flips)

    @property
    def recording(self) -> dict[str, Any] | None:
        """What head's cassette lacked, for a case that needs re-recording."""
        return self.head.recording if self.head is not None else None

    def reasons(self) -> list[str]:
        """Why the head case is not passing: its error (the cassette's problem, without the command), or each failed check."""
        case = self.head if self.head is not None else self.base
        if case is None or case.status == PASSED:
            return []
        if case.recording:
            turn = next((t.index for t in case.turns if t.recording), 1)
            return [f"turn {turn}: {case.recording.get('problem') or case.error}"]
        if case.error:
            return [case.error]
        return [f"turn {turn} {c.name}: {c.reason}" for turn, c in case.failed_checks]


@dataclass
class Comparison:
    base_name: str
    head_name: str
    base: RunResult
    head: RunResult
    cases: list[CaseDiff]
    totals: Totals
    verdict: Verdict
    alpha: float = 0.05
    suites: list[SuiteRate] = field(default_factory=list)  # pooled pass rate per suite, with intervals
    usage: UsageGate | None = None  # cost, token and latency limits, when any is set
    rerecord: list[SuiteRerecord] = field(default_factory=list)  # one command per suite whose cassettes need it
    head_outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)  # head's cases over their repeats

    def tolerated(self, d: CaseDiff) -> str:
        """Why head's failure of this case does not fail head's run ("allowed to fail", ...), or ''."""
        o = self.head_outcomes.get((d.suite, d.id)) if d.head is not None else None
        if o is None or not o.tolerated:
            return ""
        return "allowed to fail" if o.tolerated_by == "allow_fail" else "the suite's min_pass_rate held"

    @property
    def statistical(self) -> int:
        """How many cases were compared by pass rate over repeats (the rest by status)."""
        return sum(d.stats is not None for d in self.cases)

    @property
    def method(self) -> str:
        """How cases were judged, in a sentence: by a significance test, by status, or both."""
        n, rest = self.statistical, len(self.cases) - self.statistical
        test = (f"compared by pass rate over their repeats: regressed only when the drop is significant "
                f"(one-sided Fisher exact test, \u03b1 = {self.alpha:g})")  # fmt: skip
        if not n:
            return ("No case has repeats in both runs, so cases are compared by status: any pass that became a "
                    "failure is a regression. Set `repeat:` in the suites for a statistical comparison.")  # fmt: skip
        if not rest:
            return f"Every case has repeats in both runs and was {test}."
        return (f"{n:,} case{'s' if n != 1 else ''} with repeats in both runs {'were' if n != 1 else 'was'} {test}; "
                f"the other {rest:,} (without repeats in both runs) by status.")  # fmt: skip

    @property
    def replay(self) -> bool:
        """Both runs replayed cassettes: their wall time and latencies are recordings, not measurements."""
        return self.base.settings.get("cassettes") == "replay" and self.head.settings.get("cassettes") == "replay"

    def ordered(self) -> list[CaseDiff]:
        """Cases with the ones that need attention first (not run, regressions, still failing, ...)."""
        rank = {c: i for i, c in enumerate(CHANGE_ORDER)}
        return sorted(self.cases, key=lambda d: rank[d.change])  # stable: keeps run order inside a group

    def of(self, change: str) -> list[CaseDiff]:
        return [d for d in self.cases if d.change == change]


def pass_rate(summary: Summary) -> float | None:
    return 100.0 * summary.passed / summary.total if summary.total else None


def classify(base: CaseResult | None, head: CaseResult | None) -> str:
    """The change by status alone; `diff_case` turns "unchanged" into "changed" when the request or a reply did."""
    if head is not None and head.status == ERROR:  # it did not run: not a regression, not a removal
        return NEEDS_RERECORD if head.recording else NOT_RUN
    if base is None:
        return NEW
    if head is None:
        return REMOVED
    failing = (FAILED, ERROR)
    if base.status == PASSED and head.status in failing:
        return REGRESSED
    if base.status in failing and head.status == PASSED:
        return FIXED
    if base.status in failing and head.status in failing:
        return STILL_FAILING
    return UNCHANGED if base.status == head.status else CHANGED


def compare_runs(base: RunResult, head: RunResult, gate: Gate | None = None,
                 base_name: str = "base", head_name: str = "head") -> Comparison:  # fmt: skip
    """Align two runs case by case and decide whether head may land.

    A case with repeats in both runs is judged by its pass rate over them (one
    diff per case); any other case repeat by repeat, by status. What head could
    not run is its own outcome, and is left out of every total on both sides.
    """
    gate = gate or Gate()
    base_groups = {(g[0].suite, g[0].id, g[0].variant): g for g in group_repeats(base.cases)}
    head_groups = group_repeats(head.cases)
    base_cases = {c.key: c for c in base.cases}
    head_keys = {c.key for c in head.cases}
    diffs: list[CaseDiff] = []
    for group in head_groups:
        before = base_groups.get((group[0].suite, group[0].id, group[0].variant))
        if before is not None and len(before) > 1 and len(group) > 1:
            diffs.append(diff_repeats(before, group, gate.alpha))
            head_keys.update(c.key for c in before)  # every base repeat is accounted for
        else:
            diffs += [diff_case(base_cases.get(c.key), c) for c in group]
    diffs += [diff_case(c, None) for c in base.cases if c.key not in head_keys]
    counts = Counter(d.change for d in diffs)
    not_ran = [c for c in head.cases if c.status == ERROR]
    left_out = {c.key for c in not_ran}
    base_kept = [c for c in base.cases if c.key not in left_out]
    head_kept = [c for c in head.cases if c.key not in left_out]
    found = outcomes(head.cases)
    head_outcomes = {o.key: o for o in found}
    bs, hs = base.summary, Summary.of(head.cases, found)
    tokens_b, cost_b = unrun_share([base_cases.get(c.key) for c in not_ran], not_ran)
    tokens_h, cost_h = unrun_share(not_ran, not_ran)
    only_in_head = {(d.suite, d.id): d.head for d in diffs if d.base is None and d.head is not None}
    new = new_case_verdicts(only_in_head, head_outcomes, gate)
    totals = Totals(
        base=bs,
        head=hs,
        counts={c: counts.get(c, 0) for c in CHANGE_ORDER},
        tokens=Metric(bs.total_tokens - tokens_b, hs.total_tokens - tokens_h),
        cost_usd=Metric(_minus(bs.cost_usd, cost_b), _minus(hs.cost_usd, cost_h)),
        duration_ms=Metric(base.duration_ms, head.duration_ms),
        rates=Metric(pass_rate(Summary.of(base_kept)), pass_rate(Summary.of(head_kept))) if left_out
        else Metric(pass_rate(bs), pass_rate(hs)),
        new_cases=len(new), new_failing=sum(v == "failing" for v in new.values()),
        new_failing_allowed=sum(v == "allowed" for v in new.values()), left_out=len(left_out),
    )  # fmt: skip
    rerecord = rerecord_commands([c for c in head.cases if c.recording], head.settings)
    comparison = Comparison(base_name, head_name, base, head, diffs, totals, verdict(totals, gate), gate.alpha,
                            suite_rates(base_kept, head_kept), rerecord=rerecord, head_outcomes=head_outcomes)  # fmt: skip
    return with_usage_gate(comparison, gate)


def with_usage_gate(comparison: Comparison, gate: Gate) -> Comparison:
    """Add the cost, token and latency limits' figures; an exceeded limit fails the verdict too."""
    usage = usage_gate(comparison.base, comparison.head, gate.usage_limits, gate.alpha)
    if usage.figures:
        comparison.usage = usage
        v = comparison.verdict
        comparison.verdict = Verdict(v.ok and usage.ok, v.reasons + usage.reasons, v.not_evaluated)
    return comparison


def _minus(total: float | None, part: float) -> float | None:
    return None if total is None else round(total - part, 8)


def diff_repeats(base: list[CaseResult], head: list[CaseResult], alpha: float) -> CaseDiff:
    """One case with repeats on both sides: its change decided by the test, one telling pair of repeats as the diff.

    Regressed only when head's pass rate is significantly lower (fixed when
    significantly higher); an outcome flip the test calls noise is "changed".
    A head repeat that could not run makes the case "needs re-record" or "not run".
    """
    stats = CaseStats.of(base, head, alpha)
    before, after = case_outcome(base).status, case_outcome(head).status
    failing = (FAILED, ERROR)
    unrun = [h for h in head if h.status == ERROR]
    if unrun:
        change = NEEDS_RERECORD if any(h.recording for h in unrun) else NOT_RUN
    elif stats.dropped:
        change = REGRESSED
    elif stats.rose:
        change = FIXED
    elif before in failing and after in failing:
        change = STILL_FAILING
    else:
        change = UNCHANGED if before == after else CHANGED
    by_index = {c.repeat: c for c in base}
    pairs = [(by_index[h.repeat], h) for h in head if h.repeat in by_index] or [(base[0], head[0])]
    telling = (next((p for p in pairs if p[1].status == ERROR), None) if unrun else None) or (
               next((p for p in pairs if p[0].status == PASSED and p[1].status != PASSED), None)
               or next((p for p in pairs if p[0].status != PASSED and p[1].status == PASSED), None)
               or next((p for p in pairs if p[0].status != p[1].status), None)
               or next((p for p in pairs if p[1].status != PASSED), None) or pairs[0])  # fmt: skip
    d = diff_case(*telling)
    if change == UNCHANGED and (d.request_changed or d.replies_changed):
        change = CHANGED
    d.change, d.stats, d.outcomes = change, stats, (before, after)
    return d


def diff_case(base: CaseResult | None, head: CaseResult | None) -> CaseDiff:
    """Everything that changed in one case; either side may be missing (new or removed).

    When head could not run the case, only what it ran is compared: the turns it
    never reached are "not run", never "removed", and leave the deltas.
    """
    some = head if head is not None else base
    assert some is not None
    d = CaseDiff(some.suite, some.label, some.repeat, classify(base, head), base, head)
    stopped = d.change in NOT_EVALUATED
    turns = compared_turns(base, head) if stopped else None
    d.tokens = Metric(turn_tokens(base, turns), turn_tokens(head, turns))
    d.cost_usd = Metric(turn_cost(base, turns), turn_cost(head, turns))
    d.latency_ms = Metric(turn_latency(base, turns), turn_latency(head, turns))
    if stopped and head is not None:
        d.not_run = not_run_text(base, head)
    if base is None or head is None:
        return d
    d.flips = check_flips(base, head)
    base_inputs = turn_inputs(base.turns)
    if stopped:  # what head never reached was not removed: compare only the turns head sent
        last = max((t.index for t in head.turns), default=0)
        base_inputs = [e for e in base_inputs if e.turn <= last]
    d.prompt = prompt_changes(base_inputs, turn_inputs(head.turns), base.prompt_files, head.prompt_files)
    d.params = param_changes(_request_params(base), _request_params(head)) if head.turns else []
    d.replies = reply_diffs(base, head, head_stopped=stopped)
    if d.change == UNCHANGED and (d.request_changed or d.replies_changed):
        d.change = CHANGED
    return d


def _request_params(case: CaseResult) -> dict[str, Any]:
    params = dict(case.turns[0].params) if case.turns else {}
    params["model"] = case.model  # a model switch is a request change too, and so is an API switch
    params["api"] = case.api if case.history == "resend" else f"{case.api} (history: {case.history})"
    return params
