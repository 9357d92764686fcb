"""Two runs never write one output folder at once; a killed run never leaves a stale lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parent.parent
SUITE = "model: m\ncases:\n" + "".join(f"  - {{id: c{i}, turns: [{{user: 'case {i}'}}]}}\n" for i in range(6))


def start_run(tmp_path: Path, server: FakeOpenAI, out: str = "out") -> subprocess.Popen:
    """`python -m harness run` in its own process, slow enough (one case at a time) to be caught mid-run."""
    (tmp_path / "suite.yaml").write_text(SUITE)
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.Popen([sys.executable, "-m", "harness", "run", "suite.yaml", "--cassettes", "off", "--base-url",
                             server.base_url, "--concurrency", "1", "--out", out, "-q"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for_requests(server: FakeOpenAI, n: int) -> None:
    deadline = time.monotonic() + 60
    while len(server.requests) < n:
        assert time.monotonic() < deadline, "the run never started sending"
        time.sleep(0.02)


def test_a_second_run_into_the_same_out_fails_fast_naming_the_first(harness_cli, tmp_path):
    """On main both exited 0, the first run's results were lost and journal.jsonl held a torn line."""
    with FakeOpenAI(latency_ms=150) as server:
        first = start_run(tmp_path, server)
        wait_for_requests(server, 1)
        started = time.monotonic()
        second = harness_cli("run", "suite.yaml", "--cassettes", "off", "--base-url", server.base_url, "--out", "out")
        assert time.monotonic() - started < 10  # it does not wait for the first run
        assert second.code == 2, second.err
        assert f"error: another harness run (pid {first.pid}) is writing to out; wait for it to finish, or choose " \
               "another --out" in second.err  # fmt: skip
        resumed = harness_cli("run", "--resume", "out")  # resuming it while it runs is refused too
        assert resumed.code == 2 and f"pid {first.pid}" in resumed.err
        _, stderr = first.communicate(timeout=60)
        assert first.returncode == 0, stderr
    results = json.loads((tmp_path / "out/results.json").read_text())
    assert [c["status"] for c in results["cases"]] == ["passed"] * 6
    lines = (tmp_path / "out/journal.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == [f"c{i}" for i in range(6)]  # whole lines, once each
    assert len(server.requests) == 6  # only the first run sent anything


def test_a_killed_run_leaves_no_stale_lock(harness_cli, tmp_path):
    with FakeOpenAI(latency_ms=150) as server:
        first = start_run(tmp_path, server)
        wait_for_requests(server, 2)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        assert (tmp_path / "out/.harness.lock").exists()  # the file stays; the lock died with the process
        r = harness_cli("run", "--resume", "out")
        assert r.code == 0, r.err
    assert [c["status"] for c in json.loads((tmp_path / "out/results.json").read_text())["cases"]] == ["passed"] * 6


def test_the_lock_is_released_when_a_run_ends(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite(SUITE)
    for _ in range(2):  # in one process, one after the other: never "busy"
        r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "--out", "out", "-q")
        assert r.code == 0, r.err
    from harness.core.folder_lock import FolderLock

    with FolderLock(tmp_path / "out"):
        pass


def test_folder_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    from harness.core.folder_lock import FolderBusy, FolderLock

    with FolderLock(tmp_path / "f"):
        with pytest.raises(FolderBusy, match=rf"another harness run \(pid {os.getpid()}\) is writing to"):
            FolderLock(tmp_path / "f").acquire()
    FolderLock(tmp_path / "f").acquire().release()
