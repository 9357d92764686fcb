"""Write a finished run to its output folder: the one call site every front door shares.

`harness run`, `harness merge` and the pytest plugin all end here, so a run
written by any of them has the same files: results.json, then the reports.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable
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


def write_run_outputs(run: RunResult, out_dir: Path, processes: int = 1) -> Path:
    """Write results.json (atomically), then report.html, summary.md and junit.xml; return the results path.

    With ``processes`` above one (`--workers`) and fork available, report.html and summary.md are written by a
    forked child while this process writes results.json and junit.xml: each reads the cases from the journal
    on its own, so the two halves take about as long and a run's last serial step takes about half the time.
    Raises OutputError (naming the path) when the folder or a file in it cannot be written.
    """
    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    path = out_dir / "results.json"
    try:
        child = _Forked.start(lambda: write_run_reports(run, out_dir, _CHILD_FILES)) if processes > 1 else None
        if child is None:
            save_run(run, path)
            write_run_reports(run, out_dir)
        else:
            try:
                save_run(run, path)
                write_run_reports(run, out_dir, ("junit.xml",))
            finally:
                error = child.wait()
            if error is not None:
                raise error
    except OSError as e:
        where = e.filename or out_dir
        raise OutputError(f"cannot write {where}: {e.strerror or e}") from None
    return path


_CHILD_FILES = ("report.html", "summary.md")


class _Forked:
    """``job`` run in a forked child; ``wait`` returns the exception it raised (an OSError keeps its file name,
    any other carries the child's traceback as a note)."""

    def __init__(self, pid: int, read: int):
        self.pid, self._read = pid, read

    @classmethod
    def start(cls, job: Callable[[], object]) -> _Forked | None:
        """Fork a child running ``job``; None where there is no fork or it fails (the caller then does the job)."""
        if not hasattr(os, "fork"):
            return None
        sys.stdout.flush()  # what is buffered now is printed once, by this process
        sys.stderr.flush()
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no process to spare (a pid limit, memory): write everything here
            os.close(read)
            os.close(write)
            return None
        if pid == 0:  # the child: run the job, hand its exception (if any) over, and never return into the caller
            code = 1
            try:
                os.close(read)
                try:
                    job()
                    code = 0
                except BaseException as e:  # noqa: BLE001 (handed to the parent, which raises it)
                    with os.fdopen(write, "wb") as f:
                        f.write(_payload(e))
            finally:
                os._exit(code)  # no atexit hooks, no second flush of the parent's buffers
        os.close(write)
        return cls(pid, read)

    def wait(self) -> BaseException | None:
        try:
            with os.fdopen(self._read, "rb") as f:
                payload = f.read()
        finally:
            _, status = os.waitpid(self.pid, 0)  # reaped even when a second Ctrl-C lands here
        if payload:
            return _exception(payload)
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
            return OSError(f"the process writing {' and '.join(_CHILD_FILES)} {how}")
        if code != 0:
            return OSError(f"the process writing {' and '.join(_CHILD_FILES)} exited with code {code}")
        return None


def _payload(error: BaseException) -> bytes:
    text = traceback.format_exc()
    try:
        return pickle.dumps((error, text))
    except Exception:  # noqa: BLE001 (an exception that does not pickle: its traceback says what it was)
        return pickle.dumps((None, text))


def _exception(payload: bytes) -> BaseException:
    try:
        error, text = pickle.loads(payload)  # noqa: S301 (our own child's exception, over our own pipe)
    except Exception:  # noqa: BLE001 (one that does not unpickle)
        error, text = None, "(its exception could not be passed on)"
    if error is None:
        error = RuntimeError(f"the process writing {' and '.join(_CHILD_FILES)} failed:\n{text}")
    elif not isinstance(error, OSError):
        error.add_note(f"in the process writing {' and '.join(_CHILD_FILES)}:\n{text}")
    return error
