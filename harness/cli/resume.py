"""`harness run --resume DIR`: the saved settings, whether the suites changed since, and the run's earlier sessions.

Kept beside main.py so the run command reads as its steps; the decisions are made in
harness/execution/journal.py (run.json) and harness/execution/fingerprint.py (what changed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.args import parse_shard

# With --resume these come from DIR/run.json; changing them would change what runs.
RESUME_FIXED = {"paths": "PATH", "model": "--model", "cassettes": "--cassettes", "cassette_dir": "--cassette-dir",
                "case": "--case", "shard": "--shard", "out": "--out", "repeat": "--repeat",
                "variant": "--variant", "rerun": "--rerun", "from_dir": "--from", "api": "--api",
                "batch": "--batch"}  # fmt: skip


def resume_settings(args: argparse.Namespace) -> tuple[dict | None, str | None]:
    """The run folder's saved settings (run.json), and a problem to print or None."""
    from harness.execution.journal import RunFolder, RunFolderError

    given = [flag for attr, flag in RESUME_FIXED.items() if getattr(args, attr, None)]
    if given:
        return None, (f"--resume {args.resume} reruns the suites and settings saved in it; drop {', '.join(given)} "
                      "(only --base-url, --concurrency, --workers, --timeout, --max-retries, --rpm, --tpm, --baseline with its "
                      "gate flags, --rerun-changed and -q may be given)")  # fmt: skip
    try:
        saved = RunFolder(Path(args.resume)).load_settings()
    except RunFolderError as e:
        return None, str(e)
    args.out = args.resume
    args.shard = parse_shard(saved["shard"]) if saved.get("shard") else None
    return saved, None


def changes_since_start(folder, fingerprints: list[list[str]], paths: list[str], args: argparse.Namespace):
    """How the planned cases differ from those the resumed run started with; a message (str) to refuse with."""
    from harness.execution.fingerprint import PlanChanges, ResumeRefused, changes_for_resume

    saved = folder.saved_plans()
    if saved is None:
        print(f"warning: {folder.run_file} was written by an older prompt-harness: it cannot tell whether the "
              "suites changed since the run started", file=sys.stderr)  # fmt: skip
        return PlanChanges()
    try:
        changes = changes_for_resume(saved, fingerprints, str(args.resume), paths, args.rerun_changed)
    except ResumeRefused as e:
        return str(e)
    if changes and not args.quiet:
        print(f"--rerun-changed: {changes.describe()} since the run started; their results are dropped and "
              "they run again, the other finished cases are kept", file=sys.stderr)  # fmt: skip
    return changes


def add_earlier_sessions(run, previous: Path) -> None:
    """A resumed run reports when it first started and the time of every session, not just the last."""
    from harness.core.result import ResultFileError, load_run

    try:
        earlier = load_run(previous)
    except ResultFileError:
        return  # killed before it wrote results: only this session's time is known
    run.started_at = earlier.started_at or run.started_at
    run.duration_ms += earlier.duration_ms


def nothing_to_resume(out: str, finished: dict) -> None:
    """A finished run resumed: say why nothing runs, rather than reprint the old result as if it were new."""
    from harness.core.result import ERROR

    errored = len({(c.suite, c.id) for c in finished.values() if c.status == ERROR})
    note = (f" ({errored} errored). --resume continues an interrupted run; it does not retry errors: run the suites "
            "again to retry them" if errored else "")  # fmt: skip
    print(f"nothing to resume: every case of {out} already finished{note}", file=sys.stderr)
