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

import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from harness.core.outcomes import case_outcome, group_repeats
from harness.core.result import ERROR, FAILED, PASSED, CaseResult, CheckResult, RunResult, Summary
from harness.results.pass_rates import CaseStats, SuiteRate, suite_rates
from harness.results.transcript import Entry, reply_text, turn_inputs
from harness.results.usage_gate import UsageGate, usage_gate

REGRESSED = "regressed"
FIXED = "fixed"
STILL_FAILING = "still failing"
NEW = "new"
REMOVED = "removed"
CHANGED = "changed"  # a status change none of the above names, e.g. passed -> skipped
UNCHANGED = "unchanged"
# The order listings use: what needs attention first.
CHANGE_ORDER = (REGRESSED, STILL_FAILING, NEW, REMOVED, CHANGED, FIXED, UNCHANGED)

EQUAL, DELETE, INSERT = "=", "-", "+"
Op = tuple[str, str]  # (EQUAL | DELETE | INSERT, text)

_WORDS = re.compile(r"\s*\w+|\s*[^\w\s]|\s+", re.UNICODE)  # a word or a mark, with the spaces before it
_MAX_DIFF_TOKENS = 5_000  # beyond this (after the common ends) a word diff is too slow to be worth it


def word_diff(before: str, after: str) -> list[Op]:
    """A word-level diff (whitespace and punctuation are tokens too); adjacent ops merged."""
    return list(_word_diff(before, after))


@lru_cache(maxsize=512)  # a system prompt edit repeats in every case of a suite
def _word_diff(before: str, after: str) -> tuple[Op, ...]:
    if before == after:
        return ((EQUAL, before),) if before else ()
    a, b = _WORDS.findall(before), _WORDS.findall(after)
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    ops: list[Op] = []

    def add(kind: str, text: str) -> None:
        if not text:
            return
        if ops and ops[-1][0] == kind:
            ops[-1] = (kind, ops[-1][1] + text)
        else:
            ops.append((kind, text))

    add(EQUAL, "".join(a[:prefix]))
    a_mid, b_mid = a[prefix : len(a) - suffix], b[prefix : len(b) - suffix]
    if len(a_mid) > _MAX_DIFF_TOKENS or len(b_mid) > _MAX_DIFF_TOKENS:
        add(DELETE, "".join(a_mid))
        add(INSERT, "".join(b_mid))
    else:
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a_mid, b_mid, autojunk=False).get_opcodes():
            if tag == "equal":
                add(EQUAL, "".join(a_mid[i1:i2]))
            else:
                add(DELETE, "".join(a_mid[i1:i2]))
                add(INSERT, "".join(b_mid[j1:j2]))
    add(EQUAL, "".join(a[len(a) - suffix :]))
    return tuple(ops)


@dataclass
class Metric:
    """One number in base and head; ``delta`` is None when either side has none."""

    base: float | None
    head: float | None

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.head is None else self.head - self.base


@dataclass
class CheckFlip:
    """A check whose outcome differs; None means the check is absent on that side."""

    turn: int
    name: str
    before: bool | None
    after: bool | None
    base_reason: str | None
    head_reason: str | None

    @property
    def broke(self) -> bool:
        return self.after is False

    @property
    def reason(self) -> str:
        """The reason that explains the head's outcome (the base's when the check was removed)."""
        return self.head_reason if self.head_reason is not None else (self.base_reason or "")


@dataclass
class TextChange:
    """One authored message (or the system prompt) that was added, removed or edited."""

    label: str
    kind: str  # "changed", "added" or "removed"
    ops: list[Op]
    files: list[str] = field(default_factory=list)  # the prompt files the text comes from (`{file: ...}`)


@dataclass
class ParamChange:
    key: str
    before: Any
    after: Any
    added: bool = False
    removed: bool = False


@dataclass
class ReplyDiff:
    """A turn's reply in base and head; the word diff is computed only when asked for."""

    turn: int
    changed: bool
    before: str
    after: str
    base_finish: str | None
    head_finish: str | None

    @property
    def ops(self) -> list[Op]:
        return word_diff(self.before, self.after)


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
    def request_changed(self) -> bool:
        return bool(self.prompt or self.params)

    def reasons(self) -> list[str]:
        """Why the head case is not passing: its error, or each failed check with its turn."""
        case = self.head if self.head is not None else self.base
        if case is None or case.status == PASSED:
            return []
        if case.error:
            return [case.error]
        return [f"turn {turn} {c.name}: {c.reason}" for turn, c in case.failed_checks]


@dataclass
class Gate:
    """Tolerances: with neither set, any regression fails the comparison."""

    allow_regressions: int | None = None
    max_pass_rate_drop: float | None = None  # percentage points
    alpha: float = 0.05  # significance level of a case's drop in pass rate, when both runs have repeats
    # Flags' limits on the growth of cost, tokens and latency (metric -> percent; harness/results/usage_gate.py).
    # Suites' `gate:` blocks are read from the head run; with neither, the usage gate has no figures.
    usage_limits: dict[str, float] = field(default_factory=dict)


@dataclass
class Totals:
    base: Summary
    head: Summary
    counts: dict[str, int]
    tokens: Metric
    cost_usd: Metric
    duration_ms: Metric

    @property
    def pass_rate(self) -> Metric:
        return Metric(pass_rate(self.base), pass_rate(self.head))

    @property
    def pass_rate_drop(self) -> float:
        """Percentage points lost (0 when the rate held or rose)."""
        delta = self.pass_rate.delta
        return max(0.0, -delta) if delta is not None else 0.0


@dataclass
class Verdict:
    ok: bool
    reasons: list[str]


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

    def ordered(self) -> list[CaseDiff]:
        """Cases with the ones that need attention first (regressions, then still failing, ...)."""
        rank = {c: i for i, c in enumerate(CHANGE_ORDER)}
        return sorted(self.cases, key=lambda d: rank[d.change])  # stable: keeps run order inside a group

    def of(self, change: str) -> list[CaseDiff]:
        return [d for d in self.cases if d.change == change]


def pass_rate(summary: Summary) -> float | None:
    return 100.0 * summary.passed / summary.total if summary.total else None


def classify(base: CaseResult | None, head: CaseResult | None) -> str:
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
    diff per case); any other case repeat by repeat, by status.
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
    bs, hs = base.summary, head.summary
    totals = Totals(
        base=bs,
        head=hs,
        counts={c: counts.get(c, 0) for c in CHANGE_ORDER},
        tokens=Metric(bs.total_tokens, hs.total_tokens),
        cost_usd=Metric(bs.cost_usd, hs.cost_usd),
        duration_ms=Metric(base.duration_ms, head.duration_ms),
    )
    comparison = Comparison(base_name, head_name, base, head, diffs, totals, verdict(totals, gate), gate.alpha,
                            suite_rates(base.cases, head.cases))  # fmt: skip
    return with_usage_gate(comparison, gate)


def with_usage_gate(comparison: Comparison, gate: Gate) -> Comparison:
    """Add the cost, token and latency limits' figures; an exceeded limit fails the verdict too."""
    usage = usage_gate(comparison.base, comparison.head, gate.usage_limits, gate.alpha)
    if usage.figures:
        comparison.usage = usage
        comparison.verdict = Verdict(comparison.verdict.ok and usage.ok, comparison.verdict.reasons + usage.reasons)
    return comparison


def diff_repeats(base: list[CaseResult], head: list[CaseResult], alpha: float) -> CaseDiff:
    """One case with repeats on both sides: its change decided by the test, one telling pair of repeats as the diff.

    Regressed only when head's pass rate is significantly lower (fixed when
    significantly higher); an outcome flip the test calls noise is "changed".
    """
    stats = CaseStats.of(base, head, alpha)
    before, after = case_outcome(base).status, case_outcome(head).status
    failing = (FAILED, ERROR)
    if stats.dropped:
        change = REGRESSED
    elif stats.rose:
        change = FIXED
    elif before in failing and after in failing:
        change = STILL_FAILING
    else:
        change = UNCHANGED if before == after else CHANGED
    by_index = {c.repeat: c for c in base}
    pairs = [(by_index[h.repeat], h) for h in head if h.repeat in by_index] or [(base[0], head[0])]
    telling = (next((p for p in pairs if p[0].status == PASSED and p[1].status != PASSED), None)
               or next((p for p in pairs if p[0].status != PASSED and p[1].status == PASSED), None)
               or next((p for p in pairs if p[0].status != p[1].status), None)
               or next((p for p in pairs if p[1].status != PASSED), None) or pairs[0])  # fmt: skip
    d = diff_case(*telling)
    d.change, d.stats, d.outcomes = change, stats, (before, after)
    return d


def verdict(totals: Totals, gate: Gate) -> Verdict:
    """Fail on regressions beyond the allowance, or on a pass-rate drop beyond the limit."""
    reasons: list[str] = []
    regressed = totals.counts.get(REGRESSED, 0)
    allowed = gate.allow_regressions
    if allowed is None and gate.max_pass_rate_drop is None:
        allowed = 0
    if allowed is not None and regressed > allowed:
        noun = "case" if regressed == 1 else "cases"
        reasons.append(f"{regressed} {noun} regressed (allowed: {allowed})")
    drop = totals.pass_rate_drop
    if gate.max_pass_rate_drop is not None and drop > gate.max_pass_rate_drop + 1e-9:
        reasons.append(f"pass rate dropped {drop:.1f} points (allowed: {gate.max_pass_rate_drop:g})")
    return Verdict(ok=not reasons, reasons=reasons)


def diff_case(base: CaseResult | None, head: CaseResult | None) -> CaseDiff:
    """Everything that changed in one case; either side may be missing (new or removed)."""
    some = head if head is not None else base
    assert some is not None
    d = CaseDiff(some.suite, some.label, some.repeat, classify(base, head), base, head)
    d.tokens = Metric(_tokens(base), _tokens(head))
    d.cost_usd = Metric(base.cost_usd if base else None, head.cost_usd if head else None)
    d.latency_ms = Metric(_latency(base), _latency(head))
    if base is None or head is None:
        return d
    d.flips = check_flips(base, head)
    d.prompt = prompt_changes(turn_inputs(base.turns), turn_inputs(head.turns), base.prompt_files, head.prompt_files)
    d.params = param_changes(_request_params(base), _request_params(head))
    d.replies = reply_diffs(base, head)
    return d


def _tokens(case: CaseResult | None) -> float | None:
    return None if case is None else case.usage.total_tokens


def _latency(case: CaseResult | None) -> float | None:
    if case is None:
        return None
    return round(sum(t.reply.latency_ms for t in case.turns if t.reply is not None), 1)


def _request_params(case: CaseResult) -> dict[str, Any]:
    params = dict(case.turns[0].params) if case.turns else {}
    params["model"] = case.model  # a model switch is a request change too, and so is an API switch
    params["api"] = case.api if case.history == "resend" else f"{case.api} (history: {case.history})"
    return params


def _checks_by_key(case: CaseResult) -> dict[tuple[int, str, int], CheckResult]:
    out: dict[tuple[int, str, int], CheckResult] = {}
    for t in case.turns:
        seen: Counter[str] = Counter()
        for c in t.checks:
            out[(t.index, c.name, seen[c.name])] = c
            seen[c.name] += 1
    return out


def check_flips(base: CaseResult, head: CaseResult) -> list[CheckFlip]:
    """Checks whose outcome changed, or that exist on one side of a turn both sides evaluated."""
    b, h = _checks_by_key(base), _checks_by_key(head)
    evaluated_b = {t.index for t in base.turns if t.reply is not None}
    evaluated_h = {t.index for t in head.turns if t.reply is not None}
    flips = []
    for key in list(b) + [k for k in h if k not in b]:
        turn, name, _ = key
        cb, ch = b.get(key), h.get(key)
        before = cb.passed if cb else None
        after = ch.passed if ch else None
        if before == after:
            continue
        if (cb is None or ch is None) and not (turn in evaluated_b and turn in evaluated_h):
            continue  # absent because the turn never ran on one side: the error says why
        flips.append(CheckFlip(turn, name, before, after, cb.reason if cb else None, ch.reason if ch else None))
    flips.sort(key=lambda f: (f.turn, f.after is not False))
    return flips


def _entry_label(e: Entry) -> str:
    if e.kind == "system":
        return "system prompt"
    if e.kind == "history":
        return f"history ({e.role})"
    return f"turn {e.turn} {e.role}" + (f" {e.name}" if e.role == "tool" and e.name else "")


def _slots(entries: list[Entry]) -> list[str | None]:
    """Each entry's message slot, as cases name their prompt files: "system", "messages[0]", "turn 1"."""
    slots: list[str | None] = []
    history = 0
    for e in entries:
        if e.kind == "system":
            slots.append("system")
        elif e.kind == "history":
            slots.append(f"messages[{history}]")
            history += 1
        else:
            slots.append(f"turn {e.turn}" if e.role == "user" else None)
    return slots


def prompt_changes(base: list[Entry], head: list[Entry], base_files: dict[str, list[str]] | None = None,
                   head_files: dict[str, list[str]] | None = None) -> list[TextChange]:  # fmt: skip
    """Authored messages added, removed or edited, aligned by their place in the conversation.

    Each change names the prompt files its text came from (head's, or base's for a removed message).
    """
    a = [_entry_label(e) for e in base]
    b = [_entry_label(e) for e in head]
    slots_a, slots_b = _slots(base), _slots(head)

    def files(side: dict[str, list[str]] | None, slot: str | None) -> list[str]:
        return list((side or {}).get(slot or "", []))

    changes: list[TextChange] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        pairs = list(zip(range(i1, i2), range(j1, j2)))
        for i, j in pairs:
            if base[i].text != head[j].text:
                named = files(head_files, slots_b[j]) or files(base_files, slots_a[i])
                changes.append(TextChange(b[j], "changed", word_diff(base[i].text, head[j].text), named))
        for i in range(i1 + len(pairs), i2):
            changes.append(TextChange(a[i], "removed", [(DELETE, base[i].text)], files(base_files, slots_a[i])))
        for j in range(j1 + len(pairs), j2):
            changes.append(TextChange(b[j], "added", [(INSERT, head[j].text)], files(head_files, slots_b[j])))
    return changes


def param_changes(base: dict[str, Any], head: dict[str, Any]) -> list[ParamChange]:
    changes = []
    for key in list(base) + [k for k in head if k not in base]:
        if key not in head:
            changes.append(ParamChange(key, base[key], None, removed=True))
        elif key not in base:
            changes.append(ParamChange(key, None, head[key], added=True))
        elif _canonical(base[key]) != _canonical(head[key]):
            changes.append(ParamChange(key, base[key], head[key]))
    return changes


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def reply_diffs(base: CaseResult, head: CaseResult) -> list[ReplyDiff]:
    """A word diff of every turn's reply, aligned by turn index."""
    b = {t.index: t.reply for t in base.turns}
    h = {t.index: t.reply for t in head.turns}
    out = []
    for turn in sorted(set(b) | set(h)):
        rb, rh = b.get(turn), h.get(turn)
        if rb is None and rh is None:
            continue
        tb, th = reply_text(rb), reply_text(rh)
        fb, fh = (rb.finish_reason if rb else None), (rh.finish_reason if rh else None)
        out.append(ReplyDiff(turn, tb != th or fb != fh, tb, th, fb, fh))
    return out
