"""Flat memory (issue #19): a run streams its cases to the journal and every output reads them back from there.

The runner keeps no finished case and starts a case's task only when a concurrency slot frees;
results.json, junit.xml and the totals come out the same as from a run held in memory.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

from harness.core.case_file import CaseFile, head_of
from harness.core.result import load_run, save_run
from harness.core.settings import RunSettings
from harness.execution.journal import RunFolder
from harness.execution.runner import RunObserver, execute, run_plans
from harness.report.junit import run_junit, write_run_junit
from harness.suites.planning import load_plans
from tests.synthetic import synthetic_run


def _suite(write_suite, n: int, extra: str = "") -> Path:
    return write_suite("model: m\n" + extra + "cases:\n" + "".join(
        f"  - {{id: c{i}, turns: [{{user: 'hi {i}', expect: [{{contains: 'hi', metric: greeting}}]}}]}}\n"
        for i in range(n)))  # fmt: skip


class TaskCounter(RunObserver):
    """Counts the asyncio tasks alive each time a case finishes."""

    def __init__(self) -> None:
        self.most = 0

    def case_done(self, case) -> None:  # type: ignore[no-untyped-def]
        self.most = max(self.most, len(asyncio.all_tasks()))


def test_cases_start_as_slots_free_not_all_at_once(fake_server, write_suite):
    _, plans = load_plans([str(_suite(write_suite, 60))])
    watch = TaskCounter()
    settings = RunSettings(base_url=fake_server.base_url, concurrency=3, cassette_mode="off")
    cases = asyncio.run(execute(plans, settings, "sk-x", observer=watch))
    assert [c.id for c in cases] == [f"c{i}" for i in range(60)]  # plan order, whatever order they finished in
    assert watch.most < 20  # three case slots, the ticker, the run and the HTTP client's own; was a task per case (60+)


def test_a_journaled_run_keeps_nothing_and_writes_the_same_results(fake_server, write_suite, tmp_path):
    _, plans = load_plans([str(_suite(write_suite, 25, "repeat: 2\n"))])
    settings = RunSettings(base_url=fake_server.base_url, concurrency=4, cassette_mode="off")
    held = run_plans(plans, settings, "sk-x")
    journal = RunFolder(tmp_path / "out").start(settings.to_dict())
    streamed = run_plans(plans, settings, "sk-x", on_case_done=journal.append, journal=journal)
    journal.close()
    assert isinstance(streamed.cases, CaseFile) and len(streamed.cases) == 50
    assert all(isinstance(entry, tuple) for entry in streamed.cases._entries)  # every case on disk, none in memory
    save_run(held, tmp_path / "held.json")
    save_run(streamed, tmp_path / "streamed.json")
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("held", "streamed"))
    for data in (a, b):
        for case in data["cases"]:  # wall time differs between the two runs
            case["duration_ms"] = 0
            for turn in case["turns"]:
                turn["reply"]["latency_ms"] = turn["reply"]["id"] = None  # the server numbers its replies
        data["duration_ms"] = data["started_at"] = None
    assert a == b
    assert b["summary"]["total"] == 25 and b["summary"]["repeats"] == 50
    assert b["metrics"] == [{"metric": "greeting", "passed": 50, "total": 50, "share": 1.0}]
    assert load_run(tmp_path / "streamed.json").summary == held.summary


def test_a_disk_that_refuses_the_journal_still_gets_every_case_into_the_results(fake_server, write_suite, tmp_path,
                                                                                 capsys):  # fmt: skip
    _, plans = load_plans([str(_suite(write_suite, 12))])
    settings = RunSettings(base_url=fake_server.base_url, concurrency=2, cassette_mode="off")
    journal = RunFolder(tmp_path / "out").start(settings.to_dict())
    append = journal.append
    calls = []

    def failing_after_five(case) -> None:  # type: ignore[no-untyped-def]
        calls.append(case.id)
        if len(calls) == 6:
            journal._handle.close()  # the next write fails as a full or vanished disk would
        append(case)

    run = run_plans(plans, settings, "sk-x", on_case_done=failing_after_five, journal=journal)
    assert "cannot append to" in capsys.readouterr().err
    assert [c.id for c in run.cases] == [f"c{i}" for i in range(12)]
    assert all(c.status == "passed" for c in run.cases)
    assert len(journal.unwritten) == 7  # held in memory instead


def test_case_file_reads_back_in_any_order(tmp_path):
    run = synthetic_run(40, suites=3)
    path = tmp_path / "cases.jsonl"
    journal = RunFolder(tmp_path).start({})
    for case in run.cases:
        journal.append(case)
    journal.close()
    path = journal.path
    found = [journal.find(c.key) for c in run.cases]
    cases = journal.cases(found)
    assert [c.key for c in cases] == [c.key for c in run.cases]
    assert cases[3].turns == run.cases[3].turns
    assert [c.key for c in cases.reordered([5, 1])] == [run.cases[5].key, run.cases[1].key]
    assert cases.heads == [head_of(c) for c in run.cases]
    assert cases.path == path


def test_streamed_junit_is_byte_for_byte_the_tree_one(tmp_path):
    for run in (synthetic_run(1), synthetic_run(300, suites=7), synthetic_run(120, variant=True)):
        write_run_junit(run, tmp_path / "junit.xml")
        assert (tmp_path / "junit.xml").read_text(encoding="utf-8") == run_junit(run)


def test_results_json_holds_one_case_a_line_and_reads_back_the_same(tmp_path):
    """A 100,000-case results.json is diffed and grepped case by case, and written with json's fast encoder."""
    run = synthetic_run(30)
    save_run(run, tmp_path / "results.json")
    text = (tmp_path / "results.json").read_text(encoding="utf-8")
    data = json.loads(text)
    lines = text.splitlines()
    case_lines = lines[lines.index('  "cases": [') + 1:-2]
    assert len(case_lines) == len(data["cases"]) == 30
    assert all(json.loads(line.rstrip(",")) == case for line, case in zip(case_lines, data["cases"]))
    assert '  "summary": {' in lines and '    "total": 30,' in lines  # the rest stays indented for people
    assert load_run(tmp_path / "results.json").summary == run.summary
    assert data == json.loads(json.dumps(run.to_dict()))  # the same JSON as before, only laid out differently


def test_results_json_copies_each_journaled_case_line_as_it_is(tmp_path):
    """A case read back from the journal goes into results.json as its journal line (no decode and encode again),
    and a case held in memory is written in the same compact form, so both runs' files are the same bytes."""
    held = synthetic_run(40, suites=3)
    journal = RunFolder(tmp_path / "out").start({})
    for case in held.cases:
        journal.append(case)
    journal.close()
    journaled = replace(held, cases=journal.cases([journal.find(c.key) for c in held.cases]))
    save_run(held, tmp_path / "held.json")
    save_run(journaled, tmp_path / "journaled.json")
    assert (tmp_path / "held.json").read_bytes() == (tmp_path / "journaled.json").read_bytes()
    lines = (tmp_path / "journaled.json").read_text(encoding="utf-8").splitlines()
    case_lines = [line.strip().rstrip(",") for line in lines[lines.index('  "cases": [') + 1:-2]]
    assert case_lines == (tmp_path / "out/journal.jsonl").read_text(encoding="utf-8").splitlines()
