"""The `harness` command line's flags and help: what can be typed, with types checked.

Kept apart from harness/cli.py, which does the work, so `--help` reads as one
page of code. Nothing heavy is imported here: `harness --version` stays fast.
"""

from __future__ import annotations

import argparse

from harness import __version__
from harness.cli.view import add_view_parser
from harness.cli.watch import add_watch_parser
from harness.core.apis import APIS
from harness.core.cassette_mode import CASSETTE_MODES

DESCRIPTION = """\
Regression-test prompts against OpenAI-compatible APIs (Chat Completions and the Responses API).

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
  harness run evals/ --workers auto          split the run over every core (one results.json)
  harness run evals/ --shard 2/4 --out shard-2   run the second of four CI shards
  harness merge shard-1 shard-2 shard-3 shard-4 --out merged   combine the shards' results
  harness compare base/results.json reports/latest/results.json   what changed between two runs
  harness run evals/ --baseline base/results.json   run, then compare against a base run
  harness run --rerun failed --from reports/latest   run again only the cases that failed there
  harness run evals/ --api responses --out responses   the same suites through the Responses API

exit codes: 0 all passed, 1 a check failed, 2 bad input, 3 a case could not be evaluated
"""

MERGE_DESCRIPTION = """\
Combine the results.json of disjoint runs -- typically the N shards of a CI
matrix (`harness run --shard K/N`) -- into one results.json in --out. Cases are
ordered by (suite, case id). A case present in two inputs, or inputs with
different schema versions, are refused (exit 2); a missing shard of a K/N split
is warned about, or refused with --expect-shards N (what a CI gate should use).
"""

MERGE_EPILOG = """\
examples:
  harness merge shards/*                     every folder under shards/ holds one shard's results.json
  harness merge shards/* --expect-shards 4   and fail unless shards 1/4 to 4/4 are all there
  harness merge shard-1 shard-2 --out merged

exit codes: like `harness run` for the merged cases (0 all passed, 1 a check failed,
3 a case could not be evaluated); 2 when the inputs cannot be merged
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" for a mistyped flag: `--cassete-dir` names `--cassette-dir`."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def, override]
        found, extras = self.parse_known_args(args, namespace)
        if extras:
            import difflib  # only here: `harness --version` imports no more than it needs

            known = [o for o in self._command_options(getattr(found, "command", None)) if o.startswith("--")]
            typed = [word.split("=")[0] for word in extras if word.startswith("--")]
            close = {word: match[0] for word in typed if (match := difflib.get_close_matches(word, known, 1, 0.75))}
            hint = (f"; did you mean {next(iter(close.values()))}?" if len(close) == 1 == len(typed) else
                    "; did you mean " + ", ".join(f"{right} (not {wrong})" for wrong, right in close.items()) + "?"
                    if close else "")  # fmt: skip
            self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return found

    def _command_options(self, command: str | None) -> list[str]:
        """Every option string of ``command``'s parser (this parser's own without one)."""
        parser: argparse.ArgumentParser = self
        for action in self._subparsers._group_actions if self._subparsers else ():  # noqa: SLF001 (argparse's own)
            if isinstance(action, argparse._SubParsersAction) and command in action.choices:  # noqa: SLF001
                parser = action.choices[command]
        return [o for action in parser._actions for o in action.option_strings]  # noqa: SLF001


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"prompt-harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run suites (files or folders) and write results",
                         description="Run suites and write results.json to --out.")  # fmt: skip
    run.add_argument("paths", nargs="*", metavar="PATH", help="suite files or folders (searched recursively)")
    run.add_argument("--model", help="model for every case (overrides the suites' `model:`)")
    _add_api_option(run)
    run.add_argument("--base-url", help="API base URL, e.g. http://127.0.0.1:8080/v1 (default: $OPENAI_BASE_URL, "
                     "else api.openai.com); the key is read from $OPENAI_API_KEY")  # fmt: skip
    run.add_argument("--concurrency", type=_positive_int,
                     help="requests in flight at once (default 8); lowered while the server answers 429")  # fmt: skip
    run.add_argument("--workers", type=_worker_count, metavar="N",
                     help="split the cases over N processes (default 1; auto: one per core), merged into one "
                          "journal, results.json and set of reports; --concurrency and the rate limits are "
                          "shared out so the run as a whole keeps them")  # fmt: skip
    run.add_argument("--cassettes", choices=CASSETTE_MODES,
                     help="replay (default): never touch the network; record-missing: record only what is "
                          "missing or stale; record: re-record everything run; off: live, no cassettes")  # fmt: skip
    run.add_argument("--cassette-dir", help="where cassettes live (default: cassettes)")
    run.add_argument("--batch", action="store_true", default=None,
                     help="send through the OpenAI Batch API at its discount: one batch per conversation round "
                          "(turn k of every case), answered within 24 hours; needs --cassettes off, record-missing "
                          "or record. Fits many single-turn cases, not deep conversations; see docs/batch.md")  # fmt: skip
    run.add_argument("--case", action="append", metavar="PATTERN",
                     help="run only cases whose id matches (shell-style wildcards; repeatable)")  # fmt: skip
    run.add_argument("--variant", action="append", metavar="NAME",
                     help="run only this variant of suites with `variants:` (repeatable; default: every variant)")  # fmt: skip
    run.add_argument("--out", help="output folder (default: reports/latest)")
    run.add_argument("--timeout", type=_positive_float,
                     help="seconds per request (default: the suite's `retry: {timeout}`, else 60)")  # fmt: skip
    run.add_argument("--max-retries", type=_non_negative_int,
                     help="retries of a transient failure (429, 5xx, timeout) per request "
                          "(default: the suite's `retry: {max_retries}`, else 3)")  # fmt: skip
    run.add_argument("--rpm", type=_positive_float, help="at most this many requests per minute (run-wide)")
    run.add_argument("--tpm", type=_positive_float,
                     help="at most this many tokens per minute (run-wide): prompt tokens counted before "
                          "sending plus each request's max_tokens")  # fmt: skip
    run.add_argument("--resume", metavar="DIR",
                     help="continue the interrupted run whose output folder is DIR, with its suites and "
                          "settings; cases already finished are not run again")  # fmt: skip
    run.add_argument("--rerun", metavar="STATUSES",
                     help="with --from DIR: run again only the cases of that run that ended so (failed, errored "
                          "or failed,errored), all their repeats; the other cases keep their results, so OUT gets "
                          "a complete results.json. Refused when the suites changed since")  # fmt: skip
    run.add_argument("--from", dest="from_dir", metavar="DIR",
                     help="the earlier run (its --out folder, or its results.json) that --rerun completes")  # fmt: skip
    run.add_argument("--rerun-changed", action="store_true",
                     help="with --resume: when the suites changed since the run started, run the changed cases "
                          "again (and new ones) and keep the finished results of the unchanged ones")  # fmt: skip
    run.add_argument("--repeat", type=_repeat_count, metavar="N",
                     help="run every case N times (over the suites' `repeat:`); a case passes by its `pass_if`")  # fmt: skip
    run.add_argument("--shard", type=parse_shard, metavar="K/N",
                     help="run only shard K of N (after --case): cases sorted by (suite, case id) and dealt "
                          "round-robin, so N jobs cover every case exactly once; combine with `harness merge`")  # fmt: skip
    run.add_argument("--baseline", metavar="FILE",
                     help="a base run's results.json: compare this run against it (reports in OUT/compare); "
                          "exit 1 when a case regressed")  # fmt: skip
    _add_gate_options(run)
    run.add_argument("-q", "--quiet", action="store_true", help="no progress line")

    validate = sub.add_parser("validate", help="load and check suites without sending any request")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("--model", help="model to assume where a suite names none")
    _add_api_option(validate)

    lister = sub.add_parser("list", help="list suites and their cases")
    lister.add_argument("paths", nargs="+", metavar="PATH")

    sub.add_parser("checks", help="list every check with its description and an example")

    tokens = sub.add_parser("tokens", help="count each turn's prompt tokens, window headroom and cost; send nothing",
                            description="Dry run: count the prompt tokens of every turn's request (exact for the "
                            "first turn, a lower bound after it), the context-window headroom and the estimated "
                            "cost range. Never calls a model; works offline.")  # fmt: skip
    tokens.add_argument("paths", nargs="+", metavar="PATH")
    tokens.add_argument("--model", help="model for every case (overrides the suites' `model:`)")
    tokens.add_argument("--json", action="store_true", help="print a JSON list, one object per case and turn")
    _add_api_option(tokens)

    compare = sub.add_parser("compare", help="diff two results.json: regressions, flipped checks, prompt changes",
                             description="Align two runs by suite, case id and repeat and report what changed: "
                                         "status, flipped checks, the request, the replies, tokens, cost, latency. "
                                         "Writes diff.html, summary.md and junit.xml to --out. Exit 0 when the "
                                         "gate passes; 1 when a case regressed, a new case fails, or a cost, token "
                                         "or latency limit was exceeded; 2 when a file or a flag cannot be read; 3 "
                                         "when head could not run a case (a stale or missing cassette: it prints the "
                                         "re-record command, one per suite).")  # fmt: skip
    compare.add_argument("base", metavar="BASE", help="the base run's results.json (or its folder); with "
                         "--base-variant/--head-variant, the one run whose two variants are compared")  # fmt: skip
    compare.add_argument("head", metavar="HEAD", nargs="?", help="the head run's results.json (or its folder)")
    compare.add_argument("--base-variant", metavar="A", help="compare two variants of one run: A is the base ...")
    compare.add_argument("--head-variant", metavar="B", help="... and B the head, with the same gate and statistics")
    compare.add_argument("--out", default="reports/compare", help="output folder (default: reports/compare)")
    _add_gate_options(compare)

    add_watch_parser(sub)
    add_view_parser(sub)

    merge = sub.add_parser("merge", help="combine the results.json of shards into one run",
                           description=MERGE_DESCRIPTION, epilog=MERGE_EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    merge.add_argument("inputs", nargs="+", metavar="DIR", help="folders holding a results.json (or the files themselves)")
    merge.add_argument("--out", default="reports/latest", help="output folder (default: reports/latest)")
    merge.add_argument("--expect-shards", type=_positive_int, metavar="N",
                       help="fail (exit 2, nothing written) unless the inputs are shards 1/N to N/N, every one of "
                            "them: a gate never passes on part of the suite")  # fmt: skip
    return parser


def _add_api_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", choices=APIS,
                        help="the API of every case (overrides the suites' `api:`): chat (Chat Completions) or "
                             "responses (the Responses API); params must be in its vocabulary")  # fmt: skip


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _worker_count(text: str) -> int:
    """`--workers N` or `--workers auto` (the cores this process may use)."""
    if text.strip().lower() == "auto":
        from harness.execution.workers import cpu_count  # imported when used: keeps `--version` fast

        return cpu_count()
    try:
        return _positive_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of processes (1 or more) or auto, got {text!r}") from None


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def parse_shard(text: str):
    from harness.results.sharding import ShardError, parse_shard  # imported when used: keeps `--version` fast

    try:
        return parse_shard(text)
    except ShardError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _repeat_count(text: str) -> int:
    from harness.core.policy import MAX_REPEAT  # imported when used: keeps `--version` fast


    value = _positive_int(text)
    if value > MAX_REPEAT:
        raise argparse.ArgumentTypeError(f"must be {MAX_REPEAT} or less")
    return value


def _significance(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1, e.g. 0.05")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _add_gate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-regressions", type=_non_negative_int, metavar="N",
                        help="tolerate up to N regressed cases (default 0, unless --max-pass-rate-drop is given)")  # fmt: skip
    parser.add_argument("--max-pass-rate-drop", type=_non_negative_float, metavar="PCT",
                        help="tolerate regressions while the pass rate drops by at most PCT percentage points")  # fmt: skip
    parser.add_argument("--alpha", type=_significance, metavar="P",
                        help="with repeats in both runs, a case regressed only when its drop in pass rate is "
                             "significant at this level (one-sided Fisher exact test; default 0.05), and a usage "
                             "limit fails only when the increase's one-sided 1-P lower confidence bound is above it")  # fmt: skip
    parser.add_argument("--allow-new-failures", action="store_true", default=None,
                        help="let cases that are new in head land failing (by default a new failing case fails "
                             "the gate; a suite can allow its own with `gate: {allow_new_failures: true}`)")  # fmt: skip
    usage = ("; per suite and for the whole run, over the cases evaluated in both runs; overrides a suite's `gate:` "
             "(repeatable)")  # fmt: skip
    parser.add_argument("--max-cost-increase", action="append", metavar="PCT",
                        help="fail when cost grows more than PCT percent above base" + usage)  # fmt: skip
    parser.add_argument("--max-token-increase", action="append", metavar="[KIND=]PCT",
                        help="fail when tokens grow more than PCT percent above base; KIND is prompt, completion or "
                             "total (the default), e.g. completion=20 or prompt=10,total=15" + usage)  # fmt: skip
    parser.add_argument("--max-latency-increase", action="append", metavar="[STAT=]PCT",
                        help="fail when per-turn latency grows more than PCT percent above base; STAT is median or "
                             "p95 (both by default), e.g. p95=50" + usage)  # fmt: skip


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value
