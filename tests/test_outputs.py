"""A run's output files (harness/report/outputs.py): with `--workers`, report.html and summary.md are written by a
forked process while results.json and junit.xml are written by the run's own, with the same bytes as from one."""

from __future__ import annotations

import errno
import os
import signal
from dataclasses import replace

import pytest

import harness.report as report
from harness.execution.journal import RunFolder
from harness.report.outputs import RUN_FILES, OutputError, write_run_outputs
from tests.synthetic import synthetic_run


def _journaled(tmp_path, n: int):  # type: ignore[no-untyped-def]
    """A run whose cases are read back from its journal, as `harness run` writes its outputs."""
    run = synthetic_run(n, suites=3)
    journal = RunFolder(tmp_path / "journaled").start({})
    for case in run.cases:
        journal.append(case)
    journal.close()
    return replace(run, cases=journal.cases([journal.find(c.key) for c in run.cases]))


def test_two_processes_write_the_same_files_as_one(tmp_path):
    run = _journaled(tmp_path, 300)
    write_run_outputs(run, tmp_path / "one")
    write_run_outputs(run, tmp_path / "two", processes=2)
    for name in RUN_FILES:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    assert "FAIL" in (tmp_path / "two/summary.md").read_text() or "Failed" in (tmp_path / "two/summary.md").read_text()


def test_a_report_the_other_process_cannot_write_is_an_output_error_naming_it(tmp_path, monkeypatch):
    run = _journaled(tmp_path, 20)
    target = tmp_path / "two" / "report.html"

    def disk_full(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(report, "render_run_html", disk_full)  # the forked process inherits the patch
    with pytest.raises(OutputError, match=r"cannot write .*two/report\.html: No space left on device"):
        write_run_outputs(run, tmp_path / "two", processes=2)
    assert (tmp_path / "two/results.json").exists() and (tmp_path / "two/junit.xml").exists()  # this process's half
    assert not target.exists()


def test_when_no_process_can_be_forked_this_one_writes_every_file(tmp_path, monkeypatch):
    run = _journaled(tmp_path, 30)
    write_run_outputs(run, tmp_path / "one")

    def no_fork() -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    write_run_outputs(run, tmp_path / "two", processes=2)
    for name in RUN_FILES:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name


def test_a_report_process_killed_by_a_signal_is_named_so(tmp_path, monkeypatch):
    run = _journaled(tmp_path, 20)
    monkeypatch.setattr(report, "render_run_html", lambda *_a, **_k: os.kill(os.getpid(), signal.SIGKILL))
    with pytest.raises(OutputError, match=r"the process writing report\.html and summary\.md was killed by SIGKILL"):
        write_run_outputs(run, tmp_path / "two", processes=2)
    assert (tmp_path / "two/results.json").exists()


def test_a_bug_in_the_report_process_comes_back_with_its_traceback(tmp_path, monkeypatch):
    run = _journaled(tmp_path, 20)

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise KeyError("no such column")

    monkeypatch.setattr(report, "render_run_html", broken)
    with pytest.raises(KeyError) as caught:
        write_run_outputs(run, tmp_path / "two", processes=2)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "in the process writing report.html and summary.md" in notes and "in broken" in notes


def test_a_run_whose_reports_cannot_be_written_says_how_to_write_them_and_resume_does(
        fake_server, harness_cli, write_suite, tmp_path, monkeypatch):  # fmt: skip
    suite = write_suite("model: m\ncases:\n" + "".join(f"  - {{id: c{i}, turns: [{{user: hi, expect: [{{contains: zz}}]}}]}}\n"
                                                       for i in range(3)))  # fmt: skip
    flags = ("--cassettes", "off", "--base-url", fake_server.base_url, "--out", tmp_path / "run", "-q")

    def disk_full(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run/report.html"))

    with monkeypatch.context() as patched:
        patched.setattr(report, "render_run_html", disk_full)
        r = harness_cli("run", suite, *flags)
    assert r.code == 2
    assert "No space left on device" in r.err and f"harness run --resume {tmp_path / 'run'}" in r.err, r.err
    asked = len(fake_server.requests)
    again = harness_cli("run", "--resume", tmp_path / "run")
    assert again.code == 1  # the run's own verdict: every case failed its check
    assert (tmp_path / "run/report.html").exists() and len(fake_server.requests) == asked  # nothing sent again
