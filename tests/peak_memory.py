"""A `harness` command's own peak memory, run as a child process.

Not ``os.wait4``'s ``ru_maxrss``: Linux starts a child's figure at the peak of the process that spawned it
(with vfork the child runs in the parent's memory until it execs), so a test process that once held
400 MB would see every child at 400 MB. The child reports its own ``VmHWM`` instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_RUN_AND_REPORT = """
import runpy, sys
sys.argv = ["harness", *sys.argv[1:]]
try:
    runpy.run_module("harness", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    sys.stderr.write(f"\\npeak-kb: {peak}\\n")
"""


def run_harness(args: list[str], cwd: Path) -> tuple[int, str, float]:
    """Exit code, standard error (without the report line) and peak memory in MB of `harness ARGS`."""
    proc = subprocess.run([sys.executable, "-c", _RUN_AND_REPORT, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)  # fmt: skip
    stderr, _, peak = proc.stderr.rpartition("\npeak-kb: ")
    return proc.returncode, stderr, int(peak.split()[0]) / 1024
