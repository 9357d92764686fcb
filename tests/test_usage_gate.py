"""The usage gate (harness/results/usage_gate.py): cost, token and latency limits on `harness compare`.

End to end: `harness run` against the fake server, then `harness compare` (or
`run --baseline`), reading what a user reads: the exit code, the terminal,
summary.md and diff.html. Then the figures and their statistics on built results.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from harness.core.policy import CasePolicy
from harness.core.reply import Completion, Usage
from harness.core.result import CaseResult, CheckResult, RunResult, TurnResult, load_run, save_run
from harness.core.usage_limits import COMPLETION_TOKENS, COST, LATENCY_MEDIAN, LATENCY_P95, TOTAL_TOKENS, parse_flag
from harness.results.compare import Gate, compare_runs
from harness.results.stats import student_t_quantile
from harness.results.usage_gate import fmt_change, quantile, usage_gate


def suite_text(replies: dict[str, str], gate: str = "", name: str = "support") -> str:
    """A suite whose case `id` is answered "ok" and the text `replies[id]` (every check passes).

    After a " | ", more of the fake server's directives for that case: `words(3) + " | [[sleep:300]]"`.
    """
    cases = "".join(f"""
  - id: {case_id}
    turns:
      - user: "Question {case_id} [[reply:ok {reply.partition(' | ')[0]}]] {reply.partition(' | ')[2]}"
        expect:
          - contains: ok
""" for case_id, reply in replies.items())  # fmt: skip
    return f"suite: {name}\nmodel: fake-model\nparams: {{temperature: 0}}\n{gate}cases:{cases}"


def words(n: int) -> str:
    return " ".join(["word"] * n)


def run_suite(harness_cli, tmp_path: Path, server, text: str, out: str, *flags: str, name: str = "suite.yaml"):
    (tmp_path / name).write_text(text)
    return harness_cli("run", name, "--cassettes", "off", "--base-url", server.base_url, "--out", out, "-q", *flags)


def diff_html_limits(path: Path) -> str:
    """The text of diff.html's limits section, tags stripped."""
    page = path.read_text()
    section = page.split('id="usage-gate"')[1].split('<div class="split">')[0]
    return " ".join(re.sub(r"<[^>]+>", " ", section).split())


# --- end to end ---------------------------------------------------------------------------------------------------

BASE = {"wifi": words(3), "billing": words(3), "greeting": words(1)}  # completion tokens: "ok" + the words
DOUBLED = {"wifi": words(7), "billing": words(7), "greeting": words(3)}  # 4+4+2 = 10 -> 8+8+4 = 20: +100 %


def test_doubled_completion_tokens_fail_the_gate_with_every_check_passing(fake_server, harness_cli, tmp_path):
    assert run_suite(harness_cli, tmp_path, fake_server, suite_text(BASE), "base").code == 0
    assert run_suite(harness_cli, tmp_path, fake_server, suite_text(DOUBLED), "head").code == 0

    r = harness_cli("compare", "base", "head", "--max-token-increase", "completion=20")
    assert r.code == 1, r.out + r.err
    headline = "completion tokens +100 % (limit +20 %) in suite support: gate failed"
    assert headline in r.out
    assert "10 tokens \u2192 20 tokens over 3 cases (totals); limit from --max-token-increase" in r.out
    assert "grew: support / billing 4 tokens \u2192 8 tokens (+4, +100 %)" in r.out
    assert "grew: support / wifi 4 tokens \u2192 8 tokens" in r.out
    assert "no interval is possible" in r.out
    assert r.out.strip().splitlines()[-2] == "gate failed: completion tokens +100 % (limit +20 %) in suite support"

    summary = (tmp_path / "reports/compare/summary.md").read_text()
    assert summary.startswith("### \u274c")
    assert "**Gate failed:** completion tokens +100 % (limit +20 %) in suite support." in summary
    assert summary.index(headline) < summary.index("| passed |")  # the verdict and the numbers lead
    assert "  - support / billing 4 tokens \u2192 8 tokens (+4, +100 %)" in summary
    html = diff_html_limits(tmp_path / "reports/compare/diff.html")
    assert headline in html and "support / wifi 4 tokens \u2192 8 tokens" in html
    junit = (tmp_path / "reports/compare/junit.xml").read_text()
    assert f'<failure message="{headline}" type="limit_exceeded">' in junit

    generous = harness_cli("compare", "base", "head", "--max-token-increase", "completion=150", "--out", "generous")
    assert generous.code == 0, generous.out
    assert "completion tokens +100 % (limit +150 %) in suite support: within the limit" in generous.out
    assert generous.out.strip().splitlines()[-2] == "gate passed"
    assert "\u2705 **completion tokens +100 % (limit +150 %) in suite support: within the limit**" in (
        tmp_path / "generous/summary.md").read_text()  # fmt: skip


def test_within_the_limit_passes_and_still_lists_the_case_that_grew_a_lot(fake_server, harness_cli, tmp_path):
    base = {f"c{i}": words(3) for i in range(10)}  # 40 completion tokens
    head = dict(base, c7=words(11))  # one case 4 -> 12: the suite grows 20 %
    assert run_suite(harness_cli, tmp_path, fake_server, suite_text(base), "base").code == 0
    assert run_suite(harness_cli, tmp_path, fake_server, suite_text(head), "head").code == 0

    r = harness_cli("compare", "base", "head", "--max-token-increase", "completion=25,total=25")
    assert r.code == 0, r.out
    assert "completion tokens +20 % (limit +25 %) in suite support: within the limit" in r.out
    assert "grew: support / c7 4 tokens \u2192 12 tokens (+8, +200 %)" in r.out
    summary = (tmp_path / "reports/compare/summary.md").read_text()
    assert "Gate passed." in summary and "support / c7 4 tokens \u2192 12 tokens (+8, +200 %)" in summary
    assert "support / c7 4 tokens \u2192 12 tokens (+8, +200 %)" in diff_html_limits(tmp_path / "reports/compare/diff.html")


def test_a_suite_gate_block_and_the_flag_behave_the_same_and_the_flag_overrides(fake_server, harness_cli, tmp_path):
    gate = "gate:\n  max_token_increase: {completion: 20}\n"
    assert run_suite(harness_cli, tmp_path, fake_server, suite_text(BASE), "base").code == 0
    assert run_suite(harness_cli, tmp_path, fake_server, suite_text(DOUBLED, gate), "head").code == 0
    assert load_run(tmp_path / "head/results.json").cases[0].policy.usage_limits == {COMPLETION_TOKENS: 20.0}

    from_file = harness_cli("compare", "base", "head", "--out", "file")
    assert run_suite(harness_cli, tmp_path, fake_server, suite_text(DOUBLED), "plain").code == 0
    from_flag = harness_cli("compare", "base", "plain", "--max-token-increase", "completion=20", "--out", "flag")
    assert from_file.code == from_flag.code == 1
    headlines = [[line for line in r.out.splitlines() if "gate failed" in line] for r in (from_file, from_flag)]
    assert headlines[0] == headlines[1] != []
    assert "limit from gate: in suite.yaml" in from_file.out

    overridden = harness_cli("compare", "base", "head", "--max-token-increase", "completion=150", "--out", "o")
    assert overridden.code == 0 and "(limit +150 %)" in overridden.out and "gate: in" not in overridden.out

    # run --baseline reads the same block from the suite it runs
    r = run_suite(harness_cli, tmp_path, fake_server, suite_text(DOUBLED, gate), "again", "--baseline", "base")
    assert r.code == 1 and "completion tokens +100 % (limit +20 %) in suite support: gate failed" in r.out


@pytest.mark.parametrize(("gate", "where", "message"), [
    ("gate:\n  max_token_increase: {completon: 20}\n", "suite.yaml:5:24",
     "`gate.max_token_increase` has unknown kind 'completon'; did you mean 'completion'?"),
    ("gate:\n  max_cost_increase: lots\n", "suite.yaml:5:22", "`gate.max_cost_increase` must be a percentage of 0 or more"),
    ("gate:\n  max_latency_increase: {p95: -5}\n", "suite.yaml:5:31", "`gate.max_latency_increase.p95` must be a percentage"),
    ("gate:\n  max_tokens_increase: 20\n", "suite.yaml:5:3", "unknown key 'max_tokens_increase' in `gate` of the suite; "
     "did you mean 'max_token_increase'?"),
    ("gate: 20\n", "suite.yaml:4:7", "`gate` in the suite must be a mapping like `gate: {max_cost_increase: 20"),
])  # fmt: skip
def test_a_malformed_gate_block_is_exit_2_with_its_location_and_nothing_sent(gate, where, message, fake_server,
                                                                             harness_cli, tmp_path):  # fmt: skip
    r = run_suite(harness_cli, tmp_path, fake_server, suite_text(BASE, gate), "head")
    assert r.code == 2
    assert f"error: {where}: {message}" in r.err, r.err
    assert "nothing was sent" in r.err and fake_server.requests == []
    assert harness_cli("validate", "suite.yaml").code == 2


def test_malformed_limit_flags_are_exit_2_all_at_once(fake_server, harness_cli, tmp_path):
    save_run(RunResult({}, [_case("a", 10)]), tmp_path / "a/results.json")
    r = harness_cli("compare", "a", "a", "--max-token-increase", "completon=20", "--max-cost-increase", "-3",
                    "--max-latency-increase", "mean=50")  # fmt: skip
    assert r.code == 2
    assert "error: --max-token-increase completon=20: unknown kind 'completon'; did you mean 'completion'?" in r.err
    assert "error: --max-cost-increase -3: must be a percentage of 0 or more" in r.err
    assert "error: --max-latency-increase mean=50: unknown kind 'mean'; did you mean 'median'?" in r.err
    assert not (tmp_path / "reports/compare").exists()
    run = run_suite(harness_cli, tmp_path, fake_server, suite_text(BASE), "head", "--baseline", "a",
                    "--max-token-increase", "50%", "--max-cost-increase", "ten")  # fmt: skip
    assert run.code == 2 and "error: --max-cost-increase ten:" in run.err and fake_server.requests == []
    alone = run_suite(harness_cli, tmp_path, fake_server, suite_text(BASE), "head", "--max-token-increase", "20")
    assert alone.code == 2 and "--max-token-increase needs --baseline" in alone.err


def test_new_removed_and_unevaluated_cases_never_move_the_figure(fake_server, harness_cli, tmp_path):
    base = {"kept": words(3), "removed": words(3), "broken": words(3)}
    head = {"kept": words(3), "broken": words(3) + " | [[error:500]]", "new": words(50)}
    assert run_suite(harness_cli, tmp_path, fake_server, suite_text(base), "base").code == 0
    assert run_suite(harness_cli, tmp_path, fake_server, suite_text(head), "head", "--max-retries", "0").code == 3
    r = harness_cli("compare", "base", "head", "--max-token-increase", "completion=0")
    assert r.code == 3, r.out  # the broken case did not run: "not run" (exit 3), never a regression to allow
    assert "NOT RUN       support / broken" in r.out
    assert "completion tokens +0 % (limit +0 %) in suite support: within the limit" in r.out
    assert "4 tokens \u2192 4 tokens over 1 case (totals)" in r.out
    assert "count: 1 (1 new, 1 removed, 1 not evaluated in both left out)" in r.out


def test_run_with_baseline_exceeding_a_limit_exits_1_and_3_still_wins(fake_server, harness_cli, tmp_path):
    assert run_suite(harness_cli, tmp_path, fake_server, suite_text(BASE), "base").code == 0
    r = run_suite(harness_cli, tmp_path, fake_server, suite_text(DOUBLED), "head", "--baseline", "base",
                  "--max-token-increase", "completion=20")  # fmt: skip
    assert r.code == 1 and "gate failed: completion tokens +100 % (limit +20 %) in suite support" in r.out
    broken = dict(DOUBLED, extra="x | [[error:500]]")
    r = run_suite(harness_cli, tmp_path, fake_server, suite_text(broken), "head2", "--baseline", "base",
                  "--max-token-increase", "completion=20", "--max-retries", "0")  # fmt: skip
    assert r.code == 3 and "in suite support: gate failed" in r.out


def test_with_repeats_the_increase_must_be_beyond_the_limit_with_confidence(fake_server, harness_cli, tmp_path):
    # Replies padded with 0-4 extra words from request to request: noisy lengths, as a real model's.
    def suite(n: int) -> str:
        return suite_text({"a": words(n) + " | [[pad:4]]", "b": words(n) + " | [[pad:4]]"})

    flags = ("--repeat", "4", "--concurrency", "1")  # one request at a time: the padding is the same every run
    for n, out in ((2, "base"), (3, "longer"), (8, "much")):
        assert run_suite(harness_cli, tmp_path, fake_server, suite(n), out, *flags).code == 0
    base = load_run(tmp_path / "base/results.json")
    (longer,) = usage_gate(base, load_run(tmp_path / "longer/results.json"), {COMPLETION_TOKENS: 10.0}).figures
    assert longer.repeats and longer.df is not None
    assert longer.change > 10 > longer.bound  # the mean grew past the limit, but not beyond the noise
    r = harness_cli("compare", "base", "longer", "--max-token-increase", "completion=10")
    assert r.code == 0, r.out
    assert (f"completion tokens {fmt_change(longer.change)} (95 % lower bound {fmt_change(longer.bound)}, "
            "limit +10 %) in suite support: within the limit") in r.out  # fmt: skip
    assert "mean over repeats, 95 % lower bound" in r.out and "Welch t-interval over the repeats" in r.out
    much = harness_cli("compare", "base", "much", "--max-token-increase", "completion=10", "--out", "much-cmp")
    assert much.code == 1 and "in suite support: gate failed" in much.out
    assert "95 % lower bound" in (tmp_path / "much-cmp/summary.md").read_text()


def test_latency_limits_say_which_latencies_were_compared(fake_server, harness_cli, tmp_path):
    slow = {"wifi": words(3) + " | [[sleep:300]]", "billing": words(3) + " | [[sleep:300]]"}
    fast = {"wifi": words(3), "billing": words(3)}
    record = ("--cassettes", "record", "--cassette-dir", "tapes")
    assert run_suite(harness_cli, tmp_path, fake_server, suite_text(fast), "base", *record).code == 0
    assert run_suite(harness_cli, tmp_path, fake_server, suite_text(slow), "head", *record).code == 0
    r = harness_cli("compare", "base", "head", "--max-latency-increase", "100")
    assert r.code == 1
    assert re.search(r"median latency \+\d+ % \(limit \+100 %\) in suite support: gate failed", r.out)
    assert re.search(r"p95 latency \+\d+ % \(limit \+100 %\) in suite support: gate failed", r.out)
    assert "Latencies compared: base live (recorded in this run), head live (recorded in this run)." in r.out
    replayed = run_suite(harness_cli, tmp_path, fake_server, suite_text(slow), "replayed", "--cassette-dir", "tapes",
                        "--cassettes", "replay")  # fmt: skip
    replayed_args = ["--max-latency-increase", "p95=100", "--out", "rep"]
    r = harness_cli("compare", "base", "replayed", *replayed_args)
    assert replayed.code == 0 and r.code == 1 and "head recorded (replayed from cassettes)" in r.out
    assert "head recorded (replayed from cassettes)" in (tmp_path / "rep/summary.md").read_text()
    assert "recorded (replayed from cassettes)" in diff_html_limits(tmp_path / "rep/diff.html")


# --- the figures, on built results -----------------------------------------------------------------------------


def _case(case_id: str, completion: int, *, suite: str = "s", repeat: int = 0, status: str = "passed",
          latency: float = 100.0, cost: float | None = None, limits: dict | None = None) -> CaseResult:  # fmt: skip
    reply = Completion("x", "stop", Usage(10, completion, 10 + completion), latency_ms=latency)
    turn = TurnResult(1, [{"role": "user", "content": "hi"}], {}, reply, [CheckResult("contains", True, "ok")],
                      cost_usd=cost)  # fmt: skip
    return CaseResult(suite, case_id, status, file=f"{suite}.yaml", model="m", turns=[turn], repeat=repeat,
                      policy=CasePolicy(usage_limits=limits))  # fmt: skip


def _repeats(case_id: str, values: list[float], **kw) -> list[CaseResult]:
    return [_case(case_id, v, repeat=i, **kw) for i, v in enumerate(values)]  # type: ignore[arg-type]


def test_noise_over_repeats_passes_what_a_tight_spread_fails():
    base = RunResult({}, _repeats("a", [100, 110, 90, 105, 95]))  # mean 100
    noisy = RunResult({}, _repeats("a", [160, 90, 150, 100, 150]))  # mean 130: +30 %, but all over the place
    tight = RunResult({}, _repeats("a", [129, 131, 130, 128, 132]))  # mean 130, steady
    (loose,) = usage_gate(base, noisy, {COMPLETION_TOKENS: 20}).figures
    (sure,) = usage_gate(base, tight, {COMPLETION_TOKENS: 20}).figures
    assert loose.change == pytest.approx(30) == sure.change
    assert loose.bound < 20 < sure.bound and not loose.failed and sure.failed
    # Welch by hand: variances 62.5 and 1050 over 5 repeats each; base is 100, so percent = tokens
    se = math.sqrt(62.5 / 5 + 1050 / 5)
    df = se**4 / ((62.5 / 5) ** 2 / 4 + (1050 / 5) ** 2 / 4)
    assert loose.df == pytest.approx(df)
    assert loose.bound == pytest.approx(30 - student_t_quantile(0.95, df) * se)
    assert "one-sided 95 % lower confidence bound" in usage_gate(base, tight, {COMPLETION_TOKENS: 20}).method
    stricter = usage_gate(base, noisy, {COMPLETION_TOKENS: 20}, alpha=0.4).figures[0]  # 60 % confidence: a higher bound
    assert stricter.bound > loose.bound


def test_welch_bound_against_a_hand_computation():
    from harness.results.stats import Sample, welch_lower_bound

    # means 12 and 22, variances 4 and 4, n 3 and 3: se^2 = 8/3, df = 4, t(0.95, 4) = 2.131847
    low, df = welch_lower_bound([Sample.of([10, 12, 14])], [Sample.of([20, 22, 24])], 0.95)
    assert df == pytest.approx(4.0)
    assert low == pytest.approx(10 - 2.131847 * math.sqrt(8 / 3), abs=1e-5)
    assert welch_lower_bound([Sample.of([5, 5])], [Sample.of([7, 7])], 0.95) == (2, None)  # no spread: exact


def test_without_repeats_the_totals_are_compared_and_no_interval_is_claimed():
    base = RunResult({}, [_case("a", 10), _case("b", 30)])
    head = RunResult({}, [_case("a", 20), _case("b", 30)])
    gate = usage_gate(base, head, {COMPLETION_TOKENS: 20, TOTAL_TOKENS: 50})
    tokens, total = gate.figures
    assert (tokens.base, tokens.head, tokens.change, tokens.bound) == (40, 50, 25, None) and tokens.failed
    assert total.change == pytest.approx(100 * 10 / 60) and not total.failed
    assert "no interval is possible" in gate.method
    assert [(c.id, c.delta) for c in tokens.contributors] == [("a", 10)]  # b did not grow: not listed
    mixed = usage_gate(RunResult({}, _repeats("a", [10, 12]) + [_case("b", 5)]),
                       RunResult({}, _repeats("a", [10, 12]) + [_case("b", 6)]), {COMPLETION_TOKENS: 50}).figures[0]  # fmt: skip
    assert not mixed.repeats and mixed.note == "no interval: 1 of 2 cases have a single evaluated run on one side"


def test_only_cases_evaluated_in_both_runs_count():
    base = RunResult({}, [_case("a", 10), _case("gone", 10), _case("err", 10), _case("skip", 10)])
    head = RunResult({}, [_case("a", 10), _case("new", 999), _case("err", 999, status="error"),
                          _case("skip", 999, status="skipped")])  # fmt: skip
    gate = usage_gate(base, head, {COMPLETION_TOKENS: 0})
    (f,) = gate.figures
    assert (f.cases, f.change, gate.ok) == (1, 0, True)
    assert gate.left_out == {"new": 1, "removed": 1, "not evaluated in both": 2}
    nothing = usage_gate(RunResult({}, [_case("a", 1)]), RunResult({}, [_case("b", 1)]), {COMPLETION_TOKENS: 0})
    assert nothing.figures[0].unchecked == "no case was evaluated in both runs" and nothing.ok


def test_suite_limits_flags_override_them_and_the_whole_run_is_its_own_scope():
    limits = {COMPLETION_TOKENS: 10.0}
    base = RunResult({}, [_case("a", 10, suite="x"), _case("b", 10, suite="y")])
    head = RunResult({}, [_case("a", 20, suite="x", limits=limits), _case("b", 10, suite="y")])
    (only,) = usage_gate(base, head).figures  # only suite x has a `gate:`
    assert (only.suite, only.limit, only.source, only.failed) == ("x", 10, "gate: in x.yaml", True)
    both = usage_gate(base, head, {COMPLETION_TOKENS: 60})
    assert [(f.suite, f.limit, f.failed) for f in both.figures] == [("x", 60, True), ("y", 60, False), (None, 60, False)]
    assert both.figures[2].headline(0.95) == "completion tokens +50 % (limit +60 %) in the whole run: within the limit"
    assert compare_runs(base, head, Gate(usage_limits={COMPLETION_TOKENS: 60})).verdict.reasons == [
        "completion tokens +100 % (limit +60 %) in suite x"]  # fmt: skip
    assert compare_runs(base, head).usage is not None  # the file's limit alone is enough
    assert compare_runs(base, base).usage is None and compare_runs(base, base).verdict.ok  # no limit anywhere


def test_cost_needs_a_price_and_growth_from_nothing_is_infinite():
    base = RunResult({}, [_case("a", 10, cost=0.001)])
    assert usage_gate(base, RunResult({}, [_case("a", 10, cost=0.0015)]), {COST: 20}).figures[0].change == pytest.approx(50)
    (unpriced,) = usage_gate(base, RunResult({}, [_case("a", 10)]), {COST: 20}).figures
    assert not unpriced.checked and not unpriced.failed and "no price for m" in unpriced.unchecked
    (grew,) = usage_gate(RunResult({}, [_case("a", 0)]), RunResult({}, [_case("a", 5)]), {COMPLETION_TOKENS: 1000}).figures
    assert math.isinf(grew.change) and grew.failed and fmt_change(grew.change) == "+\u221e %"


def test_latency_uses_median_and_p95_of_turns_and_rounds_with_repeats():
    assert quantile([1, 2, 3, 4], 0.5) == 2.5 and quantile([10, 20], 0.95) == pytest.approx(19.5)
    base = RunResult({"cassettes": "off"}, [_case(f"c{i}", 1, latency=100) for i in range(19)] + [_case("z", 1, latency=1000)])
    head = RunResult({"cassettes": "replay"}, [_case(f"c{i}", 1, latency=110) for i in range(19)] + [_case("z", 1, latency=3000)])
    gate = usage_gate(base, head, {LATENCY_MEDIAN: 20, LATENCY_P95: 20})
    median, p95 = gate.figures
    assert median.change == pytest.approx(10) and not median.failed
    assert p95.base == pytest.approx(145) and p95.head == pytest.approx(254.5) and p95.failed
    assert gate.latency == ("live", "recorded (replayed from cassettes)")
    assert [c.id for c in p95.contributors][:2] == ["z", "c0"]
    rounds = usage_gate(RunResult({}, _repeats("a", [1] * 3, latency=100) + _repeats("b", [1] * 3, latency=100)),
                        RunResult({}, _repeats("a", [1] * 3, latency=150) + _repeats("b", [1] * 3, latency=150)),
                        {LATENCY_MEDIAN: 20})  # fmt: skip
    assert rounds.figures[0].repeats and rounds.figures[0].bound == pytest.approx(50) and rounds.figures[0].failed


def test_limits_survive_results_json_and_flags_parse_like_the_block(tmp_path):
    run = RunResult({}, [_case("a", 1, limits={COMPLETION_TOKENS: 20.0, COST: 5.0})])
    save_run(run, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["cases"][0]["policy"]["usage_limits"] == {"completion_tokens": 20.0, "cost": 5.0}
    assert load_run(tmp_path / "r.json").cases[0].policy.usage_limits == {COMPLETION_TOKENS: 20.0, COST: 5.0}
    plain = RunResult({}, [_case("a", 1)])
    save_run(plain, tmp_path / "p.json")
    assert "policy" not in json.loads((tmp_path / "p.json").read_text())["cases"][0]
    assert parse_flag("max_token_increase", ["20", "completion=10%,prompt=5"]) == (
        {TOTAL_TOKENS: 20.0, COMPLETION_TOKENS: 10.0, "prompt_tokens": 5.0}, [])  # fmt: skip
    assert parse_flag("max_latency_increase", ["30"])[0] == {LATENCY_MEDIAN: 30.0, LATENCY_P95: 30.0}
    assert parse_flag("max_cost_increase", ["cost=3"])[1] == [
        "--max-cost-increase cost=3: takes a percentage only, e.g. --max-cost-increase 20"]  # fmt: skip
