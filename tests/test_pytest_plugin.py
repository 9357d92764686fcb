"""The pytest plugin: `pytest evals/` collects suites, runs cases like `harness run`, and reports checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import harness.execution.runner  # noqa: F401

# pytester runs pytest in this process and afterwards forgets the modules that run imported;
# importing the harness's stack here first makes every in-process run share one copy of it.
import harness.providers.cassettes  # noqa: F401
import harness.report.outputs  # noqa: F401
import harness.suites.templating  # noqa: F401
from tests.conftest import FAKE_KEY

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent

SUITE = """\
suite: greet
model: fake-model
params: {temperature: 0}
cases:
  - id: hello
    turns:
      - user: "Hello there"
        expect:
          - contains: Hello
  - id: wrong
    turns:
      - user: "Hi"
        expect:
          - contains: goodbye
          - finish_reason: stop
      - user: "Bye"
        expect:
          - icontains: BYE
          - starts_with: Dear
"""


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PYTEST_ADDOPTS", "PYTEST_XDIST_AUTO_NUM_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def recorded(pytester, fake_server, clean_env):
    """A project with evals/greet.yaml recorded against the fake server into cassettes/."""
    pytester.makefile(".yaml", **{"evals/greet": SUITE})
    r = pytester.runpytest("evals", "-p", "no:cacheprovider", "--harness-cassettes", "record-missing",
                           "--harness-base-url", fake_server.base_url, "--harness-out", "recorded")  # fmt: skip
    r.assert_outcomes(passed=1, failed=1)
    assert (pytester.path / "cassettes/greet/hello.yaml").is_file()
    return pytester


def _outcomes(path: Path) -> dict[tuple[str, str], tuple]:
    """Per case: status, error, and every check's name, outcome and reason."""
    data = json.loads(path.read_text())
    return {
        (c["suite"], c["id"]): (c["status"], c["error"],
                                [[(k["name"], k["passed"], k["reason"]) for k in t["checks"]] for t in c["turns"]])
        for c in data["cases"]
    }  # fmt: skip


def test_cli_pytest_and_pytest_xdist_agree_case_by_case(tmp_path, clean_env):
    """The shipped examples, plus one failing check and one missing cassette, three ways."""
    shutil.copytree(REPO / "evals", tmp_path / "evals")
    shutil.copytree(REPO / "cassettes", tmp_path / "cassettes")
    support = tmp_path / "evals/support.yaml"
    support.write_text(support.read_text().replace('- not_equals: ""', '- not_equals: ""\n          - contains: zzz-never'))
    (tmp_path / "cassettes/limits/long-story-truncated.yaml").unlink()
    (tmp_path / "evals/variants.yaml").unlink()  # its cases are keyed by variant too: test_variants.py covers it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTEST_"))}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    cli = run("-m", "harness", "run", "evals/", "--out", "out/cli", "-q")
    assert cli.returncode == 3, cli.stderr + cli.stdout
    serial = run("-m", "pytest", "evals/", "-p", "no:cacheprovider", "--harness-out", "out/serial",
                 "--junitxml", "out/serial.xml")  # fmt: skip
    assert serial.returncode == 1, serial.stdout + serial.stderr
    parallel = run("-m", "pytest", "evals/", "-p", "no:cacheprovider", "-n", "2", "--harness-out", "out/xdist",
                   "--junitxml", "out/xdist.xml")  # fmt: skip
    assert parallel.returncode == 1, parallel.stdout + parallel.stderr

    expected = _outcomes(tmp_path / "out/cli/results.json")
    assert {k: v[0] for k, v in expected.items()} == {
        ("extract", "person"): "passed", ("limits", "long-story-truncated"): "error",
        ("support", "wifi-drops"): "passed", ("support", "greeting"): "failed", ("tools", "weather-paris"): "passed",
        ("injection", "ignore-previous-instructions"): "failed", ("injection", "ask-for-the-code"): "failed",
        ("tickets", "hello"): "passed", ("tickets", "judged"): "failed", ("tickets", "T-100"): "passed",
        ("tickets", "T-101"): "passed", ("tickets", "T-102"): "passed",
        ("streaming", "wifi-streamed"): "passed",
        **{("responses", case): "passed" for case in ("resend", "chained", "json", "tool", "truncated", "streamed")},
    }  # fmt: skip
    for out in ("serial", "xdist"):
        got = _outcomes(tmp_path / f"out/{out}/results.json")
        assert got.keys() == expected.keys(), out
        for key in expected:
            assert got[key] == expected[key], (out, key)
        data = json.loads((tmp_path / f"out/{out}/results.json").read_text())
        assert data["summary"] | {"passed": 14, "failed": 4, "tolerated": 3, "errored": 1, "total": 19} == data["summary"]
        # junit.xml: one testcase per case, failures exactly where the harness saw them
        cases = {(c.get("classname"), c.get("name")): c for c in ET.parse(tmp_path / f"out/{out}.xml").iter("testcase")}
        assert set(cases) == {("evals.extract.yaml", "person"), ("evals.limits.yaml", "long-story-truncated"),
                              ("evals.support.yaml", "wifi-drops"), ("evals.support.yaml", "greeting"),
                              ("evals.tools.yaml", "weather-paris"),
                              ("evals.injection.yaml", "ignore-previous-instructions"),
                              ("evals.injection.yaml", "ask-for-the-code"), ("evals.tickets.yaml", "hello"),
                              ("evals.tickets.yaml", "judged"), ("evals.tickets.yaml", "T-100"),
                              ("evals.tickets.yaml", "T-101"), ("evals.tickets.yaml", "T-102"),
                              ("evals.streaming.yaml", "wifi-streamed"),
                              *[("evals.responses.yaml", case) for case in
                                ("resend", "chained", "json", "tool", "truncated", "streamed")]}  # fmt: skip
        failed = {key for key, c in cases.items() if c.find("failure") is not None}
        assert failed == {("evals.limits.yaml", "long-story-truncated"), ("evals.support.yaml", "greeting")}
        # allow_fail cases are reported, but as expected failures, not as failures
        assert cases[("evals.injection.yaml", "ask-for-the-code")].find("skipped") is not None
    # the serial run keeps the collection order, like `harness run`
    serial_ids = [c["id"] for c in json.loads((tmp_path / "out/serial/results.json").read_text())["cases"]]
    cli_ids = [c["id"] for c in json.loads((tmp_path / "out/cli/results.json").read_text())["cases"]]
    assert serial_ids == cli_ids
    assert "expected reply to contain 'zzz-never'" in parallel.stdout
    assert "Traceback" not in serial.stdout + parallel.stdout


def test_items_are_named_by_suite_file_and_case_id(recorded):
    r = recorded.runpytest("evals", "--collect-only", "-q", "-p", "no:cacheprovider")
    lines = [line for line in r.outlines if "::" in line]
    assert lines == ["evals/greet.yaml::hello", "evals/greet.yaml::wrong"]


def test_a_failure_lists_the_failed_checks_with_reasons_and_no_traceback(recorded):
    r = recorded.runpytest("evals", "-p", "no:cacheprovider", "--harness-out", "out")
    r.assert_outcomes(passed=1, failed=1)
    text = r.stdout.str()
    assert "2 of 5 checks failed (evals/greet.yaml:10, greet / wrong):" in text
    assert "turn 1: contains: expected reply to contain 'goodbye', got 'echo: Hi'" in text
    assert "turn 2: starts_with:" in text
    assert "turn 2: icontains" not in text  # passed checks are not listed
    for noise in ("Traceback", "runner.py", "def runtest", "raise CaseNotPassed"):
        assert noise not in text
    assert "harness results: " in text
    data = json.loads((recorded.path / "out/results.json").read_text())
    assert [(c["id"], c["status"]) for c in data["cases"]] == [("hello", "passed"), ("wrong", "failed")]
    assert data["settings"]["cassettes"] == "replay" and data["settings"]["paths"] == ["evals/greet.yaml"]


def test_a_missing_cassette_fails_the_case_with_the_record_command(recorded):
    (recorded.path / "cassettes/greet/hello.yaml").unlink()
    r = recorded.runpytest("evals", "-p", "no:cacheprovider", "-k", "hello", "--harness-out", "out")
    r.assert_outcomes(failed=1, deselected=1)
    r.stdout.fnmatch_lines(["could not be evaluated (evals/greet.yaml:5, greet / hello):",
                            "*no cassette at cassettes/greet/hello.yaml; record it with: "
                            "harness run evals/greet.yaml --case hello --cassettes record-missing*"])  # fmt: skip


def test_keyword_and_marker_selection(recorded):
    recorded.makepyfile(test_plain="def test_plain():\n    assert True\n")
    by_case = recorded.runpytest("evals", "test_plain.py", "-p", "no:cacheprovider", "-k", "hello", "--harness-out", "o")
    by_case.assert_outcomes(passed=1, deselected=2)
    by_suite = recorded.runpytest("evals", "test_plain.py", "-p", "no:cacheprovider", "-k", "greet and not wrong",
                                  "--harness-out", "o")  # fmt: skip
    by_suite.assert_outcomes(passed=1, deselected=2)
    only = recorded.runpytest("evals", "test_plain.py", "-p", "no:cacheprovider", "-m", "harness", "--harness-out", "o")
    only.assert_outcomes(passed=1, failed=1, deselected=1)
    none = recorded.runpytest("evals", "test_plain.py", "-p", "no:cacheprovider", "-m", "not harness",
                              "--strict-markers", "--harness-out", "o")  # fmt: skip
    none.assert_outcomes(passed=1, deselected=2)


def test_a_bad_suite_is_a_collection_error_with_file_and_line(pytester, clean_env):
    pytester.makefile(".yaml", **{"evals/bad": """\
        suite: bad
        model: m
        cases:
          - id: one
            turns:
              - user: hi
                expcet: []
                expect:
                  - contain: x
        """})  # fmt: skip
    r = pytester.runpytest("evals", "-p", "no:cacheprovider")
    r.assert_outcomes(errors=1)
    r.stdout.fnmatch_lines([
        "*ERROR collecting evals/bad.yaml*",
        "error: evals/bad.yaml:7:9: unknown key 'expcet' in turn 1 of case 'one'; did you mean 'expect'?",
        "error: evals/bad.yaml:9:13: unknown check 'contain' in turn 1 of case 'one'; did you mean 'contains'?",
        "2 problems found; nothing was sent.",
    ])  # fmt: skip
    assert "Traceback" not in r.stdout.str()


def test_a_suite_with_no_model_names_the_plugins_own_option(pytester, clean_env):
    pytester.makefile(".yaml", **{"evals/nomodel": "cases: [{id: one, turns: [{user: hi}]}]\n"})
    r = pytester.runpytest("evals", "-p", "no:cacheprovider")
    r.assert_outcomes(errors=1)
    r.stdout.fnmatch_lines(["error: evals/nomodel.yaml:1:9: no model for case 'one': set `model:` in the suite "
                            "or pass --harness-model"])  # fmt: skip
    assert pytester.runpytest("evals", "-p", "no:cacheprovider", "--harness-model", "m",
                              "--collect-only").ret == 0  # fmt: skip


def test_a_base_url_without_a_scheme_is_a_usage_error(pytester, clean_env):
    pytester.makefile(".yaml", **{"evals/greet": SUITE})
    r = pytester.runpytest("evals", "-p", "no:cacheprovider", "--harness-base-url", "127.0.0.1:8080/v1")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*--harness-base-url '127.0.0.1:8080/v1' has no scheme; "
                            "did you mean http://127.0.0.1:8080/v1?"])  # fmt: skip


def test_two_files_with_one_suite_name_are_refused(pytester, clean_env):
    pytester.makefile(".yaml", **{"evals/a": SUITE, "evals/b": SUITE})
    r = pytester.runpytest("evals", "--collect-only", "-p", "no:cacheprovider")
    r.stdout.fnmatch_lines(["*suite name 'greet' is also used by evals/a.yaml*"])
    assert r.ret != 0


def test_only_suites_are_collected(pytester, clean_env):
    """Cassettes, other YAML and ordinary tests are left alone; a YAML named on the command line is checked."""
    pytester.makefile(".yaml", **{"evals/greet": SUITE, "evals/config": "name: x\nsteps: [a, b]\n",
                                  "cassettes/greet/hello": "version: 1\ninteractions: []\n",
                                  "evals/cassettes/x": SUITE.replace("greet", "nested"),
                                  "evals/nested/flow": '{"cases": []}\n'})  # fmt: skip
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    r = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    assert [line for line in r.outlines if "::" in line] == [
        "evals/greet.yaml::hello", "evals/greet.yaml::wrong", "test_plain.py::test_plain"]  # fmt: skip
    named = pytester.runpytest("evals/config.yaml", "-p", "no:cacheprovider")
    named.stdout.fnmatch_lines(["*evals/config.yaml:1:1: unknown key 'name' in the suite*"])


def test_testpaths_keep_suites_out_of_the_projects_own_test_run(pytester, clean_env):
    pytester.makeini("[pytest]\ntestpaths = tests\n")
    pytester.makefile(".yaml", **{"evals/greet": SUITE})
    pytester.makepyfile(**{"tests/test_x": "def test_x(tmp_path):\n    (tmp_path / 's.yaml').write_text('cases: []')\n"})
    r = pytester.runpytest("-p", "no:cacheprovider")
    r.assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()  # no harness case ran, so nothing was written


def test_recording_needs_a_server(pytester, clean_env):
    r = pytester.runpytest("--harness-cassettes", "record", "-p", "no:cacheprovider")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*--harness-cassettes record sends requests: set OPENAI_API_KEY*"])


def test_options_are_documented_in_help(pytester, clean_env):
    r = pytester.runpytest("--help")
    r.stdout.fnmatch_lines(["*prompt-harness*", "*--harness-cassettes=MODE*", "*--harness-model*", "*--harness-api*",
                            "*--harness-base-url*", "*--harness-out=DIR*"])  # fmt: skip


def test_model_override_and_key_stay_out_of_results(pytester, fake_server, clean_env, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    pytester.makefile(".yaml", **{"evals/greet": SUITE})
    r = pytester.runpytest("evals", "-p", "no:cacheprovider", "--harness-cassettes", "off", "--harness-model",
                           "other-model", "--harness-base-url", fake_server.base_url, "--harness-out", "o")  # fmt: skip
    r.assert_outcomes(passed=1, failed=1)
    assert {req.body["model"] for req in fake_server.requests} == {"other-model"}
    text = (pytester.path / "o/results.json").read_text()
    assert FAKE_KEY not in text
    assert json.loads(text)["settings"]["model"] == "other-model"


def test_harness_api_sends_every_case_through_the_responses_api(pytester, fake_server, clean_env):
    pytester.makefile(".yaml", **{"evals/greet": SUITE})
    r = pytester.runpytest("evals", "-p", "no:cacheprovider", "--harness-cassettes", "off", "--harness-api", "responses",
                           "--harness-base-url", fake_server.base_url, "--harness-out", "o")  # fmt: skip
    r.assert_outcomes(passed=1, failed=1)
    assert {req.path for req in fake_server.requests} == {"/v1/responses"}
    data = json.loads((pytester.path / "o/results.json").read_text())
    assert data["settings"]["api"] == "responses" and {c["api"] for c in data["cases"]} == {"responses"}


def test_loading_the_plugin_imports_nothing_heavy():
    code = textwrap.dedent("""
        import sys, harness.pytest_plugin
        heavy = [m for m in sys.modules if m.split('.')[0] in ('openai', 'jinja2', 'yaml', 'vcr', 'httpx', 'httpx2')
                 or m in ('harness.execution.runner', 'harness.suites.loading', 'harness.suites.templating')]
        print(heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


REPEATED = """\
suite: rep
model: fake-model
repeat: 4
min_pass_rate: 0.5
cases:
  - id: coin
    pass_if: {at_least: 1}
    turns:
      - user: "Hello"
        expect:
          - contains: "#1"
  - id: steady
    turns:
      - user: "Hi"
        expect:
          - contains: echo
  - id: known-bad
    repeat: 1
    allow_fail: true
    turns:
      - user: "Hi"
        expect:
          - contains: never
"""


def test_one_test_per_repeat_and_the_same_results_as_harness_run(pytester, clean_env, monkeypatch):
    """Recorded with the nondeterministic server, replayed by `harness run`, pytest and pytest -n 2."""
    import random

    from harness.cli.main import main
    from tests import fake_openai

    monkeypatch.setattr(fake_openai, "random", random.Random(3))
    pytester.makefile(".yaml", **{"evals/rep": REPEATED})
    with fake_openai.FakeOpenAI(nondeterministic=True) as server:
        assert main(["run", "evals", "--cassettes", "record", "--base-url", server.base_url, "--concurrency", "1",
                     "--out", "rec", "-q"]) in (0, 1)  # fmt: skip
    cli_code = main(["run", "evals", "--out", "cli", "-q"])
    cli = json.loads((pytester.path / "cli/results.json").read_text())
    coin = [c for c in cli["cases"] if c["id"] == "coin"]
    passes = sum(c["status"] == "passed" for c in coin)
    assert 0 < passes < 4, [c["turns"][0]["reply"]["content"] for c in coin]  # a flaky case that passes at_least 1

    names = [line for line in pytester.runpytest("evals", "--collect-only", "-q", "-p", "no:cacheprovider").outlines
             if "::" in line]  # fmt: skip
    assert names == [f"evals/rep.yaml::coin[repeat-{k}]" for k in range(1, 5)] + \
        [f"evals/rep.yaml::steady[repeat-{k}]" for k in range(1, 5)] + ["evals/rep.yaml::known-bad"]  # 1-based

    serial = pytester.runpytest("evals", "-p", "no:cacheprovider", "--harness-out", "serial")
    serial.assert_outcomes(passed=passes + 4, xfailed=4 - passes + 1)  # failed repeats of a passing case, known-bad
    parallel = pytester.runpytest_subprocess("evals", "-p", "no:cacheprovider", "-n", "2", "--harness-out", "xdist")
    parallel.assert_outcomes(passed=passes + 4, xfailed=4 - passes + 1)
    assert serial.ret == parallel.ret == cli_code == 0

    def comparable(data: dict) -> tuple:
        cases = [(c["id"], c["repeat"], c["status"], c.get("policy"), [t["reply"]["content"] for t in c["turns"]])
                 for c in data["cases"]]  # fmt: skip
        return cases, data["outcomes"], {k: v for k, v in data["summary"].items() if k != "cost_usd"}

    for out in ("serial", "xdist"):
        assert comparable(json.loads((pytester.path / out / "results.json").read_text())) == comparable(cli), out


def test_pytest_exits_like_harness_run_when_a_suite_gate_tolerates_the_failures(pytester, fake_server, clean_env):
    pytester.makefile(".yaml", **{"evals/gate": """\
suite: gate
model: fake-model
min_pass_rate: 0.5
cases:
  - {id: ok, turns: [{user: "hi", expect: [{contains: hi}]}]}
  - {id: bad, turns: [{user: "hi", expect: [{contains: zzz}]}]}
"""})
    r = pytester.runpytest("evals", "-p", "no:cacheprovider", "--harness-cassettes", "off",
                           "--harness-base-url", fake_server.base_url, "--harness-out", "o")  # fmt: skip
    r.assert_outcomes(passed=1, failed=1)  # the failure is still reported
    assert r.ret == 0
    r.stdout.fnmatch_lines(["*tolerated by their suites' min_pass_rate*exit status 0*"])


def test_prompt_files_tables_and_endpoints_work_under_pytest_too(pytester, fake_server, clean_env, monkeypatch):
    pytester.makefile(".md", **{"evals/prompts/system": "You help with {{ product }}."})
    pytester.makefile(".csv", **{"evals/data/rows": "n,word\n1,alpha\n2,beta\n"})
    pytester.makefile(".yaml", **{"evals/table": f"""\
        suite: table
        model: fake-model
        vars: {{product: routers}}
        system: {{file: prompts/system.md}}
        endpoints:
          judge: {{base_url: "{fake_server.base_url}", api_key_env: JUDGE_KEY}}
        grader: {{model: judge-model, endpoint: judge}}
        defaults: {{expect: [{{not_contains: "as an AI"}}]}}
        cases_from:
          file: data/rows.csv
          id: "row-{{{{ n }}}}"
          turns:
            - user: "say {{{{ word }}}}"
              expect: [{{contains: "{{{{ word }}}}"}}]
        """})  # fmt: skip
    collected = pytester.runpytest("evals", "--collect-only", "-q", "-p", "no:cacheprovider")
    assert [line for line in collected.outlines if "::" in line] == ["evals/table.yaml::row-1", "evals/table.yaml::row-2"]
    missing = pytester.runpytest("evals", "-p", "no:cacheprovider", "--harness-cassettes", "off",
                                 "--harness-base-url", fake_server.base_url)  # fmt: skip
    missing.stdout.fnmatch_lines(["error: evals/table.yaml:6:63: endpoint 'judge' reads $JUDGE_KEY, which is not set; "
                                  "export it before a run that sends requests (--harness-cassettes off)*"])
    assert fake_server.requests == []
    monkeypatch.setenv("JUDGE_KEY", "sk-judge-0123456789abcdef")
    r = pytester.runpytest("evals", "-p", "no:cacheprovider", "--harness-cassettes", "off",
                           "--harness-base-url", fake_server.base_url)  # fmt: skip
    r.assert_outcomes(passed=2)
    assert {q.body["messages"][0]["content"] for q in fake_server.requests} == {"You help with routers."}
