"""The usage gate: did head's cost, tokens or latency grow beyond a limit above base? Pure data, no rendering.

A prompt change that keeps every check green but doubles each reply doubles
the bill, so `harness compare` can refuse it: limits (percent) from the
flags or a suite's `gate:` block (harness/core/usage_limits.py) apply per suite,
and flags also to the whole run. Only cases evaluated (passed or failed) in both
runs count, so a new, removed or unfinished case never moves a figure.

Without repeats the totals are compared, and no interval is possible. With
repeats (every counted case run at least twice on both sides) each case is the
mean of its repeats, and a limit fails only when the one-sided lower confidence
bound (1 - alpha) of the increase is above it: a Welch t-interval over the
repeats for tokens and cost; for latency, repeat k of every case is one round,
and the median and p95 of each round's per-turn latencies are the samples.
Deterministic: no resampling, so the same two files always give the same verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.core.result import FAILED, PASSED, CaseResult, RunResult
from harness.core.usage_limits import (  # fmt: skip
    COST,
    LABELS,
    LATENCY_MEDIAN,
    LATENCY_METRICS,
    LIMIT_KEYS,
    METRICS,
    Limits,
    flag_name,
)
from harness.results.stats import Sample, welch_lower_bound

EVALUATED = (PASSED, FAILED)  # an errored, skipped or interrupted run says nothing about what the change costs
TOP_CASES = 5
Key = tuple[str, str]  # (suite, case id as reports print it: with its variant, if any)


@dataclass
class Contributor:
    """One case's share of an increase: its figure (mean over its repeats) in base and head."""

    suite: str
    id: str
    base: float
    head: float

    @property
    def delta(self) -> float:
        return self.head - self.base

    @property
    def change(self) -> float:
        """Percent; infinite when the case grew from nothing."""
        return _percent(self.base, self.head)


@dataclass
class Figure:
    """One limited quantity in one scope (a suite, or the whole run): base, head, the change, the verdict."""

    metric: str
    suite: str | None  # None: the whole run
    limit: float  # percent
    source: str  # where the limit came from: a flag, or "gate: in <suite file>"
    cases: int = 0  # cases counted (evaluated in both runs)
    base: float | None = None  # total, or with repeats the sum of the cases' means (latency: the statistic)
    head: float | None = None
    bound: float | None = None  # with repeats: one-sided lower confidence bound of the change, percent
    df: float | None = None  # the bound's Welch degrees of freedom (None: the repeats did not vary)
    repeats: bool = False  # compared with an interval over repeats
    unchecked: str = ""  # why the limit could not be checked (no case evaluated in both runs, no price)
    note: str = ""  # why there is no interval
    contributors: list[Contributor] = field(default_factory=list)

    @property
    def label(self) -> str:
        return LABELS[self.metric]

    @property
    def unit(self) -> str:
        """How to print base and head: "usd", "ms" or "tokens"."""
        return "usd" if self.metric == COST else "ms" if self.metric in LATENCY_METRICS else "tokens"

    @property
    def where(self) -> str:
        return "in the whole run" if self.suite is None else f"in suite {self.suite}"

    @property
    def change(self) -> float | None:
        """Percent from base to head (the point estimate)."""
        return None if self.base is None or self.head is None else _percent(self.base, self.head)

    @property
    def decisive(self) -> float | None:
        """The number held against the limit: the lower bound with repeats, else the change itself."""
        return self.bound if self.repeats else self.change

    @property
    def checked(self) -> bool:
        return not self.unchecked and self.decisive is not None

    @property
    def failed(self) -> bool:
        return self.checked and self.decisive > self.limit + 1e-9  # type: ignore[operator]

    @property
    def status(self) -> str:
        return "not checked" if not self.checked else "gate failed" if self.failed else "within the limit"

    def numbers(self, confidence: float) -> str:
        """"completion tokens +38 % (limit +20 %)", with the lower bound when compared over repeats."""
        if not self.checked:
            return f"{self.label}: not checked ({self.unchecked})"
        bound = f"{pct(confidence)} lower bound {fmt_change(self.bound)}, " if self.repeats else ""
        return f"{self.label} {fmt_change(self.change)} ({bound}limit {fmt_change(self.limit)})"

    def headline(self, confidence: float) -> str:
        """"completion tokens +38 % (limit +20 %) in suite support: gate failed"."""
        if not self.checked:
            return f"{self.label} {self.where}: not checked ({self.unchecked})"
        return f"{self.numbers(confidence)} {self.where}: {self.status}"


@dataclass
class UsageGate:
    """Every limited figure, and what the counts and the method were."""

    figures: list[Figure]
    alpha: float = 0.05
    counted: int = 0  # cases evaluated in both runs, over the suites with limits
    left_out: dict[str, int] = field(default_factory=dict)  # "new", "removed", "not evaluated" -> cases
    latency: tuple[str, str] | None = None  # what kind of latency base and head hold, when a latency limit is set

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha

    @property
    def failed(self) -> list[Figure]:
        return [f for f in self.figures if f.failed]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def reasons(self) -> list[str]:
        """One per exceeded limit, for the comparison's verdict."""
        return [f"{f.numbers(self.confidence)} {f.where}" for f in self.failed]

    @property
    def method(self) -> str:
        """How the figures were compared, in a sentence or two."""
        left = ", ".join(f"{n:,} {what}" for what, n in self.left_out.items() if n)
        counted = (f"Only cases evaluated (passed or failed) in both runs count: {self.counted:,}"
                   + (f" ({left} left out)." if left else "."))  # fmt: skip
        with_repeats = [f for f in self.figures if f.repeats]
        if not with_repeats:
            return counted + " Without repeats in both runs the totals are compared; no interval is possible."
        test = (f"means over repeats are compared, and a limit fails only when the one-sided {pct(self.confidence)} "
                "lower confidence bound of the increase (a Welch t-interval over the repeats) is above it")  # fmt: skip
        if len(with_repeats) == len(self.figures):
            return f"{counted} With repeats, {test}."
        return (f"{counted} Where every case has repeats in both runs, {test}; elsewhere the totals are compared "
                "and no interval is possible.")  # fmt: skip

    @property
    def latency_note(self) -> str:
        """Which latencies were compared: live ones, or those recorded in the cassettes."""
        if self.latency is None:
            return ""
        base, head = self.latency
        text = f"Latencies compared: base {base}, head {head}."
        if "recorded" in base and "recorded" in head and "live" not in base + head:
            text += " Replayed latencies are those of the recordings, not of this change's server; compare live runs to gate on speed."
        return text


def latency_kind(run: RunResult) -> str:
    """What a run's latencies are, from its cassette mode: live, or recorded in the cassettes it replayed."""
    mode = run.settings.get("cassettes")
    return {"replay": "recorded (replayed from cassettes)", "off": "live", "record": "live (recorded in this run)",
            "record-missing": "live where recorded in this run, recorded where replayed"}.get(mode, "of unknown kind")  # fmt: skip


def pct(fraction: float) -> str:
    """A confidence as people write it: 0.95 -> '95 %'."""
    return f"{100 * fraction:.4g} %"


def fmt_change(pct: float | None) -> str:
    """A signed percentage: '+38 %', '+3.1 %', '-12 %'; '+inf %' for growth from nothing."""
    if pct is None:
        return "\u2014"
    if math.isinf(pct):
        return "+\u221e %" if pct > 0 else "-\u221e %"
    digits = 0 if abs(pct) >= 10 or pct == int(pct) else 1
    text = f"{abs(pct):.{digits}f}"
    sign = "+" if pct > 0 or text.strip("0.") == "" else "\u2212"
    return f"{sign}{text} %"


def _percent(base: float, head: float) -> float:
    if base == 0:
        return 0.0 if head == 0 else math.copysign(math.inf, head)
    return 100.0 * (head - base) / base


@dataclass
class Measured:
    """One evaluated run of a case, measured once: its figure for every metric, and its per-turn latencies."""

    repeat: int
    model: str
    values: dict[str, float | None]
    latencies: list[float]

    @classmethod
    def of(cls, case: CaseResult) -> Measured:
        """Tokens of every request the case made, its cost (None without a price), its mean per-turn latency."""
        usage = case.usage
        latencies = [t.reply.latency_ms for t in case.turns if t.reply is not None]
        values: dict[str, float | None] = {m: float(getattr(usage, m) or 0) for m in METRICS
                                           if m != COST and m not in LATENCY_METRICS}  # fmt: skip
        values[COST] = case.cost_usd
        mean = sum(latencies) / len(latencies) if latencies else None
        values.update({m: mean for m in LATENCY_METRICS})
        return cls(case.repeat, case.model, values, latencies)


Runs = dict[Key, list[Measured]]


def _evaluated(cases: list[CaseResult]) -> Runs:
    out: Runs = {}
    for c in cases:
        if c.status in EVALUATED:
            out.setdefault((c.suite, c.label), []).append(Measured.of(c))
    return out


def usage_gate(base: RunResult, head: RunResult, flags: Limits | None = None, alpha: float = 0.05,
               top: int = TOP_CASES) -> UsageGate:  # fmt: skip
    """Check every limit: the flags' in every suite and the whole run, each head suite's `gate:` in that suite.

    Flags override a suite's limit on the same metric. The whole run is its own scope only when more than
    one suite has cases to count (with one, it would repeat the suite's figure).
    """
    flags = flags or {}
    b, h = _evaluated(base.cases), _evaluated(head.cases)
    suites: dict[str, tuple[Limits, str]] = {}  # head's suites in order, with their `gate:` and file
    for c in head.cases:
        limits, file = suites.get(c.suite, ({}, ""))
        if not limits and c.policy.usage_limits:
            limits, file = dict(c.policy.usage_limits), c.file
        suites[c.suite] = (limits, file or c.file)
    counted: dict[str, list[Key]] = {s: [] for s in suites}
    for key in h:
        if key in b and key[0] in counted:
            counted[key[0]].append(key)
    figures: list[Figure] = []
    gated: set[str] = set()
    for suite, (own, file) in suites.items():
        limits = {**own, **flags}
        if limits:
            gated.add(suite)
        for metric in (m for m in METRICS if m in limits):
            source = _flag_of(metric) if metric in flags else f"gate: in {file or 'the suite'}"
            figures.append(_figure(metric, suite, counted[suite], limits[metric], source, b, h, alpha, top))
    if flags and sum(1 for s in suites if counted[s]) > 1:
        everything = [k for s in suites for k in counted[s]]
        for metric in (m for m in METRICS if m in flags):
            figures.append(_figure(metric, None, everything, flags[metric], _flag_of(metric), b, h, alpha, top))
    latency = (latency_kind(base), latency_kind(head)) if any(f.metric in LATENCY_METRICS for f in figures) else None
    return UsageGate(figures, alpha, sum(len(counted[s]) for s in gated), _left_out(base, head, b, h, gated), latency)


def _flag_of(metric: str) -> str:
    return next(flag_name(key) for key, (words, bare) in LIMIT_KEYS.items() if metric in set(words.values()) | set(bare))


def _left_out(base: RunResult, head: RunResult, b: Runs, h: Runs,
              gated: set[str]) -> dict[str, int]:  # fmt: skip
    in_base = {(c.suite, c.label) for c in base.cases if c.suite in gated}
    in_head = {(c.suite, c.label) for c in head.cases if c.suite in gated}
    unevaluated = sum(1 for k in in_base & in_head if k not in b or k not in h)
    return {"new": len(in_head - in_base), "removed": len(in_base - in_head), "not evaluated in both": unevaluated}


def _figure(metric: str, suite: str | None, keys: list[Key], limit: float, source: str,
            b: Runs, h: Runs, alpha: float, top: int) -> Figure:  # fmt: skip
    f = Figure(metric, suite, limit, source, cases=len(keys))
    if not keys:
        f.unchecked = "no case was evaluated in both runs"
        return f
    single = sum(1 for k in keys if len(b[k]) < 2 or len(h[k]) < 2)
    f.repeats = single == 0
    if not f.repeats and single < len(keys):
        f.note = f"no interval: {single:,} of {len(keys):,} cases have a single evaluated run on one side"
    means = _case_means(f, keys, b, h)
    if f.unchecked:
        return f
    if metric in LATENCY_METRICS:
        _latency_figure(f, keys, b, h, 1.0 - alpha)
    else:
        _sum_figure(f, keys, b, h, means, 1.0 - alpha)
    if f.checked:
        grown = [Contributor(k[0], k[1], *means[k]) for k in keys if k in means and means[k][1] > means[k][0]]
        grown.sort(key=lambda c: (-c.delta, c.suite, c.id))
        f.contributors = grown[:top]
    return f


def _case_means(f: Figure, keys: list[Key], b: Runs, h: Runs) -> dict[Key, tuple[float, float]]:
    """Each case's figure in base and head: the mean over its evaluated repeats (its value without repeats).

    A cost that is None (no price for the model) makes the cost figure unchecked rather than silently smaller.
    """
    means: dict[Key, tuple[float, float]] = {}
    unpriced: set[str] = set()
    for k in keys:
        bv = [c.values[f.metric] for c in b[k]]
        hv = [c.values[f.metric] for c in h[k]]
        if None in bv or None in hv:
            unpriced.update(c.model or "?" for c in b[k] + h[k] if c.values[f.metric] is None)
            continue
        means[k] = (math.fsum(bv) / len(bv), math.fsum(hv) / len(hv))  # type: ignore[arg-type]
    if unpriced and f.metric == COST:
        f.unchecked = f"no price for {', '.join(sorted(unpriced))}; set `pricing:` in the suite"
    return means


def _sum_figure(f: Figure, keys: list[Key], b: Runs, h: Runs, means: dict[Key, tuple[float, float]],
                confidence: float) -> None:  # fmt: skip
    """Tokens or cost: the sum over cases of each case's mean; with repeats, Welch's bound on the difference."""
    f.base = math.fsum(m[0] for m in means.values())
    f.head = math.fsum(m[1] for m in means.values())
    if f.repeats:
        samples = [(Sample.of([c.values[f.metric] for c in b[k]]), Sample.of([c.values[f.metric] for c in h[k]]))
                   for k in keys]  # type: ignore[misc]  # fmt: skip
        low, f.df = welch_lower_bound([s for s, _ in samples], [s for _, s in samples], confidence)
        f.bound = _percent(f.base, f.base + low) if f.base else (0.0 if low <= 0 else math.inf)


def _latency_figure(f: Figure, keys: list[Key], b: Runs, h: Runs,
                    confidence: float) -> None:  # fmt: skip
    """Median or p95 of per-turn latency; with repeats, the mean over rounds (repeat k of every case) of it."""
    q = 0.5 if f.metric == LATENCY_MEDIAN else 0.95
    pooled = [[x for k in keys for c in side[k] for x in c.latencies] for side in (b, h)]
    if not pooled[0] or not pooled[1]:
        f.unchecked = "no reply has a latency"
        return
    if f.repeats:
        rounds = []
        for side in (b, h):
            by_round: dict[int, list[float]] = {}
            for k in keys:
                for c in side[k]:
                    by_round.setdefault(c.repeat, []).extend(c.latencies)
            rounds.append([quantile(v, q) for _, v in sorted(by_round.items()) if v])
        if len(rounds[0]) >= 2 and len(rounds[1]) >= 2:
            sb, sh = Sample.of(rounds[0]), Sample.of(rounds[1])
            f.base, f.head = sb.mean, sh.mean
            low, f.df = welch_lower_bound([sb], [sh], confidence)
            f.bound = _percent(f.base, f.base + low) if f.base else (0.0 if low <= 0 else math.inf)
            return
        f.repeats, f.note = False, "no interval: fewer than two rounds of repeats on one side"
    f.base, f.head = quantile(pooled[0], q), quantile(pooled[1], q)


def quantile(values: list[float], q: float) -> float:
    """The q-quantile with linear interpolation between the closest ranks (numpy's default; p95 of 2 values is near the larger)."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
