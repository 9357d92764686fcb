"""The pull-request gate as a reviewer meets it: `harness compare` of a base and a head run, end to end.

The most common pull request of all edits a prompt; the second most common
forgets to re-record. These tests play both against the fake server, with
the real CLI, and read what the reviewer reads: the terminal, summary.md and
diff.html.
"""

from __future__ import annotations

import json
import shlex
import textwrap
from pathlib import Path

import pytest

from tests.conftest import FAKE_KEY

SUPPORT = """
suite: support
model: fake-model
params: {temperature: 0, max_tokens: 50}
system: "You are a support agent. Answer in short sentences."
cases:
  - id: wifi-drops
    turns:
      - user: "My Wi-Fi drops. [[reply:Restart the router.]]"
        expect: [{contains: Restart}]
      - user: "Still broken."
        expect: [{finish_reason: stop}, {not_icontains: "as an ai"}]
      - user: "Thanks."
        expect: [{finish_reason: stop}]
  - id: greeting
    turns:
      - user: "Hello"
        expect: [{contains: echo}]
  - id: known-bad
    allow_fail: true
    turns:
      - user: "Hi [[reply:no]]"
        expect: [{contains: "yes"}]
"""
BILLING = """
suite: billing
model: fake-model
cases:
  - id: refund
    turns:
      - user: "Refund please"
        expect: [{contains: Refund}]
"""
EDIT = ("short sentences.\"", "short sentences. Be warm.\"")


def write(root: Path, name: str, text: str) -> Path:
    path = root / "evals" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def payload(page: Path) -> dict:
    text = page.read_text()
    return json.loads(text.split('<script type="application/json" id="data">')[1].split("</script>")[0])


@pytest.fixture
def recorded(fake_server, harness_cli, tmp_path, monkeypatch):
    """A project with two suites recorded against the fake server, and its replayed base run."""
    write(tmp_path, "support.yaml", SUPPORT)
    write(tmp_path, "billing.yaml", BILLING)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    r = harness_cli("run", "evals", "--cassettes", "record-missing", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.out + r.err
    monkeypatch.delenv("OPENAI_API_KEY")
    base = harness_cli("run", "evals/", "--out", "base", "-q")
    assert base.code == 0, base.out + base.err
    return tmp_path


def test_a_forgotten_re_record_needs_re_record_and_is_never_a_regression(recorded, fake_server, harness_cli):
    suite = recorded / "evals/support.yaml"
    suite.write_text(suite.read_text().replace(*EDIT))
    head = harness_cli("run", "evals/", "--out", "head")
    assert head.code == 3
    command = (f"harness run evals/support.yaml --case wifi-drops --case greeting --case known-bad "
               f"--cassettes record-missing "
               f"--base-url {fake_server.base_url}")  # fmt: skip
    # the run itself says it once per suite, with the server the cassettes were recorded from
    assert f"re-record: {command}\n" in head.out
    assert "(add --base-url" not in head.out
    head_summary = (recorded / "head/summary.md").read_text()  # the run's own summary says it too, whole
    assert f"```sh\n{command}\n```" in head_summary and "duration" not in head_summary  # a replay: no timings

    r = harness_cli("compare", "base", "head", "--out", "cmp")
    assert r.code == 3, r.out + r.err  # could not be evaluated: 3, not "regressed" (1)
    assert "REGRESSED" not in r.out and "user removed" not in r.out
    assert "NEEDS RE-RECORD support / wifi-drops" in r.out and "NEEDS RE-RECORD support / greeting" in r.out
    assert "turns 2-3 not run" in r.out
    assert "gate failed: 3 cases need re-recording (their cassettes are stale or missing)" in r.out
    assert f"\n  {command}\n" in r.out

    summary = (recorded / "cmp/summary.md").read_text()
    assert summary.startswith("### ❌ prompt-harness compare: 3 need re-record, 0 regressed")
    assert f"```sh\n{command}\n```" in summary  # whole, in a code block, once for the suite
    assert summary.count("--cassettes record-missing") == 1
    assert ("```diff\n@@ system prompt: support / wifi-drops, greeting, known-bad @@\n"
            "-You are a support agent. Answer in short sentences.\n"
            "+You are a support agent. Answer in short sentences. Be warm.\n```") in summary  # fmt: skip
    assert "#### Needs re-record (3)" in summary and "removed" not in summary and "Regressed" not in summary
    wifi = next(line for line in summary.splitlines() if "support / wifi-drops" in line and line.startswith("- "))
    assert "passed → not run: turn 1 errored; turns 2-3 not run" in wifi
    tokens_row = next(line for line in summary.splitlines() if line.startswith("| tokens |"))
    assert tokens_row.endswith("| ±0 |")  # what did not run in head is left out of both sides
    assert "-100.0 pp" not in summary and "| pass rate | 100.0% | 100.0% | ±0 |" in summary  # nor is it a drop

    data = payload(recorded / "cmp/diff.html")
    case = next(c for c in data["cases"] if c["i"] == "wifi-drops")
    assert case["ch"] == "needs re-record"
    assert [p[:2] for p in case["pr"]] == [["system prompt", "changed"]]  # turns 2 and 3 are not "removed"
    assert [(r[0], r[6]) for r in case["re"]] == [(1, True), (2, True), (3, True)]  # not run, not deleted
    assert case["tok"] == [None, None] and case["lat"] == [None, None]  # nothing to compare: nothing ran
    assert case["nr"] == "turn 1 errored; turns 2-3 not run"
    junit = (recorded / "cmp/junit.xml").read_text()
    assert '<error message="needs re-record (passed -&gt; not run: turn 1 errored; turns 2-3 not run)' in junit
    assert 'type="regression"' not in junit

    # the printed command is the fix, as it stands
    argv = shlex.split(command)
    assert harness_cli(*argv[1:], "-q").code == 0
    assert harness_cli("run", "evals/", "--out", "head", "-q").code == 0
    after = harness_cli("compare", "base", "head", "--out", "cmp")
    assert after.code == 0, after.out
    assert "CHANGED       support / wifi-drops" in after.out  # same status, new request and replies
    summary = (recorded / "cmp/summary.md").read_text()
    assert "#### Changed (2)" in summary and "Gate passed" in summary


def test_a_case_that_errored_for_another_reason_is_not_run_and_its_turns_are_not_removed(fake_server, harness_cli,
                                                                                         tmp_path):  # fmt: skip
    live = ("--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    write(tmp_path, "billing.yaml", BILLING)
    write(tmp_path, "support.yaml", SUPPORT)
    assert harness_cli("run", "evals", *live, "--out", "base").code == 0
    write(tmp_path, "support.yaml", SUPPORT.replace("Still broken.", "Still broken. [[error:400]]"))
    assert harness_cli("run", "evals", *live, "--out", "head").code == 3
    r = harness_cli("compare", "base", "head", "--out", "cmp")
    assert r.code == 3
    assert "NOT RUN       support / wifi-drops  (passed -> not run: turn 2 errored; turn 3 not run)" in r.out
    assert "turn 3 user removed" not in r.out and "REGRESSED" not in r.out
    assert "gate failed: 1 case not run (an error kept it from being evaluated; see why below)" in r.out
    data = payload(tmp_path / "cmp/diff.html")
    case = next(c for c in data["cases"] if c["i"] == "wifi-drops")
    assert case["ch"] == "not run"
    assert [(r[0], r[1], r[6]) for r in case["re"]] == [(1, False, False), (2, False, True), (3, False, True)]
    assert case["tok"][0] == case["tok"][1]  # only turn 1 ran in head, so only turn 1 is compared
    assert [p[:2] for p in case["pr"]] == [["turn 2 user", "changed"]]
    summary = (tmp_path / "cmp/summary.md").read_text()
    assert "#### Not run (1)" in summary and "re-record" not in summary.lower()


def test_new_failing_cases_fail_the_gate_unless_allowed(recorded, harness_cli, fake_server, monkeypatch):
    new = write(recorded, "orders.yaml", """
        suite: orders
        model: fake-model
        cases:
          - {id: a, turns: [{user: "one", expect: [{contains: never}]}]}
          - {id: b, turns: [{user: "two", expect: [{contains: never}]}]}
          - {id: c, turns: [{user: "three", expect: [{contains: never}]}]}
          - {id: d, turns: [{user: "four", expect: [{contains: echo}]}]}
        """)  # fmt: skip
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    recording = harness_cli("run", new, "--cassettes", "record-missing", "--base-url", fake_server.base_url,
                            "-q", "--out", "rec")  # fmt: skip
    assert recording.code == 1
    monkeypatch.delenv("OPENAI_API_KEY")
    assert harness_cli("run", "evals", "--out", "head", "-q").code == 1
    r = harness_cli("compare", "base", "head", "--out", "cmp")
    assert r.code == 1, r.out
    assert "gate failed: 3 new cases fail" in r.out
    summary = (recorded / "cmp/summary.md").read_text()
    first = summary.splitlines()[0]
    assert first == "### ❌ prompt-harness compare: 0 regressed, 4 new (3 failing), 0 fixed, 1 still failing"
    assert "**Gate failed:** 3 new cases fail" in summary
    assert (recorded / "cmp/junit.xml").read_text().count('type="new_failure"') == 3

    allowed = harness_cli("compare", "base", "head", "--out", "cmp", "--allow-new-failures")
    assert allowed.code == 0, allowed.out
    assert "gate passed" in allowed.out

    new.write_text(new.read_text().replace("model: fake-model", "model: fake-model\ngate: {allow_new_failures: true}"))
    assert harness_cli("run", "evals", "--out", "head", "-q").code == 1
    assert harness_cli("compare", "base", "head", "--out", "cmp").code == 0  # the suite's own policy


def test_summary_md_marks_tolerated_folds_still_failing_and_leaves_out_noise(recorded, harness_cli):
    r = harness_cli("compare", recorded / "base", recorded / "base/results.json", "--out", "cmp")
    assert r.code == 0, r.out
    summary = (recorded / "cmp/summary.md").read_text()
    assert str(recorded) not in summary  # paths relative to where compare ran (the repository)
    assert "Base `base` → head `base/results.json`" in summary
    fold = summary.split("<details><summary>Still failing (1)</summary>", 1)[1].split("</details>", 1)[0]
    assert "**support / known-bad** failed → failed (tolerated: allowed to fail)" in fold
    assert "| duration |" not in summary  # a replay's wall time says nothing about the prompt
    assert "20.7%" not in summary  # the Wilson interval of 1/1, which says nothing
    assert "| billing | 1/1 = 100.0% | 1/1 = 100.0% | +0.0 pp |" in summary


def test_a_long_re_record_command_is_never_cut(recorded, harness_cli, fake_server, monkeypatch):
    ids = [f"a-rather-long-case-identifier-number-{i:02d}" for i in range(12)]
    cases = "\n".join(f"  - {{id: {i}, turns: [{{user: 'hi {i}', expect: [{{contains: echo}}]}}]}}" for i in ids)
    write(recorded, "many.yaml", f"suite: many\nmodel: fake-model\nsystem: Be brief.\ncases:\n{cases}\n")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    assert harness_cli("run", "evals/many.yaml", "--cassettes", "record-missing", "--base-url",
                       fake_server.base_url, "-q", "--out", "rec").code == 0  # fmt: skip
    monkeypatch.delenv("OPENAI_API_KEY")
    assert harness_cli("run", "evals", "--out", "base", "-q").code == 0
    many = recorded / "evals/many.yaml"
    many.write_text(many.read_text().replace("Be brief.", "Be very brief."))
    assert harness_cli("run", "evals", "--out", "head", "-q").code == 3
    assert harness_cli("compare", "base", "head", "--out", "cmp").code == 3
    summary = (recorded / "cmp/summary.md").read_text()
    command = summary.split("```sh\n", 1)[1].split("\n```", 1)[0]
    assert "…" not in command and command.endswith(f"--base-url {fake_server.base_url}")
    assert shlex.split(command)[shlex.split(command).index("--case") + 1] == ids[0]
    assert all(f"--case {i}" in command for i in ids)


def test_the_gate_block_takes_allow_new_failures_beside_the_usage_limits(harness_cli, tmp_path):
    write(tmp_path, "a.yaml", """
        model: m
        gate: {allow_new_failures: true, max_cost_increase: 20}
        cases: [{id: a, turns: [{user: hi}]}]
        """)  # fmt: skip
    assert harness_cli("validate", "evals/a.yaml").code == 0
    write(tmp_path, "b.yaml", """
        model: m
        gate: {allow_new_failures: "yes", alow_new_failures: true}
        cases: [{id: a, turns: [{user: hi}]}]
        """)  # fmt: skip
    r = harness_cli("validate", "evals/b.yaml")
    assert r.code == 2
    assert "evals/b.yaml:2:28: `gate.allow_new_failures` must be true or false, got str 'yes'" in r.err
    assert "unknown key 'alow_new_failures' in `gate` of the suite; did you mean 'allow_new_failures'?" in r.err


def test_a_stale_variant_gets_one_command_that_names_the_variant(fake_server, harness_cli, tmp_path, monkeypatch):
    suite = write(tmp_path, "shop.yaml", """
        suite: shop
        model: fake-model
        system: "Be kind."
        variants:
          - name: baseline
          - name: terse
            system: "Be brief."
        cases:
          - {id: hello, turns: [{user: "hi", expect: [{contains: echo}]}]}
          - {id: bye, turns: [{user: "bye", expect: [{contains: echo}]}]}
        """)  # fmt: skip
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    assert harness_cli("run", "evals", "--cassettes", "record-missing", "--base-url", fake_server.base_url,
                       "--out", "base", "-q").code == 0  # fmt: skip
    monkeypatch.delenv("OPENAI_API_KEY")
    suite.write_text(suite.read_text().replace("Be brief.", "Be very brief."))
    assert harness_cli("run", "evals", "--out", "head", "-q").code == 3
    r = harness_cli("compare", "base", "head", "--out", "cmp")
    assert r.code == 3
    command = (f"harness run evals/shop.yaml --case hello --case bye --variant terse --cassettes record-missing "
               f"--base-url {fake_server.base_url}")  # fmt: skip
    assert f"\n  {command}\n" in r.out and "NEEDS RE-RECORD shop / hello [terse]" in r.out
    assert "shop / hello [baseline]" not in r.out.split("\n\n")[0]  # the untouched variant still replays
    assert harness_cli(*shlex.split(command)[1:], "-q").code == 0
    assert harness_cli("run", "evals", "--out", "head", "-q").code == 0
