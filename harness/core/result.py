"""The versioned result model: what a run produced, and its JSON form.

Everything downstream (reports, compare, merge, resume) reads these types, so
they are plain dataclasses with an explicit ``to_dict``/``from_dict`` pair and a
``schema_version`` that is checked on load.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from harness.core.atomic_files import write_atomic
from harness.core.json_errors import json_error_text
from harness.core.outcomes import EVALUATED, SuiteGate, light, metric_totals, outcomes
from harness.core.policy import DEFAULT_POLICY, CasePolicy
from harness.core.reply import Completion, ToolCall, Usage
from harness.core.statuses import ERROR, FAILED, INTERRUPTED, PASSED, SKIPPED, STATUSES  # noqa: F401 (the result model's vocabulary)

# 2: cases may repeat (one entry per repeat, `policy`, `score`), `summary` counts cases (not repeats) and
# tolerated failures, top-level `outcomes` and `metrics`. Version 1 files are still read.
# 3: a case result (and an outcome) of a suite with `variants:` names its variant in `variant`; a case
# without one has no `variant` key, exactly as in version 2, which is still read.
# 4: checks added by a suite's `defaults:` say so (`default`), cases name their prompt files
# (`prompt_files`) and whether `--rerun` ran them again (`rerun`); top-level `fingerprints` and `rerun`.
# Versions 2 and 3 are still read (a reader of version 3 would choke on `default`, hence the bump).
SCHEMA_VERSION = 4



class ResultFileError(Exception):
    """A results file that cannot be read: missing, truncated, or from the future."""








@dataclass
class CheckResult:
    name: str
    passed: bool
    reason: str
    expected: Any = None
    implicit: bool = False
    details: dict[str, Any] | None = None  # e.g. a model-graded check's score, full reasoning and grader model
    weight: float = 1.0  # its share of the case score (`weight:` in the suite)
    metric: str | None = None  # the metric it counts toward (`metric:` in the suite)
    default: bool = False  # added to the turn by the suite's `defaults:`


@dataclass
class ContextSummary:
    """The request that summarized earlier exchanges to fit the context window, and its reply."""

    messages: list[dict[str, Any]]
    params: dict[str, Any]
    reply: Completion | None = None
    cost_usd: float | None = None


@dataclass
class TurnResult:
    index: int
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    reply: Completion | None = None
    checks: list[CheckResult] = field(default_factory=list)
    error: str | None = None
    cost_usd: float | None = None  # every request of the turn: the reply, plus a context summary if one was made
    notes: list[str] = field(default_factory=list)
    estimated_prompt_tokens: int | None = None  # the harness's own tiktoken count of the request
    prompt_tokens_delta: int | None = None  # server's usage.prompt_tokens minus the estimate, for known OpenAI models
    context_summary: ContextSummary | None = None
    grader_usage: Usage | None = None  # tokens of the model-graded checks' requests (grader and embeddings)
    grader_cost_usd: float | None = None  # their cost, also counted in cost_usd
    # Set when the turn could not run because replay had no recording of its request (a stale or missing
    # cassette): {"cassette": path, "base_url": the server its recordings came from or None, "problem": text}.
    recording: dict[str, Any] | None = None
    partial_reply: Completion | None = None  # what a stream that broke off had delivered (with `error`)

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.checks)

    @property
    def usage(self) -> Usage:
        """Tokens of every request the turn made (its reply, any context summary, any grader request)."""
        total = Usage.zero()
        replies = [self.reply, self.context_summary.reply if self.context_summary else None]
        usages = [r.usage for r in replies if r is not None]
        if self.grader_usage is not None:
            usages.append(self.grader_usage)
        for u in usages:
            total.add(u)
        return total


@dataclass
class CaseResult:
    suite: str
    id: str
    status: str
    file: str = ""
    model: str = ""
    turns: list[TurnResult] = field(default_factory=list)
    error: str | None = None
    duration_ms: float = 0.0
    repeat: int = 0
    reason: str | None = None  # why a case was skipped (e.g. its suite's budget was spent)
    score: float | None = None  # weighted share of passed explicit checks (None: the case has none)
    policy: CasePolicy = DEFAULT_POLICY  # repeats, pass_if, threshold, allow_fail, the suite's min_pass_rate
    variant: str = ""  # the suite's variant it ran under ("" when the suite has none)
    prompt_files: dict[str, list[str]] = field(default_factory=dict)  # message slot -> files its text came from
    rerun: bool = False  # run again by `harness run --rerun`, replacing the earlier run's result
    api: str = "chat"  # the API its requests went to (`api:`, `--api`); written only when not chat
    history: str = "resend"  # how the conversation reached the model (`history:`); written only when not resend

    @property
    def key(self) -> tuple[str, str, int]:
        """(suite, case label, repeat): unique in a run, the label carrying the variant (`id [variant]`) if any."""
        return (self.suite, self.label, self.repeat)

    @property
    def label(self) -> str:
        """The case id as reports print it: with its variant in brackets when it has one."""
        return f"{self.id} [{self.variant}]" if self.variant else self.id

    @property
    def recording(self) -> dict[str, Any] | None:
        """Why the case could not run from its cassette (stale or missing), or None: its fix is to re-record."""
        return next((t.recording for t in self.turns if t.recording is not None), None)

    @property
    def failed_checks(self) -> list[tuple[int, CheckResult]]:
        return [(t.index, c) for t in self.turns for c in t.checks if not c.passed]

    @property
    def usage(self) -> Usage:
        total = Usage.zero()
        for t in self.turns:
            total.add(t.usage)
        return total

    @property
    def cost_usd(self) -> float | None:
        costs = [t.cost_usd for t in self.turns if t.cost_usd is not None]
        return sum(costs) if costs else None


@dataclass
class Summary:
    passed: int = 0
    failed: int = 0
    errored: int = 0
    skipped: int = 0
    interrupted: int = 0
    total: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0  # part of completion_tokens
    cost_usd: float | None = None
    repeats: int = 0  # case results counted (every repeat of every case); equals total without repeats
    flaky: int = 0  # cases whose repeats disagree
    tolerated: int = 0  # failed cases that do not fail the run: `allow_fail`, or the suite's min_pass_rate held

    @classmethod
    def of(cls, cases: Iterable[CaseResult], found: list[Any] | None = None) -> Summary:
        """Counts per case (a case's repeats aggregated by its pass_if); tokens and cost over every repeat."""
        found = outcomes(cases) if found is None else found
        s = cls.counted(found)
        s.add_usage(cases)
        return s

    @classmethod
    def counted(cls, found: list[Any]) -> Summary:
        """The counts of these outcomes, with no tokens yet (``add_usage``)."""
        s = cls(total=len(found))
        counter = {PASSED: "passed", FAILED: "failed", ERROR: "errored", SKIPPED: "skipped", INTERRUPTED: "interrupted"}
        for o in found:
            if o.status in counter:
                setattr(s, counter[o.status], getattr(s, counter[o.status]) + 1)
            s.flaky += o.flaky
            s.tolerated += o.tolerated
        return s

    def add_usage(self, cases: Iterable[CaseResult]) -> None:
        """Count every repeat's tokens and cost (one pass, so cases read from disk are read once)."""
        costs: list[float] = []
        for c in light(cases):
            self._add_case(c, costs)
        self.finish_cost(costs)

    def _add_case(self, c: CaseResult, costs: list[float]) -> None:
        u = c.usage
        self.repeats += 1
        self.prompt_tokens += u.prompt_tokens or 0
        self.completion_tokens += u.completion_tokens or 0
        self.total_tokens += u.total_tokens or 0
        self.reasoning_tokens += u.reasoning_tokens or 0
        if c.cost_usd is not None:
            costs.append(c.cost_usd)

    def finish_cost(self, costs: list[float]) -> None:
        self.cost_usd = round(sum(costs), 8) if costs else None


@dataclass
class RunResult:
    settings: dict[str, Any]
    cases: list[CaseResult]
    started_at: str = ""
    duration_ms: float = 0.0
    schema_version: int = SCHEMA_VERSION
    fingerprints: dict[str, str] = field(default_factory=dict)  # suite name -> digest of its files
    rerun: dict[str, Any] | None = None  # `--rerun`: which statuses, from which run, how many cases

    @property
    def summary(self) -> Summary:
        return Summary.of(self.cases)

    def to_dict(self, *, lazy_cases: bool = False) -> dict[str, Any]:
        """The JSON form; with ``lazy_cases`` the cases become dicts only as json.dump walks them."""
        found = outcomes(self.cases)
        return {
            "schema_version": self.schema_version,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 1),
            "settings": self.settings,
            "summary": asdict(Summary.of(self.cases, found)),
            "suites": suite_summaries(self.cases, found),
            "outcomes": [o.to_dict() for o in found],  # one per case: its repeats aggregated (harness/outcomes.py)
            "metrics": [m.to_dict() for m in metric_totals(self.cases)],
            **({"fingerprints": self.fingerprints} if self.fingerprints else {}),
            **({"rerun": self.rerun} if self.rerun else {}),
            "cases": _CaseDicts(self.cases) if lazy_cases else [case_to_dict(c) for c in self.cases],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        return cls(
            settings=data.get("settings", {}),
            cases=[case_from_dict(c) for c in data.get("cases", [])],
            started_at=data.get("started_at", ""),
            duration_ms=data.get("duration_ms", 0.0),
            schema_version=data.get("schema_version", SCHEMA_VERSION),
            fingerprints=dict(data.get("fingerprints") or {}),
            rerun=data.get("rerun"),
        )


_ATOMIC = (str, int, float, bool, type(None))
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """What ``dataclasses.asdict`` makes of a value, about twice as fast for results.

    Called for every case twice (journal line, results.json), so the generic
    asdict was a tenth of a 10,000-case replay; leaves are copied as asdict does.
    """
    cls = type(value)
    if cls in _ATOMIC:
        return value
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls) if f.metadata.get("saved", True)) if is_dataclass(cls) else ()
    if names:
        return {name: _plain(getattr(value, name)) for name in names}
    if cls is list:
        return [_plain(v) for v in value]
    if cls is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return cls(*[_plain(v) for v in value])
    if isinstance(value, (list, tuple)):
        return cls(_plain(v) for v in value)
    if isinstance(value, dict):
        return cls((_plain(k), _plain(v)) for k, v in value.items())
    return copy.deepcopy(value)


def case_to_dict(case: CaseResult) -> dict[str, Any]:
    """The JSON form of one case; also one line of the run journal."""
    data = _plain(case)
    for turn, turn_data in zip(case.turns, data["turns"]):
        turn_data["usage"] = _plain(turn.usage)
        for key in ("grader_usage", "grader_cost_usd", "recording", "partial_reply"):  # written only when set
            if turn_data.get(key) is None:
                turn_data.pop(key, None)
        for check in turn_data["checks"]:
            if check.get("details") is None:
                check.pop("details", None)
            if check.get("weight") == 1.0 and check.get("metric") is None:  # written only when set in the suite
                del check["weight"], check["metric"]
            if not check.get("default"):  # written only for a check from the suite's `defaults:`
                check.pop("default", None)
    if case.policy.is_default:  # written only when the case repeats, sets pass_if/threshold/allow_fail or a gate
        del data["policy"]
    elif case.policy.usage_limits is None:  # written only when the suite has a `gate:` block
        del data["policy"]["usage_limits"]
    if not case.variant:  # written only for a suite with `variants:` (schema_version 3)
        del data["variant"]
    for key in ("prompt_files", "rerun"):  # written only when the case has prompt files / was re-run
        if not data.get(key):
            data.pop(key, None)
    if case.api == "chat":
        del data["api"]
    if case.history == "resend":
        del data["history"]
    data["usage"] = asdict(case.usage)
    data["cost_usd"] = case.cost_usd
    return data


def suite_summaries(cases: Iterable[CaseResult], found: list[Any] | None = None) -> list[dict[str, Any]]:
    """Counts, tokens and cost per suite, in the order suites first appear (one pass over the cases)."""
    found = outcomes(cases) if found is None else found
    by_suite: dict[str, list[Any]] = {}
    for o in found:
        by_suite.setdefault(o.suite, []).append(o)
    usage: dict[str, tuple[Summary, list[float]]] = {}
    minimum: dict[str, float | None] = {}
    for c in light(cases):
        if c.suite not in usage:
            usage[c.suite] = (Summary.counted(by_suite.get(c.suite, [])), [])
        if minimum.get(c.suite) is None:
            minimum[c.suite] = c.policy.min_pass_rate
        usage[c.suite][0]._add_case(c, usage[c.suite][1])
    rows = []
    for name, (summary, costs) in usage.items():
        summary.finish_cost(costs)
        gate = SuiteGate(name, minimum.get(name), 0, 0)
        for o in by_suite.get(name, []):
            if o.status in EVALUATED:
                gate.evaluated += 1
                gate.passed += o.status == PASSED
        rows.append({"suite": name, **asdict(summary), "pass_rate": gate.rate,
                     "min_pass_rate": gate.min_pass_rate, "gate": {True: "passed", False: "failed"}.get(gate.ok)})  # fmt: skip
    return rows


def _completion_from_dict(data: dict[str, Any] | None) -> Completion | None:
    if data is None:
        return None
    r = dict(data)
    r["usage"] = Usage(**r.get("usage") or {})
    r["tool_calls"] = [ToolCall(**tc) for tc in r.get("tool_calls") or []]
    return Completion(**r)


_CHECK_FIELDS = frozenset(f.name for f in fields(CheckResult))


def case_from_dict(data: dict[str, Any]) -> CaseResult:
    turns = []
    for t in data.get("turns", []):
        reply = _completion_from_dict(t.get("reply"))
        summary = t.get("context_summary")
        turns.append(
            TurnResult(
                index=t["index"],
                messages=t.get("messages", []),
                params=t.get("params", {}),
                reply=reply,
                checks=[CheckResult(**{k: v for k, v in c.items() if k in _CHECK_FIELDS}) for c in t.get("checks", [])],
                error=t.get("error"),
                cost_usd=t.get("cost_usd"),
                notes=t.get("notes", []),
                estimated_prompt_tokens=t.get("estimated_prompt_tokens"),
                prompt_tokens_delta=t.get("prompt_tokens_delta"),
                context_summary=None if summary is None else ContextSummary(
                    summary.get("messages", []), summary.get("params", {}),
                    _completion_from_dict(summary.get("reply")), summary.get("cost_usd")),
                grader_usage=Usage(**t["grader_usage"]) if t.get("grader_usage") else None,
                grader_cost_usd=t.get("grader_cost_usd"),
                recording=t.get("recording"),
                partial_reply=_completion_from_dict(t.get("partial_reply")),
            )
        )
    return CaseResult(
        suite=data["suite"],
        id=data["id"],
        status=data["status"],
        file=data.get("file", ""),
        model=data.get("model", ""),
        turns=turns,
        error=data.get("error"),
        duration_ms=data.get("duration_ms", 0.0),
        repeat=data.get("repeat", 0),
        reason=data.get("reason"),
        score=data.get("score"),
        policy=CasePolicy.from_dict(data.get("policy")),
        variant=data.get("variant") or "",
        prompt_files={str(k): list(v) for k, v in (data.get("prompt_files") or {}).items()},
        rerun=bool(data.get("rerun")),
        api=data.get("api") or "chat",
        history=data.get("history") or "resend",
    )


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON atomically (harness/atomic_files.py), streamed: no second copy of a large run in memory."""

    def fill(f: Any) -> None:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")

    write_atomic(path, fill)


class _CaseDicts(list):  # type: ignore[type-arg]
    """Cases that json.dump's (pure-Python, indenting) encoder turns into dicts one at a time.

    It holds no case itself: iterating reads ``cases`` again, so a run read back from disk
    (harness/core/case_file.py) is written one case at a time."""

    def __init__(self, cases: Iterable[CaseResult]):
        super().__init__()
        self._cases = cases

    def __len__(self) -> int:
        return len(self._cases)  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        raw = getattr(self._cases, "raw", None)  # read back from the journal: its lines are case_to_dict already
        return (c if isinstance(c, dict) else case_to_dict(c) for c in (raw() if raw else self._cases))

    def json_lines(self) -> Iterator[str]:
        """Each case as one line of compact JSON (``case_json``); a case read back from the journal is its
        line there as it is, with no decoding and encoding again."""
        lines = getattr(self._cases, "json_lines", None)
        return lines() if lines else (case_json(c) for c in self._cases)


def case_json(case: CaseResult) -> str:
    """A case as one line of compact JSON: its journal line, and its line in results.json."""
    return json.dumps(case_to_dict(case), ensure_ascii=False, separators=(",", ":"))


def save_run(run: RunResult, path: Path) -> None:
    """Write results.json; a 10,000-case run never holds a second, dict-shaped copy of all its cases.

    The run's own fields are indented for people; each case and each outcome is one line, so a large
    run is diffed and grepped case by case and written by json's C encoder (an indented dump goes
    through the pure-Python one: most of the writing time of a 10,000-case replay)."""
    data = run.to_dict(lazy_cases=True)

    def fill(f: Any) -> None:
        f.write("{")
        for n, (key, value) in enumerate(data.items()):
            f.write(f'{"," if n else ""}\n  {json.dumps(key)}: ')
            if key in ("cases", "outcomes"):
                lines = value.json_lines() if key == "cases" else (json.dumps(o, ensure_ascii=False) for o in value)
                f.write("[")
                for i, line in enumerate(lines):
                    f.write(f'{"," if i else ""}\n    {line}')
                f.write("\n  ]" if len(value) else "]")
            else:
                f.write(json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  "))
        f.write("\n}\n")

    write_atomic(path, fill)


def load_run(path: Path) -> RunResult:
    """Read a results.json, with an error naming the file for every way it can be wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such results file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ResultFileError(f"{path}: cannot read results file: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if not text.lstrip("\ufeff \t\r\n").startswith("{"):  # summary.md, report.html, a suite: not JSON at all
            raise ResultFileError(f"{path}: not a results file (it does not hold JSON); pass the results.json "
                                  "that `harness run` wrote, or the folder that holds it") from None  # fmt: skip
        raise ResultFileError(
            f"{path}:{e.lineno}:{e.colno}: not valid JSON ({json_error_text(e, position=False)}); the file may be truncated. "
            "Re-run the suite to regenerate it."
        ) from None
    if not isinstance(data, dict) or "cases" not in data:
        raise ResultFileError(f"{path}: not a prompt-harness results file (no 'cases' key)")
    version = data.get("schema_version")
    if not isinstance(version, int):
        raise ResultFileError(f"{path}: missing or invalid 'schema_version'")
    if version > SCHEMA_VERSION:
        raise ResultFileError(
            f"{path}: schema_version {version} is newer than this harness understands "
            f"({SCHEMA_VERSION}); upgrade prompt-harness to read it"
        )
    try:
        return RunResult.from_dict(data)
    except (KeyError, TypeError) as e:
        raise ResultFileError(f"{path}: malformed case entry ({e})") from None
