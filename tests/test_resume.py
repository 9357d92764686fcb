"""Interrupting a run (Ctrl-C, SIGTERM) keeps what finished; `--resume DIR` finishes the rest exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import FAKE_KEY
from tests.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parent.parent


def mixed_suite(n: int) -> str:
    """n two-turn cases: most pass, every 5th fails a check, every 7th is an API error (400, not retried)."""
    lines = ["model: m", "retry: {base_delay: 0.01}", "cases:"]
    for i in range(n):
        first = f"[[error:400]] c{i:02d} turn 1" if i % 7 == 3 else f"c{i:02d} turn 1"
        expect = "nope" if i % 5 == 4 else f"c{i:02d} turn 2"
        lines.append(f"  - {{id: c{i:02d}, turns: [{{user: '{first}'}}, "
                     f"{{user: 'c{i:02d} turn 2', expect: [{{contains: '{expect}'}}]}}]}}")  # fmt: skip
    return "\n".join(lines) + "\n"


def case_of(request) -> str:
    user = [m["content"] for m in request.body["messages"] if m["role"] == "user"][-1]
    return re.search(r"c\d\d", user).group(0)


def outcomes(results: dict) -> dict[str, tuple]:
    """What a user compares between two runs: status, error, every check and every reply, per case."""
    return {
        c["id"]: (c["status"], c["error"], [(t["reply"] or {}).get("content") for t in c["turns"]],
                  [(k["name"], k["passed"], k["reason"]) for t in c["turns"] for k in t["checks"]])
        for c in results["cases"]
    }  # fmt: skip


def journal_ids(out: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (out / "journal.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_keeps_finished_cases_and_resume_completes_them(signum, code, harness_cli, write_suite,
                                                                        tmp_path, monkeypatch):  # fmt: skip
    suite = write_suite(mixed_suite(20))
    with FakeOpenAI(latency_ms=20) as server:
        record = server.record

        def record_then_signal(entry):
            n = record(entry)
            if n == 12:
                os.kill(os.getpid(), signum)  # delivered to the main thread, where the run is
            return n

        monkeypatch.setattr(server, "record", record_then_signal)
        monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
        r = harness_cli("run", suite, "--cassettes", "off", "--base-url", server.base_url, "--concurrency", 2,
                        "--out", "run", "-q")  # fmt: skip
        assert r.code == code, r.err
        assert "continue with: harness run --resume run" in r.err
        out = tmp_path / "run"
        interrupted = json.loads((out / "results.json").read_text())
        statuses = Counter(c["status"] for c in interrupted["cases"])
        assert statuses["interrupted"] > 0 and interrupted["summary"]["interrupted"] == statuses["interrupted"]
        assert len(interrupted["cases"]) == 20
        finished = journal_ids(out)
        assert sorted(finished) == sorted(c["id"] for c in interrupted["cases"] if c["status"] != "interrupted")
        assert all("interrupted by SIG" in c["error"] for c in interrupted["cases"] if c["status"] == "interrupted")
        assert (out / "summary.md").exists() and (out / "junit.xml").exists()  # the reports too
        requests_before = Counter(case_of(q) for q in server.requests)

        monkeypatch.setattr(server, "record", record)
        r2 = harness_cli("run", "--resume", "run", "-q")
        assert r2.code == 3, r2.err  # the 400 cases are errors, as in an uninterrupted run
        resumed = json.loads((out / "results.json").read_text())
        after = Counter(case_of(q) for q in server.requests)
        for case_id in finished:  # nothing finished is asked again
            assert after[case_id] == requests_before[case_id]
        assert sorted(journal_ids(out)) == sorted(f"c{i:02d}" for i in range(20))

    with FakeOpenAI(latency_ms=0) as server:
        r3 = harness_cli("run", suite, "--cassettes", "off", "--base-url", server.base_url, "--out", "straight", "-q")
    straight = json.loads((tmp_path / "straight/results.json").read_text())
    assert outcomes(resumed) == outcomes(straight)
    assert resumed["summary"] == resumed["summary"] | {k: straight["summary"][k] for k in
                                                       ("passed", "failed", "errored", "total")}  # fmt: skip
    assert r3.code == r2.code
    for path in (tmp_path / "run").rglob("*"):
        assert FAKE_KEY not in path.read_text()


def wait_for_journal(out: Path, lines: int, proc: subprocess.Popen) -> None:
    """Until the run in ``proc`` has journaled ``lines`` cases (an AssertionError if it ends or a minute passes)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        journal = out / "journal.jsonl"
        if journal.exists() and len(journal.read_text().splitlines()) >= lines:
            return
        time.sleep(0.02)
    raise AssertionError(f"the journal never reached {lines} lines")


def resume_after_sigterm(out: Path, n: int, server: FakeOpenAI, env: dict[str, str], cwd: Path,
                         *resume_args: str, signal_name: str = "SIGTERM",
                         ) -> tuple[subprocess.CompletedProcess, dict, dict[str, int]]:  # fmt: skip
    """Check what a run of ``mixed_suite(n)`` stopped by ``signal_name`` left in ``out``, resume it (with ``resume_args``),
    check that no finished case was asked again; the resume's process, its results.json, and each case's turns."""
    first = json.loads((out / "results.json").read_text())
    finished = journal_ids(out)
    assert n // 3 <= len(finished) < n
    assert first["summary"]["interrupted"] == n - len(finished)
    assert all(f"interrupted by {signal_name}" in c["error"] for c in first["cases"] if c["status"] == "interrupted")
    before = Counter(case_of(q) for q in server.requests)
    resumed_proc = subprocess.run([sys.executable, "-m", "harness", "run", "--resume", str(out), *resume_args], env=env,
                                  cwd=cwd, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert resumed_proc.returncode == 3, resumed_proc.stderr
    assert f"{len(finished)} of {n} cases already finished" in resumed_proc.stderr
    after = Counter(case_of(q) for q in server.requests)
    turns = {f"c{i:02d}": 1 if i % 7 == 3 else 2 for i in range(n)}
    for case_id in finished:
        assert after[case_id] == before[case_id] == turns[case_id], case_id  # asked once per turn, ever
    return resumed_proc, json.loads((out / "results.json").read_text()), turns


def test_sigterm_to_a_real_process_and_resume_match_an_uninterrupted_run(write_suite, tmp_path):
    """The issue's acceptance test: kill `python -m harness run` halfway, resume it, compare with a clean run."""
    n = 24
    suite = write_suite(mixed_suite(n))
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY, "NO_COLOR": "1", "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_BASE_URL", None)
    out = tmp_path / "run"
    with FakeOpenAI(latency_ms=60) as server:
        cmd = [sys.executable, "-m", "harness", "run", str(suite), "--cassettes", "off", "--base-url",
               server.base_url, "--concurrency", "2", "--out", str(out)]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_journal(out, n // 3, proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 143, stderr
        assert "SIGTERM: stopped with" in stderr and f"--resume {out}" in stderr
        resumed_proc, resumed, turns = resume_after_sigterm(out, n, server, env, tmp_path)

    with FakeOpenAI() as server:
        straight_out = tmp_path / "straight"
        subprocess.run([sys.executable, "-m", "harness", "run", str(suite), "--cassettes", "off", "--base-url",
                        server.base_url, "--out", str(straight_out), "-q"], env=env, cwd=tmp_path,
                       capture_output=True, timeout=120)  # fmt: skip
        straight = json.loads((straight_out / "results.json").read_text())
        assert Counter(case_of(q) for q in server.requests) == Counter(turns)
    assert outcomes(resumed) == outcomes(straight)
    assert [c["id"] for c in resumed["cases"]] == [c["id"] for c in straight["cases"]]  # plan order, no duplicates
    for text in (stdout, stderr, resumed_proc.stdout, resumed_proc.stderr):
        assert FAKE_KEY not in text
    for path in out.rglob("*"):
        assert FAKE_KEY not in path.read_text(errors="replace")


def test_resuming_a_finished_run_sends_nothing(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(mixed_suite(4))
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    sent = len(fake_server.requests)
    first = json.loads((tmp_path / "reports/latest/results.json").read_text())
    r2 = harness_cli("run", "--resume", "reports/latest")
    assert r2.code == r.code
    assert len(fake_server.requests) == sent
    assert "nothing to resume: every case of reports/latest already finished" in r2.err
    again = json.loads((tmp_path / "reports/latest/results.json").read_text())
    assert outcomes(again) == outcomes(first)
    # the run keeps its start time and its duration (resuming adds only its own time)
    assert again["started_at"] == first["started_at"]
    assert first["duration_ms"] <= again["duration_ms"] < first["duration_ms"] + 2000


def test_a_case_torn_from_the_journal_runs_again(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(mixed_suite(3))
    harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    journal = tmp_path / "reports/latest/journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:-1]) + lines[-1][:25])  # killed while writing the last line
    torn_id = json.loads(lines[-1])["id"]
    fake_server.requests.clear()
    r = harness_cli("run", "--resume", "reports/latest", "-q")
    assert {case_of(q) for q in fake_server.requests} == {torn_id}
    assert r.code == 0, r.err
    assert sorted(journal_ids(tmp_path / "reports/latest")) == ["c00", "c01", "c02"]


def test_resume_settings_come_from_the_run_folder(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(mixed_suite(3))
    harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--case", "c01",
                "--concurrency", 3, "--out", "one")  # fmt: skip
    run_file = json.loads((tmp_path / "one/run.json").read_text())
    assert run_file["settings"] | {"base_url": None} == run_file["settings"] | {
        "paths": [str(suite)], "cases": ["c01"], "concurrency": 3, "cassettes": "off", "base_url": None}
    (tmp_path / "one/journal.jsonl").write_text("")
    fake_server.requests.clear()
    r = harness_cli("run", "--resume", "one", "-q")
    assert r.code == 0, r.err
    assert {case_of(q) for q in fake_server.requests} == {"c01"}  # the --case filter was kept


@pytest.mark.parametrize("args, message", [
    (["suite.yaml", "--resume", "one"], "drop PATH"),
    (["--resume", "one", "--model", "x"], "drop --model (only --base-url, --concurrency, --workers, --timeout, "
                                           "--max-retries, --rpm, --tpm, --baseline with its gate flags, "
                                           "--rerun-changed and -q may be given)"),
    (["--resume", "one", "--cassettes", "record"], "drop --cassettes"),
    (["--resume", "nowhere"], "nowhere: no such run folder to resume"),
    (["--resume", "."], "run.json: not found"),
    ([], "give the suite files or folders to run, or --resume DIR"),
])  # fmt: skip
def test_resume_misuse_is_exit_2_with_a_clear_message(args, message, harness_cli, write_suite, tmp_path):
    write_suite(mixed_suite(1))
    (tmp_path / "one").mkdir()
    r = harness_cli("run", *args)
    assert r.code == 2
    assert message in r.err, r.err


def test_resuming_a_finished_run_with_errors_says_why_nothing_ran(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(mixed_suite(8))
    first = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert first.code == 3  # c03 is an API error
    sent = len(fake_server.requests)
    again = harness_cli("run", "--resume", "reports/latest", "-q")
    assert again.code == 3 and len(fake_server.requests) == sent
    assert ("nothing to resume: every case of reports/latest already finished (1 errored). --resume continues "
            "an interrupted run; it does not retry errors: run the suites again to retry them") in again.err


def interrupted_run(harness_cli, write_suite, fake_server, tmp_path, n: int = 4, keep: int = 2) -> Path:
    """A run of ``n`` cases that was killed after finishing the first ``keep`` of them (its journal cut to those)."""
    suite = write_suite(mixed_suite(n))
    harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    journal = tmp_path / "reports/latest/journal.jsonl"
    kept = {f"c{i:02d}" for i in range(keep)}
    journal.write_text("".join(line for line in journal.read_text().splitlines(keepends=True)
                               if json.loads(line)["id"] in kept))  # fmt: skip
    fake_server.requests.clear()
    return suite


def test_resume_refuses_when_a_check_changed_since_the_run_started(fake_server, harness_cli, write_suite, tmp_path):
    """On main the edited check judged the unfinished cases and the old one the finished: one mixed results.json."""
    suite = interrupted_run(harness_cli, write_suite, fake_server, tmp_path)
    before = (tmp_path / "reports/latest/results.json").read_text()
    suite.write_text(suite.read_text().replace("contains: 'c01 turn 2'", "contains: 'c01 turn TWO'"))
    r = harness_cli("run", "--resume", "reports/latest")
    assert r.code == 2, r.err
    assert "the suites changed since reports/latest was started" in r.err
    assert "1 case changed (suite / c01)" in r.err
    assert f"start a fresh run (harness run {suite} --out reports/latest, or another --out)" in r.err
    assert "--rerun-changed" in r.err
    assert fake_server.requests == []
    assert (tmp_path / "reports/latest/results.json").read_text() == before


def test_rerun_changed_keeps_unchanged_results_and_runs_changed_cases_again(fake_server, harness_cli, write_suite,
                                                                           tmp_path):  # fmt: skip
    suite = interrupted_run(harness_cli, write_suite, fake_server, tmp_path)
    suite.write_text(suite.read_text().replace("contains: 'c01 turn 2'", "contains: 'c01 turn TWO'"))
    r = harness_cli("run", "--resume", "reports/latest", "--rerun-changed")
    assert r.code == 3, r.err  # c03 is an API error, as before; c01's new check fails
    assert "--rerun-changed: 1 case changed (suite / c01) since the run started" in r.err
    assert sorted({case_of(q) for q in fake_server.requests}) == ["c01", "c02", "c03"]  # c00 is not sent again
    results = json.loads((tmp_path / "reports/latest/results.json").read_text())
    c01 = next(c for c in results["cases"] if c["id"] == "c01")
    assert c01["status"] == "failed" and "c01 turn TWO" in json.dumps(c01["turns"][1]["checks"])
    assert [c["id"] for c in results["cases"]] == ["c00", "c01", "c02", "c03"]
    fake_server.requests.clear()
    again = harness_cli("run", "--resume", "reports/latest")  # run.json now holds the suites as they are
    assert again.code == 3, again.err
    assert fake_server.requests == []


@pytest.mark.parametrize("edit, message", [
    (lambda text: text + "  - {id: c99, turns: [{user: new}]}\n", "1 case added (suite / c99)"),
    (lambda text: text.replace("  - {id: c03,", "  - {id: c33,"), "1 case added (suite / c33), 1 removed (suite / c03)"),
    (lambda text: text.replace("model: m", "model: m2"), "4 cases changed (suite / c00, suite / c01, suite / c02 and 1 more)"),
])  # fmt: skip
def test_resume_refuses_added_removed_and_re_modelled_cases(edit, message, fake_server, harness_cli, write_suite,
                                                            tmp_path):  # fmt: skip
    suite = interrupted_run(harness_cli, write_suite, fake_server, tmp_path)
    suite.write_text(edit(suite.read_text()))
    r = harness_cli("run", "--resume", "reports/latest")
    assert r.code == 2 and message in r.err, r.err
    assert fake_server.requests == []


def test_rerun_changed_needs_resume(harness_cli, write_suite):
    suite = write_suite(mixed_suite(1))
    r = harness_cli("run", suite, "--rerun-changed")
    assert r.code == 2 and "--rerun-changed only applies with --resume DIR" in r.err


def test_a_run_json_from_before_fingerprints_resumes_with_a_warning(fake_server, harness_cli, write_suite, tmp_path):
    interrupted_run(harness_cli, write_suite, fake_server, tmp_path)
    run_file = tmp_path / "reports/latest/run.json"
    data = json.loads(run_file.read_text())
    del data["plans"]
    run_file.write_text(json.dumps(data))
    r = harness_cli("run", "--resume", "reports/latest", "-q")
    assert r.code == 3, r.err
    assert "cannot tell whether the suites changed since the run started" in r.err
    assert sorted({case_of(q) for q in fake_server.requests}) == ["c02", "c03"]
