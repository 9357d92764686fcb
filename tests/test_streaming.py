"""`stream: true` for both APIs: assembled replies, ttft_ms, cassettes of events, broken streams.

Driven through the real CLI against the fake server's SSE streams (tests/fake_streams.py).
"""

from __future__ import annotations

import json
import time

import pytest
import yaml

from harness.providers.chat_stream import ChatStream
from harness.providers.sse import SseEvent

REPLIES = {
    "plain": "Hello there, world",
    "cut": "one two three four five six [[length]]",
    "filtered": "x [[content_filter]]",
    "refused": "x [[refusal]]",
    "tool": '[[tool:get_weather {"city": "Paris", "unit": "celsius"}]]',
    "thinking": "a b c [[reasoning:30]]",
}


def suite_text(api: str, stream: bool) -> str:
    cases = "\n".join(f"  - id: {name}\n    turns: [{{user: {json.dumps(text)}}}]" for name, text in REPLIES.items())
    limit = "max_output_tokens" if api == "responses" else "max_tokens"
    return f"model: m\napi: {api}\nfail_on_length: false\nparams: {{stream: {str(stream).lower()}, {limit}: 4}}\ncases:\n{cases}\n"


def replies(r, out) -> dict:
    data = r.results(out)
    return {c["id"]: c["turns"][0]["reply"] for c in data["cases"]}


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_streamed_reply_is_assembled_exactly_as_the_non_streamed_one(api, fake_server, harness_cli, write_suite,
                                                                      tmp_path):  # fmt: skip
    whole = harness_cli("run", write_suite(suite_text(api, False), "whole.yaml"), "--cassettes", "off", "--base-url",
                        fake_server.base_url, "--out", "whole", "-q")  # fmt: skip
    streamed = harness_cli("run", write_suite(suite_text(api, True), "streamed.yaml"), "--cassettes", "off",
                           "--base-url", fake_server.base_url, "--out", "streamed", "-q")  # fmt: skip
    assert (whole.code, streamed.code) == (0, 0), whole.err + streamed.err

    def comparable(reply: dict) -> dict:
        calls = [(c["name"], c["arguments"]) for c in reply["tool_calls"]]
        return {**{k: reply[k] for k in ("content", "finish_reason", "usage", "refusal", "status", "incomplete_reason")},
                "tool_calls": calls}  # fmt: skip

    a, b = replies(whole, tmp_path / "whole"), replies(streamed, tmp_path / "streamed")
    assert {k: comparable(v) for k, v in a.items()} == {k: comparable(v) for k, v in b.items()}
    assert b["tool"]["tool_calls"][0]["arguments"] == '{"city": "Paris", "unit": "celsius"}'  # fragments joined
    assert b["thinking"]["usage"]["reasoning_tokens"] == 30
    assert all(v["ttft_ms"] is None for v in a.values())
    assert b["plain"]["ttft_ms"] is not None and b["filtered"]["ttft_ms"] is None  # nothing was ever delivered


def test_chat_streams_ask_for_usage_unless_the_suite_says_otherwise(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        model: m
        params: {stream: true}
        cases:
          - id: default
            turns: [{user: hi}]
          - id: own
            params: {stream_options: {include_usage: false}}
            turns: [{user: hi}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")

    assert r.code == 0, r.err
    sent = {json.dumps(q.body["messages"]) + str(i): q.body for i, q in enumerate(fake_server.requests)}
    bodies = sorted(sent.values(), key=lambda b: "stream_options" in b and b["stream_options"]["include_usage"])
    assert [b["stream_options"] for b in bodies] == [{"include_usage": False}, {"include_usage": True}]
    cases = {c["id"]: c["turns"][0] for c in r.results(tmp_path / "reports/latest")["cases"]}
    assert cases["default"]["params"] == {"stream": True, "stream_options": {"include_usage": True}}  # visible
    assert cases["default"]["reply"]["usage"]["completion_tokens"] == 2
    assert cases["own"]["reply"]["usage"]["completion_tokens"] is None  # the server was asked for none


def test_token_checks_on_a_stream_without_usage_count_the_reply_themselves(fake_server, harness_cli, write_suite,
                                                                             tmp_path):  # fmt: skip
    """A server that streams no usage (llama.cpp ignores `include_usage`): a token check counts the reply's tokens
    as the budgets do, and says so, rather than failing the case as if the model had gone over."""
    suite = write_suite("""
        model: m
        params: {stream: true, stream_options: {include_usage: false}}
        cases:
          - id: short
            turns: [{user: "one two three", expect: [{max_completion_tokens: 50}, {max_total_tokens: 500}]}]
          - id: long
            turns: [{user: "one two three four five six", expect: [{max_completion_tokens: 3}]}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 1, r.err  # `long` is over its budget; `short` passes
    cases = {c["id"]: c for c in r.results(tmp_path / "reports/latest")["cases"]}
    assert cases["short"]["status"] == "passed", cases["short"]
    reasons = [c["reason"] for c in cases["short"]["turns"][0]["checks"] if c["name"].startswith("max_")]
    assert all("counted by the harness: the server reported no usage" in why for why in reasons), reasons
    long = next(c for c in cases["long"]["turns"][0]["checks"] if c["name"] == "max_completion_tokens")
    assert long["passed"] is False and long["reason"].startswith("expected completion tokens <= 3, got "), long
    assert cases["short"]["turns"][0]["reply"]["usage"]["completion_tokens"] is None  # results keep what was sent


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_ttft_passes_and_fails_live_and_replays_with_the_recorded_timing(api, fake_server, harness_cli, write_suite,
                                                                        tmp_path):  # fmt: skip
    suite = write_suite(f"""
        model: m
        api: {api}
        params: {{stream: true}}
        cases:
          - id: slow
            turns:
              - user: "Hello there [[ttft:400]]"
                expect: [{{ttft_ms: 5000}}, {{not_ttft_ms: 100}}]
          - id: too-slow
            turns:
              - user: "Hello there [[ttft:400]]"
                expect: [{{ttft_ms: 100}}]
    """)
    live = harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "--out", "live", "-q")
    sent = len(fake_server.requests)
    started = time.perf_counter()
    replay = harness_cli("run", suite, "--out", "replay", "-q")
    took = time.perf_counter() - started

    assert (live.code, replay.code) == (1, 1), live.out + live.err
    assert len(fake_server.requests) == sent
    assert took >= 0.4  # the events came back at their recorded offsets

    def checks(r, out):
        return {c["id"]: [(k["name"], k["passed"], k["reason"]) for k in c["turns"][0]["checks"]]
                for c in r.results(tmp_path / out)["cases"]}  # fmt: skip

    assert checks(live, "live") == checks(replay, "replay")
    found = checks(replay, "replay")
    assert [passed for _, passed, _ in found["slow"][:2]] == [True, True]
    name, passed, reason = found["too-slow"][0]
    assert not passed and reason.startswith("expected the first token within 100 ms, got it after ")
    recorded = live.results(tmp_path / "live")["cases"][1]["turns"][0]["reply"]["ttft_ms"]
    replayed = replay.results(tmp_path / "replay")["cases"][1]["turns"][0]["reply"]["ttft_ms"]
    assert 400 <= recorded == replayed


def test_a_stream_is_stored_as_a_readable_list_of_timed_events(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("suite: s\nmodel: m\nparams: {stream: true}\ncases: [{id: a, turns: [{user: 'Hi [[ttft:50]]'}]}]\n")
    assert harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "-q").code == 0

    text = (tmp_path / "cassettes/s/a.yaml").read_text()
    (interaction,) = yaml.safe_load(text)["interactions"]
    events = interaction["response"]["body"]["events"]
    assert [sorted(e) for e in events[:2]] == [["data", "ms"], ["data", "ms"]]
    assert events[1]["data"]["choices"][0]["delta"] == {"content": "echo: "}  # JSON as structure, not a string
    assert events[-1]["data"] == "[DONE]"
    offsets = [e["ms"] for e in events]
    assert offsets == sorted(offsets) and offsets[1] >= 50
    assert interaction["response"]["latency_ms"] >= offsets[-1]
    assert "data: {" not in text  # never an escaped SSE blob


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_broken_stream_is_an_error_that_keeps_the_partial_text_is_retried_and_never_recorded(
        api, fake_server, harness_cli, write_suite, tmp_path):  # fmt: skip
    suite = write_suite(f"""
        suite: s
        model: m
        api: {api}
        retry: {{base_delay: 0}}
        params: {{stream: true}}
        cases:
          - id: breaks
            turns: [{{user: "one two three four five six seven [[break:6]]", expect: [{{contains: seven}}]}}]
    """)
    r = harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "--max-retries", "2", "-q")

    assert r.code == 3, r.out + r.err  # an error, not a silent partial pass
    assert len(fake_server.requests) == 3  # retried like any transient failure
    case = r.results(tmp_path / "reports/latest")["cases"][0]
    assert case["status"] == "error"
    assert "the stream broke off after 6 events" in case["error"] and "characters of text" in case["error"]
    partial = case["turns"][0]["partial_reply"]
    assert partial["content"] and "echo: one" in partial["content"] and "seven" not in partial["content"]
    assert not (tmp_path / "cassettes/s/breaks.yaml").exists()


def test_a_stream_that_breaks_once_is_retried_and_only_the_whole_one_recorded(fake_server, harness_cli, write_suite,
                                                                                tmp_path):  # fmt: skip
    suite = write_suite("suite: s\nmodel: m\nretry: {base_delay: 0}\nparams: {stream: true}\n"
                        "cases: [{id: a, turns: [{user: 'one two three [[flaky_break:2]]'}]}]\n")  # fmt: skip
    r = harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "-q")

    assert r.code == 0, r.out + r.err
    assert len(fake_server.requests) == 2
    (interaction,) = yaml.safe_load((tmp_path / "cassettes/s/a.yaml").read_text())["interactions"]
    assert interaction["response"]["body"]["events"][-1]["data"] == "[DONE]"
    assert harness_cli("run", suite, "--out", "replay", "-q").code == 0


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_stream_that_ends_before_its_final_event_is_an_error(api, fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(f"suite: s\nmodel: m\napi: {api}\nparams: {{stream: true}}\n"
                        "cases: [{id: a, turns: [{user: 'one two [[cut:3]]'}]}]\n")  # fmt: skip
    r = harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "--max-retries", "0", "-q")

    assert r.code == 3
    case = r.results(tmp_path / "reports/latest")["cases"][0]
    assert "the stream ended before its final event, after 3 events" in case["error"]
    assert not (tmp_path / "cassettes/s/a.yaml").exists()


def test_the_report_shows_time_to_first_token_beside_latency(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("model: m\nparams: {stream: true}\ncases: [{id: a, turns: [{user: 'Hi [[ttft:30]]'}]}]\n")
    assert harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q").code == 0
    page = (tmp_path / "reports/latest/report.html").read_text()
    data = json.loads(page.split('<script type="application/json" id="data">')[1].split("</script>")[0])
    turn = data["cases"][0]["t"][0]
    assert turn["ttft"] >= 30 and turn["lat"] >= turn["ttft"]
    assert '"first token "' in page


def test_a_compatible_servers_usage_chunk_with_an_empty_choice_is_read():
    """LiteLLM's proxy sends usage in a chunk that still has a choice with an empty delta."""
    stream = ChatStream()
    chunks = [
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"content": "I'm"}}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
        {"id": "c", "created": 1, "model": "m", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}}],
         "usage": {"completion_tokens": 5, "prompt_tokens": 10, "total_tokens": 15,
                   "completion_tokens_details": {"reasoning_tokens": 0, "text_tokens": 5}}},
    ]  # fmt: skip
    for offset, chunk in enumerate(chunks):
        stream.add(SseEvent(None, json.dumps(chunk), float(offset)))
    stream.add(SseEvent(None, "[DONE]", 9.0))
    reply = stream.reply(10.0)
    assert (reply.content, reply.finish_reason, reply.ttft_ms, reply.usage.prompt_tokens, reply.usage.completion_tokens,
            reply.usage.reasoning_tokens) == ("I'm", "length", 1.0, 10, 5, 0)  # fmt: skip


MALFORMED_CHUNKS = {
    "chat": [
        {"choices": [{"index": 0, "delta": {"tool_calls": [None]}}]},  # found by the long fuzz run
        {"choices": [{"index": 0, "delta": ["x"]}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": [1]}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": "f"}]}}]},
        {"choices": [{"index": 0, "delta": {"content": {"text": "x"}}}]},
        {"choices": "abc"},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": ["stop"]}]},
    ],
    "responses": [
        {"type": "response.output_item.added", "item": ["x"]},
        {"type": "response.output_item.done", "output_index": "a", "item": {}},
        {"type": "error", "code": ["x"], "message": "m"},
        {"type": "response.output_text.delta", "delta": {"x": 1}},
    ],
}


@pytest.mark.parametrize("api, chunk", [(api, c) for api, chunks in MALFORMED_CHUNKS.items() for c in chunks])
def test_a_stream_chunk_of_the_wrong_shape_is_a_malformed_response_not_an_internal_error(
        api, chunk, fake_server, harness_cli, write_suite, tmp_path):  # fmt: skip
    body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
    fake_server.responder = lambda request: (200, body, {"content-type": "text/event-stream"})
    suite = write_suite(f"suite: s\nmodel: m\napi: {api}\nparams: {{stream: true}}\ncases: [{{id: a, turns: [{{user: hi}}]}}]\n")
    r = harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "--max-retries", "0", "-q")

    assert r.code == 3, r.out + r.err
    error = r.results(tmp_path / "reports/latest")["cases"][0]["error"]
    assert "internal error" not in error and "malformed" in error, error
    assert not (tmp_path / "cassettes/s/a.yaml").exists()
