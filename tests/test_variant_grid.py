"""The per-variant figures and their renderings: Wilson intervals, percentiles, the terminal and summary.md tables."""

from __future__ import annotations

import json

import pytest

from harness.core.result import FAILED, PASSED, CaseResult, RunResult, TurnResult
from harness.core.reply import Completion, Usage
from harness.report.markdown import run_summary
from harness.report.payload import run_payload
from harness.report.terminal import format_summary
from harness.results.variant_table import percentile, variant_table


def _case(cid: str, variant: str, status: str, latency: float, text: str = "hi") -> CaseResult:
    reply = Completion(text, "stop", Usage(10, 5, 15), latency_ms=latency)
    return CaseResult("s", cid, status, turns=[TurnResult(1, [], {}, reply)], variant=variant, model=f"m-{variant}")


def _run() -> RunResult:
    cases = [_case(f"c{i}", "a", PASSED, 100 + i) for i in range(10)]
    cases += [_case(f"c{i}", "b", PASSED if i < 4 else FAILED, 1000 + 10 * i) for i in range(10)]
    return RunResult({}, cases)


def test_columns_hold_pass_rate_with_wilson_interval_tokens_and_latency_percentiles():
    table = variant_table(_run().cases)
    a, b = table.columns
    assert (a.name, a.passed, a.evaluated, b.passed, b.evaluated) == ("a", 10, 10, 4, 10)
    assert b.rate == 0.4
    assert b.interval.low == pytest.approx(0.1682, abs=1e-4) and b.interval.high == pytest.approx(0.6873, abs=1e-4)
    assert a.tokens == 150 and a.p50_ms == pytest.approx(104.5) and a.p95_ms == pytest.approx(108.55)
    assert table.disagreeing == 6 and [r.disagree for r in table.rows][:5] == [False] * 4 + [True]


def test_percentile_interpolates_like_numpy():
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)


def test_terminal_and_summary_md_print_the_per_variant_table():
    run = _run()
    text = format_summary(run)
    assert "pass rate (95% CI)" in text and "40% (17%\u201369%)" in text and "100% (72%\u2013100%)" in text
    assert "variants disagree on 6 of 10 cases" in text
    md = run_summary(run)
    assert "#### Variants" in md and "| b | m-b | 4/10 | 40% (17%\u201369%) |" in md


def test_variant_names_are_escaped_in_summary_md():
    run = RunResult({}, [_case("x", "a", PASSED, 1), _case("x", "b|<i>", FAILED, 1)])
    md = run_summary(run)
    assert "<i>" not in md


def test_grid_payload_points_each_cell_at_its_case_row():
    run = _run()
    payload = run_payload(run)
    grid = payload["grid"]
    assert [c["n"] for c in grid["cols"]] == ["a", "b"]
    for suite, cid, cells in grid["rows"]:
        for (status, index, _, _), variant in zip(cells, ("a", "b")):
            case = payload["cases"][index]
            assert (case["s"], case["v"], case["st"]) == (suite, variant, status) and case["i"] == f"{cid} [{variant}]"
    assert "grid" not in run_payload(RunResult({}, [_case("x", "", PASSED, 1)]))
    json.dumps(payload)
