"""Named endpoints: `endpoints:` and `endpoint:` (harness/suites/endpoint_schema.py), one provider and one gate per
endpoint (harness/providers/pipeline.py), cassettes, keys and redaction per endpoint; two real-HTTP fake servers."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest

from harness.core.errors import RequestFailed
from harness.core.settings import RunSettings
from harness.providers.pipeline import RequestPipeline
from harness.suites.planning import load_plans
from tests.fake_openai import FakeOpenAI, Faults

JUDGE_KEY = "sk-judge-SECRET-8c1d77e2a9f04b36"
MODEL_KEY = "sk-model-SECRET-1f2e3d4c5b6a7980"

SUITE = """
suite: routed
model: fake-model
endpoints:
  judge:
    base_url: JUDGE_URL
    api_key_env: JUDGE_KEY
    headers: {X-Team: evals, X-Trace-Token: {env: TRACE_TOKEN}}
grader: {model: judge-model, endpoint: judge}
cases:
  - id: graded
    turns:
      - user: "Sorry, here is a refund. [[reply:Sorry! Your refund is on its way.]]"
        expect:
          - llm_rubric: "Says 'sorry' and mentions a 'refund'"
  - id: on-the-judge
    endpoint: judge
    turns: [{user: "who are you"}]
"""


@pytest.fixture
def judge():
    with FakeOpenAI() as server:
        yield server


def write(tmp_path: Path, judge_url: str, suite: str = SUITE) -> Path:
    path = tmp_path / "routed.yaml"
    path.write_text(textwrap.dedent(suite).lstrip().replace("JUDGE_URL", judge_url))
    return path


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", JUDGE_KEY)
    monkeypatch.setenv("TRACE_TOKEN", "trace-SECRET-0042")


def run(harness_cli, fake_server, *extra: str, mode: str = "off"):
    return harness_cli("run", "routed.yaml", "--cassettes", mode, "--base-url", fake_server.base_url, "-q", *extra)


def test_requests_go_to_the_endpoint_their_case_or_grader_names(harness_cli, fake_server, judge, keys, tmp_path,
                                                                monkeypatch):  # fmt: skip
    write(tmp_path, judge.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", MODEL_KEY)
    r = run(harness_cli, fake_server)
    assert r.code == 0, r.out + r.err
    assert [q.body["model"] for q in fake_server.requests] == ["fake-model"]  # the graded case's reply
    assert sorted(q.body["model"] for q in judge.requests) == ["fake-model", "judge-model"]  # on-the-judge, grader
    assert fake_server.requests[0].headers["authorization"] == f"Bearer {MODEL_KEY}"
    for q in judge.requests:
        assert q.headers["authorization"] == f"Bearer {JUDGE_KEY}"
        assert q.headers["x-team"] == "evals" and q.headers["x-trace-token"] == "trace-SECRET-0042"


def test_each_endpoint_records_and_replays_offline_identically_without_keys(harness_cli, fake_server, judge, keys,
                                                                            tmp_path, monkeypatch):  # fmt: skip
    write(tmp_path, judge.base_url)
    assert run(harness_cli, fake_server, "--out", "rec", mode="record").code == 0
    cassette = (tmp_path / "cassettes/routed/graded.yaml").read_text()
    assert cassette.count("x-harness-endpoint:\n      - judge") == 1  # the grader's request, not the reply's
    for name in ("JUDGE_KEY", "TRACE_TOKEN"):
        monkeypatch.delenv(name)
    sent = len(fake_server.requests) + len(judge.requests)
    r = harness_cli("run", "routed.yaml", "-q", "--out", "replay")  # no --base-url, no key: never touches a server
    assert r.code == 0, r.out + r.err
    assert len(fake_server.requests) + len(judge.requests) == sent

    def outcome(out: str) -> list:
        data = json.loads((tmp_path / out / "results.json").read_text())
        return [(c["id"], c["status"], [[k["passed"] for k in t["checks"]] for t in c["turns"]]) for c in data["cases"]]

    assert outcome("replay") == outcome("rec")
    for path in [*tmp_path.rglob("*.yaml"), *tmp_path.rglob("*.json*"), *tmp_path.rglob("*.md"), *tmp_path.rglob("*.html")]:
        text = path.read_text()
        assert JUDGE_KEY not in text and "trace-SECRET" not in text, path


def test_a_recording_replays_only_for_its_own_endpoint(harness_cli, fake_server, judge, keys, tmp_path):
    suite = write(tmp_path, judge.base_url)
    assert run(harness_cli, fake_server, mode="record").code == 0
    suite.write_text(suite.read_text().replace("    endpoint: judge\n", "    endpoint: default\n"))
    r = harness_cli("run", "routed.yaml", "-q")
    assert r.code == 3
    error = json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"][1]["error"]
    assert "the request no longer matches its recording" in error


def test_base_url_still_overrides_only_the_default_endpoint(harness_cli, fake_server, judge, keys, tmp_path):
    write(tmp_path, judge.base_url)
    with FakeOpenAI() as other:
        r = run(harness_cli, other)
    assert r.code == 0
    assert len(other.requests) == 1 and fake_server.requests == [] and len(judge.requests) == 2


def test_an_unset_key_variable_is_exit_2_before_anything_is_sent(harness_cli, fake_server, judge, tmp_path):
    write(tmp_path, judge.base_url)
    r = run(harness_cli, fake_server)
    assert r.code == 2
    assert ("error: routed.yaml:6:18: endpoint 'judge' reads $JUDGE_KEY, which is not set; export it before a run "
            "that sends requests (--cassettes off), or replay with --cassettes replay") in r.err  # fmt: skip
    assert "endpoint 'judge' reads $TRACE_TOKEN, which is not set" in r.err
    assert "nothing was sent." in r.err and fake_server.requests == [] and judge.requests == []


def test_every_endpoints_key_is_redacted_from_what_is_written(harness_cli, fake_server, judge, keys, tmp_path):
    write(tmp_path, judge.base_url, SUITE.replace("'refund'\"", "'refund' [[echo_key]]\""))
    r = run(harness_cli, fake_server, mode="record")
    assert r.code == 3  # the grader's server answered 401, echoing its key
    error = json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"][0]["error"]
    assert "check `llm_rubric` could not be graded" in error and "[redacted]" in error
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert JUDGE_KEY not in text and JUDGE_KEY[:14] not in text, path


def test_a_429_from_one_endpoint_slows_only_that_endpoint(fake_server, tmp_path, monkeypatch):
    with FakeOpenAI(faults=Faults(rate_429=1.0)) as busy:
        write(tmp_path, busy.base_url)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("JUDGE_KEY", JUDGE_KEY)
        monkeypatch.setenv("TRACE_TOKEN", "t")
        _, plans = load_plans(["routed.yaml"])
        settings = RunSettings(base_url=fake_server.base_url, concurrency=8, cassette_mode="off", max_retries=0)
        pipeline = RequestPipeline(settings, None, [plans[0].suite])

        async def both() -> None:
            graded, on_judge = pipeline.channel(plans[0]), pipeline.channel(plans[1])
            await graded.send("fake-model", [{"role": "user", "content": "hi"}], {})
            with pytest.raises(RequestFailed):
                await on_judge.send("fake-model", [{"role": "user", "content": "hi"}], {})
            await pipeline.aclose()

        asyncio.run(both())
    limits = {key if isinstance(key, str) else key[0]: gate.concurrency.limit for key, gate in pipeline.gates.items()}
    assert limits == {"default": 8, "judge": 4}


BAD_ENDPOINTS = [
    pytest.param("api_key: sk-live-0123456789abcdefghij", "routed.yaml:6:5: `api_key` in endpoint 'judge': a key never "
                 "goes in a suite file", id="api_key"),
    pytest.param("api_key_env: sk-proj-0123456789abcdefghijkl", "routed.yaml:5:18: `api_key_env` of endpoint 'judge' "
                 "looks like a key itself", id="key-in-api_key_env"),
    pytest.param("headers: {Authorization: Bearer abcdefghijklmnopqrst}", "routed.yaml:6:30: header `Authorization` "
                 "in endpoint 'judge': a key never goes in a suite file", id="authorization-header"),
    pytest.param("headers: {api-key: 0123456789}", "routed.yaml:6:24: header 'api-key' in endpoint 'judge' holds a "
                 "credential: a key never goes in a suite file; read it from the environment with `api-key: {env: "
                 "API_KEY}`", id="api-key-header"),
    pytest.param("headers: {X-Any: sk-ant-0123456789abcdefghij}", "header 'X-Any' in endpoint 'judge' holds a credential",
                 id="key-shaped-header"),
    pytest.param("rate_limit: {rpm: 0}", "`rate_limit.rpm` must be more than 0, got 0", id="rate-limit"),
    pytest.param("base_uri: x", "routed.yaml:6:5: unknown key 'base_uri' in endpoint 'judge'; did you mean 'base_url'?",
                 id="typo"),
]


@pytest.mark.parametrize("line, expected", BAD_ENDPOINTS)
def test_endpoint_mistakes_and_literal_keys_are_exit_2_with_their_location(line, expected, harness_cli, fake_server,
                                                                           tmp_path):  # fmt: skip
    (tmp_path / "routed.yaml").write_text(textwrap.dedent(f"""\
        model: m
        endpoints:
          judge:
            base_url: http://127.0.0.1:9/v1
            api_key_env: JUDGE_KEY
            {line}
        cases: [{{id: a, endpoint: judge, turns: [{{user: hi}}]}}]
    """).replace("api_key_env: JUDGE_KEY\n    api_key_env", "api_key_env"))
    r = run(harness_cli, fake_server)
    assert r.code == 2
    assert expected in r.err, r.err
    assert "sk-live-0123" not in r.err and "sk-proj-0123" not in r.err  # a key is never echoed back
    assert fake_server.requests == []


def test_every_literal_key_and_endpoint_choice_problem_is_reported_at_once(harness_cli, fake_server, tmp_path):
    (tmp_path / "routed.yaml").write_text(textwrap.dedent("""\
        model: m
        params: {api_key: hunter2, metadata: {note: sk-0123456789abcdefghijklmn}}
        endpoints:
          default: {base_url: "http://127.0.0.1:9/v1"}
          judge: {base_url: "https://me:pw@example.com/v1"}
          local: {base_url: "127.0.0.1:8080/v1"}
        endpoint: locl
        grader: {model: g, endpoint: jugde}
        cases:
          - id: a
            endpoint: 7
            turns: [{user: "sk-0123456789abcdefghijklmn is fine in a message"}]
    """))
    r = run(harness_cli, fake_server)
    assert r.code == 2
    for text in [
        "routed.yaml:2:19: literal key in `api_key`",
        "routed.yaml:2:45: `note` holds what looks like an API key (sk-0\u2026)",
        "routed.yaml:4:3: `default` names the run's own server (--base-url, else $OPENAI_BASE_URL)",
        "routed.yaml:5:21: `base_url` of endpoint 'judge' holds a credential (a password)",
        "routed.yaml:6:21: `base_url` of endpoint 'local' '127.0.0.1:8080/v1' has no scheme",
        "routed.yaml:7:11: unknown endpoint 'locl' in the suite; did you mean 'local'?",
        "routed.yaml:8:30: unknown endpoint 'jugde' in `grader` of the suite; did you mean 'judge'?",
        "routed.yaml:11:15: `endpoint` in case 'a' must be the name of one of the suite's `endpoints:`, got int 7",
    ]:
        assert text in r.err, r.err
    assert "8 problems found; nothing was sent." in r.err
    assert "sk-0123456789abcdefghijklmn" not in r.err and "hunter2" not in r.err


def test_a_variant_may_send_its_cases_to_another_endpoint(harness_cli, fake_server, judge, keys, tmp_path):
    write(tmp_path, judge.base_url, SUITE.replace("cases:\n", "variants:\n  - {name: here}\n  - {name: there, "
                                                  "endpoint: judge}\ncases:\n").replace("    endpoint: judge\n", ""))
    assert run(harness_cli, fake_server).code == 0
    assert len(fake_server.requests) == 2  # both cases of `here`; graded ones grade on the judge
    assert sorted(q.body["model"] for q in judge.requests) == ["fake-model", "fake-model", "judge-model", "judge-model"]


def test_an_authentication_failure_stops_only_its_own_servers_sending(judge, fake_server, harness_cli, tmp_path,
                                                                      keys, monkeypatch):  # fmt: skip
    """The judge refuses its key: cases on the judge are errors after its first 401, the others run as usual."""
    monkeypatch.setenv("OPENAI_API_KEY", MODEL_KEY)
    judge.responder = lambda request: (401, json.dumps({"error": {"message": "bad judge key"}}).encode())
    suite = "suite: routed\nmodel: fake-model\nendpoints:\n  judge: {base_url: JUDGE_URL, api_key_env: JUDGE_KEY}\ncases:\n"
    suite += "".join(f"  - {{id: j{i}, endpoint: judge, turns: [{{user: 'j{i}'}}]}}\n" for i in range(10))
    suite += "".join(f"  - {{id: m{i}, turns: [{{user: 'm{i}'}}]}}\n" for i in range(10))
    path = write(tmp_path, judge.base_url, suite)
    r = harness_cli("run", path, "--cassettes", "off", "--base-url", fake_server.base_url, "--concurrency", 2)
    assert r.code == 3
    cases = {c["id"]: c for c in json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"]}
    assert all(cases[f"m{i}"]["status"] == "passed" for i in range(10))
    assert all(cases[f"j{i}"]["status"] == "error" for i in range(10))
    assert len(judge.requests) <= 2 and len(fake_server.requests) == 10
    not_sent = [cases[f"j{i}"]["error"] for i in range(10) if "not sent" in cases[f"j{i}"]["error"]]
    assert len(not_sent) >= 8 and all(f"refused by endpoint 'judge' ({judge.base_url})" in e for e in not_sent)
    assert r.err.count("no more requests are sent to it") == 1 and "$JUDGE_KEY" in r.err
