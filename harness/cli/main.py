"""The `harness` command line: parse flags, call the modules, map outcomes to exit codes.

Heavy modules are imported inside the commands, so `harness --version` and
`harness --help` stay fast.
"""

from __future__ import annotations

import argparse
import os
import fnmatch
import gc
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from harness.cli.args import build_parser, parse_shard
from harness.cli.resume import add_earlier_sessions, changes_since_start, nothing_to_resume, resume_settings
from harness.core import exit_codes


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return exit_codes.BAD_INPUT
    handler = {"run": cmd_run, "validate": cmd_validate, "list": cmd_list, "checks": cmd_checks,
               "merge": cmd_merge, "compare": cmd_compare, "tokens": cmd_tokens, "watch": _cmd_watch,
               "view": _cmd_view}[args.command]  # fmt: skip
    # A run keeps every plan and result alive, and with the default GC thresholds (700, 10, 10)
    # the collector walks all of them again and again: a sixth of a 10,000-case run's CPU time.
    # Rarer passes still collect every cycle; the old thresholds come back for in-process callers.
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    sigterm = _stop_on_sigterm()
    stdout, sys.stdout = sys.stdout, _ReaderGone(sys.stdout)
    try:
        return handler(args)
    except _Terminated:
        print("terminated by SIGTERM", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout = stdout
        gc.set_threshold(*thresholds)
        if sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)


class _ReaderGone:
    """sys.stdout for one command. When its reader stops early (`harness run … | head -1`), the rest of the
    output is dropped: the command still finishes its work and exits with its own code, where a BrokenPipeError
    would end it in a traceback and exit 1 (which a CI step with `pipefail` reads as a failed case)."""

    def __init__(self, stream: Any) -> None:
        self._stream, self._gone = stream, False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self._gone = True
        try:  # what the stream still buffers goes nowhere, so the interpreter's own flush at exit cannot fail
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Terminated(KeyboardInterrupt):
    """SIGTERM while no run is handling it (loading the suites, writing the outputs): stop as Ctrl-C does
    (``finally`` blocks run, the output folder is unlocked) and say so, rather than vanish without a word."""


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise _Terminated


def _stop_on_sigterm():  # type: ignore[no-untyped-def]
    """Route SIGTERM to ``_Terminated``; the handler to put back, or None where one was set by someone else
    (an embedding program's own) or this is not the main thread (signals cannot be routed there)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _cmd_watch(args: argparse.Namespace) -> int:
    from harness.cli.watch import cmd_watch

    return cmd_watch(args)


def _cmd_view(args: argparse.Namespace) -> int:
    from harness.cli.view import cmd_view

    return cmd_view(args)


def _load(paths: list[str], model: str | None, repeat: int | None = None, sends: bool = False,
          variants: list[str] | None = None, api: str | None = None):  # fmt: skip
    """Load and render suites through the one path every command shares, printing every problem; None means exit 2."""
    from harness.core.problems import SuiteError
    from harness.suites.planning import load_plans

    try:
        return load_plans(paths, model, repeat=repeat, variants=variants, api=api)
    except SuiteError as e:
        _print_problems(e, sends)
        return None


def _print_problems(error, sends: bool = False) -> None:
    """Every problem, then the count; "nothing was sent" only from a command that would have sent something."""
    for p in error.problems:
        print(f"error: {p}", file=sys.stderr)
    noun = "problem" if len(error.problems) == 1 else "problems"
    print(f"{len(error.problems)} {noun} found" + ("; nothing was sent." if sends else "."), file=sys.stderr)


GATE_OPTIONS = {"allow_regressions": "--allow-regressions", "max_pass_rate_drop": "--max-pass-rate-drop",
                "alpha": "--alpha", "max_cost_increase": "--max-cost-increase",
                "max_token_increase": "--max-token-increase", "max_latency_increase": "--max-latency-increase",
                "allow_new_failures": "--allow-new-failures"}  # fmt: skip
DEFAULT_ALPHA = 0.05


def _flag_problems(args: argparse.Namespace) -> list[str]:
    """Flags of `harness run` that cannot work together or cannot be read, found before anything loads."""
    problems = [f"{flag} needs --baseline (it sets the gate of the comparison with a base run)"
                for attr, flag in GATE_OPTIONS.items() if getattr(args, attr) is not None and not args.baseline]  # fmt: skip
    if (args.workers or 1) > 1:
        from harness.execution.workers import fork_available

        if not fork_available():
            problems.append("--workers needs os.fork (Linux, macOS), which this platform lacks; use --workers 1, "
                            "or split the run with --shard K/N and `harness merge`")  # fmt: skip
    if args.rerun_changed and not args.resume:
        problems.append("--rerun-changed only applies with --resume DIR (a fresh run runs every case anyway)")
    return problems + _usage_limits(args)[1]


def _usage_limits(args: argparse.Namespace) -> tuple[dict[str, float], list[str]]:
    """--max-cost-increase, --max-token-increase and --max-latency-increase as metric -> percent, and every problem."""
    from harness.core.usage_limits import LIMIT_KEYS, parse_flag

    limits: dict[str, float] = {}
    problems: list[str] = []
    for key in LIMIT_KEYS:
        if getattr(args, key, None):
            found, bad = parse_flag(key, getattr(args, key))
            limits.update(found)
            problems += bad
    return limits, problems


def cmd_run(args: argparse.Namespace) -> int:
    from harness.cli import rerun as reruns
    from harness.core.folder_lock import FolderBusy, FolderLock
    from harness.core.problems import SuiteError
    from harness.execution.run_setup import (RunOptions, SetupProblems, batch_plan_problems, endpoint_key_problems,
                                             resolve_run)  # fmt: skip
    from harness.report.outputs import COMPARE_FILES, OutputError, check_output_dir
    from harness.results.rerun import RerunError

    saved = rerun = None
    if args.resume:
        saved, problem = resume_settings(args)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return exit_codes.BAD_INPUT
    elif args.rerun or args.from_dir:
        try:
            rerun = reruns.start_rerun(args)
        except RerunError as e:
            print(f"error: {e}", file=sys.stderr)
            return exit_codes.BAD_INPUT
        saved = rerun.earlier.settings
        args.shard = parse_shard(saved["shard"]) if saved.get("shard") else None
    elif not args.paths:
        print("error: give the suite files or folders to run, or --resume DIR to continue a run", file=sys.stderr)
        return exit_codes.BAD_INPUT
    options = RunOptions(paths=list(args.paths), model=args.model, base_url=args.base_url, concurrency=args.concurrency,
                         cassettes=args.cassettes, cassette_dir=args.cassette_dir, timeout=args.timeout,
                         max_retries=args.max_retries, rpm=args.rpm, tpm=args.tpm, cases=list(args.case or []),
                         repeat=args.repeat, variants=list(args.variant or []), api=args.api,
                         batch=args.batch, workers=args.workers)  # fmt: skip
    try:
        setup = resolve_run(options, saved=saved)
    except SetupProblems as e:
        flag_problems = e.problems
    else:
        flag_problems = []
    if flag_problems := _flag_problems(args) + flag_problems:
        for problem in flag_problems:
            print(f"error: {problem}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    settings, api_key = setup.settings, setup.api_key
    args.out = args.out or "reports/latest"
    loaded = _load(settings.paths, settings.model, settings.repeat, sends=True, variants=settings.variants,
                   api=settings.api)  # fmt: skip
    if loaded is None:
        return exit_codes.BAD_INPUT
    _, plans = loaded
    plan_problems = batch_plan_problems(plans) if settings.batch else []
    if key_problems := plan_problems + endpoint_key_problems(plans, settings.cassette_mode):
        _print_problems(SuiteError(key_problems), sends=True)
        return exit_codes.BAD_INPUT
    baseline = _load_result(args.baseline, "--baseline") if args.baseline else None
    if baseline is False:
        return exit_codes.BAD_INPUT
    if settings.cases:
        plans = [p for p in plans if any(fnmatch.fnmatchcase(p.case.id, pattern) for pattern in settings.cases)]
        if not plans:
            print(f"error: no case id matches {' or '.join(settings.cases)}; see `harness list`", file=sys.stderr)
            return exit_codes.BAD_INPUT
    if args.shard:
        from harness.results.sharding import select_shard

        total = len(plans)
        plans = select_shard(plans, args.shard)
        if not args.quiet:
            print(f"shard {args.shard}: {len(plans)} of {_count(total, 'case')}", file=sys.stderr)
    try:  # every output location is checked before the first request: a traceback after it would waste the run
        check_output_dir(Path(args.out))
        if baseline:
            check_output_dir(Path(args.out) / "compare", COMPARE_FILES, " (--baseline writes the comparison there)")
    except OutputError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    rerun_info = saved.get("rerun") if args.resume and saved else None  # resuming an interrupted re-run
    kept: dict = {}
    if rerun is not None:
        try:
            plans, kept, count = reruns.select(rerun, plans)
        except RerunError as e:
            print(f"error: {e}", file=sys.stderr)
            return exit_codes.BAD_INPUT
        if not count:
            print(f"nothing to re-run: no case of {rerun.source} ended {' or '.join(rerun.statuses)}", file=sys.stderr)
            return exit_codes.OK
        rerun_info = rerun.describe(count)
    try:  # one run at a time per output folder, until its results and reports are written
        lock = FolderLock(Path(args.out)).acquire()
    except (FolderBusy, OSError) as e:
        print(f"error: {e}" if isinstance(e, FolderBusy) else f"error: cannot lock the output folder {args.out}: "
              f"{e.strerror or e}", file=sys.stderr)  # fmt: skip
        return exit_codes.BAD_INPUT
    try:
        return _run_in_folder(args, settings, api_key, plans, baseline, rerun, rerun_info, kept)
    finally:
        lock.release()


def _run_in_folder(args: argparse.Namespace, settings, api_key: str | None, plans: list, baseline, rerun,
                   rerun_info: dict | None, kept: dict) -> int:  # fmt: skip
    """Run the plans into the locked --out folder: journal, results.json, reports, the comparison; the exit code."""
    from harness.cli.progress import Progress
    from harness.core.outcomes import light
    from harness.core.text_policy import printable
    from harness.execution.fingerprint import plan_fingerprints
    from harness.execution.interrupt import StopFlag
    from harness.execution.journal import RunFolder, RunFolderError
    from harness.execution.runner import BatchOptions, plan_keys, run_plans
    from harness.report.outputs import OutputError, write_run_outputs
    from harness.report.terminal import print_rerecord, print_summary
    from harness.results.rerecord import rerecord_commands
    from harness.results.rerun import rerun_command, statuses_to_rerun

    folder = RunFolder(Path(args.out))
    fingerprints = plan_fingerprints(plans)
    changes = changes_since_start(folder, fingerprints, settings.paths, args) if args.resume else None
    if isinstance(changes, str):
        print(f"error: {changes}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    known_batches: list = []
    try:
        if args.resume:
            journaled, journal = folder.resume()
            known_batches = journaled.batches
            finished = {k: v for k, v in journaled.cases.items() if k[:2] not in (changes.rerun if changes else ())}
            if changes:
                folder.replace_plans(fingerprints)
        else:
            journal = folder.start({**settings.to_dict(), **({"shard": str(args.shard)} if args.shard else {}),
                                    **({"rerun": rerun_info} if rerun_info else {})}, fingerprints)  # fmt: skip
            for case in kept.values():  # so a re-run interrupted now resumes with them (--resume)
                journal.append(case)
            finished = dict(kept)
    except RunFolderError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    except OSError as e:
        print(f"error: cannot write to the output folder {args.out}: {e.strerror or e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    unfinished = [p for p in plans if not all(k in finished for k in plan_keys(p))]
    if args.resume and not unfinished:
        nothing_to_resume(args.out, finished)
    elif args.resume and not args.quiet:
        print(f"resuming {args.out}: {len(plans) - len(unfinished)} of {len(plans)} cases already finished", file=sys.stderr)
    if rerun is not None and not args.quiet:
        print(f"re-running {_count(len(unfinished), 'case')} of {rerun.source} that ended "
              f"{' or '.join(rerun.statuses)}; the other {_count(len(plans) - len(unfinished), 'case')} keep "
              "their results", file=sys.stderr)  # fmt: skip
    journal.rerun = bool(rerun_info)  # what runs now is marked re-run; the cases kept above are not
    progress = Progress(sum(p.repeats for p in unfinished), enabled=not args.quiet, concurrency=settings.concurrency)
    stop = StopFlag()
    try:
        run = run_plans(plans, settings, api_key, observer=progress, stop=stop,
                        finished=finished, batches=BatchOptions(journal.append_batch, known_batches),
                        journal=journal)  # fmt: skip
    finally:
        journal.close()
        progress.close()
    if args.shard:
        run.settings["shard"] = str(args.shard)
    run.rerun = rerun_info
    if args.resume:
        add_earlier_sessions(run, Path(args.out) / "results.json")
    out = Path(args.out)
    try:
        write_run_outputs(run, out, processes=settings.workers)
    except OutputError as e:  # checked before the run; the disk can still fill up or change under it
        print(f"error: {e}; the finished cases are in {folder.journal_path}; "
              f"`harness run --resume {shlex.quote(str(out))}` writes results.json and the reports from them, "
              "sending nothing", file=sys.stderr)  # fmt: skip
        return exit_codes.BAD_INPUT
    print_summary(run)
    for case in light(run.cases):  # a run's cases are read back from its journal: their heads suffice here
        if case.reason:
            print(f"{case.status.upper()} {case.suite} / {case.id}: {printable(case.reason)}")
    print_rerecord(rerecord_commands(light(run.cases), run.settings))
    print(f"results: {out / 'results.json'}")
    if (statuses := statuses_to_rerun(run)) and run.fingerprints and not stop.is_set:
        print(f"re-run only those: {rerun_command(str(out), statuses)}")
    s = run.summary
    if stop.is_set:
        print(f"{stop.name}: stopped with {s.interrupted} of {s.total} cases unfinished (marked interrupted); "
              f"continue with: harness run --resume {shlex.quote(str(out))}", file=sys.stderr)  # fmt: skip
        return stop.exit_code
    code = exit_codes.for_summary(s)  # per case; failures tolerated by allow_fail or a suite's gate do not count
    if baseline:
        gate = _compare(baseline, run, args.baseline, str(out / "results.json"), out / "compare", args)
        code = max(code, gate)  # NOT_EVALUATED (3) > FAILED (1) > OK (0)
    return code


def _load_result(raw: str, what: str):
    """A results.json (or the folder holding one); False after printing why it cannot be read."""
    from harness.core.result import ResultFileError, load_run

    path = Path(raw)
    if path.is_dir():
        path = path / "results.json"
    try:
        return load_run(path)
    except ResultFileError as e:
        print(f"error: {what}: {e}", file=sys.stderr)
        return False


def _compare(base, head, base_name: str, head_name: str, out: Path, args: argparse.Namespace) -> int:
    from harness.report import gc_paused, write_compare_reports
    from harness.report.outputs import COMPARE_FILES, OutputError, check_output_dir
    from harness.report.terminal import print_comparison
    from harness.results.compare import Gate, compare_runs

    alpha = DEFAULT_ALPHA if args.alpha is None else args.alpha
    gate = Gate(allow_regressions=args.allow_regressions, max_pass_rate_drop=args.max_pass_rate_drop, alpha=alpha,
                usage_limits=_usage_limits(args)[0], allow_new_failures=bool(args.allow_new_failures))  # fmt: skip
    try:
        check_output_dir(out, COMPARE_FILES)
        with gc_paused():
            comparison = compare_runs(base, head, gate, base_name=_shown(base_name), head_name=_shown(head_name))
        try:
            files = write_compare_reports(comparison, out)
        except OSError as e:
            raise OutputError(f"cannot write {e.filename or out}: {e.strerror or e}") from None
    except OutputError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    print_comparison(comparison)
    print(f"diff: {files['diff.html']}")
    return comparison.verdict.exit_code  # 3 when head could not run a case, 1 when the gate failed


def _shown(path: str) -> str:
    """A path as the reports show it: relative to where the command runs (the repository) when it is under it."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd().resolve()) else path
    except (OSError, ValueError):
        return path


def cmd_compare(args: argparse.Namespace) -> int:
    if problems := _usage_limits(args)[1]:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    if args.base_variant or args.head_variant:
        return _compare_variants(args)
    if args.head is None:
        print("error: give BASE and HEAD, or one run with --base-variant A --head-variant B", file=sys.stderr)
        return exit_codes.BAD_INPUT
    base = _load_result(args.base, "BASE")
    head = _load_result(args.head, "HEAD")
    if base is False or head is False:
        return exit_codes.BAD_INPUT
    return _compare(base, head, args.base, args.head, Path(args.out), args)


def _compare_variants(args: argparse.Namespace) -> int:
    """`harness compare RUN --base-variant A --head-variant B`: two variants of one run, as two runs."""
    from harness.results.variant_table import VariantChoiceError, split_variants

    problems = []
    if not (args.base_variant and args.head_variant):
        problems.append("--base-variant and --head-variant go together: give both")
    if args.head is not None:
        problems.append(f"with --base-variant/--head-variant give one run, not BASE and HEAD (drop {args.head})")
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    run = _load_result(args.base, "RUN")
    if run is False:
        return exit_codes.BAD_INPUT
    try:
        base, head = split_variants(run, args.base_variant, args.head_variant)
    except VariantChoiceError as e:
        print(f"error: {args.base}: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    return _compare(base, head, f"{args.base} [{args.base_variant}]", f"{args.base} [{args.head_variant}]",
                    Path(args.out), args)  # fmt: skip


def cmd_merge(args: argparse.Namespace) -> int:
    from harness.core.result import ResultFileError, load_run
    from harness.report.outputs import OutputError, write_run_outputs
    from harness.report.terminal import print_summary
    from harness.results.sharding import MergeError, expected_shards_problem, merge_runs

    sources, unreadable = [], 0
    for raw in args.inputs:
        path = Path(raw)
        if path.is_dir():
            path = path / "results.json"
        try:
            sources.append((str(path), load_run(path)))
        except ResultFileError as e:
            hint = "" if path.exists() else "; pass the folders that hold each shard's results.json"
            print(f"error: {e}{hint}", file=sys.stderr)
            unreadable += 1
    if unreadable:
        return exit_codes.BAD_INPUT
    if args.expect_shards and (problem := expected_shards_problem(sources, args.expect_shards)):
        print(f"error: {problem}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    try:
        merged = merge_runs(sources)
    except MergeError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    for warning in merged.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    out = Path(args.out)
    try:
        path = write_run_outputs(merged.run, out)
    except OutputError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    print_summary(merged.run)
    print(f"merged {_count(len(merged.run.cases), 'case')} from {_count(len(sources), 'results file')}")
    print(f"results: {path}")
    s = merged.run.summary
    return exit_codes.for_summary(s)


def cmd_tokens(args: argparse.Namespace) -> int:
    import json

    from harness.metering.estimates import as_json, as_table, estimate_plans

    loaded = _load(args.paths, args.model, api=args.api)
    if loaded is None:
        return exit_codes.BAD_INPUT
    rows = estimate_plans(loaded[1])
    print(json.dumps(as_json(rows), indent=2, ensure_ascii=False) if args.json else as_table(rows))
    return exit_codes.OK


def cmd_validate(args: argparse.Namespace) -> int:
    loaded = _load(args.paths, args.model, api=args.api)  # the same checks as `harness run`: a case with no model is an error here too
    if loaded is None:
        return exit_codes.BAD_INPUT
    suites, plans = loaded
    cases = sum(len(s.cases) for s in suites)
    turns = sum(len(c.turns) for s in suites for c in s.cases)
    variants = f" ({len(plans):,} with the variants)" if any(s.variants for s in suites) else ""
    print(f"ok: {_count(len(suites), 'suite')}, {_count(cases, 'case')}{variants}, {_count(turns, 'turn')}")
    return exit_codes.OK


def _count(n: int, noun: str) -> str:
    """`1 case`, `2 cases`: the nouns used here all take an s."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from harness.core.problems import SuiteError
    from harness.suites.loading import load_suites

    try:
        suites = load_suites(args.paths)
    except SuiteError as e:
        _print_problems(e)
        return exit_codes.BAD_INPUT
    rows = [[s.name, c.id, len(c.turns), sum(len(t.expect) for t in c.turns), c.model or s.model or "-", str(s.path)]
            for s in suites for c in s.cases]  # fmt: skip
    headers = ["suite", "case", "turns", "checks", "model", "file"]
    if any(s.variants for s in suites):  # each case runs once per variant
        by_suite = {s.name: ", ".join(v.name for v in s.variants) or "-" for s in suites}
        rows = [[*row[:2], by_suite[row[0]], *row[2:]] for row in rows]
        headers.insert(2, "variants")
    print(tabulate(rows, headers=headers))
    return exit_codes.OK


def cmd_checks(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from harness.assertions import REGISTRY

    rows = [[name, spec.doc, spec.example] for name, spec in sorted(REGISTRY.items())]
    print(tabulate(rows, headers=["check", "passes when", "example"]))
    print("\nEvery check can be negated with a not_ prefix, e.g. `not_contains: sorry`.")
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
