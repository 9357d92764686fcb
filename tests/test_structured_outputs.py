"""Structured outputs: the reply held to the request's own format, tool arguments to the declared parameters,
strict-mode schemas checked at load, reasoning tokens shown."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.test_suite import assert_bad_input, run

PERSON = "{type: object, additionalProperties: false, required: [name, age], properties: {name: {type: string}, age: {type: integer}}}"
WEATHER = "{type: object, required: [city], properties: {city: {type: string}}}"
FORMATS = {
    "chat": f"response_format: {{type: json_schema, json_schema: {{name: person, strict: true, schema: {PERSON}}}}}",
    "responses": f"text: {{format: {{type: json_schema, name: person, strict: true, schema: {PERSON}}}}}",
}
TOOLS = {
    "chat": f"tools: [{{type: function, function: {{name: get_weather, parameters: {WEATHER}}}}}]",
    "responses": f"tools: [{{type: function, name: get_weather, parameters: {WEATHER}}}]",
}


def checks(r, out) -> dict:
    return {c["id"]: [(k["name"], k["passed"], k["reason"]) for t in c["turns"] for k in t["checks"]]
            for c in r.results(out)["cases"]}  # fmt: skip


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_schema_violation_that_is_json_passes_is_caught(api, fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(f"""
        model: m
        api: {api}
        cases:
          - id: format
            params: {{{FORMATS[api]}}}
            turns:
              - user: '[[reply:{{"name": "Ada", "age": "old"}}]]'
                expect: [{{is_json: true}}, {{matches_response_format: true}}]
              - user: '[[reply:{{"name": "Ada", "age": 36}}]]'
                expect: [{{matches_response_format: true}}]
          - id: tool
            params: {{{TOOLS[api]}}}
            turns:
              - user: '[[tool:get_weather {{"town": "Paris"}}]]'
                expect: [{{is_json: false}}, {{tool_call: get_weather}}]
              - tool_results: {{get_weather: "18 C"}}
                user: '[[tool:get_weather {{"city": "Paris"}}]]'
                expect: [{{tool_call: get_weather}}]
              - tool_results: {{get_weather: "18 C"}}
                user: '[[tool:get_time {{}}]]'
                expect: [{{not_tool_call: get_weather}}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")

    assert r.code == 1, r.out + r.err
    found = checks(r, tmp_path / "reports/latest")
    (is_json, matches, _), (valid, _) = found["format"][:3], found["format"][3:]
    assert is_json[1] and not matches[1]
    where = "response_format" if api == "chat" else "text.format"
    assert matches[2].startswith(f"reply does not match the {where} schema: at $.age: 'old' is not of type 'integer'")
    assert valid[1] and valid[2] == f"reply matches the {where} schema"
    args, ok, undeclared = (c for c in found["tool"] if c[0] in ("tool_call", "not_tool_call"))
    assert not args[1]
    assert "arguments do not match its declared parameters: at $: 'city' is a required property" in args[2]
    assert ok[1] and ok[2] == "reply calls 'get_weather' with arguments valid against its declared parameters"
    assert undeclared[1] and "'get_time', which the request does not declare; declared: get_weather" in undeclared[2]


def test_json_object_formats_and_refusals(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        model: m
        params: {response_format: {type: json_object}}
        cases:
          - id: object
            turns: [{user: '[[reply:{"a": 1}]]', expect: [{matches_response_format: true}]}]
          - id: string
            turns: [{user: '[[reply:"just a string"]]', expect: [{matches_response_format: true}]}]
          - id: refused
            turns: [{user: 'x [[refusal]]', expect: [{matches_response_format: true}]}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    found = {k: v[0] for k, v in checks(r, tmp_path / "reports/latest").items()}
    assert found["object"][1] and found["object"][2] == "reply is a JSON object, as response_format (json_object) asks"
    assert not found["string"][1] and "asks for a JSON object, got '\"just a string\"'" in found["string"][2]
    assert not found["refused"][1] and "the model refused" in found["refused"][2]


def test_a_check_schema_and_the_declared_parameters_both_apply(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(f"""
        model: m
        params: {{{TOOLS["chat"]}}}
        cases:
          - id: a
            turns:
              - user: '[[tool:get_weather {{"city": "Paris"}}]]'
                expect: [{{tool_call: {{name: get_weather, arguments: {{required: [city, unit]}}}}}}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    (check,) = checks(r, tmp_path / "reports/latest")["a"][:1]
    assert not check[1] and "arguments do not match the schema: at $: 'unit' is a required property" in check[2]


BAD = [
    pytest.param("""
        model: m
        params:
          response_format:
            type: json_schema
            json_schema:
              name: person
              strict: true
              schema:
                type: object
                required: [name]
                properties:
                  name: {type: string}
                  address:
                    type: object
                    additionalProperties: false
                    properties: {city: {type: string}}
        cases: [{id: a, turns: [{user: hi}]}]
    """, ("suite.yaml:9:9: `params.response_format.json_schema.schema` in the suite is a strict schema (`strict: true`), "
          "so this object needs `additionalProperties: false`",
          "suite.yaml:10:19: `params.response_format.json_schema.schema` in the suite is a strict schema "
          "(`strict: true`), so every property must be in `required`; add address",
          "suite.yaml:14:13: `params.response_format.json_schema.schema.properties.address` in the suite is a strict "
          "schema (`strict: true`), so every property must be in `required`; add city"), id="strict-chat-format"),
    pytest.param("""
        model: m
        api: responses
        cases:
          - id: a
            params:
              text: {format: {type: json_schema, name: x, strict: true, schema: {type: object, properties: {n: {type: integer}}}}}
              tools: [{type: function, name: f, strict: true, parameters: {type: object, additionalProperties: false, properties: {q: {type: string}}, required: [q]}}]
            turns: [{user: hi}]
    """, ("suite.yaml:6:73: `params.text.format.schema` in case 'a' is a strict schema (`strict: true`), so this "
          "object needs `additionalProperties: false`", "so every property must be in `required`; add n"),
        id="strict-responses-format"),
    pytest.param("""
        model: m
        params: {tools: [{type: function, function: {name: f, strict: true, parameters: {type: object, properties: {q: {type: string}}}}}]}
        cases: [{id: a, turns: [{user: hi}]}]
    """, ("suite.yaml:2:81: `params.tools[0].function.parameters` in the suite is a strict schema",), id="strict-chat-tool"),
    pytest.param("""
        model: m
        cases: [{id: a, turns: [{user: hi, expect: [{matches_response_format: true}]}]}]
    """, ("suite.yaml:2:46: check `matches_response_format` in turn 1 of case 'a' holds the reply to the request's own "
          "format, but the case asks for none; set `response_format:",), id="matches-without-format"),
    pytest.param("""
        model: m
        cases: [{id: a, turns: [{user: hi, expect: [{matches_response_format: false}]}]}]
    """, ("suite.yaml:2:71: check `matches_response_format` in turn 1 of case 'a' expects true (for the opposite, use "
          "`not_matches_response_format: true`), got False",), id="matches-false"),
    pytest.param(f"""
        model: m
        params: {{{TOOLS["chat"]}}}
        cases: [{{id: a, turns: [{{user: hi, expect: [{{tool_call: get_wether}}]}}]}}]
    """, ("suite.yaml:3:46: check `tool_call` in turn 1 of case 'a' expects a call to 'get_wether', which the case's "
          "tools do not declare; did you mean 'get_weather'?; declared: get_weather",), id="tool-call-undeclared"),
]


@pytest.mark.parametrize("suite, expected", BAD)
def test_a_structured_output_mistake_exits_2_with_its_location_and_sends_nothing(suite, expected, fake_server,
                                                                                harness_cli, tmp_path):  # fmt: skip
    (tmp_path / "suite.yaml").write_text(textwrap.dedent(suite).lstrip())
    assert_bad_input(run(harness_cli, fake_server, "suite.yaml"), *expected)


def test_reasoning_tokens_are_recorded_and_shown(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("model: m\ncases: [{id: a, turns: [{user: 'a b [[reasoning:25]]'}]}]\n")
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url)

    assert "(25 reasoning)" in r.out  # the terminal summary
    data = r.results(tmp_path / "reports/latest")
    assert data["cases"][0]["turns"][0]["reply"]["usage"]["reasoning_tokens"] == 25  # Chat's completion_tokens_details
    page = (tmp_path / "reports/latest/report.html").read_text()
    payload = json.loads(page.split('<script type="application/json" id="data">')[1].split("</script>")[0])
    assert payload["cases"][0]["t"][0]["rt"] == 25 and '" reasoning)"' in page
