"""Write a finished run to its output folder: the one call site every front door shares.

`harness run`, `harness merge` and the pytest plugin all end here, so a run
written by any of them has the same files: results.json, then the reports.
"""

from __future__ import annotations

from pathlib import Path

from harness.results import RunResult, save_run


def write_run_outputs(run: RunResult, out_dir: Path) -> Path:
    """Write results.json (atomically), then report.html, summary.md and junit.xml; return the results path."""
    from harness.report import write_run_reports

    out_dir = Path(out_dir)
    path = out_dir / "results.json"
    save_run(run, path)
    write_run_reports(run, out_dir)
    return path
