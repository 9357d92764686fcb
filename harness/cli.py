"""The `harness` command line: parse flags, call the modules, map outcomes to exit codes.

Heavy modules are imported inside the commands, so `harness --version` and
`harness --help` stay fast.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
from pathlib import Path

from harness import __version__, exit_codes

DESCRIPTION = """\
Regression-test prompts against OpenAI-compatible Chat Completions APIs.

Write YAML suites of multi-turn conversations and the checks each reply must
pass; run them live or replay them from recorded cassettes; read the results.
"""

EPILOG = """\
examples:
  harness run evals/                         replay the committed cassettes (no network, no key)
  harness run evals/ --cassettes record-missing --base-url http://127.0.0.1:8080/v1
  harness validate evals/                    check suites for mistakes without sending anything
  harness list evals/                        show suites and cases
  harness checks                             list every check with an example

exit codes: 0 all passed, 1 a check failed, 2 bad input, 3 a case could not be evaluated
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"prompt-harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run suites (files or folders) and write results",
                         description="Run suites and write results.json to --out.")  # fmt: skip
    run.add_argument("paths", nargs="+", metavar="PATH", help="suite files or folders (searched recursively)")
    run.add_argument("--model", help="model for every case (overrides the suites' `model:`)")
    run.add_argument("--base-url", help="API base URL, e.g. http://127.0.0.1:8080/v1 (default: $OPENAI_BASE_URL, "
                     "else api.openai.com); the key is read from $OPENAI_API_KEY")  # fmt: skip
    run.add_argument("--concurrency", type=_positive_int, default=8, help="cases in flight at once (default 8)")
    run.add_argument("--cassettes", choices=["replay", "record-missing", "record", "off"], default="replay",
                     help="replay (default): never touch the network; record-missing: record only what is "
                          "missing or stale; record: re-record everything run; off: live, no cassettes")  # fmt: skip
    run.add_argument("--cassette-dir", default="cassettes", help="where cassettes live (default: cassettes)")
    run.add_argument("--case", action="append", metavar="PATTERN",
                     help="run only cases whose id matches (shell-style wildcards; repeatable)")  # fmt: skip
    run.add_argument("--out", default="reports/latest", help="output folder (default: reports/latest)")
    run.add_argument("--timeout", type=_positive_float, default=60.0, help="seconds per request (default 60)")
    run.add_argument("--max-retries", type=_non_negative_int, default=3,
                     help="retries of a transient failure (429, 5xx, timeout) per request (default 3)")  # fmt: skip
    run.add_argument("-q", "--quiet", action="store_true", help="no progress line")

    validate = sub.add_parser("validate", help="load and check suites without sending any request")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("--model", help="model to assume where a suite names none")

    lister = sub.add_parser("list", help="list suites and their cases")
    lister.add_argument("paths", nargs="+", metavar="PATH")

    sub.add_parser("checks", help="list every check with its description and an example")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return exit_codes.BAD_INPUT
    handler = {"run": cmd_run, "validate": cmd_validate, "list": cmd_list, "checks": cmd_checks}[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _load(paths: list[str], model: str | None):
    """Load and render suites, printing every problem; None means exit 2."""
    from harness.suite import SuiteError
    from harness.templating import load_plans

    try:
        return load_plans(paths, model)
    except SuiteError as e:
        _print_problems(e)
        return None


def _print_problems(error) -> None:
    for p in error.problems:
        print(f"error: {p}", file=sys.stderr)
    noun = "problem" if len(error.problems) == 1 else "problems"
    print(f"{len(error.problems)} {noun} found; nothing was sent.", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.progress import Progress
    from harness.report.terminal import print_summary
    from harness.results import save_run
    from harness.runner import RunSettings, run_plans

    loaded = _load(args.paths, args.model)
    if loaded is None:
        return exit_codes.BAD_INPUT
    _, plans = loaded
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL") or None
    api_key = os.environ.get("OPENAI_API_KEY") or None
    if args.case:
        plans = [p for p in plans if any(fnmatch.fnmatchcase(p.case.id, pattern) for pattern in args.case)]
        if not plans:
            print(f"error: no case id matches {' or '.join(args.case)}; see `harness list`", file=sys.stderr)
            return exit_codes.BAD_INPUT
    if args.cassettes in ("off", "record", "record-missing") and not base_url and not api_key:
        print(f"error: --cassettes {args.cassettes} sends requests: set OPENAI_API_KEY (for api.openai.com) "
              "or --base-url for another server", file=sys.stderr)  # fmt: skip
        return exit_codes.BAD_INPUT
    settings = RunSettings(paths=list(args.paths), model=args.model, base_url=base_url, concurrency=args.concurrency,
                           cassette_mode=args.cassettes, cassette_dir=args.cassette_dir, timeout=args.timeout,
                           max_retries=args.max_retries)  # fmt: skip
    progress = Progress(len(plans), enabled=not args.quiet)
    run = run_plans(plans, settings, api_key, on_case_done=progress.case_done)
    progress.close()
    out = Path(args.out)
    save_run(run, out / "results.json")
    print_summary(run)
    print(f"results: {out / 'results.json'}")
    s = run.summary
    return exit_codes.for_counts(s.failed, s.errored)


def cmd_validate(args: argparse.Namespace) -> int:
    loaded = _load(args.paths, args.model or "unspecified-model")
    if loaded is None:
        return exit_codes.BAD_INPUT
    suites, _ = loaded
    cases = sum(len(s.cases) for s in suites)
    turns = sum(len(c.turns) for s in suites for c in s.cases)
    print(f"ok: {len(suites)} suite(s), {cases} case(s), {turns} turn(s)")
    return exit_codes.OK


def cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from harness.suite import SuiteError, load_suites

    try:
        suites = load_suites(args.paths)
    except SuiteError as e:
        _print_problems(e)
        return exit_codes.BAD_INPUT
    rows = [[s.name, c.id, len(c.turns), sum(len(t.expect) for t in c.turns), c.model or s.model or "-", str(s.path)]
            for s in suites for c in s.cases]  # fmt: skip
    print(tabulate(rows, headers=["suite", "case", "turns", "checks", "model", "file"]))
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
