"""`api:`, `history:` and each API's parameter vocabulary: every mistake is exit 2 with file:line:column
and the fix, before anything is sent (harness/suites/api_params.py, harness/suites/requests.py)."""

from __future__ import annotations

import textwrap

import pytest

from tests.test_suite import assert_bad_input, run


def bad(suite: str, *expected: str, id: str, flags: tuple[str, ...] = ()):
    return pytest.param(suite, expected, flags, id=id)


BAD = [
    bad("model: m\napi: response\ncases: [{id: a, turns: [{user: hi}]}]\n",
        "suite.yaml:2:6: `api` in the suite must be one of chat, responses, got 'response'; did you mean 'responses'?",
        id="api-unknown"),
    bad("model: m\ncases: [{id: a, history: previous, turns: [{user: hi}]}]\n",
        "suite.yaml:2:26: `history` in case 'a' must be one of resend, previous_response_id, got 'previous'",
        id="history-unknown"),
    bad("model: m\napi: responses\nparams: {max_tokens: 50}\ncases: [{id: a, turns: [{user: hi}]}]\n",
        "suite.yaml:3:10: `max_tokens` in the suite is a Chat Completions API parameter, but the case uses the Responses "
        "API (`api: responses`); use `max_output_tokens`", id="chat-param-under-responses"),
    bad("model: m\nparams: {max_tokens: 50}\ncases: [{id: a, turns: [{user: hi}]}]\n",
        "suite.yaml:2:10: `max_tokens` in the suite is a Chat Completions API parameter, but the case uses the Responses "
        "API (--api responses); use `max_output_tokens`", id="chat-param-under-api-flag", flags=("--api", "responses")),
    bad("model: m\napi: responses\nparams: {response_format: {type: json_object}, n: 2, logprobs: true}\n"
        "cases: [{id: a, turns: [{user: hi}]}]\n",
        "suite.yaml:3:10: `response_format` in the suite is a Chat Completions API parameter, but the case uses the "
        "Responses API (`api: responses`); use `text: {format: ...}`",
        "suite.yaml:3:48: `n` in the suite is a Chat Completions API parameter", "sample several with `repeat: N`",
        "suite.yaml:3:54: `logprobs` in the suite is a Chat Completions API parameter",
        "`include: [message.output_text.logprobs]` with `top_logprobs`", id="chat-params-name-their-equivalents"),
    bad("model: m\ncases: [{id: a, params: {max_output_tokens: 9, reasoning: {effort: low}}, turns: [{user: hi}]}]\n",
        "suite.yaml:2:26: `max_output_tokens` in case 'a' is a Responses API parameter, but the case uses the Chat "
        "Completions API (`api: chat`); use `max_completion_tokens` (or `max_tokens`)",
        "suite.yaml:2:48: `reasoning` in case 'a' is a Responses API parameter", "use `reasoning_effort`",
        id="responses-params-under-chat"),
    bad("model: m\napi: responses\nparams: {instructions: hi, input: x, previous_response_id: r}\n"
        "cases: [{id: a, turns: [{user: hi}]}]\n",
        "suite.yaml:3:10: `instructions` cannot be a param; set `system:` (it is sent as `instructions`)",
        "suite.yaml:3:28: `input` cannot be a param; the harness builds it from `messages:` and the turns",
        "suite.yaml:3:38: `previous_response_id` cannot be a param; set `history: previous_response_id`",
        id="harness-owned-responses-params"),
    bad("model: m\napi: responses\nparams: {temprature: 0}\ncases: [{id: a, turns: [{user: hi}]}]\n",
        "suite.yaml:3:10: unknown request parameter 'temprature' in the suite; did you mean 'temperature'?",
        id="typo-under-responses"),
    bad("""
        model: m
        api: responses
        params:
          tools:
            - {type: function, function: {name: f, parameters: {type: object}}}
        cases: [{id: a, turns: [{user: hi}]}]
    """, "suite.yaml:5:7: a tool in the suite is in the Chat Completions shape, but the case uses the Responses API "
         "(`api: responses`); function tools are flat", id="nested-tool-under-responses"),
    bad("""
        model: m
        params:
          tools: [{type: function, name: f, parameters: {type: object}}]
          tool_choice: {type: function, name: f}
        cases: [{id: a, turns: [{user: hi}]}]
    """, "suite.yaml:3:11: a tool in the suite is in the Responses API shape, but the case uses Chat Completions",
         "nest `name`, `description`, `parameters` and `strict` under `function:`",
         "suite.yaml:4:16: `tool_choice` in the suite is in the Responses API shape", id="flat-tool-under-chat"),
    bad("""
        model: m
        api: responses
        params: {text: {format: {type: json_schema, json_schema: {name: x, schema: {type: object}}}}}
        cases: [{id: a, turns: [{user: hi}]}]
    """, "suite.yaml:3:25: `text.format` in the suite nests `json_schema:` as Chat's `response_format` does",
         id="chat-shaped-text-format"),
    bad("""
        model: m
        api: responses
        history: previous_response_id
        params: {store: false}
        cases: [{id: a, turns: [{user: hi}]}]
    """, "suite.yaml:4:17: `store: false` in the suite cannot be used with `history: previous_response_id`",
         "remove `store: false`, or use `history: resend`", id="store-false-with-previous-response-id"),
    bad("model: m\ncases: [{id: a, history: previous_response_id, turns: [{user: hi}]}]\n",
        "suite.yaml:2:26: `history: previous_response_id` needs the Responses API, but case 'a' uses Chat "
        "Completions (`api: chat`)", id="previous-response-id-under-chat"),
    bad("""
        model: m
        api: responses
        history: previous_response_id
        context: {window: 1000, strategy: drop_oldest}
        cases: [{id: a, turns: [{user: hi}]}]
    """, "suite.yaml:3:10: `history: previous_response_id` keeps case 'a''s conversation on the server, so "
         "`context: {strategy: drop_oldest}` cannot shorten it", id="previous-response-id-with-drop-oldest"),
    bad("model: m\nparams: {n: 3}\ncases: [{id: a, turns: [{user: hi}]}]\n",
        "suite.yaml:2:13: `n: 3` in the suite asks for 3 choices in one reply, but only one would be checked; use "
        "`repeat: 3` to sample 3 replies and check every one", id="n-above-one"),
    bad("model: m\ncases: [{id: a, turns: [{user: hi, expect: [{ttft_ms: 500}, {not_ttft_ms: 5}]}]}]\n",
        "suite.yaml:2:46: check `ttft_ms` in turn 1 of case 'a' times a streamed reply; add `stream: true` to the "
        "case's or the suite's params", "suite.yaml:2:62: check `not_ttft_ms` in turn 1", id="ttft-without-stream"),
    bad("model: m\nparams: {stream: true}\ncases: [{id: a, turns: [{user: hi, expect: [{ttft_ms: soon}]}]}]\n",
        "suite.yaml:3:55: check `ttft_ms` in turn 1 of case 'a' expects a number >= 0, got 'soon' (example: "
        "`ttft_ms: 800`)", id="ttft-not-a-number"),
    bad("model: m\napi: responses\nparams: {stream: true, stream_options: {include_usage: true}}\n"
        "cases: [{id: a, turns: [{user: hi}]}]\n",
        "suite.yaml:3:41: `stream_options.include_usage` is a Chat Completions option, but the case uses the Responses "
        "API (`api: responses`); remove it", id="include-usage-under-responses"),
    bad("model: m\nparams: {stream_options: {include_usage: true}}\ncases: [{id: a, turns: [{user: hi}]}]\n",
        "suite.yaml:2:26: `stream_options` in the suite needs `stream: true`", id="stream-options-without-stream"),
]


@pytest.mark.parametrize("suite, expected, flags", BAD)
def test_a_request_mistake_exits_2_with_its_location_and_fix_and_sends_nothing(suite, expected, flags, fake_server,
                                                                                harness_cli, tmp_path):  # fmt: skip
    (tmp_path / "suite.yaml").write_text(textwrap.dedent(suite).lstrip())
    assert_bad_input(run(harness_cli, fake_server, "suite.yaml", extra=flags), *expected)


def test_a_suite_level_mistake_is_reported_once_not_once_per_case(fake_server, harness_cli, write_suite):
    suite = write_suite("model: m\napi: responses\nparams: {max_tokens: 5}\n"
                        "cases: [{id: a, turns: [{user: hi}]}, {id: b, turns: [{user: hi}]}]\n")  # fmt: skip
    r = run(harness_cli, fake_server, suite)
    assert r.err.count("`max_tokens` in the suite") == 1
    assert "1 problem found; nothing was sent." in r.err


def test_a_bad_api_flag_is_exit_2(fake_server, harness_cli, write_suite):
    suite = write_suite("model: m\ncases: [{id: a, turns: [{user: hi}]}]\n")
    with pytest.raises(SystemExit) as caught:
        harness_cli("run", suite, "--api", "respones")
    assert caught.value.code == 2
    assert fake_server.requests == []


def test_validate_and_tokens_check_a_suite_against_the_api_flag(harness_cli, write_suite):
    suite = write_suite("model: m\nparams: {max_tokens: 5}\ncases: [{id: a, turns: [{user: hi}]}]\n")
    assert harness_cli("validate", suite).code == 0
    for command in ("validate", "tokens"):
        r = harness_cli(command, suite, "--api", "responses")
        assert r.code == 2 and "use `max_output_tokens`" in r.err
