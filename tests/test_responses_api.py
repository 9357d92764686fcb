"""The Responses API (`api: responses`): requests, conversation state, replies, usage, cost, replay.

Driven through the real CLI against the fake server's /v1/responses, which
keeps conversation state as OpenAI does (tests/fake_responses.py).
"""

from __future__ import annotations

import json

import pytest

from harness.providers.responses_reply import parse_response

SUITE = """
suite: resp
model: gpt-4o-mini
api: responses
system: "Be brief."
params: {max_output_tokens: 50, temperature: 0}
cases:
  - id: resend
    turns:
      - user: "Hi [[recall]]"
        expect: [{contains: "recall: Hi"}]
      - user: "Again [[recall]]"
        expect: [{contains: "recall: Hi [[recall]] | Again"}]
  - id: chained
    history: previous_response_id
    turns:
      - user: "Hi [[recall]]"
      - user: "Again [[recall]]"
        expect: [{contains: "recall: Hi [[recall]] | Again"}]
  - id: tool
    history: {history}
    params:
      tools: [{type: function, name: get_weather, parameters: {type: object, properties: {city: {type: string}}}}]
    turns:
      - user: 'Weather? [[tool:get_weather {"city": "Paris"}]]'
        expect: [{tool_call: get_weather}, {finish_reason: tool_calls}]
      - tool_results: {get_weather: "18 C"}
        user: "thanks"
        expect: [{equals: "echo: thanks"}]
  - id: json
    params:
      text: {format: {type: json_schema, name: person, strict: true,
                      schema: {type: object, additionalProperties: false, required: [name], properties: {name: {type: string}}}}}
    turns:
      - user: '[[reply:{"name": "Ada"}]]'
        expect: [{is_json: true}, {matches_response_format: true}, {json_path: {path: $.name, equals: Ada}}]
  - id: truncated
    params: {max_output_tokens: 3}
    turns:
      - user: "one two three four five [[length]]"
        expect: [{finish_reason: length}]
"""


def run(harness_cli, server, suite, *extra):
    return harness_cli("run", suite, "--base-url", server.base_url, "-q", *extra)


def cases(r, out) -> dict:
    return {c["id"]: c for c in r.results(out)["cases"]}


@pytest.mark.parametrize("history", ["resend", "previous_response_id"])
def test_a_responses_suite_runs_live_then_replays_identically(history, fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE.replace("{history}", history))

    live = run(harness_cli, fake_server, suite, "--cassettes", "record", "--out", "live")

    assert live.code == 0, live.out + live.err
    sent = len(fake_server.requests)
    assert sent == 8 and all(r.path == "/v1/responses" for r in fake_server.requests)
    replayed = harness_cli("run", suite, "--out", "replay", "-q")
    assert replayed.code == 0
    assert len(fake_server.requests) == sent  # replay sends nothing

    def outcome(c):
        return [(t["reply"]["content"], t["reply"]["finish_reason"], t["reply"]["status"], t["reply"]["usage"],
                 [(k["name"], k["passed"], k["reason"]) for k in t["checks"]]) for t in c["turns"]]  # fmt: skip

    assert {k: outcome(c) for k, c in cases(live, tmp_path / "live").items()} == \
        {k: outcome(c) for k, c in cases(replayed, tmp_path / "replay").items()}  # fmt: skip


def test_resend_sends_the_whole_conversation_with_the_models_own_output_items(fake_server, harness_cli, write_suite):
    suite = write_suite(SUITE.replace("{history}", "resend"))
    assert run(harness_cli, fake_server, suite, "--cassettes", "off", "--case", "resend").code == 0

    first, second = (r.body for r in fake_server.requests)
    assert first == {"model": "gpt-4o-mini", "instructions": "Be brief.", "input": [{"role": "user", "content": "Hi [[recall]]"}],
                     "max_output_tokens": 50, "temperature": 0}  # fmt: skip
    assert "previous_response_id" not in second
    assert second["instructions"] == "Be brief."
    user, reply, again = second["input"]
    assert user == {"role": "user", "content": "Hi [[recall]]"}
    # the model's reply goes back as its own output item: id, type, status and content parts as sent
    assert reply == {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
                     "content": [{"type": "output_text", "text": "recall: Hi [[recall]]", "annotations": []}]}  # fmt: skip
    assert again == {"role": "user", "content": "Again [[recall]]"}


def test_previous_response_id_sends_only_what_is_new_and_instructions_again(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE.replace("{history}", "previous_response_id"))
    r = run(harness_cli, fake_server, suite, "--cassettes", "off", "--case", "chained", "--case", "tool")

    assert r.code == 0, r.out + r.err
    bodies = [q.body for q in fake_server.requests]
    chained = [b for b in bodies if "Hi" in json.dumps(b) or "Again" in json.dumps(b)]
    # the fake names a response after the request that made it: the first turn's request, counted from 1
    assert chained[1]["previous_response_id"] == f"resp_{bodies.index(chained[0]) + 1}"
    assert chained[1]["instructions"] == "Be brief."  # not carried over by the API, so sent again
    assert chained[1]["input"] == [{"role": "user", "content": "Again [[recall]]"}]
    # the server had the first turn only from its own state: the reply recalls it
    reply = cases(r, tmp_path / "reports/latest")["chained"]["turns"][1]["reply"]["content"]
    assert reply == "recall: Hi [[recall]] | Again [[recall]]"
    # a tool result goes back as a function_call_output item answering the call by its call_id
    tool_turn = next(q.body for q in fake_server.requests if "previous_response_id" in q.body and "thanks" in json.dumps(q.body))
    assert tool_turn["input"] == [{"type": "function_call_output", "call_id": tool_turn["input"][0]["call_id"], "output": "18 C"},
                                  {"role": "user", "content": "thanks"}]  # fmt: skip
    first_reply = next(q for q in fake_server.requests if "Weather" in json.dumps(q.body))
    assert tool_turn["input"][0]["call_id"] == f"call_{fake_server.requests.index(first_reply) + 1}"


def test_the_tool_call_round_trip_sends_function_call_and_output_items(fake_server, harness_cli, write_suite):
    suite = write_suite(SUITE.replace("{history}", "resend"))
    assert run(harness_cli, fake_server, suite, "--cassettes", "off", "--case", "tool").code == 0

    second = fake_server.requests[1].body["input"]
    assert [i.get("type", "message") for i in second] == ["message", "function_call", "function_call_output", "message"]
    call, output = second[1], second[2]
    assert call["name"] == "get_weather" and call["arguments"] == '{"city": "Paris"}'
    assert output == {"type": "function_call_output", "call_id": call["call_id"], "output": "18 C"}


def test_finish_reason_is_normalised_and_the_raw_status_kept(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        model: m
        api: responses
        params: {max_output_tokens: 2}
        cases:
          - id: cut
            turns: [{user: "one two three [[length]]"}]
          - id: filtered
            turns: [{user: "x [[content_filter]]", expect: [{finish_reason: content_filter}]}]
          - id: refused
            turns: [{user: "x [[refusal]]", expect: [{finish_reason: stop}]}]
    """)
    r = run(harness_cli, fake_server, suite, "--cassettes", "off")

    found = cases(r, tmp_path / "reports/latest")
    cut = found["cut"]["turns"][0]
    assert (cut["reply"]["finish_reason"], cut["reply"]["status"], cut["reply"]["incomplete_reason"]) == \
        ("length", "incomplete", "max_output_tokens")  # fmt: skip
    # the implicit truncation check applies as it does for Chat's finish_reason "length"
    assert found["cut"]["status"] == "failed"
    assert "cut off at the token limit" in cut["checks"][0]["reason"]
    filtered = found["filtered"]["turns"][0]["reply"]
    assert (filtered["finish_reason"], filtered["incomplete_reason"], found["filtered"]["status"]) == \
        ("content_filter", "content_filter", "passed")  # fmt: skip
    refused = found["refused"]["turns"][0]["reply"]
    assert refused["refusal"] == "I can't help with that." and refused["content"] is None
    assert found["refused"]["api"] == "responses"


def test_usage_keeps_cached_and_reasoning_tokens_and_reasoning_is_priced_as_output(fake_server, harness_cli,
                                                                                  write_suite, tmp_path):  # fmt: skip
    suite = write_suite("""
        model: priced
        api: responses
        pricing: {priced: {input: 1.0, output: 10.0}}
        cases:
          - id: think
            turns: [{user: "a b c [[reasoning:40]]", expect: [{max_completion_tokens: 100}]}]
    """)
    r = run(harness_cli, fake_server, suite, "--cassettes", "off")

    case = cases(r, tmp_path / "reports/latest")["think"]
    usage = case["turns"][0]["reply"]["usage"]
    # "echo: a b c" is 4 words; the fake's output_tokens include its 40 reasoning tokens
    assert usage == {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": 44,
                     "total_tokens": usage["prompt_tokens"] + 44, "cached_tokens": 0, "reasoning_tokens": 40}  # fmt: skip
    assert case["cost_usd"] == pytest.approx((usage["prompt_tokens"] * 1.0 + 44 * 10.0) / 1_000_000)
    assert r.results(tmp_path / "reports/latest")["summary"]["reasoning_tokens"] == 40


def test_api_flag_runs_a_chat_suite_through_the_responses_api(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        model: m
        system: "Be brief."
        params: {temperature: 0}
        cases: [{id: a, turns: [{user: hi, expect: [{equals: "echo: hi"}]}]}]
    """)
    chat = run(harness_cli, fake_server, suite, "--cassettes", "off", "--out", "chat")
    responses = run(harness_cli, fake_server, suite, "--cassettes", "off", "--out", "responses", "--api", "responses")

    assert (chat.code, responses.code) == (0, 0)
    assert [q.path for q in fake_server.requests] == ["/v1/chat/completions", "/v1/responses"]
    assert responses.results(tmp_path / "responses")["settings"]["api"] == "responses"
    assert cases(responses, tmp_path / "responses")["a"]["api"] == "responses"
    assert "api" not in cases(chat, tmp_path / "chat")["a"]  # written only when not chat


def test_a_failed_response_is_an_error_with_the_servers_reason():
    with pytest.raises(Exception) as caught:
        parse_response({"id": "r", "status": "failed", "output": [],
                        "error": {"code": "server_error", "message": "The model crashed"}}, 1.0)  # fmt: skip
    assert "the response failed (server_error): The model crashed" in str(caught.value)
    assert caught.value.retryable


def test_a_compatible_servers_lenient_body_parses():
    """LiteLLM's proxy sends null token details and extra keys: read what is there, never crash."""
    body = {"id": "resp_x", "created_at": 1, "object": "response", "status": "completed", "model": "m",
            "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant", "phase": None,
                        "content": [{"type": "output_text", "text": "Hello.", "annotations": []}]}],
            "usage": {"input_tokens": 26, "input_tokens_details": None, "output_tokens": 24,
                      "output_tokens_details": None, "total_tokens": 50, "cost": None}}  # fmt: skip
    reply = parse_response(body, 12.0)
    assert (reply.content, reply.finish_reason, reply.usage.prompt_tokens, reply.usage.completion_tokens,
            reply.usage.cached_tokens, reply.usage.reasoning_tokens) == ("Hello.", "stop", 26, 24, None, None)  # fmt: skip


def test_graders_ask_over_chat_completions_for_a_responses_case(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        api: responses
        grader: {model: judge}
        cases:
          - id: a
            turns: [{user: "[[reply:Paris is the capital]]", expect: [{llm_rubric: "mentions 'Paris'"}]}]
    """)
    assert run(harness_cli, fake_server, suite, "--cassettes", "off").code == 0
    assert [q.path for q in fake_server.requests] == ["/v1/responses", "/v1/chat/completions"]


def test_token_estimates_and_budgets_count_a_responses_request(harness_cli, write_suite):
    suite = write_suite("""
        model: gpt-4o-mini
        api: responses
        system: "Be brief."
        params: {max_output_tokens: 100}
        pricing: {gpt-4o-mini: {input: 1.0, output: 10.0}}
        cases: [{id: a, turns: [{user: hello there}]}]
    """)
    r = harness_cli("tokens", suite, "--json")

    assert r.code == 0, r.err
    (row,) = json.loads(r.out)
    assert row["prompt_tokens"] > 0
    # the completion limit is the Responses API's max_output_tokens
    assert row["cost_usd_max"] == pytest.approx((row["prompt_tokens"] * 1.0 + 100 * 10.0) / 1_000_000)


def test_the_migration_recipe_compares_a_chat_run_with_a_responses_run(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        model: m
        system: "Be brief. [[sleep:20]]"
        params: {temperature: 0}
        cases:
          - id: greet
            turns: [{user: hello, expect: [{equals: "echo: hello"}]}]
          - id: recall
            turns:
              - user: "first"
              - user: "[[recall]]"
                expect: [{contains: first}]
    """)
    for api in ("chat", "responses"):
        r = harness_cli("run", suite, "--api", api, "--cassettes", "record-missing", "--cassette-dir",
                        f"cassettes/{api}", "--base-url", fake_server.base_url, "--out", f"reports/{api}", "-q")  # fmt: skip
        assert r.code in (0, 1), r.out + r.err

    r = harness_cli("compare", "reports/chat", "reports/responses", "--out", "reports/migration")

    # Chat has no [[recall]]: it echoes; the Responses fake recalls the conversation: a fix the diff shows
    assert r.code == 0, r.out + r.err
    assert "FIXED" in r.out and "suite / recall" in r.out and "param api" in r.out
    page = (tmp_path / "reports/migration/diff.html").read_text()
    data = json.loads(page.split('<script type="application/json" id="data">')[1].split("</script>")[0])
    by_id = {c["i"]: c for c in data["cases"]}
    assert by_id["greet"]["ch"] == "changed"  # same status, but the request changed (its api)
    assert ["api", "chat", "responses", False, False] in by_id["greet"]["pa"]
    recall = by_id["recall"]
    assert recall["ch"] == "fixed" and recall["fl"][0][:4] == [2, "contains", False, True]
    assert recall["re"][1][2:4] == ["echo: ", "recall: first | [[recall]]"]
    summary = (tmp_path / "reports/migration/summary.md").read_text()
    assert "request: `api` chat → responses" in summary
    # both runs replay offline from their own cassettes, so the comparison can run in CI
    for api in ("chat", "responses"):
        replay = harness_cli("run", suite, "--api", api, "--cassette-dir", f"cassettes/{api}", "--out", f"replay/{api}", "-q")
        assert replay.code == (1 if api == "chat" else 0), replay.out + replay.err


def test_a_stale_responses_cassette_says_which_input_item_changed(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        suite: s
        model: m
        api: responses
        system: "Be brief."
        cases: [{id: a, turns: [{user: "Where is my order?"}]}]
    """)
    assert harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "-q").code == 0
    suite.write_text(suite.read_text().replace("Be brief.", "Be very brief.").replace("my order", "the parcel"))

    r = harness_cli("run", suite, "-q")

    assert r.code == 3
    assert "input[0] (user) changed: 'Where is my order?' -> 'Where is the parcel?'" in r.out
    assert "param instructions: 'Be brief.' -> 'Be very brief.'" in r.out


def test_a_variant_can_run_the_suite_through_the_responses_api(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        suite: s
        model: m
        params: {temperature: 0}
        variants:
          - name: chat
          - name: responses
            api: responses
            params: {max_output_tokens: 20}
        cases:
          - id: a
            turns: [{user: "first"}, {user: "[[recall]]", expect: [{contains: first}]}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")

    assert r.code == 1, r.out + r.err  # Chat cannot recall: the fake's directive is Responses-only
    by_variant = {c["variant"]: c for c in r.results(tmp_path / "reports/latest")["cases"]}
    assert by_variant["responses"]["api"] == "responses" and by_variant["responses"]["status"] == "passed"
    assert "api" not in by_variant["chat"] and by_variant["chat"]["status"] == "failed"
    assert sorted(q.path for q in fake_server.requests) == ["/v1/chat/completions"] * 2 + ["/v1/responses"] * 2
    compared = harness_cli("compare", "reports/latest", "--base-variant", "chat", "--head-variant", "responses",
                           "--out", "reports/migration")  # fmt: skip
    assert compared.code == 0 and "FIXED" in compared.out and "param api" in compared.out


def test_a_variants_params_are_checked_against_its_own_api(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        variants:
          - name: responses
            api: responses
            params: {max_tokens: 20}
        cases: [{id: a, turns: [{user: hi}]}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 2 and fake_server.requests == []
    assert "suite.yaml:5:14: `max_tokens` in variant 'responses' is a Chat Completions API parameter, but the case " \
           "uses the Responses API (`api: responses`); use `max_output_tokens`" in r.err  # fmt: skip


@pytest.mark.parametrize("body", [
    {"output": [], "status": "incomplete", "id": "", "incomplete_details": {"reason": []}},  # found by the fuzz
    {"output": [], "status": ["completed"]},
    {"output": [], "status": "completed", "model": {"name": "m"}},
    {"output": [], "status": "completed", "incomplete_details": "length"},
    {"output": [{"type": "message", "content": "Hello"}], "status": "completed"},
    {"output": [{"type": "message", "content": [{"type": "output_text", "text": ["Hello"]}]}], "status": "completed"},
    {"output": [{"type": "function_call", "name": ["f"], "arguments": "{}", "call_id": "c"}], "status": "completed"},
    {"output": [], "status": "failed", "error": {"code": ["server_error"], "message": "m"}},
    {"output": [], "status": "failed", "error": "boom"},
])  # fmt: skip
def test_a_response_with_a_slot_of_the_wrong_type_is_malformed_not_an_internal_error(body, fake_server, harness_cli,
                                                                                     write_suite, tmp_path):  # fmt: skip
    fake_server.responder = lambda request: (200, json.dumps(body).encode())
    suite = write_suite("suite: s\nmodel: m\napi: responses\ncases: [{id: a, turns: [{user: hi}]}]\n")
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "--max-retries", "0", "-q")

    assert r.code == 3, r.out + r.err
    error = r.results(tmp_path / "reports/latest")["cases"][0]["error"]
    assert "internal error" not in error and "malformed response" in error, error


def test_checks_written_in_the_responses_apis_words_are_told_the_names_they_have(harness_cli, write_suite):
    suite = write_suite("""
        model: m
        api: responses
        cases:
          - id: a
            turns: [{user: hi, expect: [{finish_reason: completed}, {max_output_tokens: 5}, {status: completed}]}]
    """)
    r = harness_cli("validate", suite)
    assert r.code == 2
    assert ("got 'completed'; the Responses API's status 'completed' is read as finish_reason 'stop' ('tool_calls' "
            "when it called a function)") in r.err  # fmt: skip
    assert "unknown check 'max_output_tokens' in turn 1 of case 'a'; did you mean 'max_completion_tokens'?" in r.err
    assert "unknown check 'status' in turn 1 of case 'a'; did you mean 'finish_reason'?" in r.err


def test_a_responses_parameter_in_the_grader_blames_the_grader_not_the_case(harness_cli, write_suite):
    suite = write_suite("""
        model: m
        api: responses
        grader: {model: g, params: {max_output_tokens: 50}}
        cases:
          - {id: a, turns: [{user: hi}]}
    """)
    r = harness_cli("validate", suite)
    assert r.code == 2
    assert ("`max_output_tokens` in `grader` of the suite is a Responses API parameter, but the grader uses the Chat "
            "Completions API (model-graded checks always ask through Chat Completions)") in r.err  # fmt: skip
