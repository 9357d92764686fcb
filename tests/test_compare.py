"""harness/results/compare.py and `harness compare` / `harness run --baseline`, end to end against the fake server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.reply import Completion, Usage
from harness.core.result import CaseResult, CheckResult, RunResult, TurnResult, load_run, save_run
from harness.results.compare import (  # fmt: skip
    CHANGED,
    FIXED,
    NEW,
    NOT_RUN,
    REGRESSED,
    REMOVED,
    STILL_FAILING,
    UNCHANGED,
    Gate,
    classify,
    compare_runs,
    word_diff,
)

SUITE = """
suite: support
model: fake-model
params: {temperature: 0, max_tokens: 50}
system: "You are a support agent. SYSTEM_STYLE"
cases:
  - id: wifi
    turns:
      - user: "My Wi-Fi drops."
        expect:
          - contains: restart
      - user: "Still broken."
        expect:
          - finish_reason: stop
  - id: greeting
    turns:
      - user: "Hello [[reply:Hi! How can I help?]]"
        expect:
          - contains: help
"""
BEFORE = "[[reply:Please restart the router and wait a minute.]]"
AFTER = "Be brief. [[reply:Please wait a minute.]]"


def _case(status: str, case_id: str = "c", reply: str = "hello", passed: bool = True, system: str = "sys",
          temperature: float = 0, repeat: int = 0, tokens: int = 10) -> CaseResult:  # fmt: skip
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "hi"}]
    completion = Completion(reply, "stop", Usage(5, tokens - 5, tokens), latency_ms=100.0)
    checks = [CheckResult("contains", passed, "ok" if passed else f"expected 'x', got {reply!r}")]
    turn = TurnResult(1, messages, {"temperature": temperature}, completion, checks)
    return CaseResult("s", case_id, status, turns=[turn], repeat=repeat, model="m")


def _run(*cases: CaseResult) -> RunResult:
    return RunResult({"cassettes": "replay"}, list(cases), duration_ms=1000.0)


@pytest.mark.parametrize(("base", "head", "change"), [
    ("passed", "failed", REGRESSED), ("passed", "error", NOT_RUN), ("failed", "passed", FIXED),
    ("error", "passed", FIXED), ("failed", "error", NOT_RUN), ("passed", "passed", UNCHANGED),
    ("failed", "failed", STILL_FAILING), ("passed", "skipped", CHANGED), (None, "passed", NEW),
    ("passed", None, REMOVED),
])  # fmt: skip
def test_status_change_names(base, head, change):
    assert classify(base and _case(base), head and _case(head)) == change


@given(st.text(max_size=80), st.text(max_size=80))
def test_word_diff_rebuilds_both_sides(before, after):
    ops = word_diff(before, after)
    assert "".join(t for k, t in ops if k != "+") == before
    assert "".join(t for k, t in ops if k != "-") == after
    assert all(a[0] != b[0] for a, b in zip(ops, ops[1:]))  # adjacent ops merged


def test_word_diff_marks_whole_words():
    ops = word_diff("Answer in two short sentences.", "Answer in one short sentence.")
    assert ("-", " two") in ops and ("+", " one") in ops
    assert ops[0] == ("=", "Answer in")


def test_case_diff_has_flips_request_change_reply_diff_and_deltas():
    base = _run(_case("passed", reply="restart it", system="Be kind.", temperature=0, tokens=10))
    head = _run(_case("failed", reply="wait", passed=False, system="Be kind. Be brief.", temperature=0.7, tokens=7))
    cmp = compare_runs(base, head)
    (d,) = cmp.cases
    assert d.change == REGRESSED
    assert [(f.turn, f.name, f.before, f.after) for f in d.flips] == [(1, "contains", True, False)]
    assert d.flips[0].reason == "expected 'x', got 'wait'"
    assert [(p.label, p.kind) for p in d.prompt] == [("system prompt", "changed")]
    assert d.prompt[0].ops == [("=", "Be kind."), ("+", " Be brief.")]
    assert [(p.key, p.before, p.after) for p in d.params] == [("temperature", 0, 0.7)]
    assert d.replies[0].changed and d.replies[0].ops == [("-", "restart it"), ("+", "wait")]
    assert (d.tokens.delta, d.latency_ms.delta) == (-3, 0)
    assert not cmp.verdict.ok and cmp.verdict.reasons == ["1 case regressed (allowed: 0)"]
    assert cmp.totals.pass_rate_drop == 100.0


def test_alignment_by_suite_id_and_repeat_with_new_and_removed():
    # b has repeats only in head: aligned repeat by repeat, by status (repeat 1 is new)
    base = _run(_case("passed", "a"), _case("failed", "b", passed=False))
    head = _run(_case("passed", "b"), _case("passed", "b", repeat=1), _case("passed", "c"))
    cmp = compare_runs(base, head)
    changes = {(d.id, d.repeat): d.change for d in cmp.cases}
    assert changes == {("a", 0): REMOVED, ("b", 0): FIXED, ("b", 1): NEW, ("c", 0): NEW}
    assert cmp.verdict.ok
    assert [d.change for d in cmp.ordered()] == [NEW, NEW, REMOVED, FIXED]
    assert cmp.statistical == 0 and "compared by status" in cmp.method


def test_repeats_on_both_sides_make_one_diff_per_case_judged_by_pass_rate():
    base = _run(_case("passed", "b"), _case("failed", "b", repeat=1, passed=False))
    head = _run(_case("passed", "b"), _case("passed", "b", repeat=1))
    cmp = compare_runs(base, head)
    (d,) = cmp.cases
    assert d.change == CHANGED and (d.base_status, d.head_status) == ("failed", "passed")  # 1/2 -> 2/2 is noise
    assert d.repeat == 1 and d.flips  # the telling pair of repeats is the example diff
    assert "pass rate 1/2 \u2192 2/2" in d.stats.describe() and cmp.statistical == 1


def test_gate_tolerances():
    base = _run(*[_case("passed", f"c{i}") for i in range(10)])
    head = _run(*[_case("failed" if i < 2 else "passed", f"c{i}", passed=i >= 2) for i in range(10)])
    assert not compare_runs(base, head).verdict.ok
    assert compare_runs(base, head, Gate(allow_regressions=2)).verdict.ok
    assert not compare_runs(base, head, Gate(allow_regressions=1)).verdict.ok
    assert compare_runs(base, head, Gate(max_pass_rate_drop=20)).verdict.ok  # 100% -> 80%
    verdict = compare_runs(base, head, Gate(max_pass_rate_drop=15)).verdict
    assert verdict.reasons == ["pass rate dropped 20.0 points (allowed: 15)"]
    assert not compare_runs(base, head, Gate(allow_regressions=5, max_pass_rate_drop=10)).verdict.ok


def _record_and_run(harness_cli, write_suite, server, style: str, out: str):
    suite = write_suite(SUITE.replace("SYSTEM_STYLE", style))
    return harness_cli("run", suite, "--cassettes", "record-missing", "--base-url", server.base_url, "--out", out, "-q")


def test_prompt_edit_flips_a_check_and_compare_shows_it(fake_server, harness_cli, write_suite, tmp_path):
    first = _record_and_run(harness_cli, write_suite, fake_server, BEFORE, "base")
    assert first.code == 0, first.out + first.err
    second = _record_and_run(harness_cli, write_suite, fake_server, AFTER, "head")
    assert second.code == 1  # the edited prompt's reply lost "restart"; the stale cassette was re-recorded
    assert "cassettes/support/wifi.yaml" in str(sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.yaml")))

    r = harness_cli("compare", "base/results.json", "head/results.json")
    assert r.code == 1, r.out + r.err
    assert "REGRESSED" in r.out and "support / wifi" in r.out
    assert "turn 1 contains: expected reply to contain 'restart'" in r.out
    assert "request: system prompt changed" in r.out
    assert "gate failed: 1 case regressed (allowed: 0)" in r.out
    out = tmp_path / "reports/compare"
    summary = (out / "summary.md").read_text()
    assert summary.index("#### Regressed (1)") < summary.index("- **support / wifi**")
    assert "turn 1 `contains` ✓ → ✗: expected reply to contain 'restart'" in summary
    assert "request: system prompt changed" in summary
    assert "**Gate failed:** 1 case regressed (allowed: 0)" in summary
    junit = (out / "junit.xml").read_text()
    assert '<failure message="regressed (passed -&gt; failed)' in junit and 'type="regression"' in junit
    page = (out / "diff.html").read_text()
    data = json.loads(page.split('<script type="application/json" id="data">')[1].split("</script>")[0])
    wifi = next(c for c in data["cases"] if c["i"] == "wifi")
    assert wifi["ch"] == "regressed" and wifi["fl"][0][:4] == [1, "contains", True, False]
    (label, kind, ops, files) = wifi["pr"][0]
    assert files == []  # inline text: no prompt file to name
    assert (label, kind) == ("system prompt", "changed") and ["+", " Be brief."] in ops
    assert wifi["re"][0][2:4] == ["Please restart the router and wait a minute.", "Please wait a minute."]
    greeting = next(c for c in data["cases"] if c["i"] == "greeting")
    assert greeting["ch"] == "changed" and greeting["fl"] == []  # same status, but its request changed

    tolerated = harness_cli("compare", "base", "head", "--allow-regressions", "1", "--out", "tolerant")
    assert tolerated.code == 0 and "gate passed" in tolerated.out
    assert (tmp_path / "tolerant/diff.html").exists()


def test_run_with_baseline_compares_in_one_step(fake_server, harness_cli, write_suite, tmp_path):
    assert _record_and_run(harness_cli, write_suite, fake_server, BEFORE, "base").code == 0
    suite = write_suite(SUITE.replace("SYSTEM_STYLE", AFTER))
    r = harness_cli("run", suite, "--cassettes", "record-missing", "--base-url", fake_server.base_url, "-q",
                    "--baseline", "base/results.json", "--max-pass-rate-drop", "60")  # fmt: skip
    assert r.code == 1  # the run itself has a failing check; the gate tolerated the 50-point drop
    assert "gate passed" in r.out
    for name in ("results.json", "report.html", "summary.md", "junit.xml", "compare/diff.html", "compare/summary.md"):
        assert (tmp_path / "reports/latest" / name).exists(), name


def test_run_with_unreadable_baseline_is_bad_input_before_any_request(fake_server, harness_cli, write_suite):
    suite = write_suite(SUITE.replace("SYSTEM_STYLE", BEFORE))
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "--baseline", "nope.json")
    assert r.code == 2 and "nope.json: no such results file" in r.err
    assert fake_server.requests == []


@pytest.mark.parametrize("problem", ["missing", "truncated", "future", "not-results"])
def test_compare_unreadable_results_file_exits_2_naming_it(problem, harness_cli, tmp_path):
    good = tmp_path / "good.json"
    save_run(_run(_case("passed")), good)
    bad = tmp_path / "bad.json"
    if problem == "truncated":
        bad.write_text(good.read_text()[:200])
    elif problem == "future":
        bad.write_text(json.dumps(json.loads(good.read_text()) | {"schema_version": 99}))
    elif problem == "not-results":
        bad.write_text("[1, 2]")
    r = harness_cli("compare", good, bad)
    assert r.code == 2
    assert str(bad) in r.err
    assert {"missing": "no such results file", "truncated": "truncated", "future": "newer than this harness",
            "not-results": "not a prompt-harness results file"}[problem] in r.err  # fmt: skip
    assert not (tmp_path / "reports/compare").exists()


def test_compare_given_a_report_instead_of_results_says_so_not_truncated(harness_cli, tmp_path):
    save_run(_run(_case("passed")), tmp_path / "run/results.json")
    (tmp_path / "run/summary.md").write_text("# prompt-harness: 1 passed\n\n| suite | case |\n")
    r = harness_cli("compare", "run/summary.md", "run")
    assert r.code == 2
    assert "error: BASE: run/summary.md: not a results file (it does not hold JSON)" in r.err
    assert "truncated" not in r.err


def test_compare_of_identical_runs_passes_and_accepts_folders(harness_cli, tmp_path):
    save_run(_run(_case("passed"), _case("failed", "x", passed=False)), tmp_path / "a/results.json")
    r = harness_cli("compare", "a", "a/results.json", "--out", "same")
    assert r.code == 0, r.err
    assert "0 regressed, 1 still failing" in r.out
    assert load_run(Path(tmp_path / "a/results.json")).cases[1].status == "failed"


def test_the_totals_line_counts_a_new_case_that_did_not_run_once(harness_cli, tmp_path):
    """A case only head has, which errored (not run), is in the `not run` count; the totals line must not also
    say `0 new … ; 1 new`, and its counts read as English."""
    save_run(_run(_case("passed", "a")), tmp_path / "base/results.json")
    save_run(_run(_case("passed", "a"), _case("error", "b")), tmp_path / "head/results.json")
    r = harness_cli("compare", "base", "head", "--out", "cmp")
    totals = next(line for line in r.out.splitlines() if " of 2 cases" in line)
    assert "1 not run" in totals and "0 new" in totals and "; 1 new" not in totals, totals
    assert "; 1 only in head" in totals, totals
    assert "request changed in 0 cases, a reply in 0" in r.out


def test_a_check_edited_into_failing_is_shown_as_the_test_changing_not_the_model(harness_cli, tmp_path):
    """Same request, same reply, but the check now expects something else: a reviewer must see that the
    test moved (terminal, summary.md, junit.xml and diff.html), not only "request changed in 0 cases"."""
    def run(expected: str, passed: bool) -> RunResult:
        case = _case("passed" if passed else "failed", "a", reply="TOK-C", passed=passed)
        case.turns[0].checks[0] = CheckResult("contains", passed, "ok" if passed else f"no {expected!r} in the reply",
                                              expected=expected)  # fmt: skip
        return _run(case)

    save_run(run("TOK-C", True), tmp_path / "base/results.json")
    save_run(run("TOK-C3", False), tmp_path / "head/results.json")
    r = harness_cli("compare", "base", "head", "--out", "cmp")
    assert r.code == 1
    assert "turn 1 contains: no 'TOK-C3' in the reply (check edited: expected 'TOK-C' -> 'TOK-C3')" in r.out, r.out
    assert "request changed in 0 cases, a reply in 0, a check in 1" in r.out
    summary = (tmp_path / "cmp/summary.md").read_text()
    assert "The request changed in 0 cases, a reply in 0 cases, a check in 1 case." in summary
    assert "no 'TOK-C3' in the reply (check edited: expected 'TOK-C' -&gt; 'TOK-C3')" in summary  # GitHub shows ->
    assert "check edited: expected 'TOK-C' -&gt; 'TOK-C3'" in (tmp_path / "cmp/junit.xml").read_text()
    assert "\"expected 'TOK-C' -\\u003e 'TOK-C3'\"]]" in (tmp_path / "cmp/diff.html").read_text()  # the flip's data
