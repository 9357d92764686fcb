"""The benchmark driver works end to end at a tiny size. It asserts no timing: benchmarks are not tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_driver_runs_every_workload_at_tiny_size(tmp_path):
    out = tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--cases", "20", "--repeats", "1",
         "--only", "live-1k-0ms", "--only", "replay-1k", "--only", "multiturn-5", "--only", "startup-version",
         "--only", "load-csv-10k", "--only", "batch-1k", "--only", "load-100k", "--only", "startup-replay-1case",
         "--promptfoo", "off", "--markdown", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for name in ("live-1k-0ms", "replay-1k", "multiturn-5", "startup-version", "load-csv-10k", "batch-1k",
                 "load-100k", "startup-replay-1case"):
        assert f"| {name}" in text
    assert "| `--batch` (one round) |" in text and "| 20 | 1 |" in text  # 20 requests answered, in 1 batch
    assert "| workload | harness wall s | floor wall s |" in text
    assert "(capped at 20 cases)" in text and "smoke test" in text


def test_generated_suite_and_floor_send_the_same_conversation():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import workload
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from harness.suites.templating import render

    text = workload.suite_yaml(3, turns=2)
    assert "id: case-00002" in text and text.count("- contains:") == 6
    assert render(workload.SYSTEM_TEMPLATE, {"product": workload.PRODUCT}) == workload.SYSTEM
    assert render(workload.user_template(2), {"token": workload.token(7, 1)}) == workload.user_text(workload.token(7, 2), 2)


def test_case_table_benchmark_runs_at_tiny_size():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "case_table_bench.py"), "--rows", "50",
                           "--repeats", "1"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| 50-row CSV, median of 1 | wall s | CPU s |" in proc.stdout and "| load + render every case |" in proc.stdout


def test_flat_memory_benchmarks_run_at_tiny_size(tmp_path):
    """Issue #19's rows (a folder of suite files; the reports of a run written from its journal) and the RSS phases."""
    out = tmp_path / "bench.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--cases", "20", "--repeats", "1",
                           "--only", "live-100k-0ms", "--only", "report-100k", "--promptfoo", "off", "--markdown", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "| live-100k-0ms" in text and "| report-100k" in text
    assert "| cases | write wall s | write CPU s | write peak RSS MB |" in text  # flat_memory_bench.py's own table
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "memory_phases.py"), "--cases", "20", "--files", "2"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "suites loaded and planned (20 plans)" in proc.stdout and "results.json and reports written" in proc.stdout
