"""`harness run --rerun failed --from DIR`: the command line's side of re-running what failed.

The earlier run's results.json gives the suites and settings (as --resume takes
them from run.json); the flags that would change what runs are refused, the
suites must be unchanged, and the cases that are not re-run keep their results.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.core.plan import CasePlan
from harness.core.result import CaseResult, ResultFileError, load_run
from harness.results.rerun import Rerun, RerunError, full_run_command, parse_statuses

# Flags that would change which cases run, or how: a re-run takes them from the earlier run.
RERUN_FIXED = {"paths": "PATH", "model": "--model", "case": "--case", "shard": "--shard", "repeat": "--repeat",
               "variant": "--variant", "resume": "--resume"}  # fmt: skip


def start_rerun(args: argparse.Namespace) -> Rerun:
    """The earlier run named by --from and the statuses of --rerun; raise RerunError with what to fix."""
    if not args.rerun or not args.from_dir:
        missing = "--from DIR (the earlier run's output folder)" if args.rerun else "--rerun failed|errored"
        raise RerunError(f"{'--rerun' if args.rerun else '--from'} needs {missing}, e.g. "
                         "harness run --rerun failed --from reports/latest")  # fmt: skip
    given = [flag for attr, flag in RERUN_FIXED.items() if getattr(args, attr, None)]
    if given:
        raise RerunError(f"--rerun runs the suites and settings of the run in {args.from_dir}; drop "
                         f"{', '.join(given)}")  # fmt: skip
    statuses = parse_statuses(args.rerun)
    path = Path(args.from_dir)
    if not path.exists():
        raise RerunError(f"--from {args.from_dir}: no such run folder; pass the --out folder of the run to complete")
    try:
        earlier = load_run(path / "results.json" if path.is_dir() else path)
    except ResultFileError as e:
        raise RerunError(f"--from: {e}") from None
    return Rerun(earlier, statuses, args.from_dir)


def select(rerun: Rerun, plans: list[CasePlan]) -> tuple[list[CasePlan], dict[tuple[str, str, int], CaseResult], int]:
    """The plans of the earlier run, the results that are kept, and how many cases run again.

    Raises RerunError when the suites changed since that run (the merged results would mix two versions).
    """
    current = {p.suite.name: (p.suite.fingerprint, str(p.suite.path)) for p in plans}
    changed = rerun.changed_suites(current)
    if changed:
        raise RerunError(f"the suites changed since the run in {rerun.source}, so its results cannot be completed "
                         f"by a re-run: {'; '.join(changed)}. Run the suites in full instead: "
                         f"{full_run_command(rerun.earlier.settings)}")  # fmt: skip
    ran = {(c.suite, c.label) for c in rerun.earlier.cases}
    plans = [p for p in plans if p.key in ran]
    chosen = rerun.chosen() & {p.key for p in plans}
    return plans, rerun.kept(chosen), len(chosen)
