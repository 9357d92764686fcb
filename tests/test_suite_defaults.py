"""Shared checks: `defaults: {expect: [...]}` adds checks to every turn, `defaults: false` opts a case out, and
every report says which checks came from the defaults (harness/suites/prompt_schema.py, planning, reports)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.test_report import embedded

SUITE = """
suite: shared
model: fake-model
defaults:
  expect:
    - not_icontains: "as an ai"
    - max_completion_tokens: 50
cases:
  - id: two-turns
    turns:
      - user: "hello"
        expect:
          - contains: hello
      - user: "As an AI, hm"
  - id: opted-out
    defaults: false
    turns:
      - user: "As an AI I am fine"
cases_from:
  file: rows.csv
  id: "row-{{ n }}"
  turns: [{user: "row {{ n }}"}]
"""


def run(harness_cli, fake_server, tmp_path: Path, suite: str = SUITE):
    (tmp_path / "rows.csv").write_text("n\n1\n")
    (tmp_path / "shared.yaml").write_text(textwrap.dedent(suite).lstrip())
    return harness_cli("run", "shared.yaml", "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--out", "out")


def checks(tmp_path: Path) -> dict[str, list[list[tuple[str, bool, bool]]]]:
    data = json.loads((tmp_path / "out/results.json").read_text())
    return {c["id"]: [[(k["name"], k["passed"], k.get("default", False)) for k in t["checks"]] for t in c["turns"]]
            for c in data["cases"]}  # fmt: skip


def test_defaults_are_added_to_every_turn_of_every_case_after_its_own_checks(harness_cli, fake_server, tmp_path):
    r = run(harness_cli, fake_server, tmp_path)
    assert r.code == 1  # turn 2 of two-turns echoes "As an AI"
    found = checks(tmp_path)
    assert found["two-turns"] == [
        [("contains", True, False), ("not_icontains", True, True), ("max_completion_tokens", True, True),
         ("not_truncated", True, False)],
        [("not_icontains", False, True), ("max_completion_tokens", True, True), ("not_truncated", True, False)],
    ]  # fmt: skip
    assert found["row-1"] == [[("not_icontains", True, True), ("max_completion_tokens", True, True),
                               ("not_truncated", True, False)]]  # fmt: skip
    assert found["opted-out"] == [[("not_truncated", True, False)]]  # `defaults: false`: its "As an AI" passes


def test_every_report_says_which_checks_came_from_the_defaults(harness_cli, fake_server, tmp_path):
    r = run(harness_cli, fake_server, tmp_path)
    assert "not_icontains (default)" in r.out  # the terminal's table of failed checks
    summary = (tmp_path / "out/summary.md").read_text()
    assert "turn 2 `not_icontains` (suite default): " in summary
    assert "not_icontains (suite default): " in (tmp_path / "out/junit.xml").read_text()
    case = next(c for c in embedded((tmp_path / "out/report.html").read_text())["cases"] if c["i"] == "two-turns")
    assert [k[4] for k in case["t"][0]["ck"]] == [False, True, True, False]  # the page marks them "(suite default)"


def test_default_checks_see_each_case_vars_and_score_like_written_ones(harness_cli, fake_server, tmp_path):
    suite = SUITE.replace('- not_icontains: "as an ai"', '- contains: "{{ n | default(\'hello\') }}"')
    run(harness_cli, fake_server, tmp_path, suite)
    found = checks(tmp_path)
    assert found["row-1"][0][0] == ("contains", True, True)  # "row 1" contains the row's own n
    assert found["two-turns"][1][0] == ("contains", False, True)


def test_mistakes_in_defaults_are_reported_together_with_nothing_sent(harness_cli, fake_server, tmp_path):
    suite = SUITE.replace("  expect:\n    - not_icontains", "  expct: []\n  expect:\n    - not_icontain").replace(
        "defaults: false", "defaults: maybe")
    r = run(harness_cli, fake_server, tmp_path, suite)
    assert r.code == 2
    assert "error: shared.yaml:4:3: unknown key 'expct' in `defaults` of the suite; did you mean 'expect'?" in r.err
    assert "error: shared.yaml:6:7: unknown check 'not_icontain' in `defaults` of the suite; did you mean 'not_icontains'?" in r.err
    assert ("error: shared.yaml:16:15: `defaults` in case 'opted-out' must be false (to leave out the suite's "
            "`defaults:`) or true, got str 'maybe'") in r.err  # fmt: skip
    assert "3 problems found; nothing was sent." in r.err and fake_server.requests == []


def test_defaults_without_expect_say_what_to_write(harness_cli, fake_server, tmp_path):
    r = run(harness_cli, fake_server, tmp_path, "model: m\ndefaults: [contains: x]\ncases: [{id: a, turns: [{user: hi}]}]\n")
    assert r.code == 2
    assert "error: shared.yaml:2:11: `defaults` in the suite must be a mapping like {expect: [{not_icontains: 'as an AI'}]}" in r.err
