"""Every registered check: what passes, what fails, and a failure reason a user can act on.

Unit tests call ``run_check`` directly on a hand-made reply; the end-to-end
tests at the bottom run suites through the CLI against the fake server.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from harness.assertions import REGISTRY, CheckContext, CheckSpec, Outcome, run_check
from harness.core.locations import Loc
from harness.core.plan import PlannedTurn
from harness.core.reply import Completion, ToolCall, Usage
from harness.core.suite import Check
from harness.execution.conversation import evaluate


def reply(content: str | None = "", *, finish: str = "stop", usage: Usage | None = None, latency_ms: float = 0.0,
          tool_calls: list[ToolCall] | None = None) -> Completion:  # fmt: skip
    return Completion(content=content, finish_reason=finish, usage=usage or Usage(10, 5, 15), latency_ms=latency_ms,
                      tool_calls=tool_calls or [])  # fmt: skip


def check(name: str, arg, completion: Completion):
    return run_check(name, arg, CheckContext(reply=completion))


def passes(name: str, arg, completion: Completion) -> str:
    result = check(name, arg, completion)
    assert result.passed, result.reason
    assert result.name == name and result.expected == arg
    return result.reason


def fails(name: str, arg, completion: Completion, *must_mention: str) -> str:
    """Assert the check fails and its reason names each of ``must_mention`` (expected and actual)."""
    result = check(name, arg, completion)
    assert not result.passed, f"{name}: {arg!r} unexpectedly passed: {result.reason}"
    for text in must_mention:
        assert text in result.reason, f"{text!r} not in reason {result.reason!r}"
    return result.reason


WEATHER = ToolCall("call_1", "get_weather", '{"city": "Paris", "unit": "celsius"}')
CITY_SCHEMA = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}

# Every core check (text, reply metadata, structured) has a passing and a failing
# example below; a new core check without tests fails the test after this.
# Safety and custom Python checks have their own test files.
COVERED = {"equals", "contains", "icontains", "contains_any", "contains_all", "starts_with", "regex", "finish_reason",
           "is_json", "json_schema", "json_path", "max_completion_tokens", "max_prompt_tokens", "max_total_tokens",
           "latency_ms", "tool_call", "ttft_ms", "matches_response_format"}  # fmt: skip
CORE_MODULES = {"harness.assertions.text", "harness.assertions.reply", "harness.assertions.structured"}


def test_every_core_check_is_covered():
    core = {name for name, spec in REGISTRY.items() if spec.func.__module__ in CORE_MODULES}
    assert core == COVERED


# --- text checks -----------------------------------------------------------


def test_equals():
    passes("equals", "Paris", reply("  Paris\n"))
    fails("equals", "Paris", reply("Paris, France"), "'Paris'", "'Paris, France'")
    fails("equals", "Paris", reply("paris"), "'Paris'", "'paris'")  # case matters


def test_contains_is_case_sensitive():
    passes("contains", "refund", reply("You can get a refund within 30 days."))
    fails("contains", "Refund", reply("You can get a refund."), "'Refund'", "'You can get a refund.'")


def test_icontains_ignores_case():
    passes("icontains", "REFUND", reply("You can get a refund."))
    fails("icontains", "exchange", reply("You can get a refund."), "'exchange'", "'You can get a refund.'")


def test_contains_any():
    passes("contains_any", ["restart", "reboot"], reply("Please REBOOT the router."))
    fails("contains_any", ["restart", "reboot"], reply("Check the cable."), "['restart', 'reboot']", "'Check the cable.'")


def test_contains_all_names_what_is_missing():
    passes("contains_all", ["name", "city"], reply("Name: John, City: NYC"))
    reason = fails("contains_all", ["name", "city", "zip"], reply("Name: John, City: NYC"),
                   "['name', 'city', 'zip']", "'Name: John, City: NYC'")  # fmt: skip
    assert "missing ['zip']" in reason


def test_starts_with():
    passes("starts_with", "Dear", reply("\n  Dear Dana, thanks."))
    fails("starts_with", "Dear", reply("Hi Dana, thanks."), "'Dear'", "'Hi Dana, thanks.'")


def test_regex_searches_anywhere():
    passes("regex", r"\b\d{5}\b", reply("Ship to 90210 please"))
    fails("regex", r"\b\d{5}\b", reply("Ship to 9021 please"), r"'\\b\\d{5}\\b'", "'Ship to 9021 please'")


def test_text_checks_on_a_reply_with_no_content_fail_cleanly():
    # a tool-only or content-filtered reply has no text: the checks fail, they do not crash
    fails("contains", "hello", reply(None, finish="content_filter"), "'hello'", "''")
    fails("equals", "hello", reply(None), "'hello'", "''")


# --- reply metadata ---------------------------------------------------------


@pytest.mark.parametrize("reason", ["stop", "length", "content_filter", "tool_calls"])
def test_finish_reason_each_value(reason):
    passes("finish_reason", reason, reply("x", finish=reason))
    other = "length" if reason == "stop" else "stop"
    fails("finish_reason", reason, reply("x", finish=other), f"expected finish_reason {reason!r}", f"got {other!r}")


def test_finish_reason_list_accepts_any_of_them():
    passes("finish_reason", ["stop", "tool_calls"], reply(None, finish="tool_calls"))
    fails("finish_reason", ["stop", "tool_calls"], reply("x", finish="length"), "['stop', 'tool_calls']", "'length'")


@pytest.mark.parametrize(
    ("name", "usage_field"),
    [("max_completion_tokens", "completion_tokens"), ("max_prompt_tokens", "prompt_tokens"),
     ("max_total_tokens", "total_tokens")],
)  # fmt: skip
def test_token_budgets(name, usage_field):
    usage = Usage(prompt_tokens=120, completion_tokens=40, total_tokens=160)
    actual = getattr(usage, usage_field)
    passes(name, actual, reply("x", usage=usage))  # the budget is inclusive
    reason = fails(name, actual - 1, reply("x", usage=usage), f"<= {actual - 1}", f"got {actual}")
    assert usage_field.replace("_", " ") in reason


def test_token_budget_without_usage_fails_and_says_why():
    fails("max_total_tokens", 100, reply("x", usage=Usage()), "no total_tokens", "100")


def test_latency_ms():
    passes("latency_ms", 500, reply("x", latency_ms=499.6))
    fails("latency_ms", 500, reply("x", latency_ms=1234.4), "<= 500 ms", "got 1234 ms")


def test_ttft_ms():
    streamed = reply("x", latency_ms=900.0)
    streamed.ttft_ms = 120.4
    passes("ttft_ms", 200, streamed)
    fails("ttft_ms", 100, streamed, "within 100 ms", "after 120 ms")
    fails("ttft_ms", 100, reply("x"), "no content or tool-call delta arrived")  # not streamed, or empty
    # negated, it says what it found in its own words, as latency_ms does
    assert passes("not_ttft_ms", 100, streamed) == "as required, time to first token 120 ms > 100 ms"


# --- structured replies -----------------------------------------------------


def test_is_json_true():
    passes("is_json", True, reply('  {"name": "John"}  '))
    reason = fails("is_json", True, reply("Sure! {name: John}"), "expected valid JSON", "'Sure! {name: John}'")
    assert "line 1 column 1" in reason


def test_is_json_true_points_out_a_markdown_fence():
    fails("is_json", True, reply('```json\n{"a": 1}\n```'), "Markdown code fence", "'```json")


def test_is_json_false():
    passes("is_json", False, reply("Just prose."))
    fails("is_json", False, reply('{"a": 1}'), "expected a reply that is not JSON", '\'{"a": 1}\'')


def test_json_schema():
    schema = {"type": "object", "required": ["name", "age"], "properties": {"age": {"type": "integer"}}}
    passes("json_schema", schema, reply('{"name": "John", "age": 30}'))
    # wrong type: the reason names the expected type and the actual value
    fails("json_schema", schema, reply('{"name": "John", "age": "thirty"}'), "$.age", "'integer'", "'thirty'")
    # missing property: the reason names the property and shows the reply
    fails("json_schema", schema, reply('{"name": "John"}'), "'age' is a required property", '\'{"name": "John"}\'')
    # not JSON at all
    fails("json_schema", schema, reply("John, 30"), "expected JSON matching the schema", "'John, 30'")


def test_json_path():
    doc = reply('{"items": [{"name": "router", "price": 99}], "odd key": true}')
    passes("json_path", {"path": "$.items[0].name", "equals": "router"}, doc)
    passes("json_path", {"path": "$['odd key']", "equals": True}, doc)
    fails("json_path", {"path": "$.items[0].price", "equals": 89}, doc, "$.items[0].price == 89", "got 99")
    fails("json_path", {"path": "$.items[3].name", "equals": "x"}, doc, "== 'x'", "no 3", '\'{"items"')
    fails("json_path", {"path": "$.city", "equals": "NYC"}, reply("not json"), "$.city == 'NYC'", "not valid JSON")


def test_tool_call_by_name():
    calls = reply(None, finish="tool_calls", tool_calls=[WEATHER])
    passes("tool_call", "get_weather", calls)
    fails("tool_call", "get_time", calls, "'get_time'", "['get_weather']")
    fails("tool_call", "get_weather", reply("It is sunny."), "'get_weather'", "'It is sunny.'")


def test_tool_call_with_argument_schema():
    calls = reply(None, finish="tool_calls", tool_calls=[WEATHER])
    passes("tool_call", {"name": "get_weather", "arguments": CITY_SCHEMA}, calls)
    needs_zip = {"type": "object", "required": ["zip"]}
    fails("tool_call", {"name": "get_weather", "arguments": needs_zip}, calls,
          "'get_weather'", "'zip' is a required property", '"city": "Paris"')  # fmt: skip


def test_tool_call_passes_if_any_matching_call_has_valid_arguments():
    bad = ToolCall("call_1", "get_weather", '{"town": "Paris"}')
    good = ToolCall("call_2", "get_weather", '{"city": "Lyon"}')
    passes("tool_call", {"name": "get_weather", "arguments": CITY_SCHEMA}, reply(None, tool_calls=[bad, good]))


def test_tool_call_arguments_not_json():
    broken = reply(None, finish="tool_calls", tool_calls=[ToolCall("c", "get_weather", '{"city": "Par')])
    fails("tool_call", {"name": "get_weather", "arguments": CITY_SCHEMA}, broken,
          "'get_weather'", "not valid JSON", '\'{"city": "Par\'')  # fmt: skip


def with_params(name: str, arg, completion: Completion, params: dict):
    return run_check(name, arg, CheckContext(reply=completion, params=params))


def test_tool_call_validates_arguments_against_the_declared_parameters():
    declared = {"tools": [{"type": "function", "name": "get_weather", "parameters": CITY_SCHEMA}]}  # the flat shape
    nested = {"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": CITY_SCHEMA}}]}
    town = reply(None, tool_calls=[ToolCall("c", "get_weather", '{"town": "Paris"}')])
    for params in (declared, nested):
        assert with_params("tool_call", "get_weather", reply(None, tool_calls=[WEATHER]), params).passed
        result = with_params("tool_call", "get_weather", town, params)
        assert not result.passed and "do not match its declared parameters" in result.reason
    other = with_params("tool_call", "get_weather", reply(None, tool_calls=[ToolCall("c", "rm_rf", "{}")]), declared)
    assert not other.passed and other.reason == "the reply called 'rm_rf', which the request does not declare; declared: get_weather"


def test_matches_response_format():
    person = {"type": "object", "required": ["age"], "properties": {"age": {"type": "integer"}}}
    chat = {"response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": person}}}
    responses = {"text": {"format": {"type": "json_schema", "name": "p", "schema": person}}}
    for params, where in ((chat, "response_format"), (responses, "text.format")):
        assert with_params("matches_response_format", True, reply('{"age": 3}'), params).passed
        wrong = with_params("matches_response_format", True, reply('{"age": "3"}'), params)
        assert not wrong.passed and f"does not match the {where} schema: at $.age" in wrong.reason
        assert not with_params("matches_response_format", True, reply("```json\n{}```"), params).passed
    negated = with_params("not_matches_response_format", True, reply('{"age": "3"}'), chat)
    assert negated.passed and negated.reason == "as required, the reply does not match the response_format schema"
    none = with_params("matches_response_format", True, reply("{}"), {})
    assert not none.passed and "asks for no structured format" in none.reason


# --- negation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arg", "passing", "failing", "failing_mentions"),
    [
        ("not_contains", "sorry", "Happy to help.", "I'm sorry.", ["contains", "'sorry'"]),
        ("not_equals", "Paris", "London", "Paris", ["equals", "'Paris'"]),
        ("not_regex", r"\d+", "no digits", "call 911", [r"'\\d+'", "'911'"]),
        ("not_contains_any", ["refund", "return"], "Fine.", "No RETURNS.", ["'return'"]),
        ("not_is_json", True, "prose", "[1, 2]", ["is_json", "valid JSON"]),
    ],
)  # fmt: skip
def test_not_prefix_inverts_a_check(name, arg, passing, failing, failing_mentions):
    reason = passes(name, arg, reply(passing))
    assert reason.startswith("as required, ")
    reason = fails(name, arg, reply(failing), "expected the opposite of", *failing_mentions)


@pytest.mark.parametrize(
    ("name", "arg", "text", "reason"),
    [
        ("not_icontains", "as an ai", "Try restarting it.", "as required, the reply does not contain 'as an ai' (ignoring case)"),
        ("not_contains", "sorry", "Happy to help.", "as required, the reply does not contain 'sorry'"),
        ("not_equals", "Paris", "London", "as required, the reply does not equal 'Paris'"),
        ("not_contains_any", ["refund", "return"], "Fine.", "as required, the reply contains none of ['refund', 'return']"),
        ("not_contains_all", ["a", "zz"], "a b", "as required, the reply does not contain all of ['a', 'zz'] (no 'zz')"),
        ("not_starts_with", "Dear", "Hi", "as required, the reply does not start with 'Dear'"),
        ("not_regex", "[0-9]+", "no digits", "as required, no match for pattern '[0-9]+'"),
        ("not_is_refusal", True, "Sure, here it is.", "as required, the reply is not a refusal"),
        ("not_is_json", True, "prose", "as required, the reply is not valid JSON"),
    ],
)  # fmt: skip
def test_a_passing_negated_check_reads_as_a_pass(name, arg, text, reason):
    """`not_icontains: as an ai` passing used to say "as required, not icontains: expected reply to contain..."."""
    said = passes(name, arg, reply(text))
    assert said.startswith(reason), said
    assert "expected" not in said


def test_a_negated_check_without_its_own_words_still_says_it_passed():
    said = passes("not_tool_call", "delete_account", reply(None, tool_calls=[WEATHER]))
    assert said == "as required, the reply does not call 'delete_account' (it calls ['get_weather'])"


def test_json_errors_never_say_at_at():
    """json.JSONDecodeError.msg ends in "at" for some errors: "Unterminated string starting at"."""
    reason = fails("is_json", True, reply('{"name": "Ann'))
    assert "at at" not in reason
    assert "Unterminated string starting at line 1 column 10" in reason
    broken = reply(None, finish="tool_calls", tool_calls=[ToolCall("c", "get_weather", '{"city": "Par')])
    reason = fails("tool_call", {"name": "get_weather", "arguments": CITY_SCHEMA}, broken)
    assert "Unterminated string starting at line 1 column 10" in reason and "at at" not in reason


def test_not_finish_reason():
    passes("not_finish_reason", "length", reply("x", finish="stop"))
    fails("not_finish_reason", "length", reply("x", finish="length"), "finish_reason", "'length'")


def test_not_tool_call():
    passes("not_tool_call", "delete_account", reply(None, tool_calls=[WEATHER]))
    fails("not_tool_call", "get_weather", reply(None, tool_calls=[WEATHER]), "opposite of tool_call", "'get_weather'")


# --- implicit truncation check ----------------------------------------------------


def _turn(*checks: tuple[str, object], fail_on_length: bool = True) -> PlannedTurn:
    loc = Loc("suite.yaml", 1, 1)
    return PlannedTurn(1, "hi", [Check(n, a, loc) for n, a in checks], fail_on_length)


def test_truncated_reply_fails_the_implicit_check():
    ctx = CheckContext(reply=reply("The answer is", finish="length"))
    results = asyncio.run(evaluate(_turn(("contains", "The")), ctx))
    assert [(r.name, r.passed, r.implicit) for r in results] == [("contains", True, False),
                                                                 ("not_truncated", False, True)]  # fmt: skip
    assert "finish_reason 'length'" in results[1].reason
    assert "fail_on_length: false" in results[1].reason  # and says how to allow it


def test_implicit_check_passes_on_a_complete_reply():
    results = asyncio.run(evaluate(_turn(), CheckContext(reply=reply("done", finish="stop"))))
    assert [(r.name, r.passed) for r in results] == [("not_truncated", True)]


@pytest.mark.parametrize("own", [("finish_reason", "length"), ("finish_reason", ["stop", "length"]),
                                 ("not_finish_reason", "content_filter")])  # fmt: skip
def test_checking_finish_reason_replaces_the_implicit_check(own):
    results = asyncio.run(evaluate(_turn(own), CheckContext(reply=reply("cut", finish="length"))))
    assert [(r.name, r.passed) for r in results] == [(own[0], True)]


def test_fail_on_length_false_drops_the_implicit_check():
    results = asyncio.run(evaluate(_turn(fail_on_length=False), CheckContext(reply=reply("cut", finish="length"))))
    assert results == []


# --- robustness ----------------------------------------------------------------


def test_a_check_that_raises_becomes_a_failed_check(monkeypatch):
    def explode(ctx: CheckContext, arg: object) -> Outcome:
        raise KeyError("boom")

    monkeypatch.setitem(REGISTRY, "explodes", CheckSpec("explodes", explode, lambda a: None, "raises", "explodes: x"))
    result = check("explodes", "x", reply("hi"))
    assert not result.passed
    assert result.reason == "check raised KeyError: 'boom'"
    negated = check("not_explodes", "x", reply("hi"))  # negating an error must not turn it into a pass
    assert not negated.passed and "KeyError" in negated.reason


def test_an_argument_that_skipped_validation_fails_instead_of_crashing():
    result = check("regex", "(unclosed", reply("hi"))
    assert not result.passed and result.reason.startswith("check raised error:")


# --- argument validation at load time -------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("contains_any: foo", "expects a non-empty list of strings"),
        ("contains_all: []", "expects a non-empty list of strings"),
        ("contains: [a, b]", "expects a string, got list"),
        ("regex: '(unclosed'", "invalid regular expression '(unclosed'"),
        ("finish_reason: done", "expects one of stop, length, content_filter, tool_calls"),
        ("is_json: yes please", "expects true or false, got 'yes please'"),
        ("max_completion_tokens: -1", "expects a number >= 0, got -1"),
        ("latency_ms: fast", "expects a number >= 0, got 'fast'"),
        ("json_schema: {type: objekt}", "invalid JSON Schema: 'objekt' is not valid"),
        ("json_schema: [name]", "expects a JSON Schema mapping, got list"),
        ("json_path: {path: city, equals: NYC}", "path 'city' must start with '$'"),
        ("json_path: {path: '$.a..b', equals: 1}", "cannot parse path '$.a..b'"),
        ("json_path: {path: $.city}", "expects {path: '$.key', equals: value}"),
        ("tool_call: {name: f, arguments: {type: 12}}", "invalid JSON Schema"),
        ("tool_call: {arguments: {}}", "expects a function name"),
        ("not_contains: 3", "expects a string, got int"),
    ],
)  # fmt: skip
def test_bad_check_arguments_are_load_time_errors(line, message, fake_server, harness_cli, write_suite):
    suite = write_suite(f"""
        model: m
        cases:
          - id: a
            turns:
              - user: hi
                expect:
                  - {line}
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 2
    name = line.split(":")[0]
    col = len(name) + 15  # the value after "            - name: "
    assert f"suite.yaml:7:{col}: check `{name}` in turn 1 of case 'a' {message}" in r.err
    assert "(example: `" in r.err  # the fix: a correct example of the check
    assert fake_server.requests == []


# --- end to end through the CLI ----------------------------------------------------


def run_suite(harness_cli, write_suite, fake_server, tmp_path, text: str):
    """Run a suite against the fake server; return the exit code and check results keyed by case id."""
    r = harness_cli("run", write_suite(text), "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code in (0, 1), r.err + r.out
    data = json.loads((tmp_path / "reports/latest/results.json").read_text())
    checks = {c["id"]: [chk for t in c["turns"] for chk in t["checks"]] for c in data["cases"]}
    status = {c["id"]: c["status"] for c in data["cases"]}
    return r, status, checks


def test_e2e_text_and_json_checks(fake_server, harness_cli, write_suite, tmp_path):
    r, status, checks = run_suite(harness_cli, write_suite, fake_server, tmp_path, """
        model: m
        cases:
          - id: passing
            turns:
              - user: '[[reply:{"name": "John", "city": "New York"}]]'
                expect:
                  - is_json: true
                  - json_schema: {type: object, required: [name, city]}
                  - json_path: {path: $.city, equals: New York}
                  - icontains: JOHN
                  - not_contains: sorry
          - id: failing
            turns:
              - user: 'My zip is 1234'
                expect:
                  - regex: '\\b\\d{5}\\b'
                  - is_json: true
    """)
    assert r.code == 1
    assert status == {"passing": "passed", "failing": "failed"}
    assert all(c["passed"] for c in checks["passing"])
    regex, is_json, implicit = checks["failing"]
    assert not regex["passed"] and r"'\\b\\d{5}\\b'" in regex["reason"] and "'echo: My zip is 1234'" in regex["reason"]
    assert not is_json["passed"] and "'echo: My zip is 1234'" in is_json["reason"]
    assert implicit == implicit | {"name": "not_truncated", "passed": True, "implicit": True}
    assert "FAIL" in r.out and "regex" in r.out


def test_e2e_tool_call(fake_server, harness_cli, write_suite, tmp_path):
    r, status, checks = run_suite(harness_cli, write_suite, fake_server, tmp_path, """
        model: m
        cases:
          - id: right-args
            turns:
              - user: 'Weather? [[tool:get_weather {"city": "Paris"}]]'
                expect:
                  - finish_reason: tool_calls
                  - tool_call: {name: get_weather, arguments: {type: object, required: [city]}}
          - id: wrong-args
            turns:
              - user: 'Weather? [[tool:get_weather {"town": "Paris"}]]'
                expect:
                  - tool_call: {name: get_weather, arguments: {type: object, required: [city]}}
          - id: no-call
            turns:
              - user: 'Weather?'
                expect:
                  - tool_call: get_weather
    """)
    assert r.code == 1
    assert status == {"right-args": "passed", "wrong-args": "failed", "no-call": "failed"}
    assert "'city' is a required property" in checks["wrong-args"][0]["reason"]
    assert '"town": "Paris"' in checks["wrong-args"][0]["reason"]
    assert "'get_weather'" in checks["no-call"][0]["reason"] and "'echo: Weather?'" in checks["no-call"][0]["reason"]


def test_e2e_truncated_reply_fails_unless_expected(fake_server, harness_cli, write_suite, tmp_path):
    r, status, checks = run_suite(harness_cli, write_suite, fake_server, tmp_path, """
        model: m
        params: {max_tokens: 3}
        cases:
          - id: unexpected
            turns:
              - user: "tell me a long story [[length]]"
                expect: [{contains: echo}]
          - id: expected
            turns:
              - user: "tell me a long story [[length]]"
                expect: [{finish_reason: length}, {max_completion_tokens: 3}]
          - id: allowed
            fail_on_length: false
            turns:
              - user: "tell me a long story [[length]]"
    """)
    assert r.code == 1
    assert status == {"unexpected": "failed", "expected": "passed", "allowed": "passed"}
    contains, implicit = checks["unexpected"]
    assert contains["passed"] and not implicit["passed"]
    assert implicit["name"] == "not_truncated" and "finish_reason 'length'" in implicit["reason"]
    assert checks["allowed"] == []
    assert "not_truncated" in r.out


def test_e2e_suite_level_fail_on_length_false(fake_server, harness_cli, write_suite, tmp_path):
    r, status, _ = run_suite(harness_cli, write_suite, fake_server, tmp_path, """
        model: m
        fail_on_length: false
        cases:
          - id: relaxed
            turns: [{user: "long [[length]]"}]
          - id: strict-again
            fail_on_length: true
            turns: [{user: "long [[length]]"}]
    """)
    assert status == {"relaxed": "passed", "strict-again": "failed"}


def test_e2e_content_filter_refusal_and_token_budgets(fake_server, harness_cli, write_suite, tmp_path):
    r, status, checks = run_suite(harness_cli, write_suite, fake_server, tmp_path, """
        model: m
        cases:
          - id: filtered
            turns:
              - user: "something bad [[content_filter]]"
                expect: [{finish_reason: content_filter}, {not_contains: secret}]
          - id: refused
            turns:
              - user: "something bad [[refusal]]"
                expect: [{finish_reason: stop}, {contains: sure}]
          - id: budgets
            turns:
              - user: "one two three"
                expect:
                  - max_completion_tokens: 4
                  - max_prompt_tokens: 8
                  - max_total_tokens: 13
    """)
    assert status == {"filtered": "passed", "refused": "failed", "budgets": "failed"}
    assert checks["refused"][1]["reason"] == "expected reply to contain 'sure', got ''"
    # the fake server counts words: 'echo: one two three' is 4; the prompt (3 words + 3) + 3 is 9
    completion, prompt, total, _ = checks["budgets"]
    assert completion["passed"] and completion["reason"] == "completion tokens 4 <= 4"
    assert not prompt["passed"] and prompt["reason"] == "expected prompt tokens <= 8, got 9"
    assert total["passed"]


def test_e2e_latency(fake_server, harness_cli, write_suite, tmp_path):
    r, status, checks = run_suite(harness_cli, write_suite, fake_server, tmp_path, """
        model: m
        cases:
          - id: slow
            turns: [{user: "wait [[sleep:300]]", expect: [{latency_ms: 100}]}]
          - id: fast
            turns: [{user: "hi", expect: [{latency_ms: 5000}]}]
    """)
    assert status == {"slow": "failed", "fast": "passed"}
    reason = checks["slow"][0]["reason"]
    assert reason.startswith("expected latency <= 100 ms, got ")
    assert int(reason.split("got ")[1].split(" ms")[0]) >= 300


def test_e2e_a_raising_check_fails_the_case_and_the_run_goes_on(fake_server, harness_cli, write_suite, tmp_path,
                                                                 monkeypatch):  # fmt: skip
    def explode(ctx: CheckContext, arg: object) -> Outcome:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(REGISTRY, "explodes", CheckSpec("explodes", explode, lambda a: None, "raises", "explodes: x"))
    r, status, checks = run_suite(harness_cli, write_suite, fake_server, tmp_path, """
        model: m
        cases:
          - id: boom
            turns: [{user: hi, expect: [{explodes: x}, {contains: hi}]}]
          - id: fine
            turns: [{user: hi, expect: [{contains: hi}]}]
    """)
    assert r.code == 1
    assert status == {"boom": "failed", "fine": "passed"}
    assert checks["boom"][0] == checks["boom"][0] | {"passed": False, "reason": "check raised ZeroDivisionError: division by zero"}
    assert checks["boom"][1]["passed"]  # the other checks of the turn still ran
