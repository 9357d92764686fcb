"""How much faster this machine's cores run two processes than one: the ceiling of any `--workers 2` speed-up.

Each sample times a fixed amount of pure-Python arithmetic in one process, then twice that amount split over
two processes at once; the ratio of throughputs is what the second core adds when nothing is shared, no file,
no pipe, no memory. On a machine whose two "cores" are hyperthreads, or share a host with other guests, it is
well below 2. The samples alternate (one, two, one, two, ...) so a change in load hits both sides; the median
pair is reported.

    python benchmarks/cpu_ceiling.py [--samples N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time

WORK = 20_000_000  # additions per process: about a second on this machine


def _spin(work: int) -> None:
    total = 0
    for i in range(work):
        total += i


def _timed(processes: int, work: int) -> float:
    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    pool = [context.Process(target=_spin, args=(work,)) for _ in range(processes)]
    for p in pool:
        p.start()
    for p in pool:
        p.join()
    return time.perf_counter() - started


def ceiling(samples: int = 5, work: int = WORK) -> tuple[float, list[float]]:
    """The median of ``samples`` throughput ratios (two processes against one, each pair timed back to back),
    and every ratio, to show the spread."""
    ratios = []
    for _ in range(samples):
        one, two = _timed(1, work), _timed(2, work)
        ratios.append(2 * one / two)
    return statistics.median(ratios), ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5, help="pairs of timings (default 5)")
    args = parser.parse_args(argv)
    median, ratios = ceiling(args.samples)
    print(f"two processes of pure arithmetic run {median:.2f}× as fast as one "
          f"(each pair: {', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
