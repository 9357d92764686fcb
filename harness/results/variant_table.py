"""The side-by-side view of a run with variants: one column per variant, one row per case.

Pure data for the renderers (report.html's grid, summary.md, the terminal): each variant's pass
rate over its cases with a Wilson interval, its tokens, cost and p50/p95 latency, and for each
case the outcome under every variant. Computed here so every report prints the same numbers.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace

from harness.core.outcomes import light, EVALUATED, Outcome, outcomes
from harness.core.result import PASSED, CaseResult, RunResult
from harness.results.stats import Interval, wilson_interval


@dataclass
class VariantColumn:
    """One variant over every case it ran."""

    name: str
    cases: int = 0
    passed: int = 0
    evaluated: int = 0
    tokens: int = 0
    cost_usd: float | None = None
    latencies_ms: list[float] = field(default_factory=list)  # one per evaluated case result (every repeat)
    models: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return self.passed / self.evaluated if self.evaluated else None

    @property
    def interval(self) -> Interval | None:
        """The 95% Wilson interval of the pass rate; None when no case was evaluated."""
        return wilson_interval(self.passed, self.evaluated) if self.evaluated else None

    @property
    def p50_ms(self) -> float | None:
        return percentile(self.latencies_ms, 50)

    @property
    def p95_ms(self) -> float | None:
        return percentile(self.latencies_ms, 95)


@dataclass
class GridRow:
    """One case (suite and id) and its outcome under each variant, in column order (None: not run)."""

    suite: str
    id: str
    cells: list[Outcome | None]

    @property
    def disagree(self) -> bool:
        """Variants that ran this case did not all end the same way."""
        return len({c.status for c in self.cells if c is not None}) > 1


@dataclass
class VariantTable:
    columns: list[VariantColumn]
    rows: list[GridRow]

    @property
    def disagreeing(self) -> int:
        return sum(r.disagree for r in self.rows)


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile by linear interpolation between the closest ranks (as numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    at = (len(ordered) - 1) * p / 100
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def has_variants(cases: list[CaseResult]) -> bool:
    return any(c.variant for c in light(cases))


def variant_table(cases: list[CaseResult]) -> VariantTable:
    """Columns in the order variants first appear; rows in the order cases first appear.

    Only cases of suites with variants count: a run may hold suites without them as well.
    """
    cases = [c for c in cases if c.variant]
    found = outcomes(cases)
    columns: dict[str, VariantColumn] = {}
    for c in cases:
        col = columns.setdefault(c.variant, VariantColumn(c.variant))
        col.tokens += c.usage.total_tokens or 0
        if c.cost_usd is not None:
            col.cost_usd = (col.cost_usd or 0.0) + c.cost_usd
        if c.status in EVALUATED:
            col.latencies_ms.append(sum(t.reply.latency_ms for t in c.turns if t.reply is not None))
        if c.model and c.model not in col.models:
            col.models.append(c.model)
    for o in found:
        col = columns[o.variant]
        col.cases += 1
        if o.status in EVALUATED:
            col.evaluated += 1
            col.passed += o.status == PASSED
    order = {name: i for i, name in enumerate(columns)}
    rows: dict[tuple[str, str], GridRow] = {}
    for o in found:
        row = rows.setdefault((o.suite, o.id), GridRow(o.suite, o.id, [None] * len(order)))
        row.cells[order[o.variant]] = o
    return VariantTable(list(columns.values()), list(rows.values()))


class VariantChoiceError(ValueError):
    """A --base-variant/--head-variant the run does not hold."""


def split_variants(run: RunResult, base: str, head: str) -> tuple[RunResult, RunResult]:
    """Two runs from one: its cases under variant ``base`` and under ``head``, aligned by suite, id and repeat.

    The variant is cleared on the copies, so run-to-run compare (its gate, its exact statistics,
    diff.html) applies unchanged. Each side keeps the run's settings and start time.
    """
    names = list(dict.fromkeys(c.variant for c in run.cases if c.variant))
    missing = [n for n in (base, head) if n not in names]
    if missing:
        held = f"it holds {', '.join(names)}" if names else "it has no variants (its suites declare no `variants:`)"
        close = difflib.get_close_matches(missing[0], names, n=1, cutoff=0.6) if len(missing) == 1 else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise VariantChoiceError(f"no variant named {' or '.join(repr(m) for m in missing)} in this run{hint}; "
                                 f"{held}")  # fmt: skip
    if base == head:
        raise VariantChoiceError(f"--base-variant and --head-variant are both {base!r}; pick two different variants")

    def side(name: str) -> RunResult:
        cases = [replace(c, variant="") for c in run.cases if c.variant == name]
        return RunResult(dict(run.settings), cases, run.started_at, run.duration_ms, run.schema_version)

    return side(base), side(head)
