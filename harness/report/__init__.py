"""Renderings of results: terminal, HTML, Markdown, JUnit.

Two entry points write every file a run or a comparison leaves behind, so the
command line makes one call and the set of outputs is defined in one place.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.core.atomic_files import write_text_atomic
from harness.core.result import RunResult
from harness.report.html import render_compare_html, render_run_html
from harness.report.html_split import needs_split, remove_split_data, write_split_run_html
from harness.report.junit import compare_junit, write_run_junit
from harness.report.markdown import compare_summary, run_summary
from harness.results.compare import Comparison


@contextmanager
def gc_paused() -> Iterator[None]:
    """Rendering makes millions of short-lived objects and no cycles; with a large run loaded,
    every generational collection walks the whole run, which doubles the time at 10,000 cases."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


REPORT_FILES = ("report.html", "summary.md", "junit.xml")


def write_run_reports(run: RunResult, out_dir: Path, files: tuple[str, ...] = REPORT_FILES) -> dict[str, Path]:
    """report.html, summary.md and junit.xml for a run (or those of them in ``files``), next to its results.json.

    Each renderer reads the run's cases one at a time (from the journal, for `harness run`), and a run
    too large for one page gets its transcripts in report-data/ beside report.html (harness/report/html_split.py).
    """
    out_dir = Path(out_dir)
    with gc_paused():
        if "report.html" in files:
            if needs_split(run):
                write_split_run_html(run, out_dir)
            else:
                write_text_atomic(out_dir / "report.html", render_run_html(run))
                remove_split_data(out_dir)  # a smaller run written over a split report's folder
        if "summary.md" in files:
            write_text_atomic(out_dir / "summary.md", run_summary(run, out_dir=str(out_dir)))
        if "junit.xml" in files:
            write_run_junit(run, out_dir / "junit.xml")
    return {name: out_dir / name for name in files}


def write_compare_reports(comparison: Comparison, out_dir: Path) -> dict[str, Path]:
    """diff.html, summary.md and junit.xml for a base-vs-head comparison."""

    with gc_paused():
        files = {"diff.html": render_compare_html(comparison), "summary.md": compare_summary(comparison),
                 "junit.xml": compare_junit(comparison)}  # fmt: skip
    return _write_all(Path(out_dir), files)


def _write_all(out_dir: Path, files: dict[str, str]) -> dict[str, Path]:
    """Each file atomically (temp + rename): a crash leaves the old report or the new one, never half."""
    for name, text in files.items():
        write_text_atomic(out_dir / name, text)
    return {name: out_dir / name for name in files}
