"""Benchmark: reports for a 10,000-case run (issue #5's target: interactive in a few seconds).

Generates a synthetic 10,000-case results.json (tests/synthetic.py: 1-3 turns
per case, realistic reply lengths, ~8% failing, 2% errored), then measures:

- report generation: report.html + summary.md + junit.xml from a loaded run
  (load_run itself is timed apart); for diff.html, compare_runs + the three files;
- the size of report.html;
- time to interactive in headless Chromium: from navigation start until the
  page's table is built and its controls respond (``window.harnessReady``),
  plus how long a status filter and a search take to redraw;
- the same for compare: two 10,000-case runs -> diff.html.

    python benchmarks/report_bench.py                  # 10,000 cases, 3 repeats
    python benchmarks/report_bench.py --cases 1000 --repeats 1

Needs Chromium at /usr/bin/chromium (Debian's package) and Python playwright.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.core.result import load_run, save_run  # noqa: E402
from harness.report import gc_paused, write_compare_reports, write_run_reports  # noqa: E402
from harness.results.compare import compare_runs  # noqa: E402
from tests.synthetic import synthetic_run, synthetic_variant_run  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip


def browser_timings(page, url: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Open the page cold and time it to interactive, then time a filter click and a search."""
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_function("() => window.harnessReady", timeout=60_000, polling=10)
    wall = time.perf_counter() - t0
    in_page = page.evaluate("() => window.harnessReady") / 1000  # ms since navigation start
    t1 = time.perf_counter()
    page.click("#filters .chip >> nth=1")
    page.wait_for_function("() => document.querySelector('#rows tr.row') !== null")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
    filt = time.perf_counter() - t1
    t2 = time.perf_counter()
    page.fill("#search", "case-0999")
    page.wait_for_function("() => document.querySelectorAll('#rows tr.row').length <= 20")
    search = time.perf_counter() - t2
    return {"interactive_s": in_page, "wall_s": wall, "filter_s": filt, "search_s": search}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grid", action="store_true",
                        help="instead: the variants grid, CASES cases x 4 variants (issue 17: interactive in < 1 s)")
    args = parser.parse_args()
    if args.grid:
        return grid_bench(args.cases, args.repeats)
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="report-bench-"))
    base, head = synthetic_run(args.cases), synthetic_run(args.cases, variant=True)
    save_run(base, tmp / "base/results.json")
    save_run(head, tmp / "head/results.json")
    results_mb = (tmp / "head/results.json").stat().st_size / 1e6
    load, gen, cmp_gen = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run = load_run(tmp / "head/results.json")
        load.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        write_run_reports(run, tmp / "head")
        gen.append(time.perf_counter() - t0)
        base_run = load_run(tmp / "base/results.json")
        t0 = time.perf_counter()
        with gc_paused():  # as `harness compare` does
            comparison = compare_runs(base_run, run)
        write_compare_reports(comparison, tmp / "compare")
        cmp_gen.append(time.perf_counter() - t0)
    report, diff = tmp / "head/report.html", tmp / "compare/diff.html"
    timings: dict[str, list[dict[str, float]]] = {"report": [], "diff": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(args.repeats):
            for name, path in (("report", report), ("diff", diff)):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                timings[name].append(browser_timings(page, path.as_uri()))
                page.close()
        browser.close()

    def med(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} s"

    print(f"## Report benchmark: {args.cases:,} cases, median of {args.repeats}\n")
    print(f"results.json: {results_mb:.1f} MB, loaded in {med(load)} (load_run)\n")
    print("| page | generate (from loaded runs) | file size | interactive (in page) | interactive (wall) "
          "| filter | search |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, path, g in (("report.html", report, gen), ("diff.html", diff, cmp_gen)):
        t = timings["report" if name == "report.html" else "diff"]
        print(f"| {name} | {med(g)} | {path.stat().st_size / 1e6:.1f} MB | {med([x['interactive_s'] for x in t])} "
              f"| {med([x['wall_s'] for x in t])} | {med([x['filter_s'] for x in t])} "
              f"| {med([x['search_s'] for x in t])} |")  # fmt: skip
    print(f"\n(files in {tmp})")
    return 0


def grid_bench(cases: int, repeats: int) -> int:
    """report.html of a run with 4 variants: generate, then time to interactive and the "disagree" filter."""
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="grid-bench-"))
    run = synthetic_variant_run(cases)
    gen, ready, filt = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        write_run_reports(run, tmp)
        gen.append(time.perf_counter() - t0)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto((tmp / "report.html").as_uri(), wait_until="commit")
            page.wait_for_function("() => window.harnessReady && document.querySelector('#vrows tr.vrow')",
                                   timeout=60_000, polling=10)  # fmt: skip
            ready.append(page.evaluate("() => performance.now()") / 1000)
            t1 = time.perf_counter()
            page.check("#vdisagree")
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
            filt.append(time.perf_counter() - t1)
            page.close()
        browser.close()
    size = (tmp / "report.html").stat().st_size / 1e6
    print(f"## Grid benchmark: {cases:,} cases x 4 variants, median of {repeats}\n")
    print("| page | generate | file size | interactive (in page) | 'variants disagree' filter |")
    print("|---|---:|---:|---:|---:|")
    print(f"| report.html with the grid | {statistics.median(gen):.2f} s | {size:.1f} MB "
          f"| {statistics.median(ready):.2f} s | {statistics.median(filt):.2f} s |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
