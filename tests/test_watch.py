"""`harness watch`: re-runs only the suites a saved change affects, keeps watching through broken YAML, stops on Ctrl-C."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness.cli.watch import changed_line, default_cassette_mode
from harness.execution.watching import affected_suites

ONE = "model: m\nsystem: {file: prompts/one.md}\ncases:\n  - id: a\n    turns: [{user: hi, expect: [{contains: echo}]}]\n"
TWO = "model: m\ncases:\n  - id: b\n    turns: [{user: yo, expect: [{python: \"mycheck:ok\"}]}]\n"


def _project(tmp_path: Path) -> Path:
    evals = tmp_path / "evals"
    (evals / "prompts").mkdir(parents=True)
    (evals / "one.yaml").write_text(ONE.replace("system: {file: prompts/one.md}\n", ""))
    (evals / "two.yaml").write_text(TWO)
    (evals / "mycheck.py").write_text("def ok(reply, **kw):\n    return True\n")
    return evals


def test_a_change_affects_the_suites_that_name_the_file(tmp_path):
    evals = _project(tmp_path)
    (evals / "three.yaml").write_text(ONE)  # names prompts/one.md
    (evals / "prompts/one.md").write_text("Be nice.")
    suites = sorted(evals.glob("*.yaml"))
    names = lambda changed: [p.name for p in affected_suites([str(evals / c) for c in changed], suites)]  # noqa: E731
    assert names(["prompts/one.md"]) == ["three.yaml"]
    assert names(["mycheck.py"]) == ["two.yaml"]
    assert names(["one.yaml"]) == ["one.yaml"]
    assert names(["notes.txt"]) == []
    assert names(["helper.py"]) == ["two.yaml"]  # a check module may import it


def test_default_cassette_mode_records_only_when_requests_can_go_somewhere():
    assert default_cassette_mode(None, {}) == "replay"
    assert default_cassette_mode("http://127.0.0.1:1/v1", {}) == "record-missing"
    assert default_cassette_mode(None, {"OPENAI_API_KEY": "sk-x"}) == "record-missing"
    assert changed_line({}, {("s", "a", 0): "passed"}) == "changed since last run: first run"
    assert changed_line({("s", "a", 0): "passed"}, {("s", "a", 0): "failed"}) == "changed since last run: s / a passed -> failed"


class Watch:
    def __init__(self, cwd: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTEST_"))}
        self.proc = subprocess.Popen([sys.executable, "-m", "harness", "watch", "evals", "--interval", "0.1",
                                      "--debounce", "0.1"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)  # fmt: skip
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put((time.perf_counter(), line.rstrip()))

    def until(self, text: str, timeout: float = 60) -> tuple[float, list[str]]:
        got, end = [], time.time() + timeout
        while time.time() < end:
            try:
                at, line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            got.append(line)
            self.seen.append(line)
            if text in line:
                return at, got
        raise AssertionError(f"no {text!r} in {self.seen}")


def test_watch_reruns_only_the_edited_suite_within_two_seconds(tmp_path, fake_server):
    evals = _project(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    rec = subprocess.run([sys.executable, "-m", "harness", "run", "evals", "--cassettes", "record-missing", "--base-url",
                          fake_server.base_url, "-q"], cwd=tmp_path, env=env, capture_output=True, text=True)  # fmt: skip
    assert rec.returncode == 0, rec.stderr
    watch = Watch(tmp_path)
    try:
        _, first = watch.until("report:")
        assert any("cassettes: replay" in line for line in watch.seen)  # no base URL, no key: never the network
        assert "ran evals/one.yaml, evals/two.yaml" in first[-1]
        time.sleep(0.3)
        t0 = time.perf_counter()
        (evals / "mycheck.py").write_text("def ok(reply, **kw):\n    return False\n")
        t1, again = watch.until("report:")
        assert t1 - t0 < 2.0, f"re-ran {t1 - t0:.2f} s after the edit"
        assert "ran evals/two.yaml in" in again[-1]  # only the affected suite
        assert "changed since last run: two / b passed -> failed" in again
        (evals / "one.yaml").write_text("model: m\ncases: [broken\n")
        _, broken = watch.until("Watching for the fix")
        assert any("evals/one.yaml:" in line and "invalid YAML" in line for line in broken)
        (evals / "one.yaml").write_text(ONE.replace("system: {file: prompts/one.md}\n", ""))
        watch.until("ran evals/one.yaml in")
        assert watch.proc.poll() is None  # still watching
    finally:
        watch.proc.send_signal(signal.SIGINT)
        code = watch.proc.wait(timeout=20)
    rest = watch.proc.stdout.read() if watch.proc.stdout else ""
    assert code == 0
    assert "Traceback" not in "\n".join(watch.seen) + rest


def test_a_file_a_prompt_file_includes_affects_its_suite_and_a_data_table_is_not_a_suite(tmp_path, monkeypatch):
    import argparse

    from harness.cli.watch import Session
    from harness.core.settings import RunSettings
    from harness.suites.loading import discover

    evals = _project(tmp_path)
    (evals / "three.yaml").write_text(ONE + "cases_from: {file: rows.yaml, id: 'r{{ n }}', turns: [{user: hi}]}\n")
    (evals / "prompts/one.md").write_text("Be nice. {% include 'prompts/footer.md' %}")
    (evals / "prompts/footer.md").write_text("Sign it.")
    (evals / "rows.yaml").write_text("- {n: 1}\n")
    monkeypatch.chdir(tmp_path)
    session = Session(argparse.Namespace(out=str(tmp_path / "out")), RunSettings(), None)
    files, _ = discover(["evals"])
    session.run(files)  # replays: the cassettes are missing, which is fine here
    assert [p.name for p in session.affected({str(evals / "prompts/footer.md")}, files)] == ["three.yaml"]
    assert [p.name for p in session.affected({str(evals / "rows.yaml")}, files)] == ["three.yaml"]
