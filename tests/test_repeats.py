"""harness/execution/repeats.py end to end: repeats recorded and replayed in order, pass rates, flaky cases, scores."""

from __future__ import annotations

import json
import random
import re

import pytest

from harness.core.settings import RunSettings
from harness.execution.runner import run_plans
from harness.suites.planning import load_plans
from tests import fake_openai
from tests.fake_openai import FakeOpenAI

COIN = """
suite: rep
model: fake-model
repeat: 5
cases:
  - id: coin
    pass_if: majority
    turns:
      - user: "Hello"
        expect:
          - contains: "#1"
            metric: luck
      - user: "Again"
        expect:
          - contains: Again
  - id: steady
    turns:
      - user: "Hi"
        expect:
          - contains: echo
            metric: accuracy
"""


@pytest.fixture
def coin_server(monkeypatch):
    """The fake server in nondeterministic mode, its " #1".." #3" drawn from a seeded generator."""
    monkeypatch.setattr(fake_openai, "random", random.Random(11))
    with FakeOpenAI(nondeterministic=True) as server:
        yield server


def _replies(results: dict) -> list[tuple[str, int, list[str]]]:
    return [(c["id"], c["repeat"], [t["reply"]["content"] for t in c["turns"]]) for c in results["cases"]]


def _payload(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1))


def test_five_repeats_record_replay_identically_and_report_pass_rates_and_the_flaky_case(
        coin_server, harness_cli, write_suite, tmp_path):  # fmt: skip
    suite = write_suite(COIN)
    rec = harness_cli("run", suite, "--cassettes", "record", "--base-url", coin_server.base_url, "--concurrency", "1",
                      "--out", "rec", "-q")  # fmt: skip
    assert len(coin_server.requests) == 15  # coin: 5 repeats x 2 turns; steady: 5 x 1
    recorded = rec.results(tmp_path / "rec")
    assert [(c["id"], c["repeat"]) for c in recorded["cases"]] == [("coin", k) for k in range(5)] + [
        ("steady", k) for k in range(5)
    ]
    first_turns = [r[2][0] for r in _replies(recorded) if r[0] == "coin"]
    assert len(set(first_turns)) > 1, first_turns  # the seeded server really varied its replies

    rep = harness_cli("run", suite, "--out", "replay", "-q")  # replay: no server, no key
    replayed = rep.results(tmp_path / "replay")
    assert _replies(replayed) == _replies(recorded)  # the same 5 replies per case, in the same order
    assert rep.code == rec.code
    assert len(re.findall(r"^- request:", (tmp_path / "cassettes/rep/coin.yaml").read_text(), re.M)) == 10

    passes = sum("#1" in r for r in first_turns)
    assert 0 < passes < 5  # the seed gives a flaky case
    coin, steady = replayed["outcomes"]
    assert coin == coin | {"suite": "rep", "id": "coin", "repeats": 5, "passed": passes, "failed": 5 - passes,
                           "errored": 0, "pass_rate": passes / 5, "policy": "majority", "flaky": True,
                           "status": "passed" if passes >= 3 else "failed", "allow_fail": False}  # fmt: skip
    assert steady == steady | {
        "repeats": 5,
        "passed": 5,
        "pass_rate": 1.0,
        "policy": "all",
        "flaky": False,
        "status": "passed",
    }
    summary = replayed["summary"]
    assert summary == summary | {
        "total": 2,
        "repeats": 10,
        "flaky": 1,
        "passed": 1 + (passes >= 3),
        "failed": int(passes < 3),
    }
    assert rep.code == (0 if passes >= 3 else 1)
    assert replayed["metrics"] == [{"metric": "luck", "passed": passes, "total": 5, "share": passes / 5},
                                   {"metric": "accuracy", "passed": 5, "total": 5, "share": 1.0}]  # fmt: skip
    assert replayed["cases"][0]["policy"] == {"repeats": 5, "pass_if": "majority", "threshold": None,
                                              "allow_fail": False, "min_pass_rate": None,
                                              "allow_new_failures": False}  # fmt: skip

    md = (tmp_path / "replay/summary.md").read_text()
    assert "#### Pass rates over repeats (2 cases)" in md
    assert f"| **rep / coin** | {passes}/5 | {100 * passes / 5:.1f}% | majority |" in md and "**flaky**" in md
    assert "10 runs of 2 cases (repeats)" in md and "1 flaky" in md

    payload = _payload((tmp_path / "replay/report.html").read_text())
    by_id = {o["i"]: o for o in payload["outcomes"]}
    assert by_id["coin"] | {"n": 5, "p": passes, "fl": True} == by_id["coin"]
    assert by_id["steady"]["fl"] is False
    rows = [c for c in payload["cases"] if c["i"] == "coin"]
    assert sorted(c["r"] for c in rows) == [0, 1, 2, 3, 4]
    assert all(c["ag"][:2] == [passes, 5] and c["ag"][3] is True for c in rows)
    assert f"{passes}/5" in rep.out and "flaky" in rep.out


def test_record_missing_adds_repeats_and_replays_the_old_ones_first(coin_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(COIN.replace("repeat: 5", "repeat: 2"))
    first = harness_cli("run", suite, "--cassettes", "record", "--base-url", coin_server.base_url, "--out", "a", "-q")
    more = harness_cli("run", suite, "--repeat", "4", "--cassettes", "record-missing", "--base-url",
                       coin_server.base_url, "--out", "b", "-q")  # fmt: skip
    again = harness_cli("run", suite, "--repeat", "4", "--out", "c", "-q")
    a, b, c = (r.results(tmp_path / d) for r, d in ((first, "a"), (more, "b"), (again, "c")))
    assert _replies(b)[:2] == _replies(a)[:2]  # the first two repeats of coin came from the cassette
    assert _replies(c) == _replies(b) and len(c["cases"]) == 8
    assert c["settings"]["repeat"] == 4


def test_repeat_override_that_pass_if_cannot_meet_is_bad_input(fake_server, harness_cli, write_suite):
    suite = write_suite("""
        model: m
        cases:
          - id: a
            pass_if: {at_least: 3}
            repeat: 3
            turns:
              - user: hi
    """)
    r = harness_cli("run", suite, "--repeat", "2", "--cassettes", "off", "--base-url", fake_server.base_url)
    assert r.code == 2
    assert "suite.yaml:4:14: `pass_if: {at_least: 3}` can never be met by case 'a', which runs 2 times" in r.err
    assert fake_server.requests == []


WEIGHTED = """
model: fake-model
threshold: 0.6
cases:
  - id: partial
    turns:
      - user: "Hello [[reply:Hello, happy to help]]"
        expect:
          - contains: Hello
            weight: 2
            metric: politeness
          - contains: refund
            metric: accuracy
  - id: strict
    threshold: 0.9
    turns:
      - user: "Hello [[reply:Hello, happy to help]]"
        expect:
          - contains: Hello
            weight: 2
          - contains: refund
  - id: truncated
    turns:
      - user: "Hello [[length]] [[reply:Hello, happy to help you today]]"
        expect:
          - contains: Hello
            weight: 9
          - contains: refund
"""


def test_weights_threshold_and_metrics(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(WEIGHTED)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    results = r.results(tmp_path / "reports/latest")
    cases = {c["id"]: c for c in results["cases"]}
    assert cases["partial"]["score"] == pytest.approx(2 / 3, abs=1e-6)
    assert cases["partial"]["status"] == "passed"  # 2/3 of the weight passed >= 0.6
    assert cases["strict"]["status"] == "failed"  # 2/3 < 0.9
    assert (
        cases["truncated"]["score"] == pytest.approx(0.9) and cases["truncated"]["status"] == "failed"
    )  # implicit not_truncated must pass
    checks = cases["partial"]["turns"][0]["checks"]
    assert [(c.get("weight"), c.get("metric")) for c in checks] == [
        (2.0, "politeness"),
        (1.0, "accuracy"),
        (None, None),
    ]
    assert results["metrics"] == [{"metric": "politeness", "passed": 1, "total": 1, "share": 1.0},
                                  {"metric": "accuracy", "passed": 0, "total": 1, "share": 0.0}]  # fmt: skip
    assert r.code == 1
    assert "metric politeness: 1/1 checks passed (100%)" in r.out
    assert "| accuracy | 0/1 | 0.0% |" in (tmp_path / "reports/latest/summary.md").read_text()


GATED = """
suite: gated
model: fake-model
min_pass_rate: 0.75
cases:
  - {id: a, turns: [{user: "a", expect: [{contains: a}]}]}
  - {id: b, turns: [{user: "b", expect: [{contains: b}]}]}
  - {id: c, turns: [{user: "c", expect: [{contains: c}]}]}
  - {id: d, turns: [{user: "d", expect: [{contains: zzz}]}]}
"""


@pytest.mark.parametrize(("minimum", "code"), [("0.75", 0), ("0.8", 1)])
def test_min_pass_rate_tolerates_failures_while_the_suite_holds_its_gate(minimum, code, fake_server, harness_cli,
                                                                           write_suite, tmp_path):  # fmt: skip
    suite = write_suite(GATED.replace("0.75", minimum))
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == code, r.out + r.err
    results = r.results(tmp_path / "reports/latest")
    assert results["summary"]["failed"] == 1 and results["summary"]["tolerated"] == 1 - code
    (row,) = results["suites"]
    assert row | {"pass_rate": 0.75, "min_pass_rate": float(minimum), "gate": "failed" if code else "passed"} == row
    verdict = "gate failed" if code else "gate held"
    assert f"suite gated: 3 of 4 cases passed (75%); min_pass_rate {float(minimum):.0%}: {verdict}" in r.out
    md = (tmp_path / "reports/latest/summary.md").read_text()
    assert f"| gated | 3/4 | 75.0% | {100 * float(minimum):.0f}% | {'**failed**' if code else 'held'} |" in md
    assert "Suite gates" in (tmp_path / "reports/latest/report.html").read_text()


def test_allow_fail_reports_the_failure_without_failing_the_run_but_an_error_still_counts(
        fake_server, harness_cli, write_suite, tmp_path):  # fmt: skip
    suite = write_suite("""
        model: fake-model
        cases:
          - id: known-bad
            allow_fail: true
            turns: [{user: "hi", expect: [{contains: zzz}]}]
          - id: fine
            turns: [{user: "hi", expect: [{contains: hi}]}]
    """)
    r = harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.out
    assert "1 failed (1 tolerated)" in r.out and "allowed to fail (allow_fail: true): suite / known-bad" in r.out
    md = (tmp_path / "reports/latest/summary.md").read_text()
    assert "allowed to fail (allow\\_fail: true)" in md and md.startswith("### \u2705")
    junit = (tmp_path / "reports/latest/junit.xml").read_text()
    assert 'skipped message="not counted: allowed to fail (allow_fail: true)"' in junit
    (tmp_path / "cassettes/suite/known-bad.yaml").unlink()
    replay = harness_cli("run", suite, "-q")
    assert replay.code == 3  # could not be evaluated: allow_fail does not hide a missing cassette


def test_resume_reruns_a_case_whose_repeats_were_not_all_journaled(fake_server, write_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = write_suite(COIN.replace("repeat: 5", "repeat: 3"))
    _, plans = load_plans([str(suite)])
    settings = RunSettings(cassette_mode="off", base_url=fake_server.base_url)
    journaled: list = []
    full = run_plans(plans, settings, None, on_case_done=journaled.append)
    assert sorted(c.key for c in journaled) == sorted(c.key for c in full.cases)  # every repeat journaled
    before = len(fake_server.requests)
    partial = {c.key: c for c in full.cases if c.key != ("rep", "coin", 2)}  # coin's last repeat never finished
    again = run_plans(plans, settings, None, finished=partial)
    assert len(fake_server.requests) - before == 6  # coin again, all 3 repeats x 2 turns; steady not at all
    assert [c.key for c in again.cases] == [c.key for c in full.cases]
    assert all(c.policy.repeats == 3 for c in again.cases)
