"""Cassettes end to end: record against the fake server, replay with no network, and what lands on disk."""

from __future__ import annotations

import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from harness.core import atomic_files
from harness.providers.cassettes import CaseCassette
from harness.providers.retry import RetryPolicy
from tests.conftest import FAKE_KEY
from tests.fake_openai import FakeOpenAI, Faults

SUITE = """
suite: demo
model: fake-model
params: {temperature: 0, max_tokens: 50}
system: "You are a support agent for Acme Router."
cases:
  - id: wifi
    turns:
      - user: "My Wi-Fi drops."
        expect: [{contains: Wi-Fi}]
      - user: "I already rebooted."
        expect: [{contains: rebooted}]
  - id: billing
    turns:
      - user: "Why was I charged twice?"
        expect: [{contains: charged}]
"""


def cassette(tmp_path: Path, case: str, suite: str = "demo") -> Path:
    return tmp_path / "cassettes" / suite / f"{case}.yaml"


def results(tmp_path: Path, out: str = "reports/latest") -> dict:
    return json.loads((tmp_path / out / "results.json").read_text())


def cases_by_id(tmp_path: Path, out: str = "reports/latest") -> dict[str, dict]:
    return {c["id"]: c for c in results(tmp_path, out)["cases"]}


def interactions(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text())["interactions"]


def user_messages(interaction: dict) -> list[str]:
    return [m["content"] for m in interaction["request"]["body"]["json"]["messages"] if m["role"] == "user"]


def reply_text(interaction: dict) -> str:
    return interaction["response"]["body"]["string"]["json"]["choices"][0]["message"]["content"]


def record(harness_cli, suite: Path, server: FakeOpenAI, mode: str = "record", *extra: str):
    return harness_cli("run", suite, "--cassettes", mode, "--base-url", server.base_url, "-q", *extra)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# 1. Replay needs no network, no key and no base URL.


def test_replay_passes_with_the_server_gone_and_no_key_or_url(harness_cli, write_suite, tmp_path, monkeypatch):
    suite = write_suite(SUITE)
    with FakeOpenAI() as server:
        r = record(harness_cli, suite, server)
        assert r.code == 0, r.out + r.err
        assert len(server.requests) == 3
    # the server is shut down: any request would be a connection error
    r = harness_cli("run", suite, "-q")
    assert r.code == 0, r.out + r.err
    assert {c["id"]: c["status"] for c in results(tmp_path)["cases"]} == {"wifi": "passed", "billing": "passed"}
    assert results(tmp_path)["settings"]["cassettes"] == "replay"
    assert cases_by_id(tmp_path)["wifi"]["turns"][1]["reply"]["content"] == "echo: I already rebooted."

    # a key and a live server changes nothing: replay still sends no request
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    with FakeOpenAI() as live:
        monkeypatch.setenv("OPENAI_BASE_URL", live.base_url)
        r = harness_cli("run", suite, "--base-url", live.base_url, "-q")
        assert r.code == 0, r.out + r.err
        r = harness_cli("run", suite, "--cassettes", "replay", "-q")
        assert r.code == 0, r.out + r.err
        assert live.requests == []


def test_a_replay_builds_each_request_byte_for_byte_as_the_live_run_sent_it(harness_cli, write_suite, tmp_path,
                                                                              monkeypatch):  # fmt: skip
    # Replay goes through the same request building (the SDK, the provider) as a live run; only the transport
    # answers from the cassette. The bodies the replay built and matched are the very bytes the server received.
    suite = write_suite(SUITE.replace("My Wi-Fi drops.", "Mon Wi-Fi coupe \u2014 caf\u00e9 \u2713 \U0001f600")
                        .replace("max_tokens: 50}", "max_tokens: 50, top_p: 0.5, stop: [END], seed: 7}"))
    with FakeOpenAI() as server:
        r = record(harness_cli, suite, server, "record", "--concurrency", "1")
        assert r.code == 0, r.out + r.err
        live = [(entry.path, entry.raw) for entry in server.requests]
    assert len(live) == 3 and "caf\u00e9".encode() in live[0][1] + live[1][1] + live[2][1]
    replayed: list[tuple[str, bytes]] = []
    real_play = CaseCassette.play

    def play(self, request):
        answer = real_play(self, request)
        assert answer is not None, "every replayed request matches its recording"
        replayed.append((urlsplit(request.uri).path, request.body))
        return answer

    monkeypatch.setattr(CaseCassette, "play", play)
    r = harness_cli("run", suite, "-q", "--concurrency", "1")
    assert r.code == 0, r.out + r.err
    assert replayed == live  # the same paths and bodies, byte for byte, in the same order


# 2. Stale and missing cassettes explain themselves.


def test_stale_system_prompt_names_turn_file_change_and_fix(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE)
    assert record(harness_cli, suite, fake_server).code == 0
    write_suite(SUITE.replace("support agent for Acme", "billing agent for Acme"))
    r = harness_cli("run", suite, "-q")
    assert r.code == 3
    error = cases_by_id(tmp_path)["wifi"]["error"]
    assert error.startswith("turn 1: ")
    assert str(Path("cassettes/demo/wifi.yaml")) in error
    assert "messages[0] (system) changed" in error
    assert "'You are a support agent for Acme Router.'" in error
    assert "'You are a billing agent for Acme Router.'" in error
    assert f"harness run {suite.name} --case wifi --cassettes record-missing" in error
    assert cases_by_id(tmp_path)["billing"]["status"] == "error"
    assert "--case billing --cassettes record-missing" in cases_by_id(tmp_path)["billing"]["error"]
    assert len(fake_server.requests) == 3  # only the recording


def test_stale_param_and_later_turn_are_named(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE)
    assert record(harness_cli, suite, fake_server).code == 0
    write_suite(SUITE.replace("temperature: 0", "temperature: 0.7"))
    r = harness_cli("run", suite, "-q")
    assert r.code == 3
    error = cases_by_id(tmp_path)["billing"]["error"]
    assert "param temperature: 0 -> 0.7" in error
    assert "--case billing --cassettes record-missing" in error

    write_suite(SUITE.replace("I already rebooted.", "I already restarted it."))
    r = harness_cli("run", suite, "-q")
    assert r.code == 3
    wifi = cases_by_id(tmp_path)["wifi"]
    assert wifi["error"].startswith("turn 2: ")
    assert "(request 2)" in wifi["error"]
    assert "messages[3] (user) changed: 'I already rebooted.' -> 'I already restarted it.'" in wifi["error"]
    assert wifi["turns"][0]["checks"][0]["passed"] is True  # turn 1 still replayed
    assert cases_by_id(tmp_path)["billing"]["status"] == "passed"


def test_missing_cassette_is_exit_3_with_the_record_command(harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE)
    r = harness_cli("run", suite, "-q")
    assert r.code == 3
    for case_id in ("wifi", "billing"):
        error = cases_by_id(tmp_path)[case_id]["error"]
        assert f"no cassette at {Path('cassettes/demo') / (case_id + '.yaml')};" in error  # as the project names it
        assert f"harness run {suite.name} --case {case_id} --cassettes record-missing" in error
    assert not (tmp_path / "cassettes").exists()  # replay never writes


# 3. record-missing records only what is missing or stale.


def test_record_missing_records_only_new_and_changed_cases(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE)
    assert record(harness_cli, suite, fake_server, "record-missing").code == 0
    assert len(fake_server.requests) == 3
    wifi, billing = cassette(tmp_path, "wifi"), cassette(tmp_path, "billing")
    before = {p: p.read_bytes() for p in (wifi, billing)}
    for p in before:
        os.utime(p, (1_000_000_000, 1_000_000_000))

    write_suite(SUITE + """
  - id: refund
    turns:
      - user: "I want a refund."
""")
    fake_server.requests.clear()
    r = record(harness_cli, suite, fake_server, "record-missing")
    assert r.code == 0, r.out + r.err
    assert [req.body["messages"][-1]["content"] for req in fake_server.requests] == ["I want a refund."]
    for p, data in before.items():
        assert p.read_bytes() == data
        assert p.stat().st_mtime == 1_000_000_000
    assert [reply_text(i) for i in interactions(cassette(tmp_path, "refund"))] == ["echo: I want a refund."]

    # change the second turn of one case: only that request is sent, the old one leaves the file
    write_suite(SUITE.replace("I already rebooted.", "I rebooted it twice.") + """
  - id: refund
    turns:
      - user: "I want a refund."
""")
    fake_server.requests.clear()
    r = record(harness_cli, suite, fake_server, "record-missing")
    assert r.code == 0, r.out + r.err
    assert [req.body["messages"][-1]["content"] for req in fake_server.requests] == ["I rebooted it twice."]
    assert billing.read_bytes() == before[billing] and billing.stat().st_mtime == 1_000_000_000
    recorded = interactions(wifi)
    assert [user_messages(i)[-1] for i in recorded] == ["My Wi-Fi drops.", "I rebooted it twice."]
    assert [reply_text(i) for i in recorded] == ["echo: My Wi-Fi drops.", "echo: I rebooted it twice."]
    assert "already" not in wifi.read_text()
    assert harness_cli("run", suite, "-q").code == 0


# 4. Concurrent cases each record into their own file.


def test_fifty_concurrent_cases_record_into_their_own_files(harness_cli, write_suite, tmp_path):
    lines = ["suite: many", "model: fake-model", "cases:"]
    for i in range(50):
        lines += [f"  - id: case-{i}", "    turns:", f'      - user: "question {i} [[reply:answer {i}]]"',
                  f'        expect: [{{equals: "answer {i}"}}]']  # fmt: skip
    suite = write_suite("\n".join(lines) + "\n")
    with FakeOpenAI(latency_ms=50) as server:
        r = record(harness_cli, suite, server, "record", "--concurrency", "50")
        assert r.code == 0, r.out + r.err
        assert len(server.requests) == 50
    for i in range(50):
        recorded = interactions(cassette(tmp_path, f"case-{i}", "many"))
        assert len(recorded) == 1
        assert user_messages(recorded[0]) == [f"question {i} [[reply:answer {i}]]"]
        assert reply_text(recorded[0]) == f"answer {i}"
    with FakeOpenAI() as live:
        r = harness_cli("run", suite, "--concurrency", "50", "--base-url", live.base_url, "-q")
        assert r.code == 0, r.out + r.err
        assert live.requests == []
    assert results(tmp_path)["summary"]["passed"] == 50


# 5. Secrets never reach disk.


def test_key_and_account_headers_never_reach_disk(fake_server, harness_cli, write_suite, tmp_path, monkeypatch):
    suite = write_suite(SUITE)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    r = record(harness_cli, suite, fake_server)
    assert r.code == 0, r.out + r.err
    sent = fake_server.requests[0].headers
    assert sent["authorization"] == f"Bearer {FAKE_KEY}" and "user-agent" in sent
    assert any(k.startswith("x-stainless-") for k in sent)
    r = harness_cli("run", suite, "-q")
    assert r.code == 0, r.out + r.err
    written = files_under(tmp_path / "cassettes") + files_under(tmp_path / "reports")
    assert len(written) >= 3
    for path in written:
        assert FAKE_KEY not in path.read_text(), path
    for path in files_under(tmp_path / "cassettes"):
        text = path.read_text().lower()
        for leak in ("authorization", "bearer", "user-agent", "x-stainless", "openai-organization", "org-secret-test",
                     "x-request-id", "req_"):  # fmt: skip
            assert leak not in text, (path, leak)
        for interaction in interactions(path):
            assert set(interaction["request"]["headers"]) == {"content-type"}
            assert set(interaction["response"]["headers"]) == {"content-type"}


def test_cassette_with_the_key_in_a_message_is_refused(fake_server, harness_cli, write_suite, tmp_path, monkeypatch):
    suite = write_suite(f"""
        suite: demo
        model: fake-model
        cases:
          - id: leaky
            turns: [{{user: "my key is {FAKE_KEY}"}}]
          - id: fine
            turns: [{{user: hello}}]
    """)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    r = record(harness_cli, suite, fake_server)
    assert r.code == 3
    leaky = cases_by_id(tmp_path)["leaky"]
    assert leaky["status"] == "error"
    assert "refusing to write" in leaky["error"] and "API key" in leaky["error"]
    assert str(Path("cassettes/demo/leaky.yaml")) in leaky["error"]
    assert cases_by_id(tmp_path)["fine"]["status"] == "passed"
    assert [p.name for p in files_under(tmp_path / "cassettes")] == ["fine.yaml"]


def test_a_piece_of_the_key_a_reply_echoes_is_redacted_in_the_cassette_too(fake_server, harness_cli, write_suite,
                                                                            tmp_path, monkeypatch):  # fmt: skip
    """On main a 12-character slice was redacted in results, journal and report, but written into the cassette."""
    suite = write_suite("""
        suite: demo
        model: fake-model
        cases:
          - id: echo
            turns:
              - user: what is my key?
              - user: and then?
    """)

    def echo_a_piece(request):  # as a model that saw the key would: 12 characters of it, from the request's header
        if request.body["messages"][-1]["content"] != "what is my key?":
            return None
        piece = request.headers["authorization"].removeprefix("Bearer ")[5:17]
        body = {"id": "x", "model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": f"your key starts {piece} ok"}}]}  # fmt: skip
        return 200, json.dumps(body).encode()

    fake_server.responder = echo_a_piece
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    r = record(harness_cli, suite, fake_server)
    assert r.code == 0, r.err
    text = cassette(tmp_path, "echo").read_text()
    assert all(FAKE_KEY[i : i + 10] not in text for i in range(len(FAKE_KEY) - 9)), "a piece of the key is on disk"
    assert "your key starts [redacted] ok" in text
    second_request = interactions(cassette(tmp_path, "echo"))[1]["request"]["body"]["json"]["messages"]
    assert second_request[1] == {"role": "assistant", "content": "your key starts [redacted] ok"}  # what was stored
    monkeypatch.delenv("OPENAI_API_KEY")
    replay = harness_cli("run", suite, "-q", "--out", "replayed")
    assert replay.code == 0, replay.out + replay.err  # the conversation replays as it was recorded
    assert cases_by_id(tmp_path, "replayed")["echo"]["turns"][0]["reply"]["content"] == "your key starts [redacted] ok"


def test_a_piece_of_the_key_in_a_request_refuses_the_cassette(fake_server, harness_cli, write_suite, tmp_path,
                                                              monkeypatch):  # fmt: skip
    suite = write_suite(f"suite: demo\nmodel: m\ncases: [{{id: leaky, turns: [{{user: 'part {FAKE_KEY[3:15]}'}}]}}]\n")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    r = record(harness_cli, suite, fake_server)
    assert r.code == 3
    assert "refusing to write" in cases_by_id(tmp_path)["leaky"]["error"]
    assert files_under(tmp_path / "cassettes") == []


# 6. A failed or killed recording leaves no partial cassette.


def _recorded_then_changed(harness_cli, write_suite, tmp_path, server) -> tuple[Path, bytes]:
    suite = write_suite(SUITE)
    assert record(harness_cli, suite, server).code == 0
    write_suite(SUITE.replace("My Wi-Fi drops.", "My Wi-Fi keeps dropping."))
    path = cassette(tmp_path, "wifi")
    return path, path.read_bytes()


def test_failed_rename_keeps_the_old_cassette_and_no_temp_file(fake_server, harness_cli, write_suite, tmp_path,
                                                                monkeypatch):  # fmt: skip
    path, old = _recorded_then_changed(harness_cli, write_suite, tmp_path, fake_server)
    real_replace = os.replace

    def failing_replace(src, dst, *args, **kwargs):
        if Path(dst).suffix == ".yaml" and "cassettes" in Path(dst).parts:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic_files.os, "replace", failing_replace)
    r = harness_cli("run", "suite.yaml", "--cassettes", "record-missing", "--base-url", fake_server.base_url, "-q")
    assert r.code == 3
    wifi = cases_by_id(tmp_path)["wifi"]
    assert wifi["status"] == "error"
    assert "No space left on device" in wifi["error"] and "wifi.yaml" in wifi["error"]
    assert cases_by_id(tmp_path)["billing"]["status"] == "passed"  # the run went on
    assert path.read_bytes() == old
    assert [p.name for p in files_under(tmp_path / "cassettes")] == ["billing.yaml", "wifi.yaml"]


def test_write_failing_midway_keeps_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "cassettes" / "demo" / "wifi.yaml"
    atomic_files.write_text_atomic(path, "version: 1\ninteractions: []\n")
    old = path.read_bytes()
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            self.f.write(text[: len(text) // 2])
            self.f.flush()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_files.os, "fdopen", lambda fd, *a, **k: HalfWriter(real_fdopen(fd, *a, **k)))
    with pytest.raises(OSError, match="No space left"):
        atomic_files.write_text_atomic(path, "version: 1\ninteractions:\n- request: {}\n" * 100)
    assert path.read_bytes() == old
    assert files_under(tmp_path) == [path]


def test_next_write_sweeps_the_temp_file_of_a_killed_write(tmp_path):
    folder = tmp_path / "cassettes" / "demo"
    folder.mkdir(parents=True)
    killed = folder / ".wifi.yaml.k1ll3d_x.tmp"  # what SIGKILL between mkstemp and rename leaves
    neighbour = folder / ".wifi-2.yaml.k1ll3d_x.tmp"  # another case's write, maybe still in flight
    for p in (killed, neighbour):
        p.write_text("version: 1\ninteractions:\n- request: {method: PO")
    atomic_files.write_text_atomic(folder / "wifi.yaml", "version: 1\ninteractions: []\n")
    assert sorted(p.name for p in folder.iterdir()) == [neighbour.name, "wifi.yaml"]


def test_writing_many_cassettes_lists_their_folder_once(tmp_path, monkeypatch):
    """Recording 100,000 cassettes listed their folder at every write (to sweep killed writes' temp files): each
    write took longer than the last. The folder is listed once; a killed write's temp file is still swept."""
    folder = tmp_path / "cassettes" / "big"
    folder.mkdir(parents=True)
    (folder / ".c7.yaml.k1ll3d_x.tmp").write_text("version: 1\ninteractions:\n- request: {method: PO")
    listed = []
    scandir = os.scandir
    monkeypatch.setattr(atomic_files.os, "scandir", lambda path: listed.append(path) or scandir(path))
    for i in range(200):
        atomic_files.write_text_atomic(folder / f"c{i}.yaml", "version: 1\ninteractions: []\n")
    assert listed == [str(folder)]
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"c{i}.yaml" for i in range(200))


def test_killed_recording_leaves_only_complete_cassettes(harness_cli, write_suite, tmp_path):
    lines = ["suite: slow", "model: fake-model", "cases:"]
    for i in range(40):
        lines += [f"  - id: c{i}", "    turns:", f'      - user: "first {i}"', f'      - user: "second {i}"']
    write_suite("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    folder = tmp_path / "cassettes" / "slow"

    def complete() -> list[str]:
        return sorted(p.name for p in folder.glob("c*.yaml")) if folder.is_dir() else []

    with FakeOpenAI(latency_ms=60) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "suite.yaml", "--cassettes", "record", "--base-url",
             server.base_url, "--concurrency", "4", "-q"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline and proc.poll() is None and not complete():
                time.sleep(0.002)
            assert proc.poll() is None, f"the run ended before it was killed: {proc.stderr.read().decode()}"
            proc.send_signal(signal.SIGKILL)  # other cases are mid-request or mid-write now
        finally:
            proc.kill()
            proc.wait(5)
        assert proc.returncode == -signal.SIGKILL
        written = complete()
        assert 1 <= len(written) < 40
        for name in written:
            assert CaseCassette(folder / name, "replay", "hint").loaded == 2, name
            i = name.removeprefix("c").removesuffix(".yaml")
            assert [user_messages(x)[-1] for x in interactions(folder / name)] == [f"first {i}", f"second {i}"]
        # A write cut off by SIGKILL can only leave its hidden temp file, which no run ever reads...
        others = sorted(set(p.name for p in folder.iterdir()) - set(written))
        assert all(n.startswith(".c") and n.endswith(".tmp") and ".yaml." in n for n in others), others

        # ...and the next run records what is missing, sweeps those temp files and replays cleanly
        before = {n: (folder / n).read_bytes() for n in written}
        server.requests.clear()
        r = harness_cli("run", "suite.yaml", "--cassettes", "record-missing", "--base-url", server.base_url, "-q")
        assert r.code == 0, r.out + r.err
        assert len(server.requests) == 2 * (40 - len(written))
    assert {n: (folder / n).read_bytes() for n in written} == before
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"c{i}.yaml" for i in range(40))
    assert harness_cli("run", "suite.yaml", "-q").code == 0


# 7. Replay is deterministic.


def test_replaying_twice_gives_identical_outcomes(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE.replace("expect: [{contains: charged}]", "expect: [{contains: refund}]"))
    assert record(harness_cli, suite, fake_server).code == 1
    runs = []
    for out in ("reports/one", "reports/two"):
        assert harness_cli("run", suite, "--out", out, "-q").code == 1
        runs.append(results(tmp_path, out))
    one, two = runs
    assert one["summary"] == two["summary"]
    assert [c["status"] for c in one["cases"]] == ["passed", "failed"]
    for a, b in zip(one["cases"], two["cases"], strict=True):
        # every field but the wall-clock duration: status, error, turns (messages, params, reply with
        # content, usage and recorded latency, checks with name, passed, reason), usage, cost
        assert a.keys() == b.keys()
        assert {k: v for k, v in a.items() if k != "duration_ms"} == {k: v for k, v in b.items() if k != "duration_ms"}
        for ta, tb in zip(a["turns"], b["turns"], strict=True):
            assert ta["reply"] == tb["reply"]
            assert [(c["name"], c["passed"], c["reason"]) for c in ta["checks"]] == [
                (c["name"], c["passed"], c["reason"]) for c in tb["checks"]
            ]
    assert fake_server.requests and len(fake_server.requests) == 3


# 8. Replay keeps the recorded latency and usage.


def test_replay_keeps_recorded_latency_and_usage(harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        suite: demo
        model: fake-model
        cases:
          - id: slow
            turns:
              - user: hello there
                expect: [{latency_ms: 100}, {max_total_tokens: 1000}, {max_completion_tokens: 2}]
    """)
    with FakeOpenAI(latency_ms=300) as server:
        assert record(harness_cli, suite, server).code == 1
    recorded_turn = cases_by_id(tmp_path)["slow"]["turns"][0]
    on_disk = interactions(cassette(tmp_path, "slow"))[0]["response"]
    assert on_disk["latency_ms"] >= 300
    assert recorded_turn["reply"]["latency_ms"] == on_disk["latency_ms"]

    r = harness_cli("run", suite, "-q")
    assert r.code == 1
    replayed = cases_by_id(tmp_path)["slow"]
    turn = replayed["turns"][0]
    assert turn["reply"]["latency_ms"] == on_disk["latency_ms"]
    assert turn["reply"]["usage"] == recorded_turn["reply"]["usage"]
    assert turn["reply"]["usage"]["total_tokens"] == on_disk["body"]["string"]["json"]["usage"]["total_tokens"]
    verdicts = [(c["name"], c["passed"], c["reason"]) for c in turn["checks"]]
    assert verdicts == [(c["name"], c["passed"], c["reason"]) for c in recorded_turn["checks"]]
    assert verdicts[0] == ("latency_ms", False, f"expected latency <= 100 ms, got {round(on_disk['latency_ms'])} ms")
    assert [v[1] for v in verdicts[1:3]] == [True, False]  # 3 completion tokens, as recorded
    assert replayed["status"] == "failed"


# 9. Volatile fields don't churn.


def test_rerecording_an_unchanged_suite_leaves_cassettes_byte_identical(fake_server, harness_cli, write_suite,
                                                                        tmp_path):  # fmt: skip
    suite = write_suite(SUITE)
    assert record(harness_cli, suite, fake_server).code == 0
    before = {p: p.read_bytes() for p in files_under(tmp_path / "cassettes")}
    assert record(harness_cli, suite, fake_server).code == 0
    assert len(fake_server.requests) == 6  # record really sent everything again (the server numbers its ids)
    assert {p: p.read_bytes() for p in files_under(tmp_path / "cassettes")} == before


def test_rerecording_a_changed_reply_updates_the_cassette(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("suite: demo\nmodel: m\ncases: [{id: a, turns: [{user: 'hi [[reply:one]]'}]}]\n")
    assert record(harness_cli, suite, fake_server).code == 0
    path = cassette(tmp_path, "a")
    path.write_text(path.read_text().replace("content: one", "content: stale"))
    assert record(harness_cli, suite, fake_server).code == 0
    assert [reply_text(i) for i in interactions(path)] == ["one"]


# 10. Transient failures are not recorded.


class FirstRequestsFail(random.Random):
    """An rng for Faults: the first ``n`` draws land inside the fault rate, then none do."""

    def __init__(self, n: int):
        super().__init__()
        self.left = n

    def random(self) -> float:
        if self.left:
            self.left -= 1
            return 0.0
        return 0.999


def test_transient_failure_is_retried_but_not_recorded(harness_cli, write_suite, tmp_path, monkeypatch):
    waits = []
    real_delay = RetryPolicy.delay

    def delay(self, attempt, retry_after):
        waits.append(attempt)
        return min(real_delay(self, attempt, retry_after), 0.05)

    monkeypatch.setattr(RetryPolicy, "delay", delay)
    suite = write_suite(SUITE)
    with FakeOpenAI(faults=Faults(rate_500=0.5, rng=FirstRequestsFail(1))) as server:
        r = record(harness_cli, suite, server, "record", "--concurrency", "1")
        assert r.code == 0, r.out + r.err
        assert len(server.requests) == 4  # one 500, then three successes
    assert waits == [1]
    assert len(interactions(cassette(tmp_path, "wifi"))) == 2
    assert len(interactions(cassette(tmp_path, "billing"))) == 1
    for path in files_under(tmp_path / "cassettes"):
        assert all(i["response"]["status"]["code"] == 200 for i in interactions(path))
        assert "The server had an error" not in path.read_text()
    waits.clear()
    r = harness_cli("run", suite, "-q")
    assert r.code == 0, r.out + r.err
    assert waits == []  # replay never waited for a retry


# 11. A broken cassette is reported, never overwritten.


@pytest.mark.parametrize("mode", ["replay", "record-missing"])
def test_invalid_yaml_cassette_is_an_error_and_kept(mode, fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE)
    assert record(harness_cli, suite, fake_server).code == 0
    path = cassette(tmp_path, "wifi")
    lines = path.read_text().splitlines(keepends=True)
    line_no = next(n for n, line in enumerate(lines, 1) if "method: POST" in line)
    lines[line_no - 1] = lines[line_no - 1].replace("method: POST", "method: POST: oops")
    path.write_text("".join(lines))
    broken = path.read_bytes()
    fake_server.requests.clear()
    r = harness_cli("run", suite, "--cassettes", mode, "--base-url", fake_server.base_url, "-q")
    assert r.code == 3
    wifi = cases_by_id(tmp_path)["wifi"]
    assert wifi["status"] == "error"
    assert f"{Path('cassettes/demo/wifi.yaml')}:{line_no}:" in wifi["error"]
    assert "not valid YAML" in wifi["error"]
    assert cases_by_id(tmp_path)["billing"]["status"] == "passed"
    assert path.read_bytes() == broken
    assert fake_server.requests == []


# 12. Cassettes are readable in a pull-request diff.


def test_cassette_is_readable_yaml(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        suite: demo
        model: fake-model
        params: {temperature: 0}
        system: |
          You are a support agent.
          Answer in one sentence.
        cases:
          - id: a
            turns: [{user: "Where is my parcel?"}]
    """)
    assert record(harness_cli, suite, fake_server).code == 0
    text = cassette(tmp_path, "a").read_text()
    assert "content: |\n            You are a support agent.\n            Answer in one sentence.\n" in text
    assert "content: Where is my parcel?\n" in text
    assert "content: 'echo: Where is my parcel?'\n" in text
    assert "finish_reason: stop\n" in text
    assert "total_tokens: " in text
    assert '\\"' not in text and '{"' not in text  # no JSON strings inside the YAML
    response = interactions(cassette(tmp_path, "a"))[0]["response"]["body"]["string"]
    assert isinstance(response["json"]["choices"], list)


# 13. Body matching ignores JSON key order.


def test_reordered_request_keys_still_match(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE)
    assert record(harness_cli, suite, fake_server).code == 0
    path = cassette(tmp_path, "wifi")
    data = yaml.safe_load(path.read_text())
    for interaction in data["interactions"]:
        body = interaction["request"]["body"]["json"]
        body["messages"] = [dict(reversed(m.items())) for m in body["messages"]]
        interaction["request"]["body"]["json"] = dict(reversed(body.items()))
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    text = path.read_text()
    assert text.index("max_tokens:") < text.index("model:") and text.index("content:") < text.index("role:")
    r = harness_cli("run", suite, "-q")
    assert r.code == 0, r.out + r.err
    assert cases_by_id(tmp_path)["wifi"]["status"] == "passed"


# Re-recording: the printed command is the fix, as it stands.


def test_the_rerecord_command_carries_the_runs_flags_and_works_as_printed(fake_server, harness_cli, write_suite,
                                                                          tmp_path):  # fmt: skip
    suite = write_suite(SUITE)
    flags = ("--model", "other-model", "--repeat", "2", "--cassette-dir", "recs", "--base-url", fake_server.base_url)
    assert harness_cli("run", suite, *flags, "-q").code == 3  # replay, nothing recorded yet
    error = cases_by_id(tmp_path)["billing"]["error"]
    command = error.split("record it with: ", 1)[1]
    assert command == (f"harness run {suite.name} --case billing --cassettes record-missing --model other-model "
                       f"--repeat 2 --cassette-dir recs --base-url {fake_server.base_url}")  # fmt: skip
    argv = shlex.split(command)
    assert argv[:2] == ["harness", "run"]
    assert harness_cli(*argv[1:], "-q").code == 0  # following it literally records that case
    assert [(req.body["model"], req.body["messages"][-1]["content"]) for req in fake_server.requests] == [
        ("other-model", "Why was I charged twice?")] * 2  # both repeats, with the run's model
    assert harness_cli("run", suite, *flags, "--case", "billing", "-q").code == 0  # and the run now replays it


def test_the_rerecord_command_without_a_base_url_says_one_may_be_needed(harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE)
    assert harness_cli("run", suite, "-q").code == 3
    error = cases_by_id(tmp_path)["wifi"]["error"]
    assert error.endswith(f"record it with: harness run {suite.name} --case wifi --cassettes record-missing "
                          "(add --base-url URL for a server other than api.openai.com)")  # fmt: skip


def test_a_repeat_the_cassette_does_not_hold_is_named_not_a_false_diff(fake_server, harness_cli, write_suite,
                                                                       tmp_path):  # fmt: skip
    suite = write_suite(SUITE)
    assert record(harness_cli, suite, fake_server).code == 0  # one recording of each request
    r = harness_cli("run", suite, "--repeat", "3", "-q")
    assert r.code == 3
    wifi = [c for c in results(tmp_path)["cases"] if c["id"] == "wifi"]
    assert [c["status"] for c in wifi] == ["passed", "error", "error"]
    path = Path("cassettes/demo/wifi.yaml")
    for repeat, case in ((2, wifi[1]), (3, wifi[2])):
        assert case["error"] == (
            f"turn 1: repeat {repeat} of this case is not recorded in {path} (the cassette holds 1 recording of "
            f"this request); re-record with: harness run {suite.name} --case wifi --cassettes record-missing "
            f"--repeat 3 --base-url {fake_server.base_url}")  # fmt: skip (the server the cassette was recorded from)
    assert "removed" not in r.out


def test_a_new_case_in_a_project_inside_another_is_only_told_to_record(fake_server, harness_cli, write_suite, tmp_path,
                                                                          monkeypatch):  # fmt: skip
    """The cassettes folder in use is the suite's own (beside its folder): a case without a cassette is new, and
    the hint must not send the user to a `cassettes/` folder further up (another project's)."""
    (tmp_path / "cassettes").mkdir()  # the outer project's
    write_suite(SUITE, "mywork/evals/demo.yaml")
    monkeypatch.chdir(tmp_path / "mywork")
    assert record(harness_cli, Path("evals/demo.yaml"), fake_server).code == 0  # into mywork/cassettes
    (tmp_path / "mywork/evals/demo.yaml").write_text(SUITE + "  - {id: new, turns: [{user: hi}]}\n")
    r = harness_cli("run", "evals/demo.yaml", "-q")
    assert r.code == 3
    error = {c["id"]: c for c in json.loads(Path("reports/latest/results.json").read_text())["cases"]}["new"]["error"]
    assert error.startswith("turn 1: no cassette at cassettes/demo/new.yaml; record it with: harness run"), error
    assert "--cassette-dir" not in error


def test_run_from_another_folder_points_at_the_projects_cassettes(fake_server, harness_cli, write_suite, tmp_path,
                                                                  monkeypatch):  # fmt: skip
    suite = write_suite(SUITE, "project/evals/demo.yaml")
    monkeypatch.chdir(tmp_path / "project")
    assert record(harness_cli, Path("evals/demo.yaml"), fake_server).code == 0  # into project/cassettes
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = harness_cli("run", suite, "-q")
    assert r.code == 3
    error = {c["id"]: c for c in json.loads((elsewhere / "reports/latest/results.json").read_text())["cases"]}["wifi"]
    project = tmp_path / "project/cassettes"
    assert f"no cassette at {elsewhere / 'cassettes/demo/wifi.yaml'};" in error["error"]  # absolute: which folder
    assert f"pass --cassette-dir {project}," in error["error"]
    assert harness_cli("run", suite, "--cassette-dir", project, "-q").code == 0  # the suggestion works
