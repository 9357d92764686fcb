"""summary.md: compact Markdown for a pull-request comment or $GITHUB_STEP_SUMMARY.

Totals first, then what needs attention (regressions before anything else),
each with the failing check's reason. GitHub caps comments and step summaries,
so the text stops near ``LIMIT`` bytes with a note saying how much was left out.
Model output is untrusted: it is escaped so it can never render as HTML or
Markdown (an ``<img>`` in a reply must not load in a pull request).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable

from harness.core.case_file import cases_where
from harness.core.result import ERROR, FAILED, PASSED, CaseResult, RunResult
from harness.report.html import compare_headline, fmt_cost, fmt_delta, fmt_ms, fmt_num, fmt_pct, run_models
from harness.report.outcome_text import RunView, outcome_text, policy_text, tolerated_text
from harness.report.payload import short
from harness.report.prompt_diff import prompt_diff
from harness.report.usage_text import markdown_lines
from harness.report.variant_text import markdown_table
from harness.results.rerun import rerun_command, statuses_to_rerun
from harness.results.variant_table import has_variants, variant_table
from harness.results.compare import (  # fmt: skip
    CHANGE_ORDER,
    CHANGED,
    FIXED,
    NEEDS_RERECORD,
    NEW,
    NOT_RUN,
    REGRESSED,
    REMOVED,
    STILL_FAILING,
    CaseDiff,
    CheckFlip,
    Comparison,
    Metric,
    count_text,
)
from harness.results.rerecord import SuiteRerecord, rerecord_commands

LIMIT = 60_000  # bytes; GitHub allows 65,536 in a comment and 1 MiB in a step summary
MAX_REASONS = 3  # failed checks listed per case

_SPECIAL = re.compile(r"([\\`*_\[\]|~#!{}])")


def md_text(text: str, limit: int = 300) -> str:
    """One line of untrusted text, cut short, that Markdown and HTML both show literally."""
    text = short(text, limit)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", text)


def code(name: str) -> str:
    return "`" + name.replace("`", "'") + "`"


class Budget:
    """Collects lines until the byte budget is spent, then counts what it had to leave out."""

    def __init__(self, limit: int = LIMIT, reserve: int = 400):
        self.lines: list[str] = []
        self.size = 0
        self.limit = limit - reserve
        self.left_out = 0

    def add(self, block: list[str], is_case: bool = True) -> bool:
        """Add a case's lines whole or not at all (headings do not count as left-out cases)."""
        size = sum(len(line.encode()) + 1 for line in block)
        if self.left_out or self.size + size > self.limit:
            self.left_out += is_case
            return False
        self.lines.extend(block)
        self.size += size
        return True

    def text(self, where: str) -> str:
        lines = list(self.lines)
        if self.left_out:
            noun = "case" if self.left_out == 1 else "cases"
            lines += ["", f"_\u2026 {self.left_out:,} more {noun} not shown to keep this summary short; see {where}._"]
        return "\n".join(lines).rstrip() + "\n"


def _case_label(suite: str, case_id: str, repeat: int) -> str:
    return f"**{md_text(suite, 80)} / {md_text(case_id, 120)}**" + (f" (repeat {repeat + 1})" if repeat else "")


def _plural(n: int, noun: str) -> str:
    return noun if n == 1 else noun + "s"


def _case_lines(case: CaseResult, extra: str = "") -> list[str]:
    head = f"- {_case_label(case.suite, case.label, case.repeat)} \u2014 {case.status}" + (f" ({md_text(extra)})" if extra else "")
    if case.rerun:
        head += " (re-run)"
    if case.recording:  # the command is printed once per suite above, whole
        turn = next((t.index for t in case.turns if t.recording), 1)
        return [f"{head}: turn {turn}: {md_text(str(case.recording.get('problem') or case.error), 1000)}"]
    if case.error:
        return [f"{head}: {md_text(case.error, 1000)}"]
    failed = case.failed_checks
    lines = [head]
    for turn, check in failed[:MAX_REASONS]:
        origin = " (suite default)" if check.default else ""
        lines.append(f"  - turn {turn} {code(check.name)}{origin}: {md_text(check.reason)}")
    if len(failed) > MAX_REASONS:
        lines.append(f"  - \u2026 and {len(failed) - MAX_REASONS} more failed checks")
    return lines


def run_summary(run: RunResult, limit: int = LIMIT, out_dir: str | None = None) -> str:
    """Totals, gates, pass rates over repeats and metrics, then every errored and failed case with its reasons.

    With ``out_dir`` (where the run is written) it ends with the command that re-runs only what failed.
    """
    s = run.summary
    view = RunView.of(run)
    icon = "\u274c" if s.failed > s.tolerated or s.errored else "\u2705"
    rate = fmt_pct(100.0 * s.passed / s.total if s.total else None)
    out = Budget(limit)
    mode = run.settings.get("cassettes", "")
    live = mode != "replay"  # a replay's duration measures the disk, not the model
    out.add([
        f"### {icon} prompt-harness: {s.passed} passed, {s.failed} failed, {s.errored} errored of {s.total} cases",
        "",
        "| passed | failed | errored | pass rate | tokens | cost |" + (" duration |" if live else "") + " model | mode |",
        "|---:|---:|---:|---:|---:|---:|" + ("---:|" if live else "") + "---|---|",
        f"| {s.passed:,} | {s.failed:,} | {s.errored:,} | {rate} | {fmt_num(s.total_tokens)} | {fmt_cost(s.cost_usd)} |"
        + (f" {fmt_ms(run.duration_ms)} |" if live else "") + f" {md_text(run_models(run), 80)} | {mode}"
        + (" + Batch API (cost at batch prices)" if run.settings.get("batch") else "") + " |",
        *_rerecord_block(rerecord_commands(run.cases, run.settings)),
    ])  # fmt: skip
    notes = []
    if s.repeats != s.total:
        notes.append(f"{s.repeats:,} runs of {s.total:,} cases (repeats); counts are per case, by its `pass_if`")
    if s.flaky:
        notes.append(f"{s.flaky:,} flaky (repeats disagree)")
    if s.tolerated:
        one = s.tolerated == 1
        notes.append(f"{s.tolerated:,} failed {'case is' if one else 'cases are'} tolerated (`allow_fail`, or the "
                     f"suite's `min_pass_rate` held) and {'does' if one else 'do'} not fail the run")  # fmt: skip
    if run.rerun:
        notes.append(f"{run.rerun.get('cases', 0):,} {_plural(run.rerun.get('cases', 0), 'case')} re-run "
                     f"({md_text(str(run.rerun.get('command', '')), 200)}); the others keep their results from "
                     f"{md_text(str(run.rerun.get('from', '')), 200)}")  # fmt: skip
    if notes:
        out.add(["", "; ".join(notes) + "."], is_case=False)
    if has_variants(run.cases):
        out.add(markdown_table(variant_table(run.cases), md_text), is_case=False)
    statuses = statuses_to_rerun(run)
    if out_dir and statuses and run.fingerprints:  # a run of `harness run` (pytest runs have no fingerprints)
        out.add(["", f"Re-run only the {' and '.join(statuses)} cases: {code(rerun_command(out_dir, statuses))}"],
                is_case=False)  # fmt: skip
    if view.gated:
        out.add(["", "#### Suite gates", "", "| suite | passed | pass rate | min_pass_rate | gate |", "|---|---:|---:|---:|---|"]
                + [f"| {md_text(g.suite, 80)} | {g.passed:,}/{g.evaluated:,} | {fmt_pct(None if g.rate is None else 100 * g.rate)} "
                   f"| {100 * (g.min_pass_rate or 0):.0f}% | {'held' if g.ok else '**failed**'} |" for g in view.gated],
                is_case=False)  # fmt: skip
    if view.metrics:
        out.add(["", "#### Metrics", "", "| metric | checks passed | share |", "|---|---:|---:|"]
                + [f"| {md_text(m.metric, 80)} | {m.passed:,}/{m.total:,} | {fmt_pct(100 * (m.share or 0))} |"
                   for m in view.metrics], is_case=False)  # fmt: skip
    repeated = view.repeated
    if repeated and out.add(["", f"#### Pass rates over repeats ({len(repeated):,} cases)", "",
                             "| case | passed | pass rate | pass_if | status | |", "|---|---:|---:|---|---|---|"],
                            is_case=False):  # fmt: skip
        for o in repeated:
            flags = ", ".join(f for f in ("**flaky**" if o.flaky else "", "allowed to fail" if o.allow_fail else "") if f)
            out.add([f"| {_case_label(o.suite, o.label, 0)} | {o.passed}/{o.repeats} | "
                     f"{fmt_pct(None if o.pass_rate is None else 100 * o.pass_rate)} | {policy_text(o.policy)} "
                     f"| {o.status} | {flags} |"])  # fmt: skip
    elif repeated:
        out.left_out += len(repeated)
    example: dict[tuple[str, str], CaseResult] = {}
    for c in cases_where(run.cases, lambda c: c.status != PASSED):  # the first repeat that shows why: one with the
        o = view.outcome(c)  # case's own status, else any not passing (only these are read back from the journal)
        if o is None:
            continue
        current = example.get(o.key)
        if current is None or (current.status != o.status and c.status == o.status):
            example[o.key] = c
    for title, status in (("Errored", ERROR), ("Failed", FAILED)):
        group = [(o, example[o.key]) for o in view.outcomes if o.status == status and o.key in example]
        if group and out.add(["", f"#### {title} ({len(group):,})", ""], is_case=False):
            for o, case in group:
                extra = "; ".join(t for t in (outcome_text(o), tolerated_text(o, view.gates.get(o.suite))) if t)
                out.add(_case_lines(case, extra))
        elif group:
            out.left_out += len(group)
    return out.text("report.html")


def _metric_row(label: str, m: Metric, fmt: Callable[[float | None], str], kind: str) -> str:
    return f"| {label} | {fmt(m.base)} | {fmt(m.head)} | {fmt_delta(m.delta, kind)} |"


def _flip_line(f: CheckFlip) -> str:
    word = {True: "\u2713", False: "\u2717", None: "absent"}
    edited = f" (check edited: {md_text(f.edited, 200)})" if f.edited else ""
    return f"  - turn {f.turn} {code(f.name)} {word[f.before]} \u2192 {word[f.after]}: {md_text(f.reason)}{edited}"


def _request_line(d: CaseDiff) -> str | None:
    bits = [f"{md_text(p.label, 60)} {p.kind}" + (f" ({md_text(', '.join(p.files), 200)})" if p.files else "")
            for p in d.prompt]  # fmt: skip
    for p in d.params:
        if p.added:
            bits.append(f"{code(p.key)} added")
        elif p.removed:
            bits.append(f"{code(p.key)} removed")
        else:
            bits.append(f"{code(p.key)} {md_text(_value(p.before), 40)} \u2192 {md_text(_value(p.after), 40)}")
    return f"  - request: {'; '.join(bits)}" if bits else None


def _n(flags: Iterable[bool]) -> str:
    n = sum(flags)
    return f"{n:,} case" + ("" if n == 1 else "s")


def _value(v: object) -> str:
    return json.dumps(v, default=str) if not isinstance(v, str) else v


def _diff_lines(d: CaseDiff, cmp: Comparison) -> list[str]:
    status = f"{d.base_status or 'absent'} \u2192 {md_text(d.head_label, 200)}"
    tolerated = cmp.tolerated(d)
    mark = f" (tolerated: {tolerated})" if tolerated else ""
    lines = [f"- {_case_label(d.suite, d.id, 0 if d.stats else d.repeat)} {status}{mark}"]
    if d.stats is not None:
        lines.append(f"  - {md_text(d.stats.describe())}; repeat {d.repeat + 1} shown below")
    broke = [f for f in d.flips if f.after is False]
    shown = broke[:MAX_REASONS] or [f for f in d.flips][:MAX_REASONS]
    lines += [_flip_line(f) for f in shown]
    if not shown:
        lines += [f"  - {md_text(r, 1000)}" for r in d.reasons()[:MAX_REASONS]]
    request = _request_line(d)
    if request:
        lines.append(request)
    return lines


def _rerecord_block(commands: list[SuiteRerecord]) -> list[str]:
    """One whole command per suite in a code block: never cut, nothing appended, ready to paste."""
    if not commands:
        return []
    lines = ["", "Re-record the stale or missing cassettes (from the folder the run was started in), then commit them:", ""]
    for c in commands:
        lines += ["```sh", c.command, "```"]
        if c.note:
            lines += [f"_{md_text(c.note, 1000)}._", ""]
    return lines


def _headline(cmp: Comparison) -> str:
    icon = "\u2705" if cmp.verdict.ok else "\u274c"
    return f"### {icon} prompt-harness compare: {compare_headline(cmp)}"


def compare_summary(cmp: Comparison, limit: int = LIMIT) -> str:
    """The verdict and the fix first (re-record commands), the prompt change, totals, then case by case."""
    t = cmp.totals
    counts = ", ".join(count_text(t.counts[c], c) for c in CHANGE_ORDER if t.counts.get(c))
    out = Budget(limit)
    head = [_headline(cmp), ""]
    head.append("Gate passed." if cmp.verdict.ok else "**Gate failed:** " + "; ".join(cmp.verdict.reasons) + ".")
    head += _rerecord_block(cmp.rerecord)
    head += markdown_lines(cmp.usage, md_text)  # the cost, token and latency limits, right under the verdict
    head += [
        "",
        f"Base `{md_text(cmp.base_name, 120)}` \u2192 head `{md_text(cmp.head_name, 120)}`: {counts or 'no cases'}. "
        f"The request changed in {_n(d.request_changed for d in cmp.cases)}, a reply in "
        f"{_n(d.replies_changed for d in cmp.cases)}"
        + (f", a check in {_n(d.checks_edited for d in cmp.cases)}." if any(d.checks_edited for d in cmp.cases)
           else "."),
    ]  # fmt: skip
    out.add(head)
    diff, left = prompt_diff(cmp.ordered())
    if diff:
        more = f"\n\n_\u2026 {left:,} more changed lines; the whole change is in [diff.html](diff.html)._" if left else ""
        out.add(["", "#### Prompt changes", "", diff + more], is_case=False)
    rows = [
        "",
        "| | base | head | \u0394 |",
        "|---|---:|---:|---:|",
        _metric_row("passed", Metric(t.base.passed, t.head.passed), fmt_num, "num"),
        _metric_row("failed", Metric(t.base.failed, t.head.failed), fmt_num, "num"),
        _metric_row("errored", Metric(t.base.errored, t.head.errored), fmt_num, "num"),
        _metric_row("pass rate", t.pass_rate, fmt_pct, "pp"),
        _metric_row("tokens", t.tokens, fmt_num, "num"),
        _metric_row("cost", t.cost_usd, fmt_cost, "cost"),
    ]
    if not cmp.replay:  # a replay's wall time is the disk's, not the model's
        rows.append(_metric_row("duration", t.duration_ms, fmt_ms, "ms"))
    if t.left_out:
        rows += ["", f"_The pass rate, tokens and cost leave out the {t.left_out:,} case "
                     f"run{'s' if t.left_out != 1 else ''} head could not run, on both sides._"]  # fmt: skip
    rows += ["", cmp.method]  # our own words, not user text
    if cmp.suites:
        rows += ["", "| suite | base pass rate [95% CI] | head pass rate [95% CI] | \u0394 [95% CI] |", "|---|---:|---:|---:|"]
        rows += [f"| {md_text(r.suite, 80)} | {r.base.describe()} | {r.head.describe()} | {r.describe_delta()} |"
                 for r in cmp.suites]  # fmt: skip
        rows += ["", "_Pass rates count every evaluated run of every repeat; intervals are Wilson (per run) and "
                     "Newcombe (the change), shown from two runs up._"]  # fmt: skip
    out.add(rows, is_case=False)
    titles = {NEEDS_RERECORD: "Needs re-record", NOT_RUN: "Not run", REGRESSED: "Regressed", NEW: "New",
              REMOVED: "Removed", CHANGED: "Changed", FIXED: "Fixed"}  # fmt: skip
    for change, title in titles.items():
        group = cmp.of(change)
        if group and out.add(["", f"#### {title} ({len(group):,})", ""], is_case=False):
            for d in group:
                out.add(_diff_lines(d, cmp))
        elif group:
            out.left_out += len(group)
    still = cmp.of(STILL_FAILING)  # known failures: folded, so what changed stays on top
    if still and out.add(["", f"<details><summary>Still failing ({len(still):,})</summary>", ""], is_case=False):
        for d in still:
            out.add(_diff_lines(d, cmp))
        out.lines += ["", "</details>"]
    elif still:
        out.left_out += len(still)
    return out.text("diff.html")
