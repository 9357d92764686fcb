"""The terminal view: failures first, each with its reason, then the totals."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from harness.core.case_file import cases_where
from harness.core.result import ERROR, FAILED, INTERRUPTED, PASSED, SKIPPED, RunResult
from harness.core.text_policy import printable
from harness.report.outcome_text import RunView, policy_text
from harness.report.usage_text import terminal_lines
from harness.report.variant_text import terminal_table
from harness.results.compare import CHANGE_ORDER, NEEDS_RERECORD, NOT_RUN, UNCHANGED, Comparison, count_text
from harness.results.rerecord import SuiteRerecord
from harness.results.variant_table import has_variants, variant_table

COLOURS = {PASSED: "32", FAILED: "31", ERROR: "35", SKIPPED: "33", INTERRUPTED: "33"}


def use_colour(stream: TextIO) -> bool:
    """Colour only on a real terminal, and never when NO_COLOR is set (no-color.org)."""
    return hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def paint(text: str, status: str, colour: bool) -> str:
    return f"\033[{COLOURS.get(status, '0')}m{text}\033[0m" if colour else text


def _short(text: str, limit: int = 110) -> str:
    text = printable(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_summary(run: RunResult, colour: bool = False, max_rows: int = 50) -> str:
    """A table of every failed check and errored case, then one line of totals."""
    from tabulate import tabulate

    view = RunView.of(run)
    rows: list[list[object]] = []
    grouped: dict[str, list[str]] = {}  # one line per distinct error: 500 cases a wrong key stopped are one line
    for case in cases_where(run.cases, lambda c: c.status in (ERROR, FAILED)):
        name = case.label + (f" [repeat {case.repeat + 1}]" if case.repeat or case.policy.repeats > 1 else "")
        forgiven = view.note(case)
        if case.status == ERROR:
            grouped.setdefault(printable(f"{case.error}") + (f" ({forgiven})" if forgiven else ""),
                               []).append(f"{case.suite} / {name}")  # fmt: skip
        elif case.status == FAILED:
            label = paint("FAIL", FAILED, colour) if not forgiven else paint("fail", SKIPPED, colour)
            for turn_index, c in case.failed_checks:
                rows.append([label, case.suite, name, turn_index, c.name + (" (default)" if c.default else ""),
                             _short(c.reason)])  # fmt: skip
            if forgiven:
                rows.append(["", "", "", "", "", _short(f"(not counted: {forgiven})")])
    errors = [f"{paint('ERROR', ERROR, colour)} {names[0]}"
              + (f" and {len(names) - 1} more case{'' if len(names) == 2 else 's'}" if len(names) > 1 else "")
              + f": {message}" for message, names in grouped.items()]  # fmt: skip
    lines = []
    if errors:
        lines.extend(errors[:max_rows])
        if len(errors) > max_rows:
            lines.append(f"... and {len(errors) - max_rows} more errors; see results.json")
        lines.append("")
    if rows:
        shown = rows[:max_rows]
        lines.append(tabulate(shown, headers=["", "suite", "case", "turn", "check", "reason"], tablefmt="simple"))
        if len(rows) > max_rows:
            lines.append(f"... and {len(rows) - max_rows} more; see results.json or report.html")
        lines.append("")
    lines.extend(_outcome_lines(view, colour))
    if has_variants(run.cases):
        lines.extend(terminal_table(variant_table(run.cases)))
    s = run.summary
    failed = f"{s.failed} failed" + (f" ({s.tolerated} tolerated)" if s.tolerated else "")
    parts = [paint(f"{s.passed} passed", PASSED, colour and s.passed > 0),
             paint(failed, FAILED, colour and s.failed > s.tolerated),
             paint(f"{s.errored} errored", ERROR, colour and s.errored > 0)]  # fmt: skip
    if s.flaky:
        parts.append(paint(f"{s.flaky} flaky", SKIPPED, colour))
    if s.skipped:
        parts.append(paint(f"{s.skipped} skipped", SKIPPED, colour))
    if s.interrupted:
        parts.append(paint(f"{s.interrupted} interrupted", INTERRUPTED, colour))
    tokens = f"{s.total_tokens:,} tokens" + (f" ({s.reasoning_tokens:,} reasoning)" if s.reasoning_tokens else "")
    cost = f", ${s.cost_usd:.4f}" if s.cost_usd is not None else ""
    if cost and run.settings.get("batch"):
        cost += " at Batch API prices"
    runs = f" ({s.repeats} runs with repeats)" if s.repeats != s.total else ""
    cases = f"{s.total} case{'' if s.total == 1 else 's'}"
    lines.append(f"{', '.join(parts)} of {cases}{runs}; {tokens}{cost} in {run.duration_ms / 1000:.1f} s")
    return "\n".join(lines)


def _outcome_lines(view, colour: bool, max_rows: int = 50) -> list[str]:  # noqa: ANN001 (RunView)
    """Pass rates of cases with repeats, the suites' gates and the metrics; nothing when none is used."""
    from tabulate import tabulate

    lines: list[str] = []
    repeated = view.repeated
    if repeated:
        rows = [[paint(o.status.upper(), o.status, colour), o.suite, o.label, f"{o.passed}/{o.repeats}",
                 "-" if o.pass_rate is None else f"{o.pass_rate:.0%}", policy_text(o.policy),
                 ", ".join(note for note, on in (("flaky", o.flaky), ("allowed to fail", o.allow_fail)) if on)]
                for o in repeated[:max_rows]]  # fmt: skip
        headers = ["", "suite", "case", "passed", "rate", "pass_if", "notes"]
        if not any(row[-1] for row in rows):  # no empty column at the end of every line
            rows, headers = [row[:-1] for row in rows], headers[:-1]
        lines.append(tabulate(rows, headers=headers, tablefmt="simple"))
        if len(repeated) > max_rows:
            lines.append(f"... and {len(repeated) - max_rows} more cases with repeats; see results.json `outcomes`")
        lines.append("")
    for gate in view.gated:
        lines.append(paint(f"suite {gate.suite}: {gate.describe()}", PASSED if gate.ok else FAILED, colour))
    allowed = [o for o in view.outcomes if o.tolerated_by == "allow_fail"]
    if allowed:
        lines.append(f"allowed to fail (allow_fail: true): {', '.join(f'{o.suite} / {o.label}' for o in allowed[:10])}"
                     + (f" and {len(allowed) - 10} more" if len(allowed) > 10 else ""))  # fmt: skip
    for m in view.metrics:
        lines.append(f"metric {m.metric}: {m.passed}/{m.total} checks passed ({m.share:.0%})")
    if view.gated or allowed or view.metrics:
        lines.append("")
    return lines


def print_summary(run: RunResult, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    print(format_summary(run, colour=use_colour(stream)), file=stream)


# --- compare -----------------------------------------------------------------

_CHANGE_COLOUR = {"regressed": FAILED, "fixed": PASSED, "still failing": ERROR, "new": SKIPPED,
                  "removed": SKIPPED, "changed": SKIPPED, NEEDS_RERECORD: ERROR, NOT_RUN: ERROR}  # fmt: skip


def format_comparison(cmp: Comparison, colour: bool = False, max_rows: int = 50) -> str:
    """Cases that did not run and regressions first, each with the reason and the request change beside it;
    then totals, the gate, and the command that re-records what needs it."""
    lines: list[str] = []
    shown = 0
    for change in CHANGE_ORDER:
        if change == UNCHANGED:
            continue
        for d in cmp.of(change):
            if shown == max_rows:
                break
            shown += 1
            label = paint(f"{change.upper():<13}", _CHANGE_COLOUR.get(change, ""), colour)
            lines.append(f"{label} {d.label}  ({d.base_status or 'absent'} -> {d.head_label})")
            if d.stats is not None:
                lines.append(f"    {d.stats.describe()}; repeat {d.repeat + 1} shown")
            broke = [f for f in d.flips if f.after is False] or d.flips
            details = [f"turn {f.turn} {f.name}: {f.explained}" for f in broke[:3]] or d.reasons()[:3]
            lines.extend(f"    {_short(x)}" for x in details)
            request = [f"{p.label} {p.kind}" for p in d.prompt] + [f"param {p.key}" for p in d.params]
            if request:
                lines.append(f"    request: {_short(', '.join(request))}")
            if d.not_run and "; " in d.not_run:
                lines.append(f"    {d.not_run.split('; ', 1)[1]}")
    remaining = sum(1 for d in cmp.cases if d.change != UNCHANGED) - shown
    if remaining > 0:
        lines.append(f"... and {remaining} more; see diff.html or summary.md")
    if lines:
        lines.append("")
    t = cmp.totals
    counts = ", ".join(paint(count_text(t.counts[c], c), _CHANGE_COLOUR.get(c, ""),
                             colour and t.counts[c] > 0 and c in _CHANGE_COLOUR) for c in CHANGE_ORDER)  # fmt: skip
    rate = t.pass_rate
    rates = f"{_pct(rate.base)} -> {_pct(rate.head)}"
    # Cases only head has, whatever they became: one that did not run is counted above as such, not as "new".
    new = f"; {t.new_cases} only in head ({t.new_failing + t.new_failing_allowed} failing)" if t.new_cases else ""
    lines.append(f"{counts} of {len(cmp.cases)} cases{new}; pass rate {rates}; tokens {t.tokens.base or 0:,.0f} -> "
                 f"{t.tokens.head or 0:,.0f}" + (" (what did not run left out)" if t.left_out else ""))  # fmt: skip
    requests = sum(d.request_changed for d in cmp.cases)
    replies = sum(d.replies_changed for d in cmp.cases)
    checks = sum(d.checks_edited for d in cmp.cases)
    lines.append(f"request changed in {requests} case{'' if requests == 1 else 's'}, a reply in {replies}"
                 + (f", a check in {checks}" if checks else ""))  # fmt: skip
    lines.append(cmp.method)
    for r in cmp.suites:
        lines.append(f"suite {r.suite}: pass rate {r.base.describe()} -> {r.head.describe()}, change "
                     f"{r.describe_delta()} (runs of every repeat; 95% intervals)")  # fmt: skip
    lines += terminal_lines(cmp.usage, lambda text, ok: paint(text, {True: PASSED, False: FAILED}.get(ok, SKIPPED), colour))
    if cmp.verdict.ok:
        lines.append(paint("gate passed", PASSED, colour))
    else:
        lines.append(paint("gate failed: " + "; ".join(cmp.verdict.reasons), FAILED, colour))
    lines.extend(rerecord_lines(cmp.rerecord, "re-record (then commit the cassettes):"))
    return "\n".join(lines)


def rerecord_lines(commands: list[SuiteRerecord], heading: str) -> list[str]:
    """One whole command per suite, on its own line: nothing appended, so it pastes as it is."""
    if not commands:
        return []
    lines = [heading]
    for c in commands:
        lines.append(f"  {c.command}")
        if c.note:
            lines.append(f"  ({c.note})")
    return lines


def print_rerecord(commands: list[SuiteRerecord], stream: TextIO | None = None) -> None:
    """After a run: the command per suite that re-records every case whose cassette was stale or missing."""
    for c in commands:
        print(f"re-record: {c.command}" + (f"\n  ({c.note})" if c.note else ""), file=stream or sys.stdout)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def print_comparison(cmp: Comparison, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    print(format_comparison(cmp, colour=use_colour(stream)), file=stream)
