"""A suite cannot read files outside its project, and the API key never reaches any output."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from harness.core.redaction import redact
from tests.conftest import FAKE_KEY
from tests.fake_openai import FakeOpenAI

SECRET = "TOP-SECRET-CONTENT-7731"


@contextlib.contextmanager
def _answering(status: int, body: bytes) -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 that answers every GET and POST with ``status`` and ``body`` (a hostile server's
    reply); yields its base URL and the paths it was asked for."""
    asked: list[str] = []

    class Answer(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            asked.append(self.path)
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer  # noqa: N815 (http.server's names)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()


@pytest.fixture
def outside_secret(tmp_path):
    """A file beside the project (tmp_path/project is the working directory), holding a secret."""
    (tmp_path / "secret.txt").write_text(f"{SECRET}\n")
    (tmp_path / "secret.yaml").write_text(f"gpt-4o: {{input: 1, output: 2, note: {SECRET}}}\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "inside.txt").write_text(f"{SECRET}\n")
    return project


@pytest.mark.parametrize("template, why", [
    ("{% include '../secret.txt' %}", "the included file path '../secret.txt' is a path that leads outside the project"),
    ("{% include '/etc/passwd' %}", "the included file path '/etc/passwd' is absolute"),
    ("{% include 'link.txt' %}", "the included file path 'link.txt' is a symlink that leads outside the project"),
    ("{% import '../secret.txt' as s %}{{ s }}", "the included file path '../secret.txt' is a path that leads outside"),
    ("{% extends '../secret.txt' %}", "the included file path '../secret.txt' is a path that leads outside"),
    ("{% from '../secret.txt' import x %}{{ x }}", "the included file path '../secret.txt' is a path that leads outside"),
])  # fmt: skip
def test_templates_cannot_include_import_or_extend_files_outside_the_project(template, why, outside_secret,
                                                                             harness_cli, fake_server, monkeypatch):  # fmt: skip
    monkeypatch.chdir(outside_secret)
    (outside_secret / "link.txt").symlink_to(outside_secret.parent / "secret.txt")
    (outside_secret / "suite.yaml").write_text(f"model: m\ncases: [{{id: a, turns: [{{user: \"{template}\"}}]}}]\n")
    r = harness_cli("run", "suite.yaml", "--cassettes", "off", "--base-url", fake_server.base_url)
    assert r.code == 2
    assert f"error: suite.yaml:2:32: {why}" in r.err
    assert SECRET not in r.out + r.err
    assert fake_server.requests == []


def test_templates_may_include_files_inside_the_project(outside_secret, harness_cli, fake_server, monkeypatch):
    monkeypatch.chdir(outside_secret)
    (outside_secret / "suite.yaml").write_text("model: m\ncases: [{id: a, turns: [{user: \"{% include 'inside.txt' %}\"}]}]\n")
    r = harness_cli("run", "suite.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0
    assert fake_server.requests[0].body["messages"][-1]["content"] == f"{SECRET}\n"


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('cat ../secret.txt').read() }}",
    "{{ lipsum.__globals__['os'].listdir('/') }}",
    "{{ range.__self__ }}",
])  # fmt: skip
def test_the_sandbox_blocks_python_escapes(template, outside_secret, harness_cli, monkeypatch):
    monkeypatch.chdir(outside_secret)
    (outside_secret / "suite.yaml").write_text(f"model: m\ncases: [{{id: a, turns: [{{user: \"{template}\"}}]}}]\n")
    r = harness_cli("validate", "suite.yaml")
    assert r.code == 2, r.out
    assert SECRET not in r.out + r.err


def test_a_pricing_file_outside_the_project_is_refused(outside_secret, harness_cli, monkeypatch):
    monkeypatch.chdir(outside_secret)
    (outside_secret / "evals").mkdir()
    for ref in ("../../secret.yaml", "/etc/passwd"):
        (outside_secret / "evals/suite.yaml").write_text(
            f"model: m\npricing_file: {ref}\ncases: [{{id: a, turns: [{{user: hi}}]}}]\n")  # fmt: skip
        r = harness_cli("validate", "evals/suite.yaml")
        assert r.code == 2
        assert f"`pricing_file` {ref!r} is outside the project" in r.err
        assert SECRET not in r.err
    (outside_secret / "prices.yaml").write_text("my-model: {input: 1, output: 2}\n")  # at the project root: fine
    (outside_secret / "evals/suite.yaml").write_text(
        "model: m\npricing_file: ../prices.yaml\ncases: [{id: a, turns: [{user: hi}]}]\n")  # fmt: skip
    assert harness_cli("validate", "evals/suite.yaml").code == 0


def test_a_symlink_out_of_the_project_is_outside_too(outside_secret, harness_cli, monkeypatch):
    monkeypatch.chdir(outside_secret)
    (outside_secret / "prices.yaml").symlink_to(outside_secret.parent / "secret.yaml")
    (outside_secret / "suite.yaml").write_text("model: m\npricing_file: prices.yaml\ncases: [{id: a, turns: [{user: hi}]}]\n")
    r = harness_cli("validate", "suite.yaml")
    assert r.code == 2 and "is outside the project" in r.err and SECRET not in r.err


def test_redact_removes_the_key_and_any_long_fragment_of_it():
    assert redact(f"Incorrect API key provided: {FAKE_KEY}.", FAKE_KEY) == "Incorrect API key provided: [redacted]."
    assert FAKE_KEY[:14] not in redact(f"seen as {FAKE_KEY[:14]}****{FAKE_KEY[-4:]}", FAKE_KEY)
    assert redact("HTTP 500: The server had an error", FAKE_KEY) == "HTTP 500: The server had an error"
    assert redact("sk-test- is a prefix", FAKE_KEY) == "sk-test- is a prefix"  # short common prefixes stay readable
    assert redact("anything", None) == "anything"


def test_six_characters_of_a_keys_secret_part_are_redacted_but_its_shared_prefix_is_not():
    """A server that masks the middle of a key still echoes its ends (`sk-test-S...123456`): six characters of
    the secret part are a leak; the prefix every key of its kind shares (`sk-test-`, `sk-proj-`) is not."""
    key = "sk-test-SECRET123456"
    assert redact("Incorrect API key provided: sk-test-S...123456.", key) == (
        "Incorrect API key provided: sk-test-S...[redacted].")  # fmt: skip
    assert redact("ends in 23456 or T12345", key) == "ends in 23456 or [redacted]"  # 5 are not enough, 6 are
    assert redact("cassettes/my-test-suite/a.yaml, sk-test-S", key) == "cassettes/my-test-suite/a.yaml, sk-test-S"
    assert redact("sk-proj-abcdef", "sk-proj-0123456789abcdef") == "sk-proj-[redacted]"


def test_the_key_never_reaches_an_output_file_a_log_line_or_an_error(fake_server, harness_cli, write_suite, tmp_path,
                                                                    monkeypatch):  # fmt: skip
    """A 401 that echoes the key (whole and in part), on every output: files, terminal, progress, journal."""
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    fake_server.faults.rate_500 = 0.3  # retries too, so the progress line has something to say
    suite = write_suite("""
        model: m
        retry: {base_delay: 0.01, max_retries: 8}
        cases:
          - {id: bad-key, turns: [{user: "[[echo_key]] hi"}]}
          - {id: fine, turns: [{user: hi}]}
    """)
    for mode in ("off", "record"):
        r = harness_cli("run", suite, "--cassettes", mode, "--base-url", fake_server.base_url)  # progress on
        assert r.code == 3
        results = r.results(tmp_path / "reports/latest")
        error = {c["id"]: c for c in results["cases"]}["bad-key"]["error"]
        assert error.startswith("turn 1: HTTP 401: Incorrect API key provided: [redacted].")
        assert "[redacted]****" in error  # the partial echo is gone too
        assert "[1/2]" in r.err or "[2/2]" in r.err  # the progress line was shown
        for text in (r.out, r.err):
            assert FAKE_KEY not in text and FAKE_KEY[:14] not in text
    assert any(q.headers["authorization"] == f"Bearer {FAKE_KEY}" for q in fake_server.requests)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".yaml", ".md", ".xml",
                                                                              ".html")]  # fmt: skip
    assert any(p.name == "journal.jsonl" for p in files) and any(p.name == "run.json" for p in files)
    for path in files:
        text = path.read_text()
        assert FAKE_KEY not in text and FAKE_KEY[:14] not in text, path
    assert "authorization" not in json.dumps(json.loads((tmp_path / "reports/latest/run.json").read_text())).lower()


def test_a_key_the_model_repeats_never_reaches_results_reports_or_journal(fake_server, harness_cli, write_suite,
                                                                           tmp_path, monkeypatch):  # fmt: skip
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    suite = write_suite(f"""
        model: m
        cases:
          - id: echo
            turns: [{{user: "[[reply:Sure, your key is {FAKE_KEY} and half of it is {FAKE_KEY[:14]}]]"}}]
    """)
    url = fake_server.base_url.replace("http://", f"http://user:{FAKE_KEY}@")  # a key in the URL is scrubbed too
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", url, "-q")
    assert r.code == 0, r.err
    assert fake_server.requests, "the request was sent"
    written = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"results.json", "report.html", "summary.md", "junit.xml", "journal.jsonl"}
    for path in written:
        text = path.read_text()
        assert FAKE_KEY[:10] not in text and FAKE_KEY[-10:] not in text, path.name
    results = (tmp_path / "reports/latest/results.json").read_text()
    assert "Sure, your key is [redacted]" in results
    assert FAKE_KEY not in r.out + r.err


def test_a_schema_ref_is_never_fetched(harness_cli, write_suite):
    """A suite from a pull request must not make CI reach an address: a `$ref` out of the schema is refused when
    the suite loads (nothing is fetched, nothing sent), and the check's own validator retrieves nothing."""
    from harness.assertions.structured import schema_violations

    with _answering(200, b'{"const": "INTERNAL-TOKEN"}') as (base, fetched):
        url = f"{base}/meta"
        suite = write_suite(f"""
            model: m
            cases:
              - id: a
                turns: [{{user: hi, expect: [{{json_schema: {{"$ref": "{url}"}}}}]}}]
        """)
        r = harness_cli("run", suite, "--cassettes", "off", "--base-url", "http://127.0.0.1:9/v1")
        assert r.code == 2
        assert f"a `$ref` to '{url}' points outside the schema; the harness never fetches a schema" in r.err
        with pytest.raises(Exception, match="meta"):  # unresolvable: the validator retrieves nothing
            schema_violations({"x": 1}, {"properties": {"x": {"$ref": url}}})
        assert fetched == []
    assert schema_violations({"x": 1}, {"$defs": {"n": {"type": "string"}}, "properties": {"x": {"$ref": "#/$defs/n"}}})


def test_a_servers_error_message_cannot_drive_the_terminal_or_the_ci_log(harness_cli, write_suite, tmp_path):
    """A hostile server's error text (escape sequences, a newline then a GitHub Actions workflow command) is
    printed as one inert line: no escape byte reaches the terminal, no line starts with `::`."""
    message = "bad request\n::error title=Deploy approved::all good\n\x1b]0;OWNED\x07\x1b[2J\rdone"
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
    suite = write_suite("model: m\ncases:\n  - {id: a, turns: [{user: hi}]}\n")
    with _answering(400, body) as (base, _):
        r = harness_cli("run", suite, "--cassettes", "off", "--base-url", f"{base}/v1", "--max-retries", "0")
    assert r.code == 3
    for name, shown in (("stdout", r.out), ("stderr", r.err), ("summary.md", (tmp_path / "reports/latest/summary.md").read_text())):
        assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown, (name, shown)
        assert not [line for line in shown.splitlines() if line.lstrip().startswith("::")], (name, shown)
    assert "bad request\\n::error title=Deploy approved::all good\\n\\x1b]0;OWNED\\x07" in r.out  # spelt out
    case = json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"][0]
    assert "::error title=Deploy approved" in case["error"]  # the data keeps what the server said


def test_json_nested_too_deeply_to_parse_is_an_answer_not_an_internal_error(harness_cli, write_suite, tmp_path):
    """A reply that is JSON nested 100,000 deep fails `is_json` with the reason; a body nested so deep is an
    unparsable response (retried, then the case errors), never "internal error: RecursionError"."""
    deep = "[" * 100_000 + "]" * 100_000
    reply = {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [{"index": 0,
             "message": {"role": "assistant", "content": deep}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
    suite = write_suite("model: m\ncases:\n  - {id: a, turns: [{user: hi, expect: [{is_json: true}]}]}\n")
    with _answering(200, json.dumps(reply).encode()) as (base, _):
        r = harness_cli("run", suite, "--cassettes", "off", "--base-url", f"{base}/v1", "--out", "deep-reply")
    check = json.loads((tmp_path / "deep-reply/results.json").read_text())["cases"][0]["turns"][0]["checks"][0]
    assert r.code == 1 and check["passed"] is False
    assert check["reason"].startswith("expected valid JSON; reply is JSON nested too deeply to read"), check
    with _answering(200, deep.encode()) as (base, _):
        r = harness_cli("run", suite, "--cassettes", "off", "--base-url", f"{base}/v1", "--max-retries", "0",
                        "--out", "deep-body")  # fmt: skip
    case = json.loads((tmp_path / "deep-body/results.json").read_text())["cases"][0]
    assert r.code == 3 and "the server sent an unparsable response body" in case["error"], case["error"][:300]


def test_a_pattern_that_backtracks_for_ever_fails_its_check_instead_of_hanging_the_run(write_suite, tmp_path):
    """`^(a|aa)+$` on sixty a's and a '!' would run for ever in Python's re (no timeout, no Ctrl-C reaches it):
    the check gives up after a second and fails, and the run ends with its results."""
    reply = "a" * 60 + "!"
    suite = write_suite(f"""
        model: m
        cases:
          - id: a
            turns: [{{user: "[[reply:{reply}]]", expect: [{{regex: '^(a|aa)+$'}}, {{contains: '!'}}]}}]
    """)
    with FakeOpenAI() as server:
        r = subprocess.run([sys.executable, "-m", "harness", "run", str(suite), "--cassettes", "off", "--base-url",
                            server.base_url, "-q"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                           env={**os.environ, "OPENAI_API_KEY": FAKE_KEY})  # fmt: skip
    assert r.returncode == 1, r.stderr
    case = json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"][0]
    checks = {c["name"]: c for c in case["turns"][0]["checks"]}
    assert checks["regex"]["passed"] is False
    assert checks["regex"]["reason"].startswith("pattern '^(a|aa)+$' took more than 1 s on this reply of 61 characters")
    assert checks["contains"]["passed"] is True
