"""`harness run --batch`: the run goes through the fake server's Batch API, round by round, over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from harness.providers import batch as batch_api
from tests.conftest import FAKE_KEY
from tests.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]


def suite_text(n: int, name: str = "many", extra: str = "") -> str:
    cases = "\n".join(f"  - id: c{i:04d}\n    turns:\n      - user: question {i}\n        expect: [{{contains: question {i}}}]"
                      for i in range(n))  # fmt: skip
    return f"suite: {name}\nmodel: gpt-4o-mini\n{extra}cases:\n{cases}\n{''}"


CONVERSATIONS = """
suite: talk
model: gpt-4o-mini
cases:
  - id: deep
    turns:
      - user: first
        expect: [{contains: first}]
      - user: second
        expect: [{contains: second}]
      - user: third
        expect: [{contains: third}]
  - id: short
    turns:
      - user: only
        expect: [{contains: only}]
"""


def batched(server: FakeOpenAI) -> list:
    """The model requests the server answered for a batch (sent by the batch itself)."""
    return [r for r in server.requests if "x-harness-batch" in r.headers]


def direct(server: FakeOpenAI) -> list:
    """Model requests that reached the server one by one, not through a batch."""
    return [r for r in server.requests if "x-harness-batch" not in r.headers]


def outcomes(results: dict) -> list:
    return [(c["id"], c["status"], [(t["reply"] or {}).get("content") for t in c["turns"]],
             [[(k["name"], k["passed"]) for k in t["checks"]] for t in c["turns"]]) for c in results["cases"]]  # fmt: skip


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)


def test_a_thousand_independent_cases_go_out_as_one_batch(harness_cli, write_suite, tmp_path, keyed):
    suite = write_suite(suite_text(1000))
    with FakeOpenAI() as server:
        r = harness_cli("run", suite, "--batch", "--cassettes", "off", "--base-url", server.base_url, "--out", "out")
        assert r.code == 0, r.err
        assert len(server.batch_creates) == 1 and server.batch_creates[0]["endpoint"] == "/v1/chat/completions"
        assert len(batched(server)) == 1000 and direct(server) == []
        lines = server.file_bytes[server.batch_creates[0]["input_file_id"]].splitlines()
    results = r.results(tmp_path / "out")
    assert results["summary"]["passed"] == 1000 and results["settings"]["batch"] is True
    assert len(lines) == 1000 and json.loads(lines[0])["url"] == "/v1/chat/completions"
    assert "at Batch API prices" in r.out
    records = [json.loads(x)["batch"] for x in (tmp_path / "out/journal.jsonl").read_text().splitlines() if '"batch":{' in x]
    assert records[0] == {"uploaded": {"input_file_id": "file-000001", "endpoint": "/v1/chat/completions",
                                       "server": server.base_url, "requests": 1000}}  # fmt: skip
    assert records[1]["created"]["batch_id"] == "batch_000001" and len(records[1]["created"]["lines"]) == 1000
    assert len(records) == 2


def test_a_batched_run_costs_the_batch_price_half_the_live_one(harness_cli, write_suite, tmp_path, keyed):
    suite = write_suite(suite_text(5))
    with FakeOpenAI() as server:
        live = harness_cli("run", suite, "--cassettes", "off", "--base-url", server.base_url, "--out", "live")
        batch = harness_cli("run", suite, "--batch", "--cassettes", "off", "--base-url", server.base_url, "--out", "b")
    live_cost = live.results(tmp_path / "live")["summary"]["cost_usd"]
    batch_cost = batch.results(tmp_path / "b")["summary"]["cost_usd"]
    assert live_cost and batch_cost == pytest.approx(live_cost / 2)
    assert "Batch API" in (tmp_path / "b/summary.md").read_text() and "Batch API" in (tmp_path / "b/report.html").read_text()


def test_a_conversation_goes_round_by_round_each_round_its_own_batch(harness_cli, write_suite, tmp_path, keyed):
    suite = write_suite(CONVERSATIONS)
    with FakeOpenAI() as server:
        r = harness_cli("run", suite, "--batch", "--cassettes", "off", "--base-url", server.base_url, "--out", "out")
        assert r.code == 0, r.err
        rounds = [[json.loads(x)["custom_id"] for x in server.file_bytes[b["input_file_id"]].splitlines()]
                  for b in server.batch_creates]  # fmt: skip
        third = [q for q in batched(server) if q.body["messages"][-1]["content"] == "third"][0]
    assert rounds == [["talk/short#1", "talk/deep#1"], ["talk/deep#2"], ["talk/deep#3"]] or \
        rounds == [["talk/deep#1", "talk/short#1"], ["talk/deep#2"], ["talk/deep#3"]]
    assert [m["content"] for m in third.body["messages"]] == ["first", "echo: first", "second", "echo: second", "third"]


def test_failed_lines_are_retried_in_a_follow_up_batch_within_max_retries(harness_cli, write_suite, tmp_path, keyed):
    suite = write_suite(suite_text(3))
    with FakeOpenAI() as server:
        server.fail_lines_once = ["many/c0001#"]
        r = harness_cli("run", suite, "--batch", "--cassettes", "off", "--base-url", server.base_url, "--out", "out")
        assert r.code == 0, r.err
        second = [json.loads(x)["custom_id"] for x in server.file_bytes[server.batch_creates[1]["input_file_id"]].splitlines()]
        assert len(server.batch_creates) == 2 and second == ["many/c0001#2"]
    with FakeOpenAI() as server:
        server.fail_lines_once = ["many/c0001#"]
        r = harness_cli("run", suite, "--batch", "--cassettes", "off", "--base-url", server.base_url, "--out", "none",
                        "--max-retries", "0")  # fmt: skip
        assert r.code == 3 and len(server.batch_creates) == 1
    case = next(c for c in r.results(tmp_path / "none")["cases"] if c["id"] == "c0001")
    assert case["status"] == "error" and "HTTP 500" in case["error"]


def test_a_poll_that_fails_for_a_moment_keeps_waiting_for_the_same_batch(harness_cli, write_suite, keyed):
    suite = write_suite(suite_text(3))
    with FakeOpenAI() as server:
        server.batch_hold.clear()
        server.poll_errors = 1

        def release() -> None:
            while server.poll_errors:
                time.sleep(0.01)
            server.batch_hold.set()

        threading.Thread(target=release, daemon=True).start()
        r = harness_cli("run", suite, "--batch", "--cassettes", "off", "--base-url", server.base_url, "--out", "out",
                        "--max-retries", "0")  # fmt: skip
        assert r.code == 0, r.err
        assert len(server.batch_creates) == 1 and len(batched(server)) == 3


def test_a_round_over_the_limits_is_split_into_several_batches(harness_cli, write_suite, tmp_path, keyed, monkeypatch):
    suite = write_suite(suite_text(7))
    monkeypatch.setattr(batch_api, "LIMITS", batch_api.BatchLimits(max_requests=3))
    with FakeOpenAI() as server:
        server.batch_limits = (3, 10**9)  # the server refuses a bigger file, as the API does
        r = harness_cli("run", suite, "--batch", "--cassettes", "off", "--base-url", server.base_url, "--out", "out")
        sizes = [len(server.file_bytes[b["input_file_id"]].splitlines()) for b in server.batch_creates]
    assert r.code == 0, r.err
    assert sizes == [3, 3, 1]
    monkeypatch.setattr(batch_api, "LIMITS", batch_api.BatchLimits(max_bytes=400))  # two lines of ~165 bytes
    with FakeOpenAI() as server:
        server.batch_limits = (10**6, 400)
        r = harness_cli("run", suite, "--batch", "--cassettes", "off", "--base-url", server.base_url, "--out", "bytes")
        sizes = [len(server.file_bytes[b["input_file_id"]]) for b in server.batch_creates]
        lines = sum(len(server.file_bytes[b["input_file_id"]].splitlines()) for b in server.batch_creates)
    assert r.code == 0, r.err
    assert len(sizes) == 4 and max(sizes) <= 400 and lines == 7


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_recorded_through_a_batch_the_cassettes_replay_like_a_live_recording(harness_cli, write_suite, tmp_path,
                                                                            keyed, api):  # fmt: skip
    suite = write_suite(CONVERSATIONS)
    with FakeOpenAI() as server:
        live = harness_cli("run", suite, "--api", api, "--cassettes", "record", "--cassette-dir", "live-tapes",
                           "--base-url", server.base_url, "--out", "live")  # fmt: skip
        rec = harness_cli("run", suite, "--api", api, "--batch", "--cassettes", "record", "--cassette-dir", "tapes",
                          "--base-url", server.base_url, "--out", "rec")  # fmt: skip
        assert {b["endpoint"] for b in server.batch_creates} == {f"/v1/{'responses' if api == 'responses' else 'chat/completions'}"}
    assert live.code == rec.code == 0, rec.err
    replay = harness_cli("run", suite, "--api", api, "--cassette-dir", "tapes", "--out", "replay")
    assert replay.code == 0, replay.err
    assert outcomes(replay.results(tmp_path / "replay")) == outcomes(live.results(tmp_path / "live"))
    for name in ("deep", "short"):
        ours = yaml.safe_load((tmp_path / "tapes/talk" / f"{name}.yaml").read_text())["interactions"]
        theirs = yaml.safe_load((tmp_path / "live-tapes/talk" / f"{name}.yaml").read_text())["interactions"]
        assert [(i["request"]["uri"], _json(i["request"]["body"])) for i in ours] == \
            [(i["request"]["uri"], _json(i["request"]["body"])) for i in theirs]
        assert [i["response"]["status"]["code"] for i in ours] == [i["response"]["status"]["code"] for i in theirs]
        assert [_reply_text(i, api) for i in ours] == [_reply_text(i, api) for i in theirs]


def _json(value: object) -> object:
    """A recorded body without what differs between any two replies of a server (ids, times): our cassettes keep
    JSON bodies as a readable ``{json: ...}`` mapping."""
    data = json.loads(value) if isinstance(value, (str, bytes)) else value
    if isinstance(data, dict) and set(data) == {"json"}:
        data = data["json"]
    return _stable(data)


def _stable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in ("id", "created", "created_at", "completed_at")}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _reply_text(interaction: dict, api: str) -> object:
    body = _json(interaction["response"]["body"]["string"])
    if api == "chat":
        return body["choices"][0]["message"]["content"], body["usage"]
    return body["output"], body["usage"]


def test_flags_that_make_no_sense_with_batch_are_refused_before_anything_is_sent(harness_cli, write_suite, keyed):
    suite = write_suite(suite_text(2))
    streamed = write_suite(suite_text(1, "streamed", extra="params: {stream: true}\n"), "streamed.yaml")
    with FakeOpenAI() as server:
        replay = harness_cli("run", suite, "--batch", "--base-url", server.base_url)
        paced = harness_cli("run", suite, "--batch", "--cassettes", "off", "--base-url", server.base_url,
                            "--concurrency", "4", "--rpm", "60", "--timeout", "5")  # fmt: skip
        stream = harness_cli("run", streamed, "--batch", "--cassettes", "off", "--base-url", server.base_url)
        assert server.requests == [] and server.batch_creates == []
    assert replay.code == paced.code == stream.code == 2
    assert "--batch sends the run's requests through the Batch API, but --cassettes replay sends nothing" in replay.err
    for flag in ("--concurrency", "--rpm", "--timeout"):
        assert f"drop {flag}" in paced.err
    assert "streamed.yaml:" in stream.err and "`stream: true`" in stream.err and "nothing was sent" in stream.err


def test_sigterm_while_polling_then_resume_polls_the_same_batches(write_suite, tmp_path):
    """A real process killed while its first round is polled; --resume finishes without paying for round 1 again."""
    suite = write_suite(CONVERSATIONS.replace("suite: talk", "suite: talk") + "\n".join(
        f"  - id: c{i}\n    turns:\n      - user: q{i}\n        expect: [{{contains: q{i}}}]" for i in range(20)) + "\n")
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY, "NO_COLOR": "1", "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_BASE_URL", None)
    out = tmp_path / "run"
    err = tmp_path / "stderr.txt"
    with FakeOpenAI() as server:
        server.batch_hold.clear()  # the first batch stays `validating` until the process is gone
        cmd = [sys.executable, "-m", "harness", "run", str(suite), "--batch", "--cassettes", "record", "--base-url",
               server.base_url, "--out", str(out)]  # fmt: skip
        with err.open("w") as stderr:
            proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr, text=True)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "round 1: 1 batch (1 validating), 0/22 requests done" not in err.read_text():
                time.sleep(0.05)
            assert len(server.batch_creates) == 1, err.read_text()
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
        assert proc.returncode == 143, err.read_text()
        journal = (out / "journal.jsonl").read_text().splitlines()
        assert [json.loads(x)["batch"] for x in journal] == [  # written at once, before polling
            {"uploaded": {"input_file_id": "file-000001", "endpoint": "/v1/chat/completions", "server": server.base_url,
                          "requests": 22}},
            {"created": {"batch_id": "batch_000001", "input_file_id": "file-000001", "endpoint": "/v1/chat/completions",
                         "server": server.base_url, "lines": json.loads(journal[1])["batch"]["created"]["lines"]}},
        ]  # fmt: skip
        assert len(json.loads(journal[1])["batch"]["created"]["lines"]) == 22
        assert json.loads((out / "results.json").read_text())["summary"]["interrupted"] == 22

        server.batch_hold.set()
        resumed = subprocess.run([sys.executable, "-m", "harness", "run", "--resume", str(out)], env=env,
                                 cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr
        assert "not a finished case" not in resumed.stderr  # the journal's batch line is read, not skipped
        # round 1 polled from the journal; only rounds 2 and 3 (the deep conversation) were new batches
        assert len(server.batch_creates) == 3
        assert len([q for q in batched(server) if q.body["messages"][-1]["content"] in ("first", "only")]) == 2
    results = json.loads((out / "results.json").read_text())
    assert results["summary"]["passed"] == 22 and results["settings"]["batch"] is True
    replay = subprocess.run([sys.executable, "-m", "harness", "run", str(suite), "--out", str(tmp_path / "replay")],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    assert outcomes(json.loads((tmp_path / "replay/results.json").read_text())) == outcomes(results)
