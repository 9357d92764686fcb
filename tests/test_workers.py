"""`harness run --workers N`: the cases split over N processes, one journal, one results.json, one set of reports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.core.settings import RunSettings
from harness.core.specs import Budget
from harness.execution.workers import UNIT, work_units, worker_settings
from harness.suites.planning import load_plans
from tests.conftest import FAKE_KEY
from tests.fake_openai import FakeOpenAI
from tests.test_resume import case_of, journal_ids, mixed_suite, outcomes, resume_after_sigterm, wait_for_journal

REPO = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY, "NO_COLOR": "1", "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_BASE_URL", None)
    return env


def test_two_workers_give_the_outcomes_of_one_process(fake_server, harness_cli, write_suite, tmp_path, monkeypatch):
    suite = write_suite(mixed_suite(30))
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    one = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "--out", "one", "-q")
    sent_by_one = Counter(case_of(q) for q in fake_server.requests)
    fake_server.requests.clear()
    two = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "--out", "two",
                      "--workers", "2", "-q")  # fmt: skip
    assert two.code == one.code == 3, two.err  # the 400 cases are errors either way
    assert Counter(case_of(q) for q in fake_server.requests) == sent_by_one  # every turn asked once
    first, second = one.results(tmp_path / "one"), two.results(tmp_path / "two")
    assert outcomes(second) == outcomes(first)
    assert [c["id"] for c in second["cases"]] == [c["id"] for c in first["cases"]]  # plan order, not arrival order
    assert {k: v for k, v in second["summary"].items()} == first["summary"]
    assert second["settings"]["workers"] == 2 and first["settings"]["workers"] == 1
    assert sorted(journal_ids(tmp_path / "two")) == sorted(c["id"] for c in first["cases"])  # one journal, every case
    for name in ("report.html", "summary.md", "junit.xml"):
        assert (tmp_path / "two" / name).exists()
    assert two.out.count("results: two/results.json") == 1
    for path in (tmp_path / "two").rglob("*"):
        assert FAKE_KEY not in path.read_text(errors="replace")


def test_repeats_and_variants_come_back_whole_from_workers(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("suite: s\nmodel: m\nvariants: [{name: a}, {name: b, system: 'Be brief.'}]\ncases:\n" + "".join(
        f"  - {{id: c{i}, turns: [{{user: 'c{i}', expect: [{{contains: 'c{i}'}}]}}]}}\n" for i in range(5)))  # fmt: skip
    runs = {w: harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "--repeat", 3,
                           "--workers", w, "--out", f"w{w}", "--cassette-dir", f"cassettes{w}", "-q")
            for w in ("1", "2")}  # fmt: skip
    assert runs["1"].code == runs["2"].code == 0, runs["2"].err
    one, two = (runs[w].results(tmp_path / f"w{w}") for w in ("1", "2"))
    assert len(two["cases"]) == 5 * 2 * 3
    assert [(c["id"], c["variant"], c["repeat"], c["status"]) for c in two["cases"]] == \
        [(c["id"], c["variant"], c["repeat"], c["status"]) for c in one["cases"]]  # fmt: skip
    assert len((tmp_path / "w2/journal.jsonl").read_text().splitlines()) == 30


def test_workers_record_their_own_cassettes_and_replay_them(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("suite: s\nmodel: m\ncases:\n" + "".join(
        f"  - {{id: c{i:02d}, turns: [{{user: 'c{i:02d} one'}}, {{user: 'c{i:02d} two', "
        f"expect: [{{contains: 'c{i:02d} two'}}]}}]}}\n" for i in range(12)))  # fmt: skip
    recorded = harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url,
                           "--workers", "3", "--out", "rec", "-q")  # fmt: skip
    assert recorded.code == 0, recorded.err
    assert sorted(p.name for p in (tmp_path / "cassettes/s").iterdir()) == [f"c{i:02d}.yaml" for i in range(12)]
    sent = len(fake_server.requests)
    replayed = {w: harness_cli("run", suite, "--workers", w, "--out", f"replay{w}", "-q") for w in ("1", "2")}
    assert len(fake_server.requests) == sent  # replay touches no network, in any worker
    assert replayed["1"].code == replayed["2"].code == 0, replayed["2"].err
    results = {w: json.loads((tmp_path / f"replay{w}/results.json").read_text()) for w in replayed}
    assert outcomes(results["2"]) == outcomes(results["1"]) == outcomes(recorded.results(tmp_path / "rec"))


def test_bad_input_stops_before_any_worker_starts(fake_server, harness_cli, write_suite, tmp_path, monkeypatch):
    suite = write_suite("model: m\ncases:\n  - {id: a, turns: [{user: hi, expect: [{contain: x}]}]}\n")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "--workers", "2")
    assert r.code == 2
    assert "suite.yaml:3:42: unknown check 'contain'" in r.err and "nothing was sent" in r.err
    assert fake_server.requests == [] and not (tmp_path / "reports/latest/journal.jsonl").exists()
    for bad in ("0", "many"):
        with pytest.raises(SystemExit) as stopped:
            harness_cli("run", suite, "--workers", bad)
        assert stopped.value.code == 2


def test_a_worker_count_of_auto_uses_the_cores(harness_cli, write_suite, tmp_path, fake_server):
    suite = write_suite("suite: s\nmodel: m\ncases:\n  - {id: a, turns: [{user: hi}]}\n  - {id: b, turns: [{user: yo}]}\n")
    r = harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "--workers", "auto", "-q")
    assert r.code == 0, r.err
    cores = len(os.sched_getaffinity(0))
    assert json.loads((tmp_path / "reports/latest/run.json").read_text())["settings"]["workers"] == cores
    assert r.results(tmp_path / "reports/latest")["settings"]["workers"] == min(cores, 2)  # no more than the cases


def test_results_say_how_many_processes_ran_not_how_many_were_asked(harness_cli, write_suite, tmp_path, fake_server):
    suite = write_suite("model: m\ncases:\n" + "".join(f"  - {{id: c{i}, turns: [{{user: hi}}]}}\n" for i in range(5)))
    flags = ("--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    r = harness_cli("run", suite, *flags, "--workers", "50", "--concurrency", "3", "--out", tmp_path / "capped")
    assert r.code == 0, r.err
    assert r.results(tmp_path / "capped")["settings"]["workers"] == 3  # one process per slot of --concurrency
    r = harness_cli("run", suite, *flags, "--workers", "50", "--out", tmp_path / "few")
    assert r.results(tmp_path / "few")["settings"]["workers"] == 5  # one process per case at most


def test_the_work_is_cut_into_small_units_in_run_order_with_budgeted_suites_kept_whole(tmp_path):
    for name in ("plain", "other"):
        (tmp_path / f"{name}.yaml").write_text(f"suite: {name}\nmodel: m\ncases:\n" + "".join(
            f"  - {{id: z{i:02d}, turns: [{{user: hi}}]}}\n" for i in range(40)))  # fmt: skip
    _, plans = load_plans([str(tmp_path)], None)
    units = work_units(plans)
    assert [i for unit in units for i in unit] == list(range(80))
    assert [len(unit) for unit in units] == [UNIT] * 5  # 80 plans, 16 a unit
    for plan in plans:
        if plan.suite.name == "other":
            plan.suite.budget = Budget({"max_total_tokens": 1000})
    units = work_units(plans)
    holding = [unit for unit in units if any(plans[i].suite.name == "other" for i in unit)]
    assert len(holding) == 1 and len(holding[0]) == 40
    assert sorted(i for unit in units for i in unit) == list(range(80))


async def _stand_in(plans, claim, on_case_done, reason: str, pause) -> list:
    """A stand-in for the runner: takes units while there are any, waits ``pause(unit)`` seconds before each of
    their cases, and skips the case with ``reason``."""
    import asyncio

    from harness.core.result import SKIPPED
    from harness.execution.repeats import whole_case

    results = []
    while (unit := claim()) is not None:
        wait = pause(unit)
        for i in unit:
            await asyncio.sleep(wait)
            for result in whole_case(plans[i], SKIPPED, reason=reason):
                on_case_done(result)
                results.append(result)
    return results


async def _slow_on_the_first_unit(plans, settings, api_key, on_case_done=None, observer=None, stop=None, claim=None):
    """The worker that takes the first unit works a hundred times slower, like a worker on a core the host has
    given to someone else; each case says which process ran it."""
    slow = False

    def pause(unit: list[int]) -> float:
        nonlocal slow
        slow = slow or 0 in unit
        return 0.2 if slow else 0.002

    return await _stand_in(plans, claim, on_case_done, f"pid {os.getpid()}", pause)


async def _dies_on_taking_the_first_unit(plans, settings, api_key, on_case_done=None, observer=None, stop=None,
                                         claim=None):  # fmt: skip
    """The worker that takes the first unit is SIGKILLed the moment it has it."""

    def pause(unit: list[int]) -> float:
        if 0 in unit:
            os.kill(os.getpid(), signal.SIGKILL)
        return 0

    return await _stand_in(plans, claim, on_case_done, "ran", pause)


def _plans_of(tmp_path, cases: int) -> list:
    (tmp_path / "s.yaml").write_text("suite: s\nmodel: m\ncases:\n" + "".join(
        f"  - {{id: c{i:03d}, turns: [{{user: hi}}]}}\n" for i in range(cases)))  # fmt: skip
    return load_plans([str(tmp_path)], None)[1]


def test_a_slower_worker_takes_fewer_units_and_both_finish_together(tmp_path):
    # Shares dealt once (the old split) left the faster worker idle while the slower one ran alone.
    from harness.execution.workers import run_in_workers

    plans = _plans_of(tmp_path, 8 * UNIT)
    ran: list[str] = []
    results = run_in_workers(_slow_on_the_first_unit, plans, RunSettings(concurrency=2), None, 2,
                             on_case_done=lambda case: ran.append(case.reason), keep=False)  # fmt: skip
    assert results == [] and len(ran) == 8 * UNIT
    by_worker = Counter(ran)
    assert len(by_worker) == 2
    assert sorted(by_worker.values()) == [UNIT, 7 * UNIT]  # the slow one ran its first unit only


def test_a_unit_taken_by_a_worker_killed_at_once_names_that_worker(tmp_path):
    # Who took each unit is written with the counter, under its lock: a worker killed before it sends anything
    # still owns its unit, whose cases say which worker died and how; every other unit is run by the other.
    from harness.execution.workers import run_in_workers

    results = run_in_workers(_dies_on_taking_the_first_unit, _plans_of(tmp_path, 4 * UNIT), RunSettings(concurrency=2),
                             None, 2)  # fmt: skip
    assert len(results) == 4 * UNIT
    lost, ran = results[:UNIT], results[UNIT:]
    assert all(r.status == "skipped" and r.reason == "ran" for r in ran)
    assert all(r.status == "error" and "was killed by SIGKILL before this case's result was saved" in r.error
               for r in lost)  # fmt: skip
    assert len({r.error.split(" (pid")[0] for r in lost}) == 1  # one worker, named: "worker K of 2"


class _DiesWhenCounted(list):
    def __len__(self) -> int:  # counted inside take()'s lock: the worker dies holding it
        os.kill(os.getpid(), signal.SIGKILL)
        return 0


def _killed_while_taking(count: int, sabotage):
    """Units of ``count`` one-plan units, after a forked worker that ``sabotage(units)`` makes die inside take()."""
    import multiprocessing

    from harness.execution.workers import _Units

    context = multiprocessing.get_context("fork")
    units = _Units(context, [[i] for i in range(count)])

    def take_and_die() -> None:
        sabotage(units)
        units.take(0)

    victim = context.Process(target=take_and_die)
    victim.start()
    victim.join()
    assert victim.exitcode == -signal.SIGKILL
    return units


def test_a_worker_killed_while_taking_a_unit_leaves_the_others_working():
    import threading

    units = _killed_while_taking(3, lambda u: setattr(u, "units", _DiesWhenCounted(u.units)))
    got: list[int | None] = []
    survivor = threading.Thread(target=lambda: got.append(units.take(1)), daemon=True)
    survivor.start()
    survivor.join(timeout=10)
    units.close()
    assert got == [0], "the next worker waited for ever on the dead worker's lock"


class _DiesWhenAdvanced:
    """A stand-in for the shared counter: moving it on kills the worker, after it wrote itself as the owner."""

    def __init__(self, counter) -> None:
        self.counter = counter

    @property
    def value(self) -> int:
        return self.counter.value

    @value.setter
    def value(self, _number: int) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_before_it_moved_the_counter_on_does_not_own_the_unit():
    units = _killed_while_taking(2, lambda u: setattr(u, "next", _DiesWhenAdvanced(u.next)))
    units.close()
    assert units.owner(0) is None  # the unit is still the next one: not taken, so not lost with that worker


def test_concurrency_and_rate_limits_are_shared_out():
    settings = RunSettings(concurrency=7, rpm=600, tpm=90_000, workers=3)
    parts = [worker_settings(settings, i, 3) for i in range(3)]
    assert [p.concurrency for p in parts] == [3, 2, 2]
    assert all(p.rate_share == pytest.approx(1 / 3) and p.workers == 1 and p.rpm == 600 for p in parts)


def test_each_worker_paces_its_share_of_the_rate_limits():
    from harness.providers.pipeline import RequestPipeline
    from harness.core.cassette_mode import CassetteMode

    settings = RunSettings(rpm=600, tpm=90_000, cassette_mode=CassetteMode.OFF, base_url="http://127.0.0.1:9/v1")
    whole = RequestPipeline(settings, "k").gate
    half = RequestPipeline(worker_settings(settings, 0, 2), "k").gate
    assert (whole.rpm.per_minute, whole.tpm.per_minute) == (600, 90_000)
    assert (half.rpm.per_minute, half.tpm.per_minute) == (300, 45_000)


def test_an_authentication_failure_stops_every_worker_and_is_said_once(fake_server, harness_cli, write_suite,
                                                                        tmp_path, monkeypatch):  # fmt: skip
    suite = write_suite("model: m\nsystem: '[[error:401]]'\ncases:\n" + "".join(
        f"  - {{id: c{i:03d}, turns: [{{user: 'c{i:03d}'}}]}}\n" for i in range(60)))  # fmt: skip
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "--concurrency", 4,
                    "--workers", 2)  # fmt: skip
    assert r.code == 3
    assert len(fake_server.requests) <= 4  # each worker: its requests in flight (2), none after its first 401
    cases = json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"]
    assert len(cases) == 60 and all(c["status"] == "error" for c in cases)
    assert r.err.count("no more requests are sent") == 1


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if not path.exists():
        pytest.skip("needs /proc/PID/task/PID/children (Linux)")
    return [int(x) for x in path.read_text().split()]


def _two_workers_a_third_done(suite: Path, server: FakeOpenAI, out: Path, cwd: Path,
                              **popen: Any) -> subprocess.Popen:  # fmt: skip
    """`harness run --workers 2` of ``mixed_suite(24)`` against ``server``, once a third of its cases finished."""
    cmd = [sys.executable, "-m", "harness", "run", str(suite), "--cassettes", "off", "--base-url",
           server.base_url, "--concurrency", "2", "--workers", "2", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=_env(), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)  # fmt: skip
    wait_for_journal(out, 24 // 3, proc)
    return proc


def test_sigterm_stops_every_worker_and_resume_with_another_count_finishes_the_rest(write_suite, tmp_path):
    n = 24
    suite = write_suite(mixed_suite(n))
    env, out = _env(), tmp_path / "run"
    with FakeOpenAI(latency_ms=60) as server:
        proc = _two_workers_a_third_done(suite, server, out, tmp_path)
        workers = _children(proc.pid)
        assert sorted(Path(f"/proc/{pid}/comm").read_text().strip() for pid in workers) == ["harness-w1", "harness-w2"]
        proc.send_signal(signal.SIGTERM)  # to the parent only, as a CI runner or `kill` sends it
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 143, stderr
        assert "SIGTERM: stopped with" in stderr and f"--resume {out}" in stderr
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)  # no worker outlives the run
        left = n - len(journal_ids(out))  # the workers send finished cases in batches: how many is up to timing
        _, resumed, turns = resume_after_sigterm(out, n, server, env, tmp_path, "--workers", "3", "--concurrency", "3")
        assert resumed["settings"]["workers"] == min(3, left)  # one process per case left, at most the 3 asked
        assert sorted(journal_ids(out)) == sorted(turns)

    with FakeOpenAI() as server:
        straight = tmp_path / "straight"
        subprocess.run([sys.executable, "-m", "harness", "run", str(suite), "--cassettes", "off", "--base-url",
                        server.base_url, "--out", str(straight), "-q"], env=env, cwd=tmp_path, capture_output=True,
                       timeout=120)  # fmt: skip
    assert outcomes(resumed) == outcomes(json.loads((straight / "results.json").read_text()))


def test_ctrl_c_in_a_terminal_stops_every_worker_without_a_traceback(write_suite, tmp_path):
    """A terminal's Ctrl-C signals the whole process group: each worker hears it, then the parent passes it on
    again, after a worker's event loop has closed; that second signal must not end the worker in a traceback."""
    n = 24
    suite = write_suite(mixed_suite(n))
    env, out = _env(), tmp_path / "run"
    with FakeOpenAI(latency_ms=60) as server:
        proc = _two_workers_a_third_done(suite, server, out, tmp_path, start_new_session=True)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the parent and both workers at once
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr and "RuntimeError" not in stderr, stderr
        assert "SIGINT: stopped with" in stderr and f"--resume {out}" in stderr
        _, resumed, turns = resume_after_sigterm(out, n, server, env, tmp_path, signal_name="SIGINT")
        assert sorted(journal_ids(out)) == sorted(turns)


def test_a_worker_that_dies_loses_only_its_unfinished_cases(write_suite, tmp_path):
    n = 30
    suite = write_suite("model: m\ncases:\n" + "".join(
        f"  - {{id: c{i:02d}, turns: [{{user: 'c{i:02d}', expect: [{{contains: 'c{i:02d}'}}]}}]}}\n" for i in range(n)))
    env, out = _env(), tmp_path / "run"
    with FakeOpenAI(latency_ms=80) as server:
        cmd = [sys.executable, "-m", "harness", "run", str(suite), "--cassettes", "off", "--base-url",
               server.base_url, "--concurrency", "2", "--workers", "2", "--out", str(out), "-q"]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_journal(out, 4, proc)
        victim = _children(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 3, stderr  # some cases could not be evaluated
        results = json.loads((out / "results.json").read_text())
        lost = [c for c in results["cases"] if c["status"] == "error"]
        assert lost and all(f"(pid {victim}) was killed by SIGKILL before this case's result was saved" in c["error"]
                            for c in lost)  # fmt: skip
        assert all(c["status"] == "passed" for c in results["cases"] if c not in lost)
        assert len(results["cases"]) == n
        assert sorted(journal_ids(out)) == sorted(c["id"] for c in results["cases"] if c not in lost)
        assert "was killed by SIGKILL" in stdout

        resumed = subprocess.run([sys.executable, "-m", "harness", "run", "--resume", str(out), "-q"], env=env,
                                 cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr
        final = json.loads((out / "results.json").read_text())
        assert [c["status"] for c in final["cases"]] == ["passed"] * n


def test_the_benchmark_driver_runs_the_workers_rows(tmp_path):
    """`workers-2-*` rows alternate --workers 2 and --workers 1 and report the speed-up; no timing is asserted."""
    out = tmp_path / "bench.md"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks/run.py"), "--cases", "20", "--repeats", "1",
                           "--only", "workers-2-replay-10k", "--only", "workers-2-live-10k-0ms", "--promptfoo", "off",
                           "--markdown", str(out)], capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for name in ("workers-2-replay-10k", "workers-2-live-10k-0ms"):
        assert f"| {name} (capped at 20 cases)" in text
        assert f"- {name}: --workers 2 is " in text
        assert "this machine runs two processes of pure arithmetic" in text  # the ceiling beside the speed-up


def test_workers_stop_when_the_parent_is_killed(write_suite, tmp_path):
    """SIGKILL leaves the parent no time to stop anyone: the workers notice it is gone and end on their own."""
    suite = write_suite("model: m\ncases:\n" + "".join(f"  - {{id: c{i:03d}, turns: [{{user: 'c{i:03d}'}}]}}\n"
                                                        for i in range(200)))  # fmt: skip
    env, out = _env(), tmp_path / "run"
    with FakeOpenAI(latency_ms=100) as server:
        cmd = [sys.executable, "-m", "harness", "run", str(suite), "--cassettes", "off", "--base-url",
               server.base_url, "--concurrency", "2", "--workers", "2", "--out", str(out), "-q"]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_journal(out, 2, proc)
        workers = _children(proc.pid)
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in workers)
        sent = len(server.requests)
        time.sleep(0.5)
        assert len(server.requests) == sent  # nothing more is sent for a run nobody will keep


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an orphan is reaped by init, so it simply disappears)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_batch_and_workers_do_not_go_together(fake_server, harness_cli, write_suite, monkeypatch):
    suite = write_suite("model: m\ncases:\n  - {id: a, turns: [{user: hi}]}\n")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "--batch", "--workers", 2)
    assert r.code == 2
    assert "--workers splits requests sent one by one" in r.err and "drop --workers" in r.err
    assert fake_server.requests == []
