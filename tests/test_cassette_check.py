"""A cassette is validated before it is replayed: a broken one is exit 3 naming the file and the re-record command.

On main a cassette cut short (still valid YAML) replayed as an empty reply and
failed its checks (exit 1), `record-missing` kept it, a wrong type inside was
"internal error: TypeError", `version: 99` was accepted and an empty file was
"missing".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

SUITE = """
suite: demo
model: fake-model
cases:
  - id: wifi
    turns:
      - user: "My Wi-Fi drops."
        expect: [{contains: Wi-Fi}]
  - id: billing
    turns:
      - user: "Why was I charged twice?"
        expect: [{contains: charged}]
"""
WIFI = Path("cassettes/demo/wifi.yaml")


@pytest.fixture
def recorded(fake_server, harness_cli, write_suite, tmp_path):
    """Both cases recorded; returns the suite, and the path and text of wifi's cassette."""
    suite = write_suite(SUITE)
    r = harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.err
    fake_server.requests.clear()
    return suite, tmp_path / WIFI


def replay(harness_cli, suite: Path, *extra: str):
    r = harness_cli("run", suite, "-q", *extra)
    results = json.loads(Path("reports/latest/results.json").read_text())
    return r, {c["id"]: c for c in results["cases"]}


def cut_after(text: str, marker: str) -> str:
    """The text up to the first line of the response holding ``marker``: a cassette cut short by a crash or an edit."""
    lines = text.splitlines(keepends=True)
    response = next(i for i, line in enumerate(lines) if line.strip() == "response:")
    return "".join(lines[: next(i for i in range(response, len(lines)) if marker in lines[i]) + 1])


def assert_broken(result: dict, *words: str) -> None:
    assert result["status"] == "error", result
    error = result["error"]
    assert error.startswith(f"{WIFI}: "), error
    assert "re-record it with: harness run suite.yaml --case wifi --cassettes record" in error, error
    for word in words:
        assert word in error, error


def test_a_cassette_cut_short_but_still_yaml_is_a_broken_recording_not_a_failed_check(recorded, harness_cli):
    suite, path = recorded
    cut = cut_after(path.read_text(), "content:")  # the reply's text is there; finish_reason, usage and the rest not
    yaml.safe_load(cut)  # still valid YAML
    path.write_text(cut)
    r, cases = replay(harness_cli, suite)
    assert r.code == 3, r.out  # main: exit 1, "content: null" failed `contains`
    assert_broken(cases["wifi"], "interaction 1", "finish_reason", "cut short")
    assert cases["wifi"]["turns"] == []  # nothing was judged
    assert cases["billing"]["status"] == "passed"


@pytest.mark.parametrize("mode", ["record-missing", "replay"])
def test_a_broken_cassette_is_reported_and_kept_by_record_missing(mode, recorded, fake_server, harness_cli):
    suite, path = recorded
    path.write_text(cut_after(path.read_text(), "content:"))
    broken = path.read_bytes()
    r, cases = replay(harness_cli, suite, "--cassettes", mode, "--base-url", fake_server.base_url)
    assert r.code == 3
    assert_broken(cases["wifi"], "cut short")
    assert path.read_bytes() == broken  # reported, not silently kept or overwritten
    assert fake_server.requests == []


def test_record_replaces_a_broken_cassette(recorded, fake_server, harness_cli):
    suite, path = recorded
    path.write_text(cut_after(path.read_text(), "content:"))
    r = harness_cli("run", suite, "--case", "wifi", "--cassettes", "record", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.out + r.err
    r, cases = replay(harness_cli, suite)
    assert r.code == 0 and cases["wifi"]["status"] == "passed"


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def response(data: dict) -> dict:
    return data["interactions"][0]["response"]


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(version=99), ["version 99", "newer than this harness reads (1)"]),
    (lambda d: d.update(version="one"), ["version 'one'"]),
    (lambda d: d.pop("version"), ["no `version:`"]),
    (lambda d: response(d)["status"].update(code="abc"), ["status code", "'abc'"]),
    (lambda d: response(d).update(headers=["a", "b"]), ["headers"]),
    (lambda d: response(d)["headers"].update({"content-type": "application/json"}), ["headers"]),
    (lambda d: response(d).update(latency_ms="fast"), ["latency_ms"]),
    (lambda d: response(d)["headers"].update({"x-note": ["caf\u00e9"]}), ["headers", "ASCII"]),  # found by the fuzz
    (lambda d: response(d)["body"]["string"]["json"].update(choices=5), ["choices"]),
    (lambda d: response(d)["body"]["string"]["json"]["choices"][0].update(message=None), ["message is null"]),
    (lambda d: response(d)["body"]["string"]["json"]["choices"][0]["message"].update(content=7), ["content"]),
    (lambda d: response(d)["body"].update(string=12), ["body"]),
    (lambda d: d["interactions"][0]["request"].update(method=5), ["method"]),
    (lambda d: d["interactions"][0].pop("response"), ["response"]),
    (lambda d: d.update(interactions={"a": 1}), ["interactions"]),
])  # fmt: skip
def test_a_mistyped_cassette_names_the_file_and_what_is_wrong(change, words, recorded, harness_cli):
    suite, path = recorded
    edit(path, change)
    r, cases = replay(harness_cli, suite)
    assert r.code == 3, r.out
    assert "internal error" not in r.out
    assert_broken(cases["wifi"], *words)
    assert cases["billing"]["status"] == "passed"


def test_an_empty_cassette_file_is_broken_not_missing(recorded, harness_cli):
    suite, path = recorded
    path.write_text("")
    r, cases = replay(harness_cli, suite)
    assert r.code == 3
    assert_broken(cases["wifi"], "empty")
    assert "no cassette at" not in cases["wifi"]["error"]


def test_a_reply_the_harness_could_not_replay_is_never_recorded(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE)
    fake_server.responder = lambda request: (200, json.dumps({"choices": [{"message": None}]}).encode())
    r = harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "-q")
    assert r.code == 3
    results = json.loads((tmp_path / "reports/latest/results.json").read_text())
    assert all("malformed" in c["error"] and "message is null" in c["error"] for c in results["cases"])
    assert not (tmp_path / "cassettes").exists() or not list((tmp_path / "cassettes").rglob("*.yaml"))


def test_a_recorded_stream_cut_short_is_a_broken_cassette(fake_server, harness_cli, write_suite, tmp_path):
    """A stream that ended early is never recorded; one cut short by hand is not replayed either."""
    suite = write_suite(SUITE.replace("model: fake-model", "model: fake-model\nparams: {stream: true}"))
    assert harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "-q").code == 0
    path = tmp_path / WIFI
    data = yaml.safe_load(path.read_text())
    events = data["interactions"][0]["response"]["body"]["events"]
    assert len(events) > 2
    data["interactions"][0]["response"]["body"]["events"] = events[:-2]  # no [DONE]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    r, cases = replay(harness_cli, suite)
    assert r.code == 3
    assert_broken(cases["wifi"], "the recorded stream ends before its final event")
    assert cases["billing"]["status"] == "passed"


def test_a_mistyped_responses_api_recording_is_a_broken_cassette(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE.replace("model: fake-model", "model: fake-model\napi: responses"))
    assert harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "-q").code == 0
    edit(tmp_path / WIFI, lambda d: response(d)["body"]["string"]["json"].update(output=5))
    r, cases = replay(harness_cli, suite)
    assert r.code == 3
    assert_broken(cases["wifi"], "the recorded reply is not one the harness can replay")
