"""The usage gate (cost, token and latency limits) laid out for the terminal, summary.md and diff.html.

The figures and the verdict come from ``harness.results.usage_gate``; this
module only words and formats them, so the three outputs say the same thing:
each limit's headline ("completion tokens +38 % (limit +20 %) in suite
support: gate failed"), base and head, where the limit came from, and the
cases that grew most. Suite names and case ids are user text: escaped for Markdown here,
autoescaped by Jinja2 in HTML.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.report.numbers import fmt_cost, fmt_ms
from harness.results.usage_gate import Contributor, Figure, UsageGate, fmt_change, pct

TERMINAL_CASES = 3  # grown cases listed per figure in the terminal (summary.md and diff.html list up to 5)


def fmt_value(figure: Figure, value: float | None) -> str:
    """A figure's base or head in its unit: '$0.0120', '840 ms', '1,204 tokens' (a mean may have a decimal)."""
    if value is None:
        return "\u2014"
    if figure.unit == "usd":
        return fmt_cost(value)
    if figure.unit == "ms":
        return fmt_ms(value)
    return (f"{value:,.0f}" if value == int(value) else f"{value:,.1f}") + " tokens"


def details(figure: Figure, confidence: float) -> str:
    """'24 tokens -> 48 tokens over 2 cases; limit from --max-token-increase; no interval: ...'."""
    if not figure.checked:
        return f"{figure.cases:,} case{'s' if figure.cases != 1 else ''} counted; limit from {figure.source}"
    over = (f"mean over repeats, {pct(confidence)} lower bound {fmt_change(figure.bound)}" if figure.repeats
            else "totals")  # fmt: skip
    if figure.unit == "ms":
        over = over.replace("mean over repeats", "mean over rounds of repeats").replace("totals", "every turn")
    parts = [f"{fmt_value(figure, figure.base)} \u2192 {fmt_value(figure, figure.head)} over {figure.cases:,} "
             f"case{'s' if figure.cases != 1 else ''} ({over})", f"limit from {figure.source}"]  # fmt: skip
    if figure.note:
        parts.append(figure.note)
    return "; ".join(parts)


def contributor_text(figure: Figure, c: Contributor, label: Callable[[str, str], str]) -> str:
    """'support / wifi 12 tokens -> 36 tokens (+24, +200 %)': what the case added, and by how much it grew."""
    added = fmt_value(figure, c.delta).removesuffix(" tokens")
    return (f"{label(c.suite, c.id)} {fmt_value(figure, c.base)} \u2192 {fmt_value(figure, c.head)} "
            f"(+{added}, {fmt_change(c.change)})")  # fmt: skip


def terminal_lines(usage: UsageGate | None, paint: Callable[[str, bool | None], str]) -> list[str]:
    """The limits block printed just before the gate's verdict; ``paint(text, ok)`` colours a headline."""
    if usage is None:
        return []
    lines = ["cost, token and latency limits: " + usage.method]
    for f in usage.figures:
        lines.append("  " + paint(f.headline(usage.confidence), None if not f.checked else not f.failed))
        lines.append(f"    {details(f, usage.confidence)}")
        for c in f.contributors[:TERMINAL_CASES]:
            lines.append(f"    grew: {contributor_text(f, c, lambda s, i: f'{s} / {i}')}")
    if usage.latency_note:
        lines.append(usage.latency_note)
    return lines


def markdown_lines(usage: UsageGate | None, escape: Callable[[str, int], str]) -> list[str]:
    """The limits section of summary.md: one bullet per limit, its grown cases under it."""
    if usage is None:
        return []
    icon = {True: "\u274c", False: "\u2705", None: "\u26a0\ufe0f"}
    lines = ["", "#### Cost, token and latency limits", ""]
    for f in usage.figures:
        headline, more = escape(f.headline(usage.confidence), 400), escape(details(f, usage.confidence), 400)
        lines.append(f"- {icon[f.failed if f.checked else None]} **{headline}** \u2014 {more}")
        for c in f.contributors:
            lines.append("  - " + contributor_text(f, c, lambda s, i: f"{escape(s, 80)} / {escape(i, 120)}"))
    lines += ["", f"_{usage.method}_"]
    if usage.latency_note:
        lines += ["", f"_{usage.latency_note}_"]
    return lines


def html_context(usage: UsageGate | None) -> list[dict[str, object]]:
    """Rows for diff.html's limits section (Jinja2 escapes every string)."""
    if usage is None:
        return []
    return [{"headline": f.headline(usage.confidence), "tone": "" if not f.checked else "bad" if f.failed else "good",
             "details": details(f, usage.confidence),
             "cases": [contributor_text(f, c, lambda s, i: f"{s} / {i}") for c in f.contributors]}
            for f in usage.figures]  # fmt: skip
