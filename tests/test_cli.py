"""The `harness` command line end to end against the fake server."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import FAKE_KEY

THREE_TURNS = """
suite: support
model: fake-model
params: {temperature: 0, max_tokens: 50, seed: 7}
system: "You are a support agent for {{ product }}."
vars: {product: Acme Router}
cases:
  - id: wifi
    vars: {customer: Dana}
    turns:
      - user: "Hi, I'm {{ customer }}. My Wi-Fi drops."
        expect:
          - contains: Dana
      - user: "I already rebooted."
        expect:
          - contains: rebooted
      - user: "Still broken."
        expect:
          - finish_reason: stop
"""


def test_three_turn_conversation_sends_history(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(THREE_TURNS)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.err + r.out
    bodies = [req.body for req in fake_server.requests]
    assert len(bodies) == 3
    system = {"role": "system", "content": "You are a support agent for Acme Router."}
    u1 = {"role": "user", "content": "Hi, I'm Dana. My Wi-Fi drops."}
    a1 = {"role": "assistant", "content": "echo: Hi, I'm Dana. My Wi-Fi drops."}
    u2 = {"role": "user", "content": "I already rebooted."}
    a2 = {"role": "assistant", "content": "echo: I already rebooted."}
    u3 = {"role": "user", "content": "Still broken."}
    assert bodies[0]["messages"] == [system, u1]
    assert bodies[1]["messages"] == [system, u1, a1, u2]
    assert bodies[2]["messages"] == [system, u1, a1, u2, a2, u3]
    # parameters are sent exactly as given, nothing added
    for body in bodies:
        assert set(body) == {"model", "messages", "temperature", "max_tokens", "seed"}
        assert (body["model"], body["temperature"], body["max_tokens"], body["seed"]) == ("fake-model", 0, 50, 7)
    results = r.results(tmp_path / "reports/latest")
    assert results["schema_version"] == 4
    assert results["summary"] == results["summary"] | {"passed": 1, "failed": 0, "errored": 0, "total": 1}
    turns = results["cases"][0]["turns"]
    assert [t["reply"]["content"] for t in turns] == [a1["content"], a2["content"], "echo: Still broken."]
    assert turns[2]["messages"][-1] == u3
    assert turns[0]["reply"]["usage"]["total_tokens"] > 0
    assert turns[0]["checks"][0] == {"name": "contains", "passed": True, "reason": "reply contains 'Dana' at position 14",
                                     "expected": "Dana", "implicit": False}


def test_failed_check_exits_1_and_prints_reason(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: greet
            turns:
              - user: hello
                expect: [{contains: goodbye}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 1
    assert "expected reply to contain 'goodbye', got 'echo: hello'" in r.out
    assert "0 passed, 1 failed, 0 errored of 1 case;" in r.out


def test_api_error_is_exit_3_and_other_cases_go_on(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        model: m
        cases:
          - id: broken
            turns: [{user: "[[error:400]] hi"}]
          - id: fine
            turns: [{user: hi, expect: [{contains: hi}]}]
          - id: failing
            turns: [{user: hi, expect: [{contains: nope}]}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 3  # 3 wins over 1
    cases = {c["id"]: c for c in r.results(tmp_path / "reports/latest")["cases"]}
    assert cases["broken"]["status"] == "error"
    assert "HTTP 400: injected error 400" in cases["broken"]["error"]
    assert cases["fine"]["status"] == "passed"
    assert cases["failing"]["status"] == "failed"
    assert len(fake_server.requests) == 3  # a 400 is permanent: not retried


def test_transient_errors_are_retried(fake_server, harness_cli, write_suite, tmp_path):
    fake_server.faults.rate_500 = 1.0
    suite = write_suite("""
        model: m
        cases: [{id: a, turns: [{user: hi}]}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--max-retries", "2")
    assert r.code == 3
    assert len(fake_server.requests) == 3  # one try and two retries, no SDK retries on top
    case = r.results(tmp_path / "reports/latest")["cases"][0]
    assert "HTTP 500" in case["error"] and "gave up after 2 retries" in case["error"]


def test_bad_suite_exits_2_and_sends_nothing(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
            turns:
              - user: "Hello {{ name }}"
                expcet: [{contains: x}]
              - user: hi
                expect: [{contain: x}]
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url)
    assert r.code == 2
    assert f"{suite.name}:5:15: template variable error: 'name' is undefined" in r.err
    assert f"{suite.name}:6:9: unknown key 'expcet' in turn 1 of case 'a'; did you mean 'expect'?" in r.err
    assert f"{suite.name}:8:19: unknown check 'contain' in turn 2 of case 'a'; did you mean 'contains'?" in r.err
    assert "3 problems found; nothing was sent." in r.err
    assert fake_server.requests == []


def test_live_run_without_key_or_url_is_bad_input(harness_cli, write_suite):
    suite = write_suite("model: m\ncases: [{id: a, turns: [{user: hi}]}]\n")
    r = harness_cli("run", suite, "--cassettes", "off")
    assert r.code == 2
    assert "OPENAI_API_KEY" in r.err


def test_key_is_sent_but_never_written(fake_server, harness_cli, write_suite, tmp_path, monkeypatch):
    suite = write_suite("model: m\ncases: [{id: a, turns: [{user: hi}]}]\n")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0
    assert fake_server.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    for path in (tmp_path / "reports").rglob("*"):
        if path.is_file():
            assert FAKE_KEY not in path.read_text()
    assert FAKE_KEY not in r.out + r.err


def test_validate_and_list(harness_cli, write_suite):
    suite = write_suite(THREE_TURNS)
    r = harness_cli("validate", suite)
    assert r.code == 0 and "ok: 1 suite, 1 case, 3 turns" in r.out
    r = harness_cli("list", suite)
    assert r.code == 0 and "support" in r.out and "wifi" in r.out


def test_console_script_help_and_version():
    out = subprocess.run([sys.executable, "-m", "harness", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "harness run evals/" in out.stdout and "exit codes" in out.stdout
    out = subprocess.run([sys.executable, "-m", "harness", "--version"], capture_output=True, text=True)
    assert out.stdout.startswith("prompt-harness ")


def test_version_imports_no_more_than_the_command_line_needs():
    """`harness --version` (and every command's start) stays fast: the SDK, the YAML loader, the templates and
    `harness view`'s HTTP server (45 ms of imports here) are imported by the commands that use them."""
    code = ("import sys\nfrom harness.cli.main import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'yaml', 'jinja2', 'vcr', 'httpx2')"
            " or m in ('http.server', 'ssl', 'email.utils')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "[]"


def test_folder_is_searched_recursively(fake_server, harness_cli, write_suite, tmp_path):
    write_suite("model: m\ncases: [{id: a, turns: [{user: one}]}]\n", "evals/a.yaml")
    write_suite("model: m\ncases: [{id: b, turns: [{user: two}]}]\n", "evals/nested/b.yml")
    write_suite("not: a suite\n", "evals/cassettes/ignored.yaml")
    r = harness_cli("run", tmp_path / "evals", "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.err
    ids = sorted(c["id"] for c in json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"])
    assert ids == ["a", "b"]


ONE_CASE = "model: m\ncases: [{id: a, turns: [{user: hi}]}]\n"


def test_unwritable_output_locations_are_exit_2_naming_the_path(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(ONE_CASE)
    live = ("--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert harness_cli("run", suite, *live, "--out", "base").code == 0
    fake_server.requests.clear()
    (tmp_path / "a-file.md").write_text("mine\n")

    for args, where in [
        (("compare", "base", "base", "--out", "a-file.md"), "a-file.md"),
        (("compare", "base", "base", "--out", "/proc/harness-cannot-write"), "/proc/harness-cannot-write"),
        (("merge", "base", "--out", "a-file.md"), "a-file.md"),
    ]:
        r = harness_cli(*args)
        assert r.code == 2, (args, r.err)
        assert r.err.startswith("error: ") and where in r.err and "Traceback" not in r.err, r.err
    assert (tmp_path / "a-file.md").read_text() == "mine\n"  # never overwritten

    # `run` checks every output location before the first request, --baseline's OUT/compare too
    (tmp_path / "d").mkdir()
    (tmp_path / "d/compare").write_text("")
    r = harness_cli("run", suite, *live, "--baseline", "base/results.json", "--out", "d")
    assert r.code == 2 and "d/compare" in r.err and "is a file" in r.err, r.err
    (tmp_path / "e/results.json").mkdir(parents=True)
    r = harness_cli("run", suite, *live, "--out", "e")
    assert r.code == 2 and "e/results.json is a folder" in r.err, r.err
    assert fake_server.requests == []


def test_gate_flags_without_baseline_are_bad_input(fake_server, harness_cli, write_suite):
    suite = write_suite(ONE_CASE)
    for flag, value in (("--allow-regressions", "1"), ("--max-pass-rate-drop", "5"), ("--alpha", "0.1")):
        r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", flag, value)
        assert r.code == 2, r.err
        assert f"error: {flag} needs --baseline" in r.err
    assert fake_server.requests == []


def test_base_url_without_a_scheme_is_bad_input_with_the_fix(fake_server, harness_cli, write_suite, monkeypatch):
    suite = write_suite(ONE_CASE)
    host = fake_server.base_url.removeprefix("http://")  # 127.0.0.1:PORT/v1
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", host, "-q")
    assert r.code == 2
    assert f"error: --base-url '{host}' has no scheme; did you mean http://{host}?" in r.err
    monkeypatch.setenv("OPENAI_BASE_URL", host)
    r = harness_cli("run", suite, "--cassettes", "off", "-q")
    assert r.code == 2 and f"error: OPENAI_BASE_URL '{host}' has no scheme; did you mean http://{host}?" in r.err
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", "ftp://example.com/v1", "-q")
    assert r.code == 2 and "must start with http:// or https://" in r.err
    assert fake_server.requests == []


def test_base_url_with_a_query_string_is_bad_input_with_the_fix(fake_server, harness_cli, write_suite, monkeypatch):
    """On main it was sent as /v1?...chat/completions and got a bare 404 with no hint."""
    suite = write_suite(ONE_CASE)
    url = fake_server.base_url + "?api-version=2024-06-01&api-key=sk-secret-0123456789"
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", url, "-q")
    assert r.code == 2
    assert (f"error: --base-url '{fake_server.base_url}?api-version=2024-06-01&api-key=[redacted]' has a query "
            "string (?api-version=...)") in r.err
    assert f"; use {fake_server.base_url} (the API root" in r.err
    assert "sk-secret" not in r.err
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url + "#frag")
    r = harness_cli("run", suite, "--cassettes", "off", "-q")
    assert r.code == 2 and "error: OPENAI_BASE_URL" in r.err and "has a fragment (#...)" in r.err
    assert fake_server.requests == []


def test_validate_rejects_what_run_rejects(harness_cli, write_suite):
    suite = write_suite(ONE_CASE.replace("model: m\n", ""))
    validate, run = harness_cli("validate", suite), harness_cli("run", suite, "-q")
    assert validate.code == run.code == 2
    message = f"error: {suite.name}:1:9: no model for case 'a': set `model:` in the suite or pass --model"
    assert message in validate.err and message in run.err
    assert harness_cli("validate", suite, "--model", "m").code == 0
    # a cost ceiling that cannot be checked: refused by run, so by validate and tokens too
    unpriced = write_suite(ONE_CASE + "budget: {max_cost_usd: 1}\n", "unpriced.yaml")
    for command in ("validate", "tokens", "run"):
        r = harness_cli(command, unpriced)
        assert r.code == 2 and "max_cost_usd cannot be enforced for case 'a'" in r.err, (command, r.err)


def test_problems_with_paths_name_no_position_and_only_run_says_nothing_was_sent(harness_cli):
    r = harness_cli("list", "nope")
    assert r.code == 2
    assert r.err.splitlines() == ["error: nope: no such file or folder", "1 problem found."]
    r = harness_cli("validate", "nope")
    assert r.code == 2 and "nothing was sent" not in r.err
    r = harness_cli("run", "nope")
    assert r.code == 2 and "1 problem found; nothing was sent." in r.err


def test_sigterm_while_the_suites_load_says_so_and_exits_143(write_suite, tmp_path):
    """A cancelled CI job sends SIGTERM; before the run has started (a 100,000-case suite loads for seconds) the
    process still says why it stopped, exits 143 and leaves the output folder unlocked."""
    suite = write_suite("model: m\ncases:\n  - {id: a, turns: [{user: hi}]}\n")
    code = ("import os, signal, sys\nimport harness.suites.planning as planning\nfrom harness.cli.main import main\n"
            "def terminated_while_loading(*args, **kwargs):\n    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    return load(*args, **kwargs)\n"
            "load, planning.load_plans = planning.load_plans, terminated_while_loading\n"
            "sys.exit(main(sys.argv[1:]))\n")  # fmt: skip
    args = ["run", str(suite), "--cassettes", "off", "--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "o")]
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 143
    assert r.stderr.strip().splitlines()[-1] == "terminated by SIGTERM", r.stderr
    assert "Traceback" not in r.stderr


def test_a_reader_that_stops_early_costs_no_traceback_and_keeps_the_exit_code(write_suite, tmp_path):
    """`harness run … | head -1` in CI (with pipefail): the rest of the output is dropped, the exit code is the
    run's own (3 here: no cassettes), not a BrokenPipeError's 1."""
    suite = write_suite("model: m\ncases:\n" + "".join(f"  - {{id: case-{i:04d}, turns: [{{user: hi}}]}}\n"
                                                       for i in range(600)))  # fmt: skip  (~150 KB of output)
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite), "-q"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    first = proc.stdout.readline()
    proc.stdout.close()  # as `head -1` exits: every later write of the run's meets a closed pipe
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 3, stderr
    assert first.startswith("ERROR suite / case-0000: turn 1: no cassette")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_the_flag_a_typo_meant_is_named(write_suite, tmp_path):
    suite = write_suite("model: m\ncases:\n  - {id: a, turns: [{user: hi}]}\n")
    r = subprocess.run([sys.executable, "-m", "harness", "run", str(suite), "--cassete-dir", "x"], capture_output=True,
                       text=True, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip().endswith("unrecognized arguments: --cassete-dir x; did you mean --cassette-dir?"), r.stderr
    r = subprocess.run([sys.executable, "-m", "harness", "compare", "a", "b", "--alow-regressions", "1", "--nope"],
                       capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert "did you mean --allow-regressions (not --alow-regressions)?" in r.stderr, r.stderr
