"""Templates: strict about missing variables, sandboxed, and every error found before any request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.peak_memory import run_harness

from harness.suites.templating import TemplateProblem, render

REPO = Path(__file__).resolve().parent.parent


def run(harness_cli, fake_server, suite, *extra):
    return harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", *extra)


def one_turn(user: str, vars_line: str = "vars: {}") -> str:
    """A suite whose only user message is ``user`` (line 6, value at column 15)."""
    return f"""
        model: m
        {vars_line}
        cases:
          - id: greet
            turns:
              - user: {user}
    """


# --- render() ----------------------------------------------------------------------


def test_render_substitutes_variables_and_filters():
    assert render("Hi {{ name | upper }}, {{ items | join(', ') }}", {"name": "dana", "items": ["a", "b"]}) == "Hi DANA, a, b"
    assert render("{% for x in items %}[{{ x }}]{% endfor %}", {"items": [1, 2]}) == "[1][2]"


def test_text_without_template_syntax_is_returned_untouched():
    text = "Reply with JSON like {\"a\": {}} and } or { alone"
    assert render(text, {}) == text


def test_trailing_newline_is_kept():
    assert render("Hello {{ x }}\n", {"x": "there"}) == "Hello there\n"


def test_missing_variable_is_an_error_not_an_empty_string():
    with pytest.raises(TemplateProblem, match="'customer' is undefined; define it under `vars:`"):
        render("Hi {{ customer }}", {})


def test_missing_attribute_of_a_variable_is_an_error():
    with pytest.raises(TemplateProblem, match="has no attribute 'email'"):
        render("Mail {{ user.email }}", {"user": {"name": "Dana"}})


def test_default_filter_is_the_explicit_way_to_make_a_variable_optional():
    assert render("Hi {{ customer | default('there') }}", {}) == "Hi there"
    with pytest.raises(TemplateProblem):
        render("Hi {{ customer ~ '!' }}", {})


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ joiner.__init__.__globals__.__builtins__ }}",
        "{{ ''|attr('__class__') }}",
        "{{ x.__class__ }}",
    ],
)
def test_sandbox_blocks_unsafe_access(source):
    with pytest.raises(TemplateProblem, match="template tried an unsafe operation: access to attribute '__"):
        render(source, {"x": 1})


@pytest.mark.parametrize("source", ["{% include 'secret.txt' %}", "{% import 'secret.txt' as s %}{{ s }}",
                                    "{% extends 'secret.txt' %}", "{% from 'secret.txt' import x %}"])  # fmt: skip
def test_templates_cannot_read_files(source, tmp_path, monkeypatch):
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TemplateProblem) as info:
        render(source, {})
    assert "TOP-SECRET" not in str(info.value)
    assert str(info.value) == "templates cannot include, import or extend files; put shared text in `vars:`"


def test_syntax_errors_say_what_and_where_in_the_template():
    with pytest.raises(TemplateProblem, match=r"template syntax error: .*'end of print statement'.*\(template line 2\)"):
        render("line one\n{{ name ", {"name": "x"})
    with pytest.raises(TemplateProblem, match=r"unknown tag 'endfor'|Encountered unknown tag 'endfor'"):
        render("{% endfor %}", {})


def test_runtime_errors_inside_templates_are_reported_not_raised():
    with pytest.raises(TemplateProblem, match="template failed: ZeroDivisionError"):
        render("{{ 1 / 0 }}", {})
    with pytest.raises(TemplateProblem, match="No filter named 'shout'"):
        render("{{ 'x' | shout }}", {})


def test_huge_ranges_are_refused_by_the_sandbox():
    with pytest.raises(TemplateProblem, match="Range too big"):
        render("{% for i in range(10**9) %}{% endfor %}", {})


# Each of these built a huge value (or ran for minutes) inside the sandbox on main: `'a' * 1000000000` took 13 s and
# 3.9 GB to validate. Bounded, each is refused before it allocates.
TOO_BIG = [
    "{{ 'a' * 1000000000 }}", "{{ 'a' * 50000000 }}", "{{ ['a'] * 1000000000 }}", "{{ 'a' | center(1000000000) }}",
    "{{ 'a'.ljust(1000000000) }}", "{{ '%1000000000s' % 'a' }}", "{{ '%*s' % (1000000000, 'a') }}",
    "{{ '{:>1000000000}'.format('a') }}", "{{ '{:>{w}}'.format('a', w=1000000000) }}",
    "{{ '%1000000000s' | format('a') }}", "{{ ('x' * 900000) | replace('x', 'yy') }}",
    "{{ ('x' * 900000).replace('x', 'yy') }}", "{{ ('x' * 2000) | join('y' * 1000) }}",
    "{{ ('\\t' * 100000).expandtabs(100) }}", "{{ ('a\\n' * 1000) | indent(1000000) }}",
    "{{ [1] | batch(1000000000, 'x') | list }}", "{{ lipsum(100000) }}",
    "{% set a = 'x' * 900000 %}{% set b = a ~ a %}{{ b ~ b }}",
    "{% set a = 'x' * 900000 %}{{ (a + a) + (a + a) }}",
    "{% for i in range(100000) %}{{ 'abcdefghijk' }}{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "{{ 2 ** 1000000 }}",
]  # fmt: skip


@pytest.mark.parametrize("source", TOO_BIG)
def test_templates_are_bounded_in_size_and_time(source):
    with pytest.raises(TemplateProblem, match=r"^template too big: .*(over the limit of 1,000,000|more than 1,000,000 "
                                              r"times|more than 2 s to render|number too large)"):  # fmt: skip
        render(source, {})


def test_ordinary_templates_are_untouched_by_the_bounds():
    source = ("{{ '%5s|%-3d' % ('a', 7) }} {{ '{:>5}'.format('b') }} {{ 'a' | center(9) }} {{ [1, 2] | join(',') }} "
              "{{ 'ab' ~ 'cd' }} {% for i in range(3) %}{{ i }}{% endfor %} {{ 2 ** 10 }} {{ 'x' * 3 }} {{ x | upper }}")
    assert render(source, {"x": "dana"}) == "    a|7       b     a     1,2 abcd 012 1024 xxx DANA"
    assert len(render("{{ 'a' * 1000000 }}", {})) == 1_000_000  # the limit itself is allowed


def test_a_huge_template_is_a_fast_exit_2_with_little_memory(write_suite, tmp_path):
    """The issue's reproduction, as a real process: exit 2 naming the file, line and limit; no gigabytes."""
    suite = write_suite(one_turn("\"{{ 'a' * 1000000000 }}\""))
    code, stderr, peak_mb = run_harness(["validate", str(suite)], tmp_path)
    assert code == 2, stderr
    assert "suite.yaml:6:15: template too big: a repetition would be 1,000,000,000 characters" in stderr
    assert "(in case 'greet')" in stderr and "Traceback" not in stderr
    assert peak_mb < 400, f"peak memory {peak_mb:.0f} MB"  # main: 3.9 GB


def test_a_template_that_would_send_50_mb_is_not_sent(fake_server, harness_cli, write_suite):
    suite = write_suite(one_turn("\"{{ 'a' * 50000000 }}\""))
    r = run(harness_cli, fake_server, suite)
    assert r.code == 2
    assert "suite.yaml:6:15: template too big: a repetition would be 50,000,000 characters" in r.err
    assert fake_server.requests == []


# --- through the CLI: load-time errors, exit 2, nothing sent ---------------------------------


def test_missing_variable_names_variable_case_and_file(fake_server, harness_cli, write_suite):
    suite = write_suite(one_turn('"Hi {{ customer }}"'))
    r = run(harness_cli, fake_server, suite)
    assert r.code == 2
    assert ("error: suite.yaml:6:15: template variable error: 'customer' is undefined; "
            "define it under `vars:` in the case or suite (in case 'greet')") in r.err  # fmt: skip
    assert fake_server.requests == []


def test_variable_defined_in_another_case_does_not_count(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        system: "Helping {{ customer }}"
        cases:
          - id: has-it
            vars: {customer: Dana}
            turns: [{user: hi}]
          - id: lacks-it
            turns: [{user: hi}]
    """)
    r = run(harness_cli, fake_server, suite)
    assert r.code == 2
    assert "suite.yaml:2:9: template variable error: 'customer' is undefined" in r.err
    assert "(in case 'lacks-it')" in r.err and "has-it" not in r.err
    assert fake_server.requests == []  # the good case is not run either


@pytest.mark.parametrize("source", ["{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__ }}"])
def test_unsafe_template_is_a_load_time_error(source, fake_server, harness_cli, write_suite):
    suite = write_suite(one_turn(f'"{source}"'))
    r = run(harness_cli, fake_server, suite)
    assert r.code == 2
    assert "error: suite.yaml:6:15: template tried an unsafe operation: access to attribute" in r.err
    assert "is unsafe. (in case 'greet')" in r.err
    assert fake_server.requests == []


def test_include_reads_only_inside_the_project(fake_server, harness_cli, write_suite, tmp_path):
    (tmp_path.parent / f"{tmp_path.name}-secret.txt").write_text("TOP-SECRET")
    suite = write_suite(one_turn(f"\"{{% include '../{tmp_path.name}-secret.txt' %}}\""))
    r = run(harness_cli, fake_server, suite)
    assert r.code == 2
    assert "suite.yaml:6:15: the included file path" in r.err and "leads outside the project" in r.err
    assert "TOP-SECRET" not in r.err + r.out
    assert fake_server.requests == []


def test_syntax_error_in_a_block_scalar_reports_the_file_position(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: letter
            turns:
              - user: |
                  Dear {{ name }},
                  {% if vip %}Thanks for being a VIP.
                  Regards
    """)
    r = run(harness_cli, fake_server, suite, "--model", "m")
    assert r.code == 2
    assert "suite.yaml:5:15: template syntax error: " in r.err
    assert "'endif'" in r.err and "(in case 'letter')" in r.err
    assert fake_server.requests == []


def test_template_errors_in_every_place_are_all_reported(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        system: "{{ a }}"
        cases:
          - id: x
            messages:
              - {role: user, content: "{{ b }}"}
            turns:
              - user: "{{ c }}"
              - user: "{{ d"
    """)
    r = run(harness_cli, fake_server, suite)
    assert r.code == 2
    for expected in ("suite.yaml:2:9: template variable error: 'a' is undefined",
                     "suite.yaml:6:31: template variable error: 'b' is undefined",
                     "suite.yaml:8:15: template variable error: 'c' is undefined",
                     "suite.yaml:9:15: template syntax error"):  # fmt: skip
        assert expected in r.err
    assert "4 problems found; nothing was sent." in r.err
    assert fake_server.requests == []


def test_vars_may_hold_structured_values(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        vars:
          order: {id: 42, items: [router, cable]}
        cases:
          - id: a
            turns:
              - user: "Order {{ order.id }}: {{ order['items'] | join(' and ') }}"
    """)
    assert run(harness_cli, fake_server, suite).code == 0
    assert fake_server.requests[0].body["messages"][-1]["content"] == "Order 42: router and cable"


def test_check_arguments_are_rendered_with_the_case_vars(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        model: m
        vars: {greeting: hello}
        cases:
          - id: dana
            vars: {customer: Dana}
            turns:
              - user: "Hi, I'm {{ customer }}"
                expect:
                  - contains: "{{ customer }}"
                  - contains_all: ["{{ customer }}", "Hi"]
                  - not_contains: "{{ greeting }}"
              - user: "x"
                expect: [{contains: "{{ nobody }}"}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 2  # the undefined variable in a check is found before anything is sent
    assert "'nobody' is undefined" in r.err and fake_server.requests == []
    suite.write_text(suite.read_text().replace('{contains: "{{ nobody }}"}', '{contains: "x"}'))
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.out
    checks = json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"][0]["turns"][0]["checks"]
    assert [c["expected"] for c in checks[:3]] == ["Dana", ["Dana", "Hi"], "hello"]


def test_a_misspelt_variable_gets_a_did_you_mean(fake_server, harness_cli, write_suite):
    suite = write_suite(one_turn('"Hi {{ nmae }}"', "vars: {name: Dana, product: Router}"))
    r = run(harness_cli, fake_server, suite)
    assert r.code == 2
    assert ("error: suite.yaml:6:15: template variable error: 'nmae' is undefined; did you mean 'name'? "
            "(in case 'greet')") in r.err  # fmt: skip
    assert fake_server.requests == []
