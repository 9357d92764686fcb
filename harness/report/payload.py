"""The compact JSON a report page embeds once and renders from on demand.

A 10,000-case report cannot build every transcript up front, so the page gets
the data as one JSON blob and builds rows and transcripts when they are shown.
Keys are short because the blob is most of the file; texts go in whole.
"""

from __future__ import annotations

from typing import Any

from harness.core.result import ERROR, FAILED, INTERRUPTED, PASSED, SKIPPED, CaseResult, RunResult, TurnResult
from harness.core.text_policy import printable
from harness.report.outcome_text import RunView
from harness.results.compare import CaseDiff, Comparison, Metric, Op
from harness.results.transcript import transcript
from harness.results.variant_table import has_variants, variant_table
from harness.report.variant_text import first_rows, grid_payload

STATUS_ORDER = (ERROR, FAILED, INTERRUPTED, SKIPPED, PASSED)


def short(text: str, limit: int = 160) -> str:
    """One line, cut with an ellipsis: for table cells and Markdown bullets (control characters spelt out)."""
    text = printable(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def first_reason(case: CaseResult) -> str:
    if case.error:
        return case.error
    skipped = getattr(case, "reason", None)  # why a case was skipped, e.g. its suite's budget was spent
    if skipped:
        return str(skipped)
    failed = case.failed_checks
    if failed:
        turn, check = failed[0]
        return f"turn {turn} {check.name}: {check.reason}"
    return ""


def _latency(case: CaseResult) -> float:
    return round(sum(t.reply.latency_ms for t in case.turns if t.reply is not None), 1)


def _turn(t: TurnResult) -> dict[str, Any]:
    out: dict[str, Any] = {"n": t.index}
    if t.reply is not None:
        u = t.reply.usage
        out["fin"] = t.reply.finish_reason
        out["u"] = [u.prompt_tokens, u.completion_tokens, u.total_tokens]
        out["lat"] = round(t.reply.latency_ms, 1)
        if t.reply.ttft_ms is not None:
            out["ttft"] = round(t.reply.ttft_ms, 1)
        if u.reasoning_tokens:
            out["rt"] = u.reasoning_tokens
    out["ck"] = [[c.name, c.passed, c.reason, c.implicit, c.default] for c in t.checks]
    if t.error:
        out["err"] = t.error
    if t.cost_usd is not None:
        out["c"] = t.cost_usd
    notes = list(t.notes)
    summary = getattr(t, "context_summary", None)  # earlier exchanges summarized to fit the context window
    if summary is not None and summary.reply is not None:
        notes.append(f"Earlier exchanges were summarized to fit the context window: {summary.reply.text}")
    partial = getattr(t, "partial_reply", None)  # what a stream that broke off had delivered
    if partial is not None and (partial.content or partial.tool_calls):
        notes.append(f"The stream broke off; it had delivered: {partial.content or ''}"
                     + "".join(f" {c.name}({c.arguments})" for c in partial.tool_calls))
    if notes:
        out["notes"] = notes
    return out


def case_payload(case: CaseResult) -> dict[str, Any]:
    """One case: table fields, then its transcript and per-turn checks for the detail view."""
    checks = [c for t in case.turns for c in t.checks]
    return {
        "s": case.suite,
        "i": case.label,
        "v": case.variant,
        "r": case.repeat,
        "st": case.status,
        "f": case.file,
        "m": case.model,
        "e": case.error,
        "d": round(case.duration_ms, 1),
        "tok": case.usage.total_tokens,
        "c": case.cost_usd,
        "lat": _latency(case),
        "why": short(first_reason(case), 240),
        "nc": len(checks),
        "np": sum(c.passed for c in checks),
        "tx": [[e.turn, e.kind, e.role, e.text, e.name] for e in transcript(case.turns)],
        "t": [_turn(t) for t in case.turns],
        **({"pf": case.prompt_files} if case.prompt_files else {}),  # message slot -> its prompt files
        **({"rr": True} if case.rerun else {}),  # run again by --rerun
    }


def run_payload(run: RunResult) -> dict[str, Any]:
    """Every case result (one per repeat), and each case's outcome over its repeats."""
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    cases = sorted(run.cases, key=lambda c: rank.get(c.status, len(rank)))
    view = RunView.of(run)
    rows = []
    for c in cases:
        row = case_payload(c)
        o = view.outcome(c)
        if o is not None and (o.repeats > 1 or o.tolerated):
            # the case over its repeats: [passed, repeats, status, flaky, why this result does not fail the run]
            row["ag"] = [o.passed, o.repeats, o.status, o.flaky, view.note(c)]
        rows.append(row)
    payload: dict[str, Any] = {"kind": "run", "cases": rows}
    if has_variants(run.cases):
        payload["grid"] = grid_payload(variant_table(run.cases), first_rows(rows, cases))
    outcomes = [{"s": o.suite, "i": o.label, "n": o.repeats, "p": o.passed, "st": o.status, "rate": o.pass_rate,
                 "fl": o.flaky, "af": o.allow_fail, "tol": o.tolerated, "sc": o.score} for o in view.outcomes]  # fmt: skip
    payload["outcomes"] = outcomes
    return payload


def _ops(ops: list[Op]) -> list[list[str]]:
    return [[kind, text] for kind, text in ops]


def _metric(m: Metric) -> list[float | None]:
    return [m.base, m.head]


def diff_payload(d: CaseDiff) -> dict[str, Any]:
    return {
        "s": d.suite,
        "i": d.id,
        "r": d.repeat,
        "ch": d.change,
        "bs": d.base_status,
        "hs": d.head_status,
        "why": [short(r, 400) for r in d.reasons()],
        "fl": [[f.turn, f.name, f.before, f.after, f.base_reason, f.head_reason, f.edited] for f in d.flips],
        "pr": [[p.label, p.kind, _ops(p.ops), p.files] for p in d.prompt],
        "pa": [[p.key, p.before, p.after, p.added, p.removed] for p in d.params],
        # reply texts, not diffs: the page diffs a case's replies when it is opened; the last flag: head never ran it
        "re": [[r.turn, r.changed, r.before, r.after, r.base_finish, r.head_finish, r.not_run] for r in d.replies],
        "tok": _metric(d.tokens),
        "c": _metric(d.cost_usd),
        "lat": _metric(d.latency_ms),
        "err": [d.base.error if d.base else None, d.head.error if d.head else None],
        "nr": d.not_run,  # for a case head could not run: "turn 1 errored; turns 2-3 not run"
        **({"sx": d.stats.describe()} if d.stats is not None else {}),  # pass rates over repeats and the test
    }


def compare_payload(comparison: Comparison) -> dict[str, Any]:
    return {"kind": "compare", "cases": [diff_payload(d) for d in comparison.ordered()]}
