"""Suite loading: every mistake is reported with file:line:column and a fix, before anything is sent."""

from __future__ import annotations

import textwrap
from typing import NamedTuple

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


# --- one mistake at a time: one row per mistake ---------------------------------------


class OnDisk(NamedTuple):
    """Files written as given (no dedent) under the test's folder, and the paths handed to `harness run`."""

    files: dict[str, str | bytes]
    args: tuple[str, ...]


def verbatim(content: str | bytes, name: str = "suite.yaml") -> OnDisk:
    return OnDisk({name: content}, (name,))


def bad(suite: str | OnDisk, *expected: str, id: str):
    """A row: a suite (YAML text, dedented into suite.yaml, or files on disk) and every fragment stderr must hold."""
    return pytest.param(suite, expected, id=id)


GOOD = "model: m\ncases: [{id: a, turns: [{user: hi}]}]\n"

BAD_SUITES = [
    # the file itself: YAML syntax, encoding, shape, duplicate keys
    bad("""
        model: m
        cases:
          - id: a
            turns: [{user: hi}
          - id: b
    """, "suite.yaml:5:3: invalid YAML: ", id="yaml-unparsable"),
    bad(verbatim("model: m\ncases:\n\t- id: a\n", "tabs.yaml"), "tabs.yaml:3:1: invalid YAML: ", id="yaml-tab-in-any-file"),
    bad(verbatim("model: m\ncases:\n\t- id: a\n"),
        "error: suite.yaml:3:1: invalid YAML: found character '\\t' that cannot start any token; "
        "YAML does not allow tabs for indentation; use spaces\n", id="yaml-tab"),
    bad(verbatim("model: m\ncases:\n  - id: a\n    turns:\n      - user: hi\n     - user: bye\n"),
        "error: suite.yaml:6:6: invalid YAML: expected <block end>, but found '<block sequence start>'; "
        "check the indentation of this line and the one above\n", id="yaml-dedented-item"),
    bad(verbatim("suite: x\n  model: m\ncases: []\n"),
        "error: suite.yaml:2:8: invalid YAML: mapping values are not allowed here; "
        "check the indentation of this line and the one above\n", id="yaml-indented-key"),
    bad(verbatim("model: m\ncases:\n  - id: a\n    turns:\n      - user: Note: the router is new\n"),
        "error: suite.yaml:5:19: invalid YAML: mapping values are not allowed here; "
        "quote the value: a value starting with { or containing ': ' must be quoted\n", id="yaml-colon-in-value"),
    bad(verbatim("model: m\ncases:\n  - id: a\n    turns:\n      - user: {{ name }} says hi\n"),
        "error: suite.yaml:5:26: invalid YAML: expected <block end>, but found '<scalar>'; "
        "quote the value: a value starting with { or containing ': ' must be quoted\n", id="yaml-template-then-text"),
    bad(verbatim("model: m\nvars: {name: Dana}\ncases:\n  - id: a\n    turns:\n      - user: {{ name }}\n"),
        "error: suite.yaml:6:16: a mapping key must be a plain value; "
        "quote the value: a value starting with { or containing ': ' must be quoted\n", id="yaml-template-alone"),
    bad(verbatim("model: m\ncases:\n  - id: caf\u00e9\n".encode("latin-1"), "latin1.yaml"),
        "latin1.yaml:3:1: file is not valid UTF-8 text; save it as UTF-8", id="not-utf8"),
    *[bad(verbatim(text, "odd.yaml"), "odd.yaml:1:1: a suite file must be a YAML mapping with a `cases:` list",
          id=f"not-a-mapping-{name}")
      for name, text in [("empty-file", ""), ("only-a-comment", "# only a comment\n"),
                         ("a-list", "- id: a\n  turns: [{user: hi}]\n"), ("a-string", "just a string\n")]],
    bad("""
        model: m
        model: n
        params: {temperature: 0, temperature: 1}
        cases:
          - id: a
            turns:
              - user: hi
                expect:
                  - {contains: a, contains: b}
    """, "suite.yaml:2:1: duplicate key 'model'; the later value would silently win, so remove one",
         "suite.yaml:3:26: duplicate key 'temperature' in `params`",
         "suite.yaml:9:27: duplicate key 'contains' in `cases[0].turns[0].expect[0]`", id="duplicate-yaml-keys-anywhere"),
    # suite-level keys: cases, model, params
    bad("model: m\n", "suite.yaml:1:1: the suite has no `cases:` list; add", id="suite-without-cases"),
    bad("cases: [{id: a, turns: [{user: hi}]}]\n",
        "suite.yaml:1:9: no model for case 'a': set `model:` in the suite or pass --model", id="no-model-anywhere"),
    bad("""
        model: m
        params: [temperature, 0]
        cases: [{id: a, turns: [{user: hi}]}]
    """, "suite.yaml:2:9: `params` in the suite must be a mapping of request parameters, got a list",
         id="params-is-a-list"),
    bad("""
        model: m
        cases:
          - id: a
            params: {max_token: 10}
            turns: [{user: hi}]
    """, "suite.yaml:4:14: unknown request parameter 'max_token' in case 'a'; did you mean 'max_tokens'?",
         id="param-typo-did-you-mean"),
    *[bad(f"""
        model: m
        params:
          {key}: x
        cases: [{{id: a, turns: [{{user: hi}}]}}]
    """, f"suite.yaml:3:3: `{key}` cannot be a param; set `{key}:` on the suite or case instead", id=f"{key}-inside-params")
      for key in ("model", "messages")],
    bad("model: m\nparams: {stream: yes please}\ncases: [{id: a, turns: [{user: hi}]}]\n",
        "suite.yaml:2:18: `stream` in the suite must be true or false, got 'yes please'", id="stream-param"),
    # cases
    bad("""
        model: m
        cases:
          - greet the user
    """, "suite.yaml:3:5: case 1 must be a mapping with `id` and `turns`, got str 'greet the user'",
         id="case-is-a-string"),
    bad("""
        model: m
        cases:
          - turns: [{user: one}]
    """, "suite.yaml:3:5: case 1 needs an `id:` (a non-empty string)", id="case-without-id"),
    bad("""
        model: m
        cases:
          - id: same
            turns: [{user: one}]
          - id: same
            turns: [{user: two}]
    """, "suite.yaml:5:5: duplicate case id 'same' (first used at line 3); case ids must be unique",
         id="duplicate-case-ids"),
    bad("""
        model: m
        cases:
          - id: a
            varz: {x: 1}
            turns: [{user: hi}]
    """, "suite.yaml:4:5: unknown key 'varz' in case 'a'; did you mean 'vars'?", id="unknown-case-key-did-you-mean"),
    bad("""
        model: m
        cases:
          - id: a
    """, "suite.yaml:3:5: case 'a' has no `turns:`; add at least one turn with a `user:` message",
         id="case-without-turns"),
    *[bad(f"""
        model: m
        cases:
          - id: a
            {turns}
    """, "`turns` in case 'a' must be a non-empty list of turns", id=f"empty-turns-{name}")
      for name, turns in [("list", "turns: []"), ("null", "turns:")]],
    # turns and their checks
    bad("""
        model: m
        cases:
          - id: a
            turns:
              - expect: [{contains: x}]
    """, "suite.yaml:5:9: turn 1 of case 'a' has no `user:` message; add `user: <what the user says>`",
         id="turn-without-user"),
    bad("""
        model: m
        cases:
          - id: a
            turns:
              - user:
                expect: [{contains: x}]
    """, "suite.yaml:5:14: `user` in turn 1 of case 'a' is empty; write the user's message after `user:`",
         id="turn-with-empty-user"),
    bad("""
        model: m
        cases:
          - id: a
            turns:
              - user: hi
                expect: {contains: hello}
    """, "suite.yaml:6:17: `expect` in turn 1 of case 'a' must be a list of checks, e.g. `- contains: hello`",
         id="expect-is-not-a-list"),
    bad("""
        model: m
        cases:
          - id: a
            turns:
              - user: hi
                expect:
                  - contains hello
    """, "suite.yaml:7:13: each check in turn 1 of case 'a' must be a one-key mapping like "
         "`- contains: hello`, got str 'contains hello'", id="check-is-a-string"),
    bad("""
        model: m
        cases:
          - id: a
            turns:
              - user: hi
                expect:
                  - contains: hello
                    icontains: world
    """, "suite.yaml:7:13: each check in turn 1 of case 'a' must be a one-key mapping", id="check-with-two-keys"),
    bad("""
        model: m
        cases: [{id: a, turns: [{user: hi, expect: [{sentiment: positive}]}]}]
    """, "suite.yaml:2:46: unknown check 'sentiment' in turn 1 of case 'a'; run `harness checks` to list them",
         id="unknown-check-without-a-close-match"),
    bad("""
        model: m
        cases: [{id: a, turns: [{user: hi, expect: [{not_contain: sorry}]}]}]
    """, "did you mean 'not_contains'?", id="negated-check-did-you-mean"),
    # fixed history
    bad("""
        model: m
        cases:
          - id: a
            messages:
              - {role: bot, content: hi}
            turns: [{user: hi}]
    """, "suite.yaml:5:16: message role must be one of assistant, developer, system, tool, user, got 'bot'",
         id="bad-message-role"),
    bad("""
        model: m
        cases:
          - id: a
            messages:
              - {role: user, content: 2024-01-01}
            turns: [{user: hi}]
    """, "suite.yaml:5:31: `content` of a user message in case 'a' must be text (quote it",
         id="message-content-read-as-a-date"),
    # the paths given to `harness run`
    bad(OnDisk({"evals/one.yaml": "suite: support\nmodel: m\ncases: [{id: a, turns: [{user: hi}]}]\n",
                "evals/two.yaml": "suite: support\nmodel: m\ncases: [{id: b, turns: [{user: hi}]}]\n"}, ("evals",)),
        "evals/two.yaml:1:1: suite name 'support' is also used by ", "one.yaml", "suite names must be unique",
        id="duplicate-suite-names-across-files"),
    bad(OnDisk({"evals/a/chat.yaml": GOOD, "evals/b/chat.yaml": GOOD}, ("evals",)),
        "suite name 'chat' is also used by ", id="suite-name-defaults-to-the-file-stem-so-two-chat-yaml-clash"),
    bad(OnDisk({"suite.yaml": GOOD}, ("suite.yaml", "evals/nope.yaml")),
        "error: evals/nope.yaml: no such file or folder", id="missing-path"),
    bad(OnDisk({"empty/notes.txt": "model: m\n"}, ("empty",)),
        "folder holds no *.yaml or *.yml suite files", id="folder-with-no-suites"),
]  # fmt: skip


@pytest.mark.parametrize("suite, expected", BAD_SUITES)
def test_a_bad_suite_exits_2_with_its_location_and_fix_and_sends_nothing(suite, expected, fake_server, harness_cli,
                                                                           tmp_path):  # fmt: skip
    on_disk = suite if isinstance(suite, OnDisk) else verbatim(textwrap.dedent(suite).lstrip())
    for name, content in on_disk.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    assert_bad_input(run(harness_cli, fake_server, *on_disk.args), *expected)


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


def test_the_model_flag_supplies_a_model_the_suite_lacks(fake_server, harness_cli, write_suite):
    suite = write_suite("cases: [{id: a, turns: [{user: hi}]}]\n")  # no model: the row no-model-anywhere above
    r = run(harness_cli, fake_server, suite, extra=("--model", "from-flag"))
    assert r.code == 0, r.err
    assert fake_server.requests[0].body["model"] == "from-flag"


def test_asking_for_no_streaming_is_fine(fake_server, harness_cli, write_suite):
    suite = write_suite("model: m\nparams: {stream: false}\ncases: [{id: a, turns: [{user: hi}]}]\n")
    assert run(harness_cli, fake_server, suite).code == 0  # a `stream` that is not a boolean: the row stream-param


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
    assert "YAML aliases expand this document by more than 1,000,000 values" in r.err and "bomb.yaml:" in r.err


def test_a_100000_case_suite_validates_and_an_alias_bomb_of_as_many_values_does_not(harness_cli, tmp_path):
    # Issue #19: the guard counted every value, so a big plain suite (2.7 million values) was refused
    # as an alias bomb; it now counts what aliases add. The suite is the benchmarks' generated workload.
    from benchmarks.workload import suite_yaml

    (tmp_path / "big.yaml").write_text(suite_yaml(100_000, name="big"))
    r = harness_cli("validate", "big.yaml")
    assert r.code == 0, r.err[-2000:]
    assert "1 suite, 100,000 cases, 100,000 turns" in r.out
    # about as many values (30 to the 5th), nearly all of them added by aliases: still refused
    lines = ["a: &a [" + ", ".join(["x"] * 30) + "]"]
    for prev, name in zip("abcd", "bcde"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 30) + "]")
    lines.append("cases: [{id: a, turns: [{user: hi}]}]")
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    r = harness_cli("validate", "bomb.yaml")
    assert r.code == 2
    assert "error: bomb.yaml:" in r.err and "YAML aliases expand this document by more than 1,000,000 values" in r.err


def test_the_alias_limit_counts_only_what_aliases_add(monkeypatch):
    from harness.core import yaml_positions
    from harness.core.yaml_positions import YamlSyntaxError, load_yaml

    monkeypatch.setattr(yaml_positions, "MAX_ALIAS_VALUES", 100)
    own = "items: [" + ", ".join(f"v{i}" for i in range(1000)) + "]\n"
    assert len(load_yaml(own, "plain.yaml")["items"]) == 1000  # 1,000 values of its own: no limit
    # an anchor sends the document down the node path: its own values are still free, 50 added ones fit
    small = own + "short: &s [" + ", ".join(["x"] * 49) + "]\nagain: *s\n"
    data = load_yaml(small, "anchored.yaml")
    assert len(data["items"]) == 1000 and data["again"] == ["x"] * 49
    # ...but 200 added ones do not
    big = own + "long: &l [" + ", ".join(["x"] * 199) + "]\nagain: *l\n"
    with pytest.raises(YamlSyntaxError) as info:
        load_yaml(big, "anchored.yaml")
    assert "YAML aliases expand this document by more than 100 values" in info.value.message


@pytest.mark.parametrize(
    ("check", "column", "message"),
    [
        ("tool_call: {nme: get_weather}", 25,
         "unknown key 'nme' in check `tool_call` in turn 1 of case 'a'; did you mean 'name'?"),
        ("json_path: {pth: $.city, equals: Paris}", 25,
         "unknown key 'pth' in check `json_path` in turn 1 of case 'a'; did you mean 'path'?"),
        ("llm_rubric: {rubrik: Is polite}", 26,
         "unknown key 'rubrik' in check `llm_rubric` in turn 1 of case 'a'; did you mean 'rubric'?"),
    ],
)  # fmt: skip
def test_a_misspelt_check_argument_key_gets_a_did_you_mean_at_the_key(check, column, message, fake_server,
                                                                      harness_cli, write_suite):  # fmt: skip
    suite = write_suite(f"""
        model: m
        grader: {{model: m}}
        cases:
          - id: a
            turns:
              - user: hi
                expect:
                  - {check}
    """)
    r = run(harness_cli, fake_server, suite)
    assert_bad_input(r, f"error: suite.yaml:8:{column}: {message}")


@pytest.mark.parametrize("yaml_text, where", [
    ("model: m\nparams: {temperature: .nan}\ncases: [{id: a, turns: [{user: hi}]}]\n", "2:23: `params.temperature` is .nan"),
    ("model: m\ncases: [{id: a, params: {top_p: .inf}, turns: [{user: hi}]}]\n", "2:33: `cases[0].params.top_p` is .inf"),
    ("model: m\ncases: [{id: a, turns: [{user: hi, expect: [{latency_ms: -.inf}]}]}]\n",
     "2:58: `cases[0].turns[0].expect[0].latency_ms` is -.inf"),
    ("model: m\nbudget: {max_cost_usd: 1.0e+999}\ncases: [{id: a, turns: [{user: hi}]}]\n",
     "2:24: `budget.max_cost_usd` is .inf"),
    ("model: m\nretry: {timeout: .NaN}\nvars: {x: [1, .Inf]}\ncases: [{id: a, turns: [{user: hi}]}]\n",
     "2:18: `retry.timeout` is .nan"),
])  # fmt: skip
def test_non_finite_numbers_anywhere_are_exit_2_with_the_location(yaml_text, where, fake_server, harness_cli,
                                                                  write_suite):  # fmt: skip
    """`temperature: .nan` passed validate, then the run exited 3 with "internal error: ValueError"."""
    suite = write_suite(yaml_text)
    assert_bad_input(run(harness_cli, fake_server, suite), f"error: suite.yaml:{where}, which is not a finite number")
    r = harness_cli("validate", suite)
    assert r.code == 2 and f"suite.yaml:{where}" in r.err and "Traceback" not in r.err
    if "retry" in yaml_text:
        assert "`vars.x[1]` is .inf" in r.err  # every one of them, at once
        assert r.err.count("suite.yaml:2:18:") == 1  # one problem per value, not also "must be a number"
