"""Numbers as the reports print them: counts, dollars, durations, percentages and signed changes.

One set of formatters for the HTML pages, summary.md and the usage limits, so a
cost or a latency reads the same everywhere. A dash stands for "unknown".
"""

from __future__ import annotations


def fmt_num(value: float | None) -> str:
    return "\u2014" if value is None else f"{value:,.0f}"


def fmt_cost(value: float | None) -> str:
    if value is None:
        return "\u2014"
    return f"${value:,.4f}" if abs(value) < 100 else f"${value:,.2f}"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "\u2014"
    if abs(value) < 1000:
        return f"{value:.0f} ms"
    if abs(value) < 120_000:
        return f"{value / 1000:.1f} s"
    return f"{value / 60_000:.1f} min"


def fmt_pct(value: float | None) -> str:
    return "\u2014" if value is None else f"{value:.1f}%"


def fmt_delta(value: float | None, kind: str = "num") -> str:
    """A signed change: '+12', '-0.0010', '+1.2 s'; '' for no change, dash when unknown."""
    if value is None:
        return "\u2014"
    if abs(value) < 1e-12:
        return "\u00b10"
    sign = "+" if value > 0 else "\u2212"
    body = {"num": fmt_num, "cost": fmt_cost, "ms": fmt_ms}.get(kind, fmt_num)(abs(value))
    if kind == "pp":
        body = f"{abs(value):.1f} pp"
    return sign + body
