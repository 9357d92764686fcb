"""The pytest front door: `pytest evals/` collects suite files and runs each case as a test.

A thin layer over the same functions `harness run` calls: a suite file is
loaded and rendered by ``load_plans``, each case runs through ``run_plans``
with the same cassettes, and the run's results.json is written once, by the
controlling process, from the results every test report carries (so pytest-xdist
workers need no shared files). Options and markers are registered here, in one
place; heavy modules are imported only once a suite file is actually collected,
so projects that never use the plugin pay for one suffix check per file.

Registered through the ``pytest11`` entry point as ``harness``; ``-p no:harness`` turns it off.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Light modules only (no SDK, no runner): the plugin loads in every pytest session.
from harness.core import exit_codes
from harness.core.apis import APIS
from harness.core.cassette_mode import CASSETTE_MODES, CassetteMode
from harness.core.outcomes import case_outcome
from harness.core.problems import SuiteError
from harness.core.text_policy import printable
from harness.core.result import ERROR, FAILED, PASSED, CaseResult, RunResult, case_from_dict, case_to_dict
from harness.core.settings import RunSettings
from harness.core.suite import SKIPPED_DIRS

if TYPE_CHECKING:
    from harness.core.plan import CasePlan
    from harness.core.suite import Suite

SUITE_SUFFIXES = (".yaml", ".yml")
# A harness suite is a YAML mapping with a top-level `cases:` (or `cases_from:`) key; cassettes and other YAML have none.
_TOP_LEVEL_CASES = re.compile(rb"^[\"']?cases(?:_from)?[\"']?[ \t]*:", re.MULTILINE)
_STATE = "harness-run"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "prompt-harness: YAML prompt suites as tests")
    group.addoption("--harness-cassettes", choices=CASSETTE_MODES, default=CassetteMode.REPLAY.value, metavar="MODE",
                    help="replay (default): never touch the network; record-missing: record only what is missing "
                         "or stale; record: re-record everything run; off: live, no cassettes")  # fmt: skip
    group.addoption("--harness-model", default=None, help="model for every case (overrides the suites' `model:`)")
    group.addoption("--harness-api", default=None, choices=APIS,
                    help="the API of every case (overrides the suites' `api:`): chat or responses")  # fmt: skip
    group.addoption("--harness-base-url", default=None,
                    help="API base URL (default: $OPENAI_BASE_URL, else api.openai.com); key from $OPENAI_API_KEY")  # fmt: skip
    group.addoption("--harness-out", default="reports/latest", metavar="DIR",
                    help="folder for the run's results.json and reports (default: reports/latest)")  # fmt: skip
    group.addoption("--harness-cassette-dir", default="cassettes", metavar="DIR",
                    help="where cassettes live (default: cassettes)")  # fmt: skip
    group.addoption("--harness-repeat", type=int, default=None, metavar="N",
                    help="run every case N times (over the suites' `repeat:`); one test per repeat")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "harness: a prompt-harness case collected from a YAML suite "
                                       "(select with -m harness, skip with -m 'not harness')")  # fmt: skip
    if not config.pluginmanager.hasplugin("xdist"):  # a case's repeats carry xdist's marker (strict-markers safe)
        config.addinivalue_line("markers", "xdist_group(name): run these tests on one pytest-xdist worker")
    state = HarnessRun(config)  # raises pytest.UsageError naming every problem of the options and environment
    config.pluginmanager.register(state, _STATE)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SuiteFile | None:
    if file_path.suffix not in SUITE_SUFFIXES or _in_skipped_dir(file_path, parent.config.rootpath):
        return None
    # A file named on the command line is collected even without `cases:`, so its problems are reported.
    if not parent.session.isinitpath(file_path) and not _looks_like_suite(file_path):
        return None
    return SuiteFile.from_parent(parent, path=file_path)


def _in_skipped_dir(path: Path, root: Path) -> bool:
    try:
        parts = path.relative_to(root).parts[:-1]
    except ValueError:
        parts = path.parts[:-1]
    return any(part in SKIPPED_DIRS or part.startswith(".") for part in parts)


def _looks_like_suite(path: Path) -> bool:
    try:
        return _TOP_LEVEL_CASES.search(path.read_bytes()) is not None
    except OSError:
        return False


class SuiteProblems(Exception):
    """A suite that cannot run; shown as a collection error of file:line:column messages."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class CaseNotPassed(Exception):
    """A case that failed a check or could not be evaluated; carries its result for the report."""

    def __init__(self, result: CaseResult):
        super().__init__(f"{result.suite} / {result.id}: {result.status}")
        self.result = result


class SuiteFile(pytest.File):
    """One suite file; its children are the cases, named by case id."""

    def collect(self):  # type: ignore[override]
        from harness.execution.run_setup import endpoint_key_problems
        from harness.suites.planning import load_plans

        state = _state(self.config)
        try:  # the same load path, and so the same pre-flight checks, as `harness run`
            _, plans = load_plans([str(self.path)], state.model, repeat=state.repeat, model_option="--harness-model",
                                  api=state.api)  # fmt: skip
            if problems := endpoint_key_problems(plans, state.settings().cassette_mode, cassettes_flag="--harness-cassettes"):
                raise SuiteError(problems)
        except SuiteError as e:
            raise SuiteProblems([f"error: {p}" for p in e.problems]) from None
        if plans:
            state.claim_suite_name(plans[0].suite)
        for plan in plans:
            if plan.repeats == 1:
                yield CaseItem.from_parent(self, name=_item_name(plan), plan=plan)
                continue
            for repeat in range(plan.repeats):  # one test per repeat; the case's repeats run together, once
                item = CaseItem.from_parent(self, name=f"{_item_name(plan)}[repeat-{repeat + 1}]", plan=plan, repeat=repeat)
                item.add_marker(pytest.mark.xdist_group(f"harness:{plan.suite.name}/{_item_name(plan)}"))
                yield item

    def repr_failure(self, excinfo):  # type: ignore[override]
        if isinstance(excinfo.value, SuiteProblems):
            noun = "problem" if len(excinfo.value.problems) == 1 else "problems"
            return "\n".join([*excinfo.value.problems, f"{len(excinfo.value.problems)} {noun} found; nothing was sent."])
        return super().repr_failure(excinfo)


class CaseItem(pytest.Item):
    """One case of a suite, run through the harness runner with its own cassette."""

    def __init__(self, *, plan: CasePlan, repeat: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self.plan = plan
        self.repeat = repeat
        self.result: CaseResult | None = None
        self.add_marker(pytest.mark.harness)
        self.extra_keyword_matches.add(plan.suite.name)  # -k by suite name, even when the file is named otherwise

    def runtest(self) -> None:
        from harness.execution.runner import run_plans

        state = _state(self.config)
        repeats = state.repeats_of(self.plan, lambda: run_plans([self.plan], state.settings(), state.api_key).cases)
        self.result = repeats[self.repeat]
        usage = self.result.usage
        self.user_properties.extend([("harness_status", self.result.status), ("total_tokens", usage.total_tokens)])
        if self.result.status != PASSED:
            if forgiven := _forgiven(self.result, repeats):
                pytest.xfail(forgiven)  # does not fail the session, as it does not fail `harness run`
            raise CaseNotPassed(self.result)

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        if isinstance(excinfo.value, CaseNotPassed):
            return describe_case_failure(excinfo.value.result, self.plan.case.loc.line)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.plan.case.loc.line - 1, f"{self.plan.suite.name} / {self.plan.case.id}"


def describe_case_failure(result: CaseResult, line: int | None = None) -> str:
    """The failed checks with their reasons, or why the case could not be evaluated; no traceback."""

    where = f"{result.file}:{line}" if line else result.file
    if result.status == ERROR:
        return f"could not be evaluated ({where}, {result.suite} / {result.id}):\n  {printable(result.error or '')}"
    failed = result.failed_checks
    total = sum(len(t.checks) for t in result.turns)
    lines = [f"{len(failed)} of {total} checks failed ({where}, {result.suite} / {result.id}):"]
    lines += [f"  turn {turn}: {check.name}: {printable(check.reason)}" for turn, check in failed]
    return "\n".join(lines)


def _state(config: pytest.Config) -> HarnessRun:
    return config.pluginmanager.get_plugin(_STATE)


class HarnessRun:
    """The session's settings and the case results gathered from every test report.

    Each report of a case carries its result as ``harness_case`` (plain JSON
    data, so it survives pytest-xdist's transport); the controlling process
    collects them in ``pytest_runtest_logreport`` and writes one results.json.
    """

    def __init__(self, config: pytest.Config):
        from harness.execution.run_setup import RunOptions, SetupProblems, resolve_run

        self.config = config
        options = RunOptions(model=config.getoption("harness_model"), base_url=config.getoption("harness_base_url"),
                             api=config.getoption("harness_api"),
                             concurrency=1, cassettes=config.getoption("harness_cassettes"),
                             cassette_dir=config.getoption("harness_cassette_dir"),
                             base_url_flag="--harness-base-url", cassettes_flag="--harness-cassettes")  # fmt: skip
        try:
            setup = resolve_run(options)
        except SetupProblems as e:
            raise pytest.UsageError("\n".join(e.problems)) from None
        self._settings = setup.settings
        self.model: str | None = setup.settings.model
        self.api: str | None = setup.settings.api
        self.base_url: str | None = setup.settings.base_url
        self.api_key: str | None = setup.api_key
        self.cases: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.suite_names: dict[str, Path] = {}
        self.written: Path | None = None
        self.repeat: int | None = config.getoption("harness_repeat")
        self._repeats: dict[tuple[str, str], list[CaseResult]] = {}  # a case's results, run once per process
        self.failed: set[str] = set()  # node ids of every failed test report (ours and any other)
        self.gated = 0  # failed cases the suites' min_pass_rate tolerated, when that turned the exit status to 0
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.t0 = time.perf_counter()

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    def settings(self) -> RunSettings:
        return self._settings

    def claim_suite_name(self, suite: Suite) -> None:
        """Suite names name cassette folders, so two files may not share one (as `harness run` insists)."""
        other = self.suite_names.setdefault(suite.name, suite.path)
        if other != suite.path:
            message = (f"error: {suite.loc}: suite name {suite.name!r} is also used by {other}; "
                       "suite names must be unique because they name the cassette folder")  # fmt: skip
            raise SuiteProblems([message])

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):
        outcome = yield
        if call.when == "call" and isinstance(item, CaseItem) and item.result is not None:
            outcome.get_result().harness_case = case_to_dict(item.result)

    def repeats_of(self, plan: CasePlan, run: Any) -> list[CaseResult]:
        """Every repeat of a case, run once (with its one cassette) by the first of its tests in this process."""
        if plan.key not in self._repeats:
            self._repeats[plan.key] = run()
        return self._repeats[plan.key]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed.add(report.nodeid)
        data = getattr(report, "harness_case", None)
        if data is not None and not self.is_worker:
            self.cases[report.nodeid] = data

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.order = [item.nodeid for item in session.items if isinstance(item, CaseItem)]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Under xdist the controller collects nothing; every worker reports the same order."""
        if not self.order:
            self.order = list(ids)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker or not self.cases:
            return
        from harness.report.outputs import write_run_outputs

        position = {nodeid: i for i, nodeid in enumerate(self.order)}
        ordered = sorted(self.cases.items(), key=lambda item: position.get(item[0], len(position)))
        cases = [case_from_dict(data) for _, data in ordered]
        settings = self.settings().to_dict()
        settings["paths"] = list(dict.fromkeys(c.file for c in cases))
        run = RunResult(settings=settings, cases=cases, started_at=self.started_at,
                        duration_ms=(time.perf_counter() - self.t0) * 1000)  # fmt: skip
        self.written = write_run_outputs(run, self.config.invocation_params.dir / self.config.getoption("harness_out"))
        s = run.summary
        if (session.exitstatus == pytest.ExitCode.TESTS_FAILED and s.tolerated and self.failed <= set(self.cases)
                and exit_codes.for_summary(s) == exit_codes.OK):  # fmt: skip
            self.gated = s.tolerated  # only failures a suite's min_pass_rate tolerates: exit 0, like `harness run`
            session.exitstatus = pytest.ExitCode.OK

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.written is not None:
            terminalreporter.write_line(f"harness results: {self.written}")
        if self.gated:
            terminalreporter.write_line(f"harness: the failed cases are tolerated by their suites' min_pass_rate "
                                        f"({self.gated} failed); exit status 0, as `harness run` would exit")  # fmt: skip


def _forgiven(result: CaseResult, repeats: list[CaseResult]) -> str | None:
    """Why a failed repeat does not fail the run: its case passes by `pass_if`, or may fail (`allow_fail`)."""
    from harness.report.outcome_text import outcome_text

    outcome = case_outcome(repeats)
    if outcome.status == PASSED:
        return f"repeat {result.repeat + 1} {result.status}, but the case passes: {outcome_text(outcome)}"
    if outcome.status == FAILED and outcome.allow_fail and result.status == FAILED:
        return "allowed to fail (allow_fail: true)"
    return None


def _item_name(plan: CasePlan) -> str:
    """A case's test name: its id, and its variant in brackets for a suite with `variants:`."""
    return f"{plan.case.id}[{plan.variant}]" if plan.variant else plan.case.id
