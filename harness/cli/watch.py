"""`harness watch PATH [run flags]`: run the suites, then re-run only the suites a saved change affects.

The front door for an editing session: the first run covers every suite; after that a change to
a suite file, or to a file a suite names (prompt, data, price table, `python:` check module),
re-runs just those suites. report.html and the other outputs in --out are rewritten in place
with the latest result of every suite, so a browser tab on report.html shows the current state.
A suite that does not load prints its problems and the watch goes on; Ctrl-C ends it (exit 0).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import time
from pathlib import Path

from harness.core import exit_codes


def add_watch_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The `watch` subcommand and its flags (the run flags that make sense while editing)."""
    from harness.core.cassette_mode import CASSETTE_MODES

    watch = sub.add_parser("watch", help="run suites, then re-run the ones a saved change affects",
                           description=__doc__.split("\n\n")[1].replace("\n", " "))  # fmt: skip
    watch.add_argument("paths", nargs="+", metavar="PATH", help="suite files or folders to run and watch")
    watch.add_argument("--model", help="model for every case (overrides the suites' `model:`)")
    watch.add_argument("--base-url", help="API base URL (default: $OPENAI_BASE_URL)")
    watch.add_argument("--cassettes", choices=CASSETTE_MODES,
                       help="default: record-missing when a base URL or OPENAI_API_KEY is set, else replay")  # fmt: skip
    watch.add_argument("--cassette-dir", help="where cassettes live (default: cassettes)")
    watch.add_argument("--case", action="append", metavar="PATTERN", help="run only cases whose id matches")
    watch.add_argument("--variant", action="append", metavar="NAME", help="run only this variant (repeatable)")
    watch.add_argument("--repeat", type=int, metavar="N", help="run every case N times")
    watch.add_argument("--concurrency", type=int, help="requests in flight at once (default 8)")
    watch.add_argument("--out", default="reports/latest", help="output folder, rewritten on every run")
    watch.add_argument("--interval", type=float, default=0.2, metavar="S", help="seconds between polls (default 0.2)")
    watch.add_argument("--debounce", type=float, default=0.2, metavar="S",
                       help="quiet seconds after a change before re-running (default 0.2)")  # fmt: skip


def default_cassette_mode(base_url: str | None, environ: dict[str, str] | os._Environ[str]) -> str:
    """record-missing when requests could go somewhere (a base URL or a key), else replay (never the network)."""
    return "record-missing" if base_url or environ.get("OPENAI_BASE_URL") or environ.get("OPENAI_API_KEY") else "replay"


class Session:
    """The latest result of every suite, and re-running some of them."""

    def __init__(self, args: argparse.Namespace, settings, api_key: str | None):  # noqa: ANN001 (RunSettings)
        self.args, self.settings, self.api_key = args, settings, api_key
        self.latest: dict[str, list] = {}  # suite file -> its case results, in run order
        self.reads: dict[str, set[str]] = {}  # suite file -> the files it read last time (prompts, includes, data)

    def affected(self, changed: set[str], files: list[Path]) -> list[Path]:
        """The suites a change affects: by name in their text (affected_suites), or among the files they read
        (a file a prompt file includes is named by no suite); a suite's data table is not a suite itself."""
        from harness.execution.watching import affected_suites

        read = {f for files_read in self.reads.values() for f in files_read}
        files = [f for f in files if str(f.resolve()) not in read]
        changed_paths = {str(Path(c).resolve()) for c in changed}
        hit = set(affected_suites(changed, files))
        hit |= {f for f in files if self.reads.get(str(f), set()) & changed_paths}
        return [f for f in files if f in hit]

    def run(self, files: list[Path]) -> None:
        from harness.core.problems import SuiteError
        from harness.core.result import RunResult
        from harness.execution.runner import run_plans
        from harness.report.outputs import OutputError, write_run_outputs
        from harness.report.terminal import format_summary
        from harness.suites.planning import load_plans

        t0 = time.perf_counter()
        try:
            suites, plans = load_plans([str(f) for f in files], self.settings.model, repeat=self.settings.repeat,
                                       variants=self.settings.variants)  # fmt: skip
            self.reads.update({str(s.path): {str(p.resolve()) for p in s.files} for s in suites})
        except SuiteError as e:
            for p in e.problems:
                print(f"error: {p}", file=sys.stderr)
            print(f"{len(e.problems)} problem(s); nothing was run. Watching for the fix...", file=sys.stderr, flush=True)
            return
        if self.settings.cases:
            plans = [p for p in plans if any(fnmatch.fnmatchcase(p.case.id, pat) for pat in self.settings.cases)]
        run = run_plans(plans, self.settings, self.api_key)
        before = {c.key: c.status for f in map(str, files) for c in self.latest.get(f, [])}
        for f in map(str, files):
            self.latest[f] = [c for c in run.cases if c.file == f]
        combined = RunResult(self.settings.to_dict(), [c for cases in self.latest.values() for c in cases],
                             run.started_at, run.duration_ms)  # fmt: skip
        print(format_summary(run))
        print(changed_line(before, {c.key: c.status for c in run.cases}))
        try:
            path = write_run_outputs(combined, Path(self.args.out))
        except OutputError as e:
            print(f"error: {e}", file=sys.stderr)
            return
        names = ", ".join(str(f) for f in files)
        print(f"ran {names} in {time.perf_counter() - t0:.2f} s; report: {path.parent / 'report.html'}", flush=True)


def changed_line(before: dict, after: dict) -> str:
    """What changed since the suite's previous run in this session: flipped, new and gone cases."""
    if not before:
        return "changed since last run: first run"
    flips = [f"{k[0]} / {k[1]} {before[k]} -> {after[k]}" for k in after if k in before and before[k] != after[k]]
    new, gone = sum(k not in before for k in after), sum(k not in after for k in before)
    bits = flips[:5] + ([f"and {len(flips) - 5} more"] if len(flips) > 5 else [])
    if new:
        bits.append(f"{new} new")
    if gone:
        bits.append(f"{gone} removed")
    return "changed since last run: " + ("; ".join(bits) if bits else "nothing (same statuses)")


def cmd_watch(args: argparse.Namespace) -> int:
    from harness.execution.run_setup import RunOptions, SetupProblems, resolve_run
    from harness.execution.watching import Poller, forget_modules
    from harness.suites.loading import discover

    mode = args.cassettes or default_cassette_mode(args.base_url, os.environ)
    options = RunOptions(paths=list(args.paths), model=args.model, base_url=args.base_url, cassettes=mode,
                         cassette_dir=args.cassette_dir, concurrency=args.concurrency, cases=list(args.case or []),
                         repeat=args.repeat, variants=list(args.variant or []))  # fmt: skip
    try:
        setup = resolve_run(options)
    except SetupProblems as e:
        for problem in e.problems:
            print(f"error: {problem}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    files, problems = discover(args.paths)
    if problems and not files:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    session = Session(args, setup.settings, setup.api_key)
    roots = [Path(p) for p in args.paths]
    try:
        poller = Poller(roots, args.interval, args.debounce)
        print(f"watching {', '.join(args.paths)} (cassettes: {setup.settings.cassette_mode}); Ctrl-C to stop", flush=True)
        session.run(files)
        while True:
            changed = poller.wait()
            forget_modules(changed)
            files, _ = discover(args.paths)
            affected = session.affected(changed, files)
            shown = ", ".join(sorted(os.path.relpath(c) for c in changed)[:5])
            if not affected:
                print(f"changed: {shown}; no suite uses it", flush=True)
                continue
            print(f"changed: {shown}; re-running {len(affected)} suite(s)", flush=True)
            session.run(affected)
    except KeyboardInterrupt:
        print("stopped watching", file=sys.stderr)
        return exit_codes.OK
