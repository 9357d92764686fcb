"""Suite loading: every mistake is reported with file:line:column and a fix, before anything is sent."""

from __future__ import annotations

import pytest

from harness.suites.loading import load_suites


def run(harness_cli, fake_server, *paths, extra=()):
    r = harness_cli("run", *paths, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", *extra)
    r.server = fake_server
    return r


def assert_bad_input(r, *expected: str) -> None:
    """Exit 2, each expected `file:line:col: message` printed, and not one request sent."""
    assert r.code == 2, r.out + r.err
    for text in expected:
        assert text in r.err, f"missing {text!r} in:\n{r.err}"
    assert "nothing was sent." in r.err
    assert r.server.requests == []


def test_three_mistakes_are_all_reported_at_once_and_nothing_is_sent(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        params: {temprature: 0}
        cases:
          - id: greet
            turns:
              - user: hi
                expcet: [{contains: hello}]
              - user: bye
                expect:
                  - contain: bye
    """)
    r = run(harness_cli, fake_server, suite)
    assert r.code == 2
    assert r.err.splitlines() == [
        "error: suite.yaml:2:10: unknown request parameter 'temprature' in the suite; did you mean 'temperature'?",
        "error: suite.yaml:7:9: unknown key 'expcet' in turn 1 of case 'greet'; did you mean 'expect'?",
        "error: suite.yaml:10:13: unknown check 'contain' in turn 2 of case 'greet'; did you mean 'contains'?",
        "3 problems found; nothing was sent.",
    ]
    assert fake_server.requests == []
    assert r.out == ""


# --- one mistake at a time -----------------------------------------------------


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        owner: dana
        cases: [{id: a, turns: [{user: hi}]}]
    """)
    r = run(harness_cli, fake_server, suite)
    assert_bad_input(r, "suite.yaml:2:1: unknown key 'owner' in the suite; expected one of ")
    allowed = r.err.split("expected one of ", 1)[1].splitlines()[0].split(", ")
    assert {"cases", "model", "system", "vars"} <= set(allowed) and allowed == sorted(allowed)


def test_unknown_case_key_with_did_you_mean(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
            varz: {x: 1}
            turns: [{user: hi}]
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:4:5: unknown key 'varz' in case 'a'; did you mean 'vars'?")  # fmt: skip


def test_unknown_check_name_without_a_close_match_points_to_harness_checks(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases: [{id: a, turns: [{user: hi, expect: [{sentiment: positive}]}]}]
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:2:46: unknown check 'sentiment' in turn 1 of case 'a'; run `harness checks` to list them")  # fmt: skip


def test_negated_check_typo_suggests_the_negated_name(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases: [{id: a, turns: [{user: hi, expect: [{not_contain: sorry}]}]}]
    """)
    assert_bad_input(run(harness_cli, fake_server, suite), "did you mean 'not_contains'?")


def test_duplicate_case_ids(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: same
            turns: [{user: one}]
          - id: same
            turns: [{user: two}]
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:5:5: duplicate case id 'same' (first used at line 3); case ids must be unique")  # fmt: skip


def test_case_without_id(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - turns: [{user: one}]
    """)
    assert_bad_input(run(harness_cli, fake_server, suite), "suite.yaml:3:5: case 1 needs an `id:` (a non-empty string)")


@pytest.mark.parametrize("turns", ["turns: []", "turns:"])
def test_empty_turns(turns, fake_server, harness_cli, write_suite):
    suite = write_suite(f"""
        model: m
        cases:
          - id: a
            {turns}
    """)
    assert_bad_input(run(harness_cli, fake_server, suite), "`turns` in case 'a' must be a non-empty list of turns")


def test_case_without_turns(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:3:5: case 'a' has no `turns:`; add at least one turn with a `user:` message")  # fmt: skip


def test_suite_without_cases(fake_server, harness_cli, write_suite):
    suite = write_suite("model: m\n")
    assert_bad_input(run(harness_cli, fake_server, suite), "suite.yaml:1:1: the suite has no `cases:` list; add")


def test_turn_without_user(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
            turns:
              - expect: [{contains: x}]
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:5:9: turn 1 of case 'a' has no `user:` message; add `user: <what the user says>`")  # fmt: skip


def test_turn_with_empty_user(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
            turns:
              - user:
                expect: [{contains: x}]
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:5:14: `user` in turn 1 of case 'a' is empty; write the user's message after `user:`")  # fmt: skip


def test_case_that_is_a_string(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - greet the user
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:3:5: case 1 must be a mapping with `id` and `turns`, got str 'greet the user'")  # fmt: skip


def test_params_that_is_a_list(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        params: [temperature, 0]
        cases: [{id: a, turns: [{user: hi}]}]
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:2:9: `params` in the suite must be a mapping of request parameters, got a list")  # fmt: skip


def test_expect_item_that_is_a_string(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
            turns:
              - user: hi
                expect:
                  - contains hello
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:7:13: each check in turn 1 of case 'a' must be a one-key mapping like "
                     "`- contains: hello`, got str 'contains hello'")  # fmt: skip


def test_expect_that_is_not_a_list(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
            turns:
              - user: hi
                expect: {contains: hello}
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:6:17: `expect` in turn 1 of case 'a' must be a list of checks, e.g. `- contains: hello`")  # fmt: skip


def test_check_with_two_keys(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
            turns:
              - user: hi
                expect:
                  - contains: hello
                    icontains: world
    """)
    assert_bad_input(run(harness_cli, fake_server, suite), "suite.yaml:7:13: each check in turn 1 of case 'a' must be a one-key mapping")


def test_bad_message_role(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
            messages:
              - {role: bot, content: hi}
            turns: [{user: hi}]
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:5:16: message role must be one of assistant, developer, system, tool, user, got 'bot'")  # fmt: skip


def test_unparsable_yaml_names_its_line(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
            turns: [{user: hi}
          - id: b
    """)
    r = run(harness_cli, fake_server, suite)
    assert_bad_input(r, "suite.yaml:5:3: invalid YAML: ")


def test_tab_indentation_is_a_yaml_error_with_its_line(fake_server, harness_cli, tmp_path):
    (tmp_path / "tabs.yaml").write_text("model: m\ncases:\n\t- id: a\n")
    assert_bad_input(run(harness_cli, fake_server, tmp_path / "tabs.yaml"), "tabs.yaml:3:1: invalid YAML: ")


@pytest.mark.parametrize("text, expected", [
    ("model: m\ncases:\n\t- id: a\n",
     "suite.yaml:3:1: invalid YAML: found character '\\t' that cannot start any token; "
     "YAML does not allow tabs for indentation; use spaces"),
    ("model: m\ncases:\n  - id: a\n    turns:\n      - user: hi\n     - user: bye\n",
     "suite.yaml:6:6: invalid YAML: expected <block end>, but found '<block sequence start>'; "
     "check the indentation of this line and the one above"),
    ("suite: x\n  model: m\ncases: []\n",
     "suite.yaml:2:8: invalid YAML: mapping values are not allowed here; "
     "check the indentation of this line and the one above"),
    ("model: m\ncases:\n  - id: a\n    turns:\n      - user: Note: the router is new\n",
     "suite.yaml:5:19: invalid YAML: mapping values are not allowed here; "
     "quote the value: a value starting with { or containing ': ' must be quoted"),
    ("model: m\ncases:\n  - id: a\n    turns:\n      - user: {{ name }} says hi\n",
     "suite.yaml:5:26: invalid YAML: expected <block end>, but found '<scalar>'; "
     "quote the value: a value starting with { or containing ': ' must be quoted"),
    ("model: m\nvars: {name: Dana}\ncases:\n  - id: a\n    turns:\n      - user: {{ name }}\n",
     "suite.yaml:6:16: a mapping key must be a plain value; "
     "quote the value: a value starting with { or containing ': ' must be quoted"),
], ids=["tab", "dedented-item", "indented-key", "colon-in-value", "template-then-text", "template-alone"])
def test_yaml_syntax_errors_keep_their_position_and_say_how_to_fix_them(text, expected, fake_server, harness_cli,
                                                                          tmp_path):  # fmt: skip
    (tmp_path / "suite.yaml").write_text(text)
    assert_bad_input(run(harness_cli, fake_server, tmp_path / "suite.yaml"), f"error: {expected}\n")


def test_non_utf8_file(fake_server, harness_cli, tmp_path):
    (tmp_path / "latin1.yaml").write_bytes("model: m\ncases:\n  - id: caf\u00e9\n".encode("latin-1"))
    assert_bad_input(run(harness_cli, fake_server, tmp_path / "latin1.yaml"),
                     "latin1.yaml:3:1: file is not valid UTF-8 text; save it as UTF-8")  # fmt: skip


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- id: a\n  turns: [{user: hi}]\n", "just a string\n"])
def test_file_that_is_not_a_mapping(text, fake_server, harness_cli, tmp_path):
    (tmp_path / "odd.yaml").write_text(text)
    assert_bad_input(run(harness_cli, fake_server, tmp_path / "odd.yaml"),
                     "odd.yaml:1:1: a suite file must be a YAML mapping with a `cases:` list")  # fmt: skip


def test_duplicate_yaml_keys_anywhere(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        model: n
        params: {temperature: 0, temperature: 1}
        cases:
          - id: a
            turns:
              - user: hi
                expect:
                  - {contains: a, contains: b}
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:2:1: duplicate key 'model'; the later value would silently win, so remove one",
                     "suite.yaml:3:26: duplicate key 'temperature' in `params`",
                     "suite.yaml:9:27: duplicate key 'contains' in `cases[0].turns[0].expect[0]`")  # fmt: skip


def test_duplicate_suite_names_across_files(fake_server, harness_cli, write_suite, tmp_path):
    write_suite("suite: support\nmodel: m\ncases: [{id: a, turns: [{user: hi}]}]\n", "evals/one.yaml")
    write_suite("suite: support\nmodel: m\ncases: [{id: b, turns: [{user: hi}]}]\n", "evals/two.yaml")
    r = run(harness_cli, fake_server, tmp_path / "evals")
    assert_bad_input(r, "evals/two.yaml:1:1: suite name 'support' is also used by ")
    assert "one.yaml" in r.err and "suite names must be unique" in r.err


def test_suite_name_defaults_to_the_file_name_so_two_files_of_the_same_stem_clash(fake_server, harness_cli, write_suite,
                                                                                    tmp_path):  # fmt: skip
    write_suite("model: m\ncases: [{id: a, turns: [{user: hi}]}]\n", "evals/a/chat.yaml")
    write_suite("model: m\ncases: [{id: a, turns: [{user: hi}]}]\n", "evals/b/chat.yaml")
    assert_bad_input(run(harness_cli, fake_server, tmp_path / "evals"), "suite name 'chat' is also used by ")


def test_missing_path(fake_server, harness_cli, write_suite):
    good = write_suite("model: m\ncases: [{id: a, turns: [{user: hi}]}]\n")
    assert_bad_input(run(harness_cli, fake_server, good, "evals/nope.yaml"),
                     "error: evals/nope.yaml: no such file or folder")  # fmt: skip


def test_folder_with_no_suites(fake_server, harness_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("model: m\n")
    assert_bad_input(run(harness_cli, fake_server, tmp_path / "empty"), "folder holds no *.yaml or *.yml suite files")


def test_no_model_anywhere(fake_server, harness_cli, write_suite):
    suite = write_suite("cases: [{id: a, turns: [{user: hi}]}]\n")
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:1:9: no model for case 'a': set `model:` in the suite or pass --model")  # fmt: skip
    r = run(harness_cli, fake_server, suite, extra=("--model", "from-flag"))
    assert r.code == 0, r.err
    assert fake_server.requests[0].body["model"] == "from-flag"


def test_model_flag_overrides_suite_and_case_models(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: suite-model
        cases:
          - id: a
            model: case-model
            turns: [{user: hi}]
    """)
    assert run(harness_cli, fake_server, suite).code == 0
    assert run(harness_cli, fake_server, suite, extra=("--model", "flag-model")).code == 0
    assert [req.body["model"] for req in fake_server.requests] == ["case-model", "flag-model"]


def test_typo_in_request_param(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
            params: {max_token: 10}
            turns: [{user: hi}]
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     "suite.yaml:4:14: unknown request parameter 'max_token' in case 'a'; did you mean 'max_tokens'?")  # fmt: skip


@pytest.mark.parametrize("key", ["model", "messages"])
def test_model_or_messages_inside_params(key, fake_server, harness_cli, write_suite):
    suite = write_suite(f"""
        model: m
        params:
          {key}: x
        cases: [{{id: a, turns: [{{user: hi}}]}}]
    """)
    assert_bad_input(run(harness_cli, fake_server, suite),
                     f"suite.yaml:3:3: `{key}` cannot be a param; set `{key}:` on the suite or case instead")  # fmt: skip


def test_stream_param_is_refused(fake_server, harness_cli, write_suite):
    suite = write_suite("model: m\nparams: {stream: true}\ncases: [{id: a, turns: [{user: hi}]}]\n")
    assert_bad_input(run(harness_cli, fake_server, suite), "suite.yaml:2:10: streaming is not supported; remove `stream`")
    suite = write_suite("model: m\nparams: {stream: false}\ncases: [{id: a, turns: [{user: hi}]}]\n")
    assert run(harness_cli, fake_server, suite).code == 0  # asking for no streaming is fine


def test_unknown_param_that_is_no_typo_is_sent_as_given(fake_server, harness_cli, write_suite):
    suite = write_suite("model: m\nparams: {top_k: 5}\ncases: [{id: a, turns: [{user: hi}]}]\n")
    assert run(harness_cli, fake_server, suite).code == 0
    assert fake_server.requests[0].body["top_k"] == 5


def test_errors_in_several_files_are_all_reported_sorted_by_file(fake_server, harness_cli, write_suite, tmp_path):
    write_suite("model: m\ncases: [{id: a, turns: [{user: hi, expect: [{contians: x}]}]}]\n", "evals/b.yaml")
    write_suite("model: m\ncases:\n  - id: a\n    trns: []\n", "evals/a.yaml")
    r = run(harness_cli, fake_server, tmp_path / "evals")
    assert_bad_input(r, "evals/a.yaml:4:5: unknown key 'trns'", "evals/b.yaml:2:46: unknown check 'contians'")
    assert r.err.index("evals/a.yaml") < r.err.index("evals/b.yaml")


def test_validate_reports_the_same_problems_without_a_server(harness_cli, write_suite):
    suite = write_suite("model: m\ncases: [{id: a, turns: [{user: hi, expcet: []}]}]\n")
    r = harness_cli("validate", suite)
    assert r.code == 2
    assert "suite.yaml:2:36: unknown key 'expcet' in turn 1 of case 'a'; did you mean 'expect'?" in r.err


# --- what a sound suite sends ----------------------------------------------------------


def test_case_vars_override_suite_vars_and_params_merge(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        params: {temperature: 0, max_tokens: 50}
        vars: {product: Acme Router, customer: Guest}
        system: "You support {{ product }}."
        cases:
          - id: default
            turns: [{user: "I am {{ customer }}"}]
          - id: override
            vars: {customer: Dana}
            params: {max_tokens: 10, seed: 3}
            turns: [{user: "I am {{ customer }}"}]
    """)
    assert run(harness_cli, fake_server, suite).code == 0
    bodies = {req.body["messages"][-1]["content"]: req.body for req in fake_server.requests}
    assert bodies["I am Guest"]["temperature"] == 0 and bodies["I am Guest"]["max_tokens"] == 50
    dana = bodies["I am Dana"]
    assert dana["messages"][0] == {"role": "system", "content": "You support Acme Router."}  # suite var still there
    assert (dana["temperature"], dana["max_tokens"], dana["seed"]) == (0, 10, 3)
    assert "seed" not in bodies["I am Guest"]  # case params do not leak into other cases


def test_case_system_replaces_suite_system(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        system: suite prompt
        cases:
          - id: a
            system: case prompt
            turns: [{user: hi}]
          - id: b
            turns: [{user: hi}]
    """)
    assert run(harness_cli, fake_server, suite).code == 0
    systems = sorted(req.body["messages"][0]["content"] for req in fake_server.requests)
    assert systems == ["case prompt", "suite prompt"]


def test_fixed_history_goes_between_system_and_turns(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        system: Be brief.
        vars: {name: Dana}
        cases:
          - id: a
            messages:
              - {role: user, content: "Hello, I am {{ name }}"}
              - {role: assistant, content: "Hi {{ name }}! Send me the text."}
            turns:
              - user: first
              - user: second
    """)
    assert run(harness_cli, fake_server, suite).code == 0
    first, second = (req.body["messages"] for req in fake_server.requests)
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello, I am Dana"},
        {"role": "assistant", "content": "Hi Dana! Send me the text."},
    ]
    assert first == [*history, {"role": "user", "content": "first"}]
    assert second == [*history, {"role": "user", "content": "first"}, {"role": "assistant", "content": "echo: first"},
                      {"role": "user", "content": "second"}]  # fmt: skip


def test_yml_extension_and_folder_discovery_skip_hidden_and_output_folders(fake_server, harness_cli, write_suite,
                                                                            tmp_path):  # fmt: skip
    write_suite("model: m\ncases: [{id: a, turns: [{user: from-yml}]}]\n", "evals/chat.yml")
    write_suite("broken: [\n", "evals/.hidden/x.yaml")
    write_suite("broken: [\n", "evals/reports/x.yaml")
    assert run(harness_cli, fake_server, tmp_path / "evals").code == 0
    assert [req.body["messages"][-1]["content"] for req in fake_server.requests] == ["from-yml"]


def test_single_yml_file(fake_server, harness_cli, write_suite):
    suite = write_suite("model: m\ncases: [{id: a, turns: [{user: hi}]}]\n", "one.yml")
    assert run(harness_cli, fake_server, suite).code == 0
    assert len(fake_server.requests) == 1


def test_yaml_anchors_and_merge_keys(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - &base
            id: cold
            params: &params {temperature: 0, max_tokens: 20}
            turns:
              - user: hello
                expect: &greeting
                  - contains: hello
          - <<: *base
            id: warm
            params:
              <<: *params
              temperature: 1
          - id: reuse
            turns:
              - user: hello again
                expect: *greeting
    """)
    r = run(harness_cli, fake_server, suite)
    assert r.code == 0, r.err
    sent = {req.body["messages"][-1]["content"] + "/" + str(req.body["temperature"] if "temperature" in req.body else "-"):
            req.body for req in fake_server.requests}  # fmt: skip
    assert set(sent) == {"hello/0", "hello/1", "hello again/-"}
    assert sent["hello/1"]["max_tokens"] == 20  # merged from the anchor; temperature overridden


def test_the_same_suite_loads_through_the_api():
    # load_suites is the public entry point the pytest plugin uses; it raises with every problem too
    from harness.core.problems import SuiteError

    with pytest.raises(SuiteError) as info:
        load_suites(["definitely/not/here.yaml"])
    assert [str(p) for p in info.value.problems] == ["definitely/not/here.yaml: no such file or folder"]


def test_alias_bomb_is_refused_quickly(harness_cli, tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefg", "bcdefgh"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("cases: *h")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    r = harness_cli("validate", path)
    assert r.code == 2
    assert "expands to more than 1,000,000 values" in r.err and "bomb.yaml:" in r.err


def test_message_content_that_yaml_reads_as_a_date_is_bad_input(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
            messages:
              - {role: user, content: 2024-01-01}
            turns: [{user: hi}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url)
    assert r.code == 2
    assert "suite.yaml:5:31: `content` of a user message in case 'a' must be text (quote it" in r.err
    assert fake_server.requests == []
