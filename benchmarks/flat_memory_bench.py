"""Benchmark (issue #19, flat memory): results.json and the reports of a large run, written from its journal.

Writes a synthetic N-case journal.jsonl (tests/synthetic.py, generated 10,000 cases at a
time: 1-3 turns a case, realistic replies, ~8% failing, 2% errored), then, in a fresh
process timed with os.wait4, does what `harness run` does after its last case: index the
journal (harness/execution/journal.py) and write results.json, report.html (split into
report-data/ above 10,000 cases), summary.md and junit.xml from it. Prints wall, CPU and peak
RSS of that process, the files' sizes, and, with Chromium at /usr/bin/chromium, how long
report.html takes to become interactive, to filter, to search and to open a case.

    python benchmarks/flat_memory_bench.py --cases 100000
    python benchmarks/flat_memory_bench.py --cases 10000 --cases 100000   # the ratio
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH = 10_000
CHROMIUM = "/usr/bin/chromium"


def write_journal(folder: Path, cases: int) -> None:
    """N synthetic cases appended to a journal, one batch in memory at a time (suites renamed per batch)."""
    from harness.execution.journal import RunFolder
    from tests.synthetic import synthetic_run

    journal = RunFolder(folder).start({"model": "synthetic-model", "cassettes": "off"})
    for start in range(0, cases, BATCH):
        run = synthetic_run(min(BATCH, cases - start), seed=start)
        for case in run.cases:
            case.suite = f"b{start // BATCH:02d}-{case.suite}"
        for case in run.cases:
            journal.append(case)
    journal.close()


def render(folder: Path) -> None:
    """What `harness run` does after its last case: results.json and the reports, from the journal."""
    from harness.core.result import RunResult
    from harness.execution.journal import index_journal
    from harness.report.outputs import write_run_outputs

    t0 = time.perf_counter()
    cases = index_journal(folder / "journal.jsonl")
    t1 = time.perf_counter()
    write_run_outputs(RunResult({"model": "synthetic-model", "cassettes": "off"}, cases), folder)  # type: ignore[arg-type]
    print(f"index {t1 - t0:.2f} s, write {time.perf_counter() - t1:.2f} s", flush=True)


def browser(page_path: Path) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page()
        t0 = time.perf_counter()
        page.goto(page_path.as_uri(), wait_until="commit")
        page.wait_for_function("() => window.harnessReady", timeout=300_000, polling=10)
        interactive = page.evaluate("() => window.harnessReady") / 1000
        t1 = time.perf_counter()
        page.click("#filters [data-filter=failed]")
        page.wait_for_function("() => document.querySelector('#rows tr.row') !== null")
        filt = time.perf_counter() - t1
        t2 = time.perf_counter()
        page.fill("#search", "case-0999")
        page.wait_for_function("() => document.querySelectorAll('#rows tr.row').length <= 20")
        search = time.perf_counter() - t2
        page.fill("#search", "")
        page.click("#filters [data-filter=passed]")
        t3 = time.perf_counter()
        page.locator("#rows tr.row").first.click()
        page.wait_for_selector("tr.detail .chat")
        open_case = time.perf_counter() - t3
        heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize / 1e6 : null")
        b.close()
    return {"interactive_s": interactive, "wall_s": t1 - t0, "filter_s": filt, "search_s": search,
            "open_case_s": open_case, "js_heap_mb": heap or 0.0}  # fmt: skip


def size_mb(path: Path) -> float:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir()) / 1e6
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def measure(cases: int, work: Path, with_browser: bool) -> str:
    folder = work / f"run-{cases}"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, __file__, "--write-journal", str(folder), "--cases", str(cases)], check=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--render", str(folder)], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    detail = proc.stdout.read().strip() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"render failed for {cases} cases: {detail}")
    files = {name: size_mb(folder / name) for name in ("journal.jsonl", "results.json", "report.html", "report-data",
                                                       "junit.xml", "summary.md")}  # fmt: skip
    cells = [f"{cases:,}", f"{wall:.1f}", f"{usage.ru_utime + usage.ru_stime:.1f}", f"{usage.ru_maxrss / 1024:.0f}",
             *(f"{v:.1f}" for v in files.values())]  # fmt: skip
    if with_browser:
        b = browser(folder / "report.html")
        cells += [f"{b['interactive_s']:.2f}", f"{b['filter_s']:.2f}", f"{b['search_s']:.2f}", f"{b['open_case_s']:.2f}",
                  f"{b['js_heap_mb']:.0f}"]  # fmt: skip
    print(f"{cases} cases: {detail}", file=sys.stderr, flush=True)
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, action="append", help="run size (repeatable; default 100000)")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium timings")
    parser.add_argument("--write-journal", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--render", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_journal:
        write_journal(args.write_journal, args.cases[0])
        return 0
    if args.render:
        render(args.render)
        return 0
    with_browser = not args.no_browser and Path(CHROMIUM).exists()
    header = ("| cases | write wall s | write CPU s | write peak RSS MB | journal MB | results.json MB | report.html MB "
              "| report-data MB | junit.xml MB | summary.md MB |")  # fmt: skip
    if with_browser:
        header += " interactive s | filter s | search s | open a case s | JS heap MB |"
    rows = []
    with tempfile.TemporaryDirectory(prefix="harness-flat-") as work:
        for n in args.cases or [100_000]:
            rows.append(measure(n, Path(work), with_browser))
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    print("\n".join(rows))
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"this process's peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
