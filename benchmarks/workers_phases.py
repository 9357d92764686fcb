"""Where a `harness run --workers N` spends its time: the parent's phases, the workers' CPU, the parent's per-case work.

Runs the real CLI in this process (`harness.cli.main.main`) with timers around its phases: loading and
planning the suites (serial, in the parent), running the cases (the workers, in parallel; the parent
meanwhile appends each case to the journal), and writing results.json and the reports (serial). Wall and
CPU seconds per phase; the workers' CPU comes from RUSAGE_CHILDREN. Run it for --workers 1 and 2 on the
same suite to see which part of a run the workers split and which part they cannot:

    python benchmarks/workers_phases.py SUITE --workers 2 -- --cassettes replay --cassette-dir DIR --base-url URL
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class Phases:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, float]] = []  # name, wall, parent CPU, children CPU
        self.journal_s = 0.0
        self.journal_n = 0

    def wrap(self, owner: Any, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            w, c, k = time.perf_counter(), time.process_time(), _children_cpu()
            try:
                return inner(*args, **kwargs)
            finally:
                self.rows.append((label, time.perf_counter() - w, time.process_time() - c, _children_cpu() - k))

        setattr(owner, name, timed)

    def wrap_journal(self, journal_class: type) -> None:
        inner: Callable[..., None] = journal_class.append
        phases = self

        def append(self: Any, case: Any) -> None:
            t = time.process_time()
            inner(self, case)
            phases.journal_s += time.process_time() - t
            phases.journal_n += 1

        journal_class.append = append  # type: ignore[method-assign]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--workers", default="1")
    parser.add_argument("--out", default="phases-out")
    args, rest = parser.parse_known_args(argv)  # the rest (after --) are more `harness run` flags
    started = time.perf_counter()
    from harness.cli import main as cli
    from harness.execution import journal, runner
    from harness.report import outputs
    from harness.suites import planning

    phases = Phases()
    phases.wrap(planning, "load_plans", "load and plan the suites (parent)")
    phases.wrap(runner, "_run_todo", "run the cases (workers; the parent journals)")
    phases.wrap(outputs, "write_run_outputs", "write results.json and the reports (parent)")
    phases.wrap_journal(journal.Journal)
    imported = time.perf_counter() - started
    rest = [a for a in rest if a != "--"]
    code = cli.main(["run", args.suite, "--workers", args.workers, "--out", args.out, "-q", *rest])
    total = time.perf_counter() - started
    print(f"--workers {args.workers}: exit {code}, {total:.2f} s wall in this process (+ interpreter start-up); "
          f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)  # fmt: skip
    print("| phase | wall s | parent CPU s | workers' CPU s |\n|---|---:|---:|---:|")
    print(f"| import the CLI | {imported:.2f} | | |")
    for label, wall, cpu, children in phases.rows:
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | {children:.2f} |")
    accounted = imported + sum(r[1] for r in phases.rows)
    print(f"| everything else (flags, lock, fingerprints, summary) | {total - accounted:.2f} | | |")
    if phases.journal_n:
        print(f"| of which journal appends in the parent ({phases.journal_n} cases) | | {phases.journal_s:.2f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
