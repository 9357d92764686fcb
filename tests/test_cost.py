"""Tokens and cost on every turn, case, suite and run; the harness's own token count against the server's."""

from __future__ import annotations

import json

import pytest

from harness.metering.tokens import count_chat_tokens

# The fake server bills (words + 3) per message + 3 prompt tokens, and one completion token per word.
# gpt-4o-mini costs $0.15 / $0.60 per 1M input / output tokens (harness/data/prices.json).
TURN1_COST = (9 * 0.15 + 4 * 0.60) / 1e6  # "one two three" -> "echo: one two three"
TURN2_COST = (21 * 0.15 + 3 * 0.60) / 1e6  # + "four five" -> "echo: four five"
CASE_COST = TURN1_COST + TURN2_COST  # 0.0000087

MINI = """
suite: mini
model: gpt-4o-mini
cases:
  - id: a
    turns:
      - user: "one two three"
      - user: "four five"
  - id: b
    turns:
      - user: "one two three"
      - user: "four five"
"""

LOCAL = """
suite: local
model: fake-model
pricing:
  fake-model: {input: 1.00, output: 2.00}
cases:
  - id: c
    turns:
      - user: "one two three"
"""
LOCAL_COST = (9 * 1.00 + 4 * 2.00) / 1e6


def results(tmp_path) -> dict:
    return json.loads((tmp_path / "reports/latest/results.json").read_text())


def live(harness_cli, fake_server, *paths):
    return harness_cli("run", *paths, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")


def test_cost_adds_up_from_turns_to_cases_suites_and_run(fake_server, harness_cli, write_suite, tmp_path):
    write_suite(MINI, "suites/mini.yaml")
    write_suite(LOCAL, "suites/local.yaml")
    r = live(harness_cli, fake_server, "suites")
    assert r.code == 0, r.err + r.out
    data = results(tmp_path)
    cases = {c["id"]: c for c in data["cases"]}
    for case_id in ("a", "b"):
        t1, t2 = cases[case_id]["turns"]
        assert t1["reply"]["usage"] == {
            "prompt_tokens": 9,
            "completion_tokens": 4,
            "total_tokens": 13,
            "cached_tokens": None,
            "reasoning_tokens": None,
        }
        assert t1["cost_usd"] == pytest.approx(TURN1_COST, abs=1e-15)
        assert t2["cost_usd"] == pytest.approx(TURN2_COST, abs=1e-15)
        assert t2["usage"] == {"prompt_tokens": 21, "completion_tokens": 3, "total_tokens": 24, "cached_tokens": 0,
                              "reasoning_tokens": 0}
        assert cases[case_id]["cost_usd"] == pytest.approx(CASE_COST, abs=1e-15)
        assert cases[case_id]["usage"]["total_tokens"] == 37
    assert cases["c"]["cost_usd"] == pytest.approx(LOCAL_COST, abs=1e-15)
    suites = {s["suite"]: s for s in data["suites"]}
    assert suites["mini"]["cost_usd"] == pytest.approx(2 * CASE_COST, abs=1e-12)
    assert (suites["mini"]["prompt_tokens"], suites["mini"]["completion_tokens"], suites["mini"]["total_tokens"]) == (
        60,
        14,
        74,
    )
    assert suites["local"]["cost_usd"] == pytest.approx(LOCAL_COST, abs=1e-12)
    assert data["summary"]["cost_usd"] == pytest.approx(2 * CASE_COST + LOCAL_COST, abs=1e-12)
    assert data["summary"]["total_tokens"] == 74 + 13
    assert "87 tokens, $0.0000 in" in r.out  # the terminal totals


def test_unknown_price_is_null_never_zero(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(MINI.replace("gpt-4o-mini", "my-local-model"))
    assert live(harness_cli, fake_server, suite).code == 0
    data = results(tmp_path)
    assert [t["cost_usd"] for c in data["cases"] for t in c["turns"]] == [None] * 4
    assert [c["cost_usd"] for c in data["cases"]] == [None, None]
    assert data["suites"][0]["cost_usd"] is None and data["summary"]["cost_usd"] is None
    assert data["summary"]["total_tokens"] == 74  # tokens are still counted


def test_pricing_file_is_read_relative_to_the_suite(fake_server, harness_cli, write_suite, tmp_path):
    write_suite("models:\n  my-local-model: {input: 1.00, output: 2.00}\n", "evals/prices/local.yaml")
    suite = write_suite(LOCAL.replace("model: fake-model\npricing:\n  fake-model: {input: 1.00, output: 2.00}",
                                      "model: my-local-model\npricing_file: prices/local.yaml"), "evals/local.yaml")  # fmt: skip
    assert live(harness_cli, fake_server, suite).code == 0
    assert results(tmp_path)["cases"][0]["cost_usd"] == pytest.approx(LOCAL_COST, abs=1e-15)


def test_inline_pricing_overrides_the_pricing_file_and_the_shipped_table(
    fake_server, harness_cli, write_suite, tmp_path
):
    write_suite("gpt-4o-mini: {input: 100, output: 100}\n", "prices.yaml")
    suite = write_suite(
        MINI.replace("cases:", "pricing_file: prices.yaml\npricing: {gpt-4o-mini: {input: 1, output: 0}}\ncases:")
    )
    assert live(harness_cli, fake_server, suite).code == 0
    assert results(tmp_path)["cases"][0]["turns"][0]["cost_usd"] == pytest.approx(9 / 1e6, abs=1e-15)


def test_pricing_mistakes_are_reported_with_file_and_line(harness_cli, write_suite, tmp_path):
    suite = write_suite(LOCAL.replace("{input: 1.00, output: 2.00}", "{input: 1.00, ouput: 2.00}"))
    r = harness_cli("validate", suite)
    assert r.code == 2
    assert "suite.yaml:4:29: price for 'fake-model': unknown key 'ouput'; expected input, cached_input, output" in r.err
    missing = write_suite(MINI.replace("cases:", "pricing_file: nowhere.yaml\ncases:"), "missing.yaml")
    r = harness_cli("validate", missing)
    assert r.code == 2
    assert "missing.yaml:3:15: `pricing_file` 'nowhere.yaml' does not exist" in r.err
    write_suite("gpt-4o-mini: {input: -1, output: 1}\n", "bad-prices.yaml")
    bad = write_suite(MINI.replace("cases:", "pricing_file: bad-prices.yaml\ncases:"), "bad.yaml")
    r = harness_cli("validate", bad)
    assert "bad-prices.yaml:1:22: price for 'gpt-4o-mini': 'input' must be a non-negative number" in r.err


def test_each_turn_records_the_harness_count_and_the_difference_from_the_server(
    fake_server, harness_cli, write_suite, tmp_path
):
    suite = write_suite(MINI)
    assert live(harness_cli, fake_server, suite).code == 0
    t1, t2 = results(tmp_path)["cases"][0]["turns"]
    for turn, server in ((t1, 9), (t2, 21)):
        estimate = count_chat_tokens(turn["messages"], "gpt-4o-mini")
        assert turn["estimated_prompt_tokens"] == estimate
        assert turn["prompt_tokens_delta"] == server - estimate
        assert f"prompt tokens: the server counted {server}, the harness estimated {estimate} with o200k_base " \
               f"({server - estimate:+})" in turn["notes"]  # fmt: skip


def test_tools_are_part_of_the_count(fake_server, harness_cli, write_suite, tmp_path):
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]  # fmt: skip
    suite = write_suite(MINI.replace("cases:", f"params: {{tools: {json.dumps(tools)}}}\ncases:"))
    assert live(harness_cli, fake_server, suite).code == 0
    turn = results(tmp_path)["cases"][0]["turns"][0]
    assert turn["estimated_prompt_tokens"] == count_chat_tokens(turn["messages"], "gpt-4o-mini", tools=tools)
    assert turn["estimated_prompt_tokens"] > count_chat_tokens(turn["messages"], "gpt-4o-mini")


def test_unknown_model_is_counted_with_o200k_and_warned_about_once(fake_server, harness_cli, write_suite, tmp_path):
    # the warning is for a count the user relies on: here, a budget checked against it
    suite = write_suite(MINI.replace("gpt-4o-mini", "warn-once-model").replace(
        "cases:", "budget: {max_total_tokens: 100000}\ncases:"))  # fmt: skip
    r = live(harness_cli, fake_server, suite)
    assert r.code == 0
    assert r.err.count("warning: no tiktoken encoding is known for model 'warn-once-model'; counting its tokens "
                       "with o200k_base") == 1  # fmt: skip
    turns = [t for c in results(tmp_path)["cases"] for t in c["turns"]]
    assert all(t["estimated_prompt_tokens"] == count_chat_tokens(t["messages"], "gpt-4o") for t in turns)
    assert all(
        t["prompt_tokens_delta"] is None and t["notes"] == [] for t in turns
    )  # no cross-check for unknown models


def test_encoding_named_in_the_suite_is_used_without_a_warning(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(MINI.replace("model: gpt-4o-mini", "model: named-encoding-model\nencoding: cl100k_base"))
    r = live(harness_cli, fake_server, suite)
    assert r.code == 0 and "warning" not in r.err
    turn = results(tmp_path)["cases"][0]["turns"][1]
    assert turn["estimated_prompt_tokens"] == count_chat_tokens(turn["messages"], "gpt-4", encoding="cl100k_base")


def test_encoding_typo_is_reported(harness_cli, write_suite):
    r = harness_cli("validate", write_suite(MINI.replace("cases:", "encoding: o200k_bas\ncases:")))
    assert r.code == 2
    assert "suite.yaml:3:11: unknown encoding 'o200k_bas' in the suite; did you mean 'o200k_base'?" in r.err


def test_new_fields_survive_a_results_round_trip(fake_server, harness_cli, write_suite, tmp_path):
    from harness.core.result import RunResult, load_run

    assert live(harness_cli, fake_server, write_suite(MINI)).code == 0
    run = load_run(tmp_path / "reports/latest/results.json")
    assert (
        run.cases[0].turns[0].estimated_prompt_tokens
        == results(tmp_path)["cases"][0]["turns"][0]["estimated_prompt_tokens"]
    )
    assert RunResult.from_dict(run.to_dict()).to_dict() == run.to_dict()


def test_unknown_model_without_budget_or_window_is_not_counted(fake_server, harness_cli, write_suite, tmp_path):
    # a local server's model: nothing the user asked for depends on the count, so no warning and no
    # tokenizer (67 MB, a quarter second) on any run; the server's own usage is still recorded
    suite = write_suite(MINI.replace("gpt-4o-mini", "quiet-local-model"))
    r = live(harness_cli, fake_server, suite)
    assert r.code == 0
    assert "warning" not in r.err
    turns = [t for c in results(tmp_path)["cases"] for t in c["turns"]]
    assert all(t["estimated_prompt_tokens"] is None and t["reply"]["usage"]["prompt_tokens"] > 0 for t in turns)


def test_unknown_model_with_a_context_window_is_warned_about(fake_server, harness_cli, write_suite):
    suite = write_suite(MINI.replace("gpt-4o-mini", "window-local-model").replace(
        "cases:", "context: {window: 100000}\ncases:"))  # fmt: skip
    r = live(harness_cli, fake_server, suite)
    assert r.code == 0
    assert r.err.count("warning: no tiktoken encoding is known for model 'window-local-model'") == 1
