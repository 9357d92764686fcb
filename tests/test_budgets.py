"""Budgets per turn, case and suite: checked before sending (nothing reaches the server) and after the reply."""

from __future__ import annotations

import pytest

from harness.metering.tokens import count_chat_tokens

LONG = "please tell me everything you know about routers and wireless networks in great detail"


def run_live(harness_cli, fake_server, suite, *extra):
    return harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", *extra)


def budget_check(turn: dict) -> dict:
    return next(c for c in turn["checks"] if c["name"] == "budget")


@pytest.mark.parametrize(
    ("budget", "params", "reason"),
    [
        ("max_prompt_tokens: 10", "{}", "prompt tokens would exceed max_prompt_tokens 10 (budget of turn 1)"),
        ("max_completion_tokens: 20", "{max_tokens: 50}",
         "a reply of up to 50 tokens (max_tokens 50) would exceed max_completion_tokens 20 (budget of turn 1)"),
        ("max_total_tokens: 40", "{max_tokens: 30}", "prompt + max_tokens 30) would exceed max_total_tokens 40"),
        ("max_cost_usd: 0.00001", "{max_tokens: 100}", "would exceed max_cost_usd $0.00001 (budget of turn 1)"),
    ],
)  # fmt: skip
def test_each_turn_budget_fails_before_the_request_is_sent(fake_server, harness_cli, write_suite, tmp_path,
                                                            budget, params, reason):  # fmt: skip
    suite = write_suite(f"""
        model: gpt-4o-mini
        params: {params}
        cases:
          - id: c
            turns:
              - user: "{LONG}"
                budget: {{{budget}}}
        """)
    r = run_live(harness_cli, fake_server, suite)
    assert r.code == 1, r.err + r.out
    assert fake_server.requests == []  # nothing was spent
    case = r.results(tmp_path / "reports/latest")["cases"][0]
    assert case["status"] == "failed"
    turn = case["turns"][0]
    assert turn["reply"] is None and turn["cost_usd"] is None
    check = budget_check(turn)
    assert not check["passed"]
    assert check["reason"].startswith("request not sent: ")
    assert reason in check["reason"]
    assert check["expected"] == {"turn": {budget.split(":")[0]: float(budget.split(": ")[1])}}


def test_prompt_budget_reason_names_the_counted_tokens(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(f"""
        model: gpt-4o-mini
        cases:
          - id: c
            turns:
              - user: "{LONG}"
                budget: {{max_prompt_tokens: 10}}
        """)
    run_live(harness_cli, fake_server, suite)
    prompt = count_chat_tokens([{"role": "user", "content": LONG}], "gpt-4o-mini")
    turn = r_case(tmp_path)["turns"][0]
    assert turn["estimated_prompt_tokens"] == prompt
    assert budget_check(turn)["reason"] == (
        f"request not sent: {prompt} prompt tokens would exceed max_prompt_tokens 10 (budget of turn 1)"
    )


def r_case(tmp_path, index: int = 0) -> dict:
    import json

    return json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"][index]


@pytest.mark.parametrize("key", ["max_prompt_tokens", "max_completion_tokens", "max_total_tokens", "max_cost_usd"])
def test_case_budget_spent_by_turn_one_stops_turn_two_unsent(fake_server, harness_cli, write_suite, tmp_path, key):
    # Turn 1 is projected at 10 prompt tokens (tiktoken) + max_tokens 4, and the fake server
    # bills 9 + 4 ("echo: one two three"): it fits, and spends enough that turn 2 cannot.
    limit = {"max_prompt_tokens": 12, "max_completion_tokens": 4, "max_total_tokens": 15,
             "max_cost_usd": "0.000004"}[key]  # fmt: skip
    suite = write_suite(f"""
        model: gpt-4o-mini
        params: {{max_tokens: 4}}
        cases:
          - id: c
            budget: {{{key}: {limit}}}
            turns:
              - user: "one two three"
              - user: "four five"
        """)
    r = run_live(harness_cli, fake_server, suite)
    assert r.code == 1, r.err + r.out
    assert len(fake_server.requests) == 1  # turn 2 was never sent
    t1, t2 = r_case(tmp_path)["turns"]
    assert budget_check(t1)["passed"], budget_check(t1)
    assert "within budget: case " + key in budget_check(t1)["reason"]
    assert t2["reply"] is None
    reason = budget_check(t2)["reason"]
    assert (
        reason.startswith("request not sent: ") and "would bring case 'c' to" in reason and f"over its {key}" in reason
    )


def test_reply_over_a_turn_budget_fails_after_it_is_spent(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        model: gpt-4o-mini
        cases:
          - id: c
            turns:
              - user: "one two three four five six"
                budget: {max_completion_tokens: 3}
        """)
    r = run_live(harness_cli, fake_server, suite)
    assert r.code == 1
    assert len(fake_server.requests) == 1  # no max_tokens: only the prompt is known before sending
    check = budget_check(r_case(tmp_path)["turns"][0])
    assert check == {"name": "budget", "passed": False, "implicit": True,
                     "reason": "over budget: turn 1 used 7, over its max_completion_tokens 3",
                     "expected": {"turn": {"max_completion_tokens": 3}}}  # fmt: skip


SUITE_BUDGET = """
suite: spendy
model: gpt-4o-mini
budget: {max_cost_usd: 0.000005}
cases:
  - id: first
    turns:
      - user: "one two three"
  - id: second
    turns:
      - user: "one two three"
  - id: third
    turns:
      - user: "one two three"
  - id: fourth
    turns:
      - user: "one two three"
"""


def test_suite_cost_budget_stops_the_suite_and_skips_the_rest(fake_server, harness_cli, write_suite, tmp_path):
    # each case costs (9 x 0.15 + 4 x 0.60) / 1M = $0.00000375: the first fits, the second would not
    suite = write_suite(SUITE_BUDGET)
    r = run_live(harness_cli, fake_server, suite, "--concurrency", "1")
    assert r.code == 1, r.err + r.out
    assert len(fake_server.requests) == 1
    results = r.results(tmp_path / "reports/latest")
    first, second, third, fourth = results["cases"]
    assert first["status"] == "passed" and first["cost_usd"] == pytest.approx(0.00000375)
    assert second["status"] == "failed"
    assert budget_check(second["turns"][0])["reason"] == (
        "request not sent: $0.0000015 (10 prompt tokens) would bring suite 'spendy' to $0.00000525, "
        "over its max_cost_usd $0.000005 ($0.00000375 used so far)"
    )
    for skipped in (third, fourth):
        assert skipped["status"] == "skipped" and skipped["turns"] == []
        assert skipped["reason"].startswith(
            "not started: the budget of suite 'spendy' was reached (case 'second', turn 1:"
        )
    assert results["summary"] | {"passed": 1, "failed": 1, "skipped": 2, "total": 4} == results["summary"]
    assert "SKIPPED spendy / third: not started: the budget of suite 'spendy' was reached" in r.out


def test_suite_token_budget_exceeded_by_a_reply_stops_the_suite(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE_BUDGET.replace("max_cost_usd: 0.000005", "max_completion_tokens: 3"))
    r = run_live(harness_cli, fake_server, suite, "--concurrency", "1")
    assert r.code == 1
    assert len(fake_server.requests) == 1
    cases = r.results(tmp_path / "reports/latest")["cases"]
    assert (
        budget_check(cases[0]["turns"][0])["reason"]
        == "over budget: suite 'spendy' used 4, over its max_completion_tokens 3"
    )
    assert [c["status"] for c in cases] == ["failed", "skipped", "skipped", "skipped"]
    assert "was exceeded (case 'first', turn 1: suite 'spendy' used 4" in cases[1]["reason"]


def test_suite_budget_holds_under_concurrency(fake_server, harness_cli, write_suite, tmp_path):
    # four cases in flight at once reserve their prompts: never more than the budget allows is sent
    suite = write_suite(SUITE_BUDGET.replace("max_cost_usd: 0.000005", "max_prompt_tokens: 20"))
    r = run_live(harness_cli, fake_server, suite, "--concurrency", "4")
    assert r.code == 1
    assert len(fake_server.requests) == 2  # 10 + 10 reserved <= 20; a third would bring it to 30
    statuses = sorted(c["status"] for c in r.results(tmp_path / "reports/latest")["cases"])
    assert statuses.count("passed") == 2 and "failed" in statuses


def test_budgets_within_limits_pass_and_say_how_much_was_used(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        suite: roomy
        model: gpt-4o-mini
        budget: {max_total_tokens: 1000}
        cases:
          - id: c
            budget: {max_cost_usd: 1}
            turns:
              - user: "one two three"
                budget: {max_prompt_tokens: 100}
        """)
    r = run_live(harness_cli, fake_server, suite)
    assert r.code == 0, r.err + r.out
    check = budget_check(r_case(tmp_path)["turns"][0])
    assert check["passed"]
    assert check["reason"] == ("within budget: turn max_prompt_tokens 9 of 100, case max_cost_usd $0.00000375 of $1.00, "
                               "suite max_total_tokens 13 of 1,000")  # fmt: skip
    assert check["expected"] == {"turn": {"max_prompt_tokens": 100}, "case": {"max_cost_usd": 1},
                                 "suite": {"max_total_tokens": 1000}}  # fmt: skip


def test_no_budget_no_budget_check(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        model: gpt-4o-mini
        cases:
          - id: c
            turns:
              - user: "hi"
        """)
    assert run_live(harness_cli, fake_server, suite).code == 0
    assert [c["name"] for c in r_case(tmp_path)["turns"][0]["checks"]] == ["not_truncated"]


def test_cost_budget_without_a_price_is_bad_input_before_anything_is_sent(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: my-local-model
        budget: {max_cost_usd: 0.10}
        cases:
          - id: c
            turns:
              - user: "hi"
        """)
    r = run_live(harness_cli, fake_server, suite)
    assert r.code == 2
    assert fake_server.requests == []
    assert (
        "suite.yaml:2:9: max_cost_usd cannot be enforced for case 'c': no price is known for model 'my-local-model'"
        in r.err
    )
    # a price makes it enforceable
    suite.write_text(suite.read_text().replace("cases:", "pricing: {my-local-model: {input: 1, output: 2}}\ncases:"))
    assert run_live(harness_cli, fake_server, suite).code == 0


def test_budget_keys_are_validated_with_lines_and_hints(harness_cli, write_suite):
    suite = write_suite("""
        model: gpt-4o-mini
        budget: {max_cost: 1}
        cases:
          - id: c
            budget: {max_total_tokens: -5}
            turns:
              - user: "hi"
                budget: {max_prompt_tokens: 1.5}
              - user: "again"
                budget: {max_cost_usd: "a lot", max_total_tokens: 1e3}
              - user: "and"
                budget: 12
        """)
    r = harness_cli("validate", suite)
    assert r.code == 2
    assert "suite.yaml:2:10: unknown budget limit 'max_cost' in the suite; did you mean 'max_cost_usd'?" in r.err
    assert (
        "suite.yaml:5:32: `budget.max_total_tokens` in case 'c' must be a positive whole number of tokens, got -5"
        in r.err
    )
    assert ("suite.yaml:8:37: `budget.max_prompt_tokens` in turn 1 of case 'c' must be a positive whole number "
            "of tokens, got 1.5") in r.err  # fmt: skip
    assert "`budget.max_cost_usd` in turn 2 of case 'c' must be a positive number of US dollars, got 'a lot'" in r.err
    assert (
        "`budget.max_total_tokens` in turn 2 of case 'c' must be a positive whole number of tokens, got '1e3' "
        "(YAML reads 1e3 as text; write 1000)" in r.err
    )
    assert "suite.yaml:12:17: `budget` in turn 3 of case 'c' must be a mapping of limits" in r.err
