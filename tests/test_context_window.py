"""Context-window handling end to end: drop_oldest, summarize (a real, recorded request) and error."""

from __future__ import annotations

import json

import yaml

from harness.metering.tokens import count_chat_tokens
from harness.metering.truncation import SUMMARY_INSTRUCTION

MODEL = "gpt-4o-mini"
RESERVED = 20  # params max_tokens: reserved for each reply
U1 = "My name is Dana, my order number is 4242 and the router I bought last week keeps rebooting [[reply:Dana, order 4242, router reboots.]]"
A1 = "Dana, order 4242, router reboots."
U2 = "The light on the front blinks red every evening."
A2 = "echo: The light on the front blinks red every evening."
U3 = "What should I do next?"


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


FULL = [user(U1), assistant(A1), user(U2), assistant(A2), user(U3)]
WITHOUT_FIRST = FULL[2:]


def tokens(messages: list[dict]) -> int:
    return count_chat_tokens(messages, MODEL)


def suite_text(window: int, strategy: str | None = None, model: str = MODEL, extra: str = "") -> str:
    context = f"{{window: {window}" + (f", strategy: {strategy}" if strategy else "") + extra + "}"
    return f"""
        suite: ctx
        model: {model}
        params: {{max_tokens: {RESERVED}, temperature: 0}}
        context: {context}
        cases:
          - id: long
            turns:
              - user: "{U1}"
              - user: "{U2}"
              - user: "{U3}"
        """


def results(tmp_path) -> dict:
    return json.loads((tmp_path / "reports/latest/results.json").read_text())


def live(harness_cli, fake_server, suite, *extra):
    return harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", *extra)


def test_turn_three_overflows_a_window_the_first_two_fit():
    window = tokens(FULL) + RESERVED - 1
    assert tokens(FULL[:3]) + RESERVED <= window
    assert tokens(WITHOUT_FIRST) + RESERVED <= window


def test_drop_oldest_drops_the_first_exchange_before_sending(fake_server, harness_cli, write_suite, tmp_path):
    window = tokens(FULL) + RESERVED - 1
    r = live(harness_cli, fake_server, write_suite(suite_text(window, "drop_oldest")))
    assert r.code == 0, r.err + r.out
    bodies = [req.body["messages"] for req in fake_server.requests]
    assert bodies == [FULL[:1], FULL[:3], WITHOUT_FIRST]
    t1, t2, t3 = results(tmp_path)["cases"][0]["turns"]
    assert t1["notes"] == [n for n in t1["notes"] if n.startswith("prompt tokens:")]  # nothing dropped yet
    assert t3["messages"] == WITHOUT_FIRST
    dropped = tokens(FULL) - tokens(WITHOUT_FIRST)
    note = next(n for n in t3["notes"] if n.startswith("context:"))
    assert note == (f"context: dropped 1 oldest exchange (2 messages, {dropped} tokens) to fit {window}-token window; "
                    "dropped: user 'My name is Dana, my order number is 4242...', assistant 'Dana, order 4242, router reboots.'")  # fmt: skip
    assert t3["estimated_prompt_tokens"] == tokens(WITHOUT_FIRST)


def test_error_strategy_fails_the_turn_unsent_naming_the_counts(fake_server, harness_cli, write_suite, tmp_path):
    window = tokens(FULL) + RESERVED - 1
    r = live(harness_cli, fake_server, write_suite(suite_text(window)))  # strategy defaults to error
    assert r.code == 1
    assert len(fake_server.requests) == 2  # turn 3 was never sent
    case = results(tmp_path)["cases"][0]
    assert case["status"] == "failed"
    t3 = case["turns"][2]
    assert t3["reply"] is None
    (check,) = [c for c in t3["checks"] if c["name"] == "context_window"]
    assert not check["passed"]
    assert check["reason"].startswith(
        f"request not sent: turn 3: the messages need {tokens(FULL)} tokens + {RESERVED} reserved for the completion "
        f"> {window}-token window (gpt-4o-mini, context strategy 'error'); set `context: {{strategy: drop_oldest}}`"
    )
    assert check["expected"] == {"window": window, "reserved_completion": RESERVED, "strategy": "error"}
    assert "context_window" in r.out and "turn 3" in r.out  # the terminal names the failure


def test_drop_oldest_fails_unsent_when_even_the_newest_turn_does_not_fit(
    fake_server, harness_cli, write_suite, tmp_path
):
    r = live(harness_cli, fake_server, write_suite(suite_text(25, "drop_oldest")))
    assert r.code == 1
    assert fake_server.requests == []
    (check,) = [c for c in results(tmp_path)["cases"][0]["turns"][0]["checks"] if c["name"] == "context_window"]
    assert check["reason"].startswith("request not sent: turn 1: the system messages and newest user turn alone need ")


def summarize_window() -> int:
    # full does not fit; without the first exchange, plus a 20-token summary, it does
    window = tokens(FULL) + RESERVED - 1
    assert tokens(WITHOUT_FIRST) + 20 + 10 + RESERVED <= window
    return window


def test_summarize_makes_a_real_recorded_request_and_replays_offline(fake_server, harness_cli, write_suite, tmp_path):
    window = summarize_window()
    suite = write_suite(suite_text(window, "summarize", extra=", summary_max_tokens: 20"))
    r = harness_cli("run", suite, "--cassettes", "record-missing", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.err + r.out
    bodies = [req.body for req in fake_server.requests]
    assert len(bodies) == 4  # three turns and one summary
    summary_body = bodies[2]
    transcript = f"User: {U1}\n\nAssistant: {A1}"
    assert summary_body["messages"] == [{"role": "system", "content": SUMMARY_INSTRUCTION}, user(transcript)]
    assert summary_body["max_tokens"] == 20 and summary_body["temperature"] == 0 and summary_body["model"] == MODEL
    summary_message = {
        "role": "system",
        "content": "Summary of the earlier conversation: Dana, order 4242, router reboots.",
    }
    assert bodies[3]["messages"] == [summary_message, *WITHOUT_FIRST]

    first = results(tmp_path)
    t3 = first["cases"][0]["turns"][2]
    assert t3["messages"] == [summary_message, *WITHOUT_FIRST]
    note = next(n for n in t3["notes"] if n.startswith("context:"))
    assert (
        note.startswith("context: summarized 1 oldest exchange (2 messages, ")
        and f"to fit {window}-token window" in note
    )
    summary = t3["context_summary"]
    assert summary["messages"] == summary_body["messages"] and summary["params"] == {"temperature": 0, "max_tokens": 20}
    assert summary["reply"]["content"] == "Dana, order 4242, router reboots."
    # the summary's tokens and cost are the turn's too
    reply_usage, summary_usage = t3["reply"]["usage"], summary["reply"]["usage"]
    assert t3["usage"]["total_tokens"] == reply_usage["total_tokens"] + summary_usage["total_tokens"]
    reply_cost = (reply_usage["prompt_tokens"] * 0.15 + reply_usage["completion_tokens"] * 0.60) / 1e6
    summary_cost = (summary_usage["prompt_tokens"] * 0.15 + summary_usage["completion_tokens"] * 0.60) / 1e6
    assert abs(summary["cost_usd"] - summary_cost) < 1e-15
    assert abs(t3["cost_usd"] - (reply_cost + summary_cost)) < 1e-15

    # the summary is in the case's cassette, in order, and the whole case replays with no server at all
    cassette = yaml.safe_load((tmp_path / "cassettes/ctx/long.yaml").read_text())
    assert len(cassette["interactions"]) == 4
    replay = harness_cli("run", suite, "--cassettes", "replay", "-q")
    assert replay.code == 0, replay.err + replay.out
    assert len(fake_server.requests) == 4
    again = results(tmp_path)
    assert again["cases"][0]["turns"][2]["messages"] == t3["messages"]
    assert again["cases"][0]["turns"][2]["context_summary"]["reply"]["content"] == summary["reply"]["content"]
    assert again["summary"]["total_tokens"] == first["summary"]["total_tokens"]


def test_summarize_refuses_up_front_when_no_summary_could_make_room(fake_server, harness_cli, write_suite, tmp_path):
    window = summarize_window()  # but the summary may take up to 256 tokens (the default summary_max_tokens)
    assert tokens(WITHOUT_FIRST) + 256 + RESERVED > window
    r = live(harness_cli, fake_server, write_suite(suite_text(window, "summarize")))
    assert r.code == 1
    assert len(fake_server.requests) == 2  # no summary request, no turn 3
    (check,) = [c for c in results(tmp_path)["cases"][0]["turns"][2]["checks"] if c["name"] == "context_window"]
    assert "even summarizing every earlier exchange (into up to 256 tokens) would not make it fit" in check["reason"]


def test_a_failed_summary_request_is_an_error_of_the_turn(write_suite):
    import asyncio

    from harness.core.errors import RequestFailed
    from harness.core.reply import Completion, Usage
    from harness.execution.conversation import run_conversation
    from harness.providers.chat import ChatCompletionsProvider
    from harness.providers.pipeline import Channel
    from harness.suites.planning import load_plans

    sent: list[list[dict]] = []

    async def send(model: str, messages: list[dict], params: dict) -> Completion:
        if messages[0]["content"] == SUMMARY_INSTRUCTION:
            raise RequestFailed("HTTP 500: the server had an error (gave up after 3 retries)", retryable=False)
        sent.append(messages)
        return Completion(content=A1 if len(sent) == 1 else A2, finish_reason="stop", usage=Usage(10, 5, 15))

    suite = write_suite(suite_text(summarize_window(), "summarize", extra=", summary_max_tokens: 20"))
    _, (plan,) = load_plans([str(suite)])
    result = asyncio.run(run_conversation(plan, Channel(send, None, ChatCompletionsProvider)))
    assert len(sent) == 2  # turn 3 was not sent
    assert result.status == "error"
    assert (
        result.error
        == "turn 3: the context summary request failed: HTTP 500: the server had an error (gave up after 3 retries)"
    )
    summary = result.turns[2].context_summary
    assert summary is not None and summary.reply is None and summary.messages[0]["content"] == SUMMARY_INSTRUCTION


def test_summary_request_counts_against_the_case_budget(fake_server, harness_cli, write_suite, tmp_path):
    window = summarize_window()
    budget = tokens(FULL[:1]) + tokens(FULL[:3]) + 30  # turns 1 and 2 fit; the summary's prompt does not
    text = suite_text(window, "summarize", extra=", summary_max_tokens: 20").replace(
        "          - id: long\n", f"          - id: long\n            budget: {{max_prompt_tokens: {budget}}}\n"
    )
    r = live(harness_cli, fake_server, write_suite(text))
    assert r.code == 1, r.err + r.out
    assert len(fake_server.requests) == 2
    t3 = results(tmp_path)["cases"][0]["turns"][2]
    (check,) = [c for c in t3["checks"] if c["name"] == "budget"]
    assert check["reason"].startswith("request not sent: context summary: ")
    assert t3["context_summary"]["reply"] is None


def test_unknown_model_without_a_window_gets_no_context_handling(fake_server, harness_cli, write_suite, tmp_path):
    text = suite_text(10, "error", model="my-local-model").replace(
        "        context: {window: 10, strategy: error}\n", ""
    )
    r = live(harness_cli, fake_server, write_suite(text))
    assert r.code == 0, r.err + r.out
    assert len(fake_server.requests) == 3
    assert all(not n.startswith("context:") for t in results(tmp_path)["cases"][0]["turns"] for n in t["notes"])


def test_unknown_model_with_a_window_override_is_handled(fake_server, harness_cli, write_suite, tmp_path):
    window = tokens(FULL) + RESERVED - 1  # o200k_base, the fallback, is what gpt-4o-mini uses too
    r = live(harness_cli, fake_server, write_suite(suite_text(window, "drop_oldest", model="my-local-model")))
    assert r.code == 0, r.err + r.out
    assert fake_server.requests[2].body["messages"] == WITHOUT_FIRST


def test_context_keys_are_validated(harness_cli, write_suite):
    suite = write_suite("""
        model: gpt-4o-mini
        context: {windw: 100, strategy: drop_olderst}
        cases:
          - id: c
            context: {max_output_tokens: 0}
            turns:
              - user: hi
        """)
    r = harness_cli("validate", suite)
    assert r.code == 2
    assert "suite.yaml:2:11: unknown key 'windw' in `context` of the suite; did you mean 'window'?" in r.err
    assert "suite.yaml:2:33: unknown context strategy 'drop_olderst' in the suite; did you mean 'drop_oldest'?" in r.err
    assert "suite.yaml:5:34: `context.max_output_tokens` in case 'c' must be a positive whole number of tokens" in r.err
