"""junit.xml: one testcase per case, which CI systems (GitHub, GitLab, Jenkins) render natively.

A failed case carries its failed checks' reasons in <failure>; a case that
could not be evaluated is an <error>, matching exit code 3. Model output can
hold characters XML 1.0 forbids (NUL, escape codes), so every text is cleaned.
"""

from __future__ import annotations

import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from harness.core.atomic_files import write_atomic, write_text_atomic
from harness.core.case_file import CaseFile
from harness.core.outcomes import light
from harness.core.text_policy import STORABLE_ERRORS
from harness.core.result import ERROR, FAILED, INTERRUPTED, PASSED, SKIPPED, CaseResult, RunResult
from harness.report.outcome_text import RunView
from harness.report.payload import short
from harness.results.compare import (  # fmt: skip
    FIXED,
    NEW,
    NOT_EVALUATED,
    REGRESSED,
    REMOVED,
    STILL_FAILING,
    CaseDiff,
    Comparison,
)
from harness.results.transcript import transcript
from harness.results.usage_gate import UsageGate

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MAX_OUTPUT = 8_000  # characters of transcript in <system-out> per failing case


def clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _name(case_id: str, repeat: int, repeated: bool = False) -> str:
    return case_id + (f" [repeat {repeat + 1}]" if repeat or repeated else "")  # 1-based for people


def _transcript_text(case: CaseResult) -> str:
    lines = [f"[{e.kind if e.kind != 'input' else e.role} turn {e.turn}] {e.text}" for e in transcript(case.turns)]
    text = "\n".join(lines)
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT] + "\n... (cut; see report.html)"


def _reasons(case: CaseResult) -> list[str]:
    return [f"turn {turn} {c.name}{' (suite default)' if c.default else ''}: {c.reason}" for turn, c in case.failed_checks]


def _outcome(tc: ET.Element, tag: str, message: str, body: str = "", kind: str = "") -> None:
    attrs = {"message": clean(short(message, 500))}
    if kind:
        attrs["type"] = kind
    el = ET.SubElement(tc, tag, attrs)
    if body:
        el.text = clean(body)


def _suites(root: ET.Element, groups: dict[str, list[ET.Element]]) -> None:
    for suite, cases in groups.items():
        ts = ET.SubElement(root, "testsuite", {"name": clean(suite)})
        ts.extend(cases)
        _count(ts, cases)
    _count(root, [tc for ts in root for tc in ts])


def _count(el: ET.Element, cases: Iterable[ET.Element]) -> None:
    cases = list(cases)
    el.set("tests", str(len(cases)))
    el.set("failures", str(sum(tc.find("failure") is not None for tc in cases)))
    el.set("errors", str(sum(tc.find("error") is not None for tc in cases)))
    el.set("skipped", str(sum(tc.find("skipped") is not None for tc in cases)))
    el.set("time", f"{sum(float(tc.get('time', 0)) for tc in cases):.3f}")


def _serialise(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def run_junit(run: RunResult) -> str:
    """Failures carry every failed check's reason; errors carry the error; the transcript goes to system-out."""
    view = RunView.of(run)
    root = ET.Element("testsuites", {"name": "prompt-harness"})
    groups: dict[str, list[ET.Element]] = {}
    for case in run.cases:
        groups.setdefault(case.suite, []).append(_testcase(case, view))
    _suites(root, groups)
    return _serialise(root)


def write_run_junit(run: RunResult, path: Path) -> None:
    """``run_junit``'s file, byte for byte, written one case at a time: a 100,000-case run never holds its tree.

    The testcases go to a temporary file suite by suite while the counts add up, since the counts lead."""
    view = RunView.of(run)
    heads = list(light(run.cases))
    if not heads:
        write_text_atomic(path, run_junit(run))
        return
    first_seen: dict[str, int] = {}
    for h in heads:
        first_seen.setdefault(h.suite, len(first_seen))
    order = sorted(range(len(heads)), key=lambda i: first_seen[heads[i].suite])  # grouped by suite, as run_junit
    cases = run.cases.reordered(order) if isinstance(run.cases, CaseFile) else [run.cases[i] for i in order]
    total, counts, suite_tags = _Counts(), _Counts(), []
    suite: str | None = None
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors=STORABLE_ERRORS) as body:
        for case in cases:
            if case.suite != suite:
                if suite is not None:
                    body.write("\n  </testsuite>\n  ")
                    suite_tags.append(_start_tag("testsuite", {"name": clean(suite)}, counts))
                suite, counts = case.suite, _Counts()
                body.write("\0")  # where this suite's start tag goes, once its counts are known
            tc = _testcase(case, view)
            counts.add(tc)
            total.add(tc)
            ET.indent(tc, level=2)
            body.write("\n    " + ET.tostring(tc, encoding="unicode"))
        body.write("\n  </testsuite>\n")
        suite_tags.append(_start_tag("testsuite", {"name": clean(suite or "")}, counts))
        body.seek(0)
        tags = iter(suite_tags)

        def fill(f: IO[str]) -> None:
            f.write('<?xml version="1.0" encoding="UTF-8"?>\n' + _start_tag("testsuites", {"name": "prompt-harness"}, total)
                    + "\n  ")  # fmt: skip
            while block := body.read(1 << 20):
                pieces = block.split("\0")  # clean() keeps NUL out of every text, so it only marks suites
                f.write(pieces[0])
                for piece in pieces[1:]:
                    f.write(next(tags) + piece)
            f.write("</testsuites>\n")

        write_atomic(path, fill)


class _Counts:
    """What a <testsuite> (or the root) says it holds."""

    def __init__(self) -> None:
        self.tests = self.failures = self.errors = self.skipped = 0
        self.time = 0.0

    def add(self, tc: ET.Element) -> None:
        self.tests += 1
        self.failures += tc.find("failure") is not None
        self.errors += tc.find("error") is not None
        self.skipped += tc.find("skipped") is not None
        self.time += float(tc.get("time", 0))


def _start_tag(tag: str, attrs: dict[str, str], counts: _Counts) -> str:
    el = ET.Element(tag, {**attrs, "tests": str(counts.tests), "failures": str(counts.failures),
                          "errors": str(counts.errors), "skipped": str(counts.skipped), "time": f"{counts.time:.3f}"})  # fmt: skip
    el.text = "\0"
    return ET.tostring(el, encoding="unicode").split("\0")[0]


def _testcase(case: CaseResult, view: RunView) -> ET.Element:
    """One case's <testcase>: its outcome (failure, error or skipped with why) and, unless it passed, its transcript."""
    name = _name(case.label, case.repeat, case.policy.repeats > 1)
    tc = ET.Element("testcase", {"classname": clean(case.suite), "name": clean(name),
                                 "time": f"{case.duration_ms / 1000:.3f}"})  # fmt: skip
    if case.file:
        tc.set("file", clean(case.file))
    forgiven = view.note(case) if case.status in (FAILED, ERROR) else ""
    if forgiven:  # a failed repeat of a case that passes, or a tolerated failure: skipped, like pytest's xfail
        _outcome(tc, "skipped", f"not counted: {forgiven}", "\n".join(_reasons(case)) or case.error or "")
    elif case.status == FAILED:
        reasons = _reasons(case)
        _outcome(tc, "failure", reasons[0] if reasons else "failed", "\n".join(reasons), "check_failed")
    elif case.status == ERROR:
        _outcome(tc, "error", case.error or "error", case.error or "", "not_evaluated")
    elif case.status in (SKIPPED, INTERRUPTED):
        _outcome(tc, "skipped", case.status)
    if case.status != PASSED and case.turns:
        ET.SubElement(tc, "system-out").text = clean(_transcript_text(case))
    return tc


def _diff_message(d: CaseDiff) -> str:
    reasons = d.reasons()
    status = f"{d.base_status or 'absent'} -> {d.head_label}"
    stats = f"; {d.stats.describe()}" if d.stats is not None else ""
    return f"{d.change} ({status}{stats})" + (f": {reasons[0]}" if reasons else "")


def compare_junit(cmp: Comparison) -> str:
    """Mirrors the gate: a case head could not run is an error (exit 3), a regression or a new case that fails
    the gate is a failure; other non-passing cases are skipped with why."""
    failing_new = {key for key, verdict in _new_verdicts(cmp).items() if verdict}
    root = ET.Element("testsuites", {"name": "prompt-harness compare"})
    groups: dict[str, list[ET.Element]] = {}
    for d in cmp.ordered():
        case = d.head or d.base
        assert case is not None
        tc = ET.Element("testcase", {"classname": clean(d.suite), "name": clean(_name(d.id, 0 if d.stats else d.repeat)),
                                     "time": f"{case.duration_ms / 1000:.3f}"})  # fmt: skip
        if d.change in NOT_EVALUATED:
            _outcome(tc, "error", _diff_message(d), "\n".join(d.reasons()), "not_evaluated")
        elif d.change == REGRESSED:
            flips = [f"turn {f.turn} {f.name}: {f.explained}" for f in d.flips if f.broke]
            body = "\n".join(flips or d.reasons())
            _outcome(tc, "failure", _diff_message(d), body, "regression")
        elif d.change == NEW and (d.suite, d.id) in failing_new:
            _outcome(tc, "failure", _diff_message(d), "\n".join(d.reasons()), "new_failure")
        elif d.change in (STILL_FAILING, REMOVED) or (d.change == NEW and d.head_status != PASSED):
            _outcome(tc, "skipped", _diff_message(d))
        elif d.change == FIXED:
            ET.SubElement(tc, "system-out").text = clean(_diff_message(d))
        groups.setdefault(d.suite, []).append(tc)
    if cmp.usage is not None:
        groups[USAGE_SUITE] = _usage_cases(cmp.usage)
    _suites(root, groups)
    return _serialise(root)


USAGE_SUITE = "cost, token and latency limits"


def _usage_cases(usage: UsageGate) -> list[ET.Element]:
    """One testcase per limit and scope: a failure when exceeded, skipped when it could not be checked."""
    cases = []
    for f in usage.figures:
        tc = ET.Element("testcase", {"classname": clean(f.suite or "whole run"), "name": f"{f.label} limit",
                                     "time": "0.000"})  # fmt: skip
        grew = "\n".join(f"{c.suite} / {c.id}: {c.base:g} -> {c.head:g}" for c in f.contributors)
        if f.failed:
            _outcome(tc, "failure", f.headline(usage.confidence), grew, "limit_exceeded")
        elif not f.checked:
            _outcome(tc, "skipped", f.headline(usage.confidence))
        else:
            ET.SubElement(tc, "system-out").text = clean(f.headline(usage.confidence))
        cases.append(tc)
    return cases
def _new_verdicts(cmp: Comparison) -> dict[tuple[str, str], bool]:
    """New cases, and whether each fails the gate (failing, not tolerated, not allowed)."""
    if not cmp.totals.new_failing:
        return {}
    out = {}
    for d in cmp.of(NEW):
        o = cmp.head_outcomes.get((d.suite, d.id))
        allowed = d.head is not None and d.head.policy.allow_new_failures
        out[(d.suite, d.id)] = bool(o and o.status == FAILED and not o.tolerated and not allowed)
    return out
