"""Write a finished run to its output folder: the one call site every front door shares.

`harness run`, `harness merge` and the pytest plugin all end here, so a run
written by any of them has the same files: results.json, then the reports.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from harness.core.result import RunResult, save_run
from harness.report import write_run_reports

RUN_FILES = ("results.json", "report.html", "summary.md", "junit.xml")
COMPARE_FILES = ("diff.html", "summary.md", "junit.xml")


class OutputError(Exception):
    """An output folder that cannot be written; the message names the path and what to do (exit 2)."""


def check_output_dir(out_dir: Path, files: Iterable[str] = RUN_FILES, why: str = "") -> None:
    """Create ``out_dir`` if needed and make sure each of ``files`` can be written into it; raise OutputError.

    Called before anything is sent or computed, so an unwritable output location is bad input
    (exit 2) rather than a traceback after every request was paid for. ``why`` says, in
    parentheses, how the folder was chosen when it is not --out itself.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"the output folder {out_dir} is a file{why}; choose another --out")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".harness-write-check.", dir=out_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"cannot write to the output folder {out_dir}{why}: {e.strerror or e}; "
                          "choose another --out") from None  # fmt: skip
    for name in files:
        if (out_dir / name).is_dir():
            raise OutputError(f"{out_dir / name} is a folder, so {name} cannot be written there{why}; "
                              "remove it or choose another --out")  # fmt: skip


def write_run_outputs(run: RunResult, out_dir: Path) -> Path:
    """Write results.json (atomically), then report.html, summary.md and junit.xml; return the results path.

    Raises OutputError (naming the path) when the folder or a file in it cannot be written.
    """
    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    path = out_dir / "results.json"
    try:
        save_run(run, path)
        write_run_reports(run, out_dir)
    except OSError as e:
        where = e.filename or out_dir
        raise OutputError(f"cannot write {where}: {e.strerror or e}") from None
    return path
