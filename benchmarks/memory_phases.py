"""Where a live run's memory goes (issue #19): RSS after each phase of `harness run`, in one process.

Starts benchmarks/fake_server.py (0 ms latency), writes the benchmark suite (benchmarks/workload.py)
as FILES files, then does what `harness run --cassettes off -q` does, reading VmRSS/VmHWM from
/proc/self/status after each phase: imports, loading and planning the suites, the run itself
(cases streamed to the journal; the peak sampled while it runs), and results.json plus the reports
written from the journal. With --trace, tracemalloc's largest allocation sites after loading and
at the end of the run (slow: about 3x the time).

    python benchmarks/memory_phases.py --cases 10000
    python benchmarks/memory_phases.py --cases 100000 --files 10 --trace
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from workload import write_suite  # noqa: E402


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def top(snapshot: tracemalloc.Snapshot, n: int = 8) -> list[str]:
    stats = snapshot.statistics("filename")
    return [f"    {s.size / 1e6:8.1f} MB  {s.count:>9,} blocks  {s.traceback[0].filename.replace(str(HERE.parent) + '/', '')}"
            for s in stats[:n]]  # fmt: skip


class _Stop(Exception):
    """--load-only: the rest of the run is not wanted."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=1, help="suite files the cases are split into (default 1)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--trace", action="store_true", help="also tracemalloc's largest allocation sites")
    parser.add_argument("--load-only", action="store_true", help="stop after loading and planning the suites")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the server below is stopped too
    server = subprocess.Popen([sys.executable, str(HERE / "fake_server.py")], stdout=subprocess.PIPE, text=True)
    port = int((server.stdout.readline() if server.stdout else "PORT 0").split()[1])
    lines: list[str] = []

    def phase(name: str) -> None:
        now, peak = rss_mb()
        lines.append(f"{name:<44} RSS {now:7.0f} MB   peak so far {peak:7.0f} MB   ({time.perf_counter() - t0:6.1f} s)")

    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="harness-mem-") as work:
            folder = Path(work) / "suites"
            for i in range(args.files):
                write_suite(folder / f"part-{i:02d}.yaml", args.cases // args.files, name=f"mem-{i:02d}")
            phase("start (Python, this script)")
            from harness.core.settings import RunSettings
            from harness.execution.journal import RunFolder
            from harness.execution.runner import RunObserver, run_plans
            from harness.report.outputs import write_run_outputs
            from harness.suites.planning import load_plans

            import gc

            gc.set_threshold(50_000, 20, 20)  # as harness/cli/main.py does for a command
            phase("imports")
            if args.trace:
                tracemalloc.start()
            _, plans = load_plans([str(folder)])
            phase(f"suites loaded and planned ({len(plans):,} plans)")
            if args.trace:
                lines.extend(["  largest allocation sites after loading:", *top(tracemalloc.take_snapshot())])
            if args.load_only:
                raise _Stop
            settings = RunSettings(base_url=f"http://127.0.0.1:{port}/latency/0/v1", concurrency=args.concurrency,
                                   cassette_mode="off")  # fmt: skip
            out = Path(work) / "out"
            journal = RunFolder(out).start(settings.to_dict())
            peak_during = [0.0]
            snapshots: list[tracemalloc.Snapshot] = []

            class Sampler(RunObserver):
                def __init__(self) -> None:
                    self.done = 0

                def case_done(self, case) -> None:  # type: ignore[no-untyped-def]
                    self.done += 1
                    if self.done % 1000 == 0:
                        peak_during[0] = max(peak_during[0], rss_mb()[0])
                    if args.trace and self.done == len(plans) - args.concurrency:
                        snapshots.append(tracemalloc.take_snapshot())

            run = run_plans(plans, settings, "sk-bench", on_case_done=journal.append, journal=journal, observer=Sampler())
            journal.close()
            phase(f"run finished (RSS while running reached {peak_during[0]:.0f} MB)")
            if snapshots:
                lines.extend(["  largest allocation sites near the end of the run:", *top(snapshots[0])])
                snapshots.clear()
            write_run_outputs(run, out)
            phase("results.json and reports written")
            sizes = {p.name: p.stat().st_size / 1e6 for p in out.iterdir() if p.is_file()}
            lines.append("  files: " + ", ".join(f"{k} {v:.1f} MB" for k, v in sorted(sizes.items())))
    except _Stop:
        pass
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{args.cases:,} cases in {args.files} file(s), concurrency {args.concurrency}:")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
