"""Cases validated one by one as the suite file is read (harness/suites/case_stream.py): the same suite and
the same problems as reading the file whole, in a fraction of the memory."""

from __future__ import annotations

import gc
import textwrap
from pathlib import Path

import pytest

from harness.suites import case_stream
from harness.suites.loading import load_suite_file
from harness.suites.planning import load_plans
from tests.peak_memory import run_harness

REPO = Path(__file__).resolve().parent.parent

# Cases that choose an endpoint and need a grader, and the suite keys that define them, to write above or below.
_CHOOSING = """cases:
  - id: a
    endpoint: judge
    turns: [{user: hi, expect: [{llm_rubric: polite}]}]
  - id: b
    endpoint: nowhere
    turns: [{user: hi}]
"""
_SETUP = 'endpoints: {judge: {base_url: "http://127.0.0.1:1/v1"}}\ngrader: {model: g, endpoint: judge}\n'

# Suites with problems everywhere a streamed case could differ from a whole one: inside cases and above and
# below them, keys written twice, numbers and text no request can hold, literal keys, endpoints and graders.
SUITES = {
    "problems in and around the cases": """
        model: m
        params: {temperature: .nan}
        cases:
          - id: a
            params: {temperature: .inf}
            turns:
              - user: "half an emoji \\ud83d"
                expect:
                  - contains: x
                  - contanis: y
                  - llm_rubric: polite
          - id: a
            turns: [{user: again}]
          - just text
          - id: c
            id: c2
            api_key: sk-live-abcdefghijklmnopqrstuvwxyz123456
            turns: []
        unknown_key: 1
        """,
    "endpoints and grader above the cases": "model: m\n" + _SETUP + _CHOOSING,
    "endpoints and grader below the cases": "model: m\n" + _CHOOSING + _SETUP,
    "cases written twice": """
        model: m
        cases:
          - id: a
            turns: [{user: hi}]
        cases:
          - id: b
            turns: [{user: "{{ missing }}"}]
        """,
    "endpoints and grader written twice": """
        model: m
        endpoints: {a: {base_url: "http://127.0.0.1:1/v1"}}
        grader: {embedding_model: e}
        cases:
          - id: x
            endpoint: b
            turns: [{user: hi, expect: [{llm_rubric: polite}]}]
        endpoints: {b: {base_url: "http://127.0.0.1:2/v1"}}
        grader: {model: g}
        """,
    "a case that is a key-shaped text": """
        model: m
        cases:
          - sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD
          - id: a
            turns: [{user: hi}]
        """,
    "an anchor (read the other way)": """
        model: m
        cases:
          - &first
            id: a
            turns: [{user: hi}]
          - id: b
            turns: [{user: hi, expect: [{nope: 1}]}]
        """,
}


def _load(path: Path) -> tuple[list, list[str]]:
    suite, problems = load_suite_file(path)
    cases = [(c.id, c.endpoint, [(t.user, [(k.name, k.arg) for k in t.expect]) for t in c.turns])
             for c in (suite.cases if suite else [])]  # fmt: skip
    return cases, sorted(str(p) for p in problems)


@pytest.mark.parametrize("text", SUITES.values(), ids=SUITES.keys())
def test_streamed_cases_give_the_suite_and_problems_that_reading_the_file_whole_gives(text, tmp_path, monkeypatch):
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    streamed = _load(path)
    monkeypatch.setattr(case_stream.CaseStream, "key", "no-such-key")  # nothing streamed: the whole tree
    assert streamed == _load(path)
    assert streamed[0] or streamed[1]


def test_endpoints_and_a_grader_written_below_the_cases_still_count(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(SUITES["endpoints and grader below the cases"]).lstrip())
    cases, problems = _load(path)
    assert [c[:2] for c in cases] == [("a", "judge"), ("b", None)]
    assert len(problems) == 1 and "unknown endpoint 'nowhere'" in problems[0]


def _peak_mb(tmp_path: Path, cases: int) -> float:
    from benchmarks.workload import suite_yaml

    (tmp_path / f"s{cases}.yaml").write_text(suite_yaml(cases, name=f"s{cases}"))
    code, stderr, peak_mb = run_harness(["validate", f"s{cases}.yaml"], tmp_path)
    assert code == 0, stderr
    return peak_mb


def test_validating_a_suite_holds_its_cases_not_its_whole_yaml_tree(tmp_path):
    # Issue #19: the whole file's position tree (6.5 KB a case) was alive at once; a 100,000-case suite
    # peaked at 830 MB. Now a case costs what its validated plan keeps, about 3.5 KB.
    small, big = _peak_mb(tmp_path, 1_000), _peak_mb(tmp_path, 21_000)
    per_case_kb = (big - small) * 1024 / 20_000
    assert per_case_kb < 5, f"{per_case_kb:.1f} KB a case ({small:.0f} MB at 1,000 cases, {big:.0f} MB at 21,000)"


def test_planning_makes_no_garbage_for_the_cyclic_collector(tmp_path):
    # A closure calling itself once per check made 3 cycles a case: 160 MB of garbage at 100,000 cases
    # while loading pauses the collector.
    from benchmarks.workload import suite_yaml

    (tmp_path / "s.yaml").write_text(suite_yaml(300, name="s"))
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        load_plans([str(tmp_path / "s.yaml")])
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


def test_the_collector_is_left_as_it_was_when_loading_fails(monkeypatch):
    from harness.suites import planning

    def broken(paths):
        raise RuntimeError("a bug while loading")

    monkeypatch.setattr(planning, "load_suites_partially", broken)
    with pytest.raises(RuntimeError):
        load_plans(["anything.yaml"])
    assert gc.get_freeze_count() == 0 and gc.isenabled()
