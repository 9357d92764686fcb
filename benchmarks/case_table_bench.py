"""Benchmark: a suite whose cases come from a 10,000-row CSV (`cases_from:`); issue #16's target: it loads in under a second.

Writes a suite (a system prompt, `defaults:`, one templated turn and check per row) and a CSV of N rows, then
times, in one process with the modules already imported (start-up is `startup-1case` in benchmarks/run.py):

- read: the CSV parsed into rows (harness/suites/data_tables.py);
- load: the suite loaded and validated, every row turned into a case (what `harness list` does);
- load + render: every case's templates rendered too, ready to send (what `harness validate` and `run` do).

Medians of --repeats runs; each run starts with the template caches cleared, and the GC thresholds are the
ones `harness` sets for a command (harness/cli/main.py).

    python benchmarks/case_table_bench.py               # 10,000 rows, 5 repeats
    python benchmarks/case_table_bench.py --rows 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.suites import templating  # noqa: E402
from harness.suites.data_tables import read_table  # noqa: E402
from harness.suites.loading import load_suites  # noqa: E402
from harness.suites.planning import load_plans  # noqa: E402

SUITE = """\
suite: table
model: bench-model
system: "You triage support tickets for {{ product }}."
vars: {product: Acme Router}
defaults:
  expect:
    - not_icontains: "as an ai"
cases_from:
  file: tickets.csv
  id: "{{ ticket_id }}"
  turns:
    - user: "Ticket {{ ticket_id }} ({{ priority }}): {{ text }}"
      expect:
        - icontains: "{{ intent }}"
"""
PRIORITIES = ("low", "normal", "high")
INTENTS = ("repair", "refund", "howto", "account")


def write_project(folder: Path, rows: int) -> None:
    lines = ["ticket_id,priority,text,intent"]
    lines += [f'T-{i:05d},{PRIORITIES[i % 3]},"Ticket number {i}: the router drops Wi-Fi, please help",{INTENTS[i % 4]}'
              for i in range(rows)]  # fmt: skip
    (folder / "tickets.csv").write_text("\n".join(lines) + "\n")
    (folder / "table.yaml").write_text(SUITE)


def timed(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Wall and CPU seconds of one call (CPU time is steadier on a shared machine)."""
    templating._rendered.clear()
    templating._compile.cache_clear()
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_project(folder, args.rows)
        os.chdir(folder)
        gc.set_threshold(50_000, 20, 20)  # as `harness` does for the duration of a command
        _, plans = load_plans(["table.yaml"])  # warm-up, and a check that it works
        assert len(plans) == args.rows, len(plans)
        steps = {
            "read the CSV": lambda: read_table(folder / "tickets.csv", "tickets.csv"),
            "load (validate, one case per row)": lambda: load_suites(["table.yaml"]),
            "load + render every case": lambda: load_plans(["table.yaml"]),
        }
        print(f"| {args.rows:,}-row CSV, median of {args.repeats} | wall s | CPU s |")
        print("|---|---:|---:|")
        for name, step in steps.items():
            runs = [timed(step) for _ in range(args.repeats)]
            wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            print(f"| {name} | {wall:.3f} | {cpu:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
