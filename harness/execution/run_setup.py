"""From what a front door was asked to the settings of a run: one path for the CLI and the pytest plugin.

Precedence, lowest first: the defaults (``RunSettings``), the environment
(``OPENAI_BASE_URL``, ``OPENAI_API_KEY``), the run being resumed (its run.json),
then the flags. A suite's own `retry:` and `rate_limit:` blocks apply per suite
at run time (``harness.providers.retry.retry_policy``, the request gate).
Every problem is found here, before anything loads or is sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from harness.core.cassette_mode import CassetteMode
from harness.core.plan import CasePlan
from harness.core.problems import Problem
from harness.core.settings import DEFAULT_CASSETTE_DIR, DEFAULT_CONCURRENCY, RunSettings
from harness.core.specs import EnvValue
from harness.providers.base_url import base_url_problem


@dataclass
class RunOptions:
    """What a front door was asked for; None means "not given", so a default or the saved run applies."""

    paths: list[str] = field(default_factory=list)
    model: str | None = None
    base_url: str | None = None
    concurrency: int | None = None
    cassettes: str | None = None
    cassette_dir: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    rpm: float | None = None
    tpm: float | None = None
    retry_base_delay: float | None = None
    cases: list[str] = field(default_factory=list)
    repeat: int | None = None
    variants: list[str] = field(default_factory=list)
    api: str | None = None
    batch: bool | None = None
    workers: int | None = None
    # How this front door spells its flags, so a message names the one the user typed.
    base_url_flag: str = "--base-url"
    cassettes_flag: str = "--cassettes"


class SetupProblems(Exception):
    """Everything wrong with the options and the environment; the front door prints them all (exit 2)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class RunSetup:
    """The resolved settings and the key, which is kept apart so it can never be saved with them."""

    settings: RunSettings
    api_key: str | None


# Keys of a saved run.json that a resumed run takes unless a flag gives them (its own names where they differ).
_SAVED = {"paths": "paths", "model": "model", "base_url": "base_url", "concurrency": "concurrency",
          "cassettes": "cassettes", "cassette_dir": "cassette_dir", "timeout": "timeout",
          "max_retries": "max_retries", "rpm": "rpm", "tpm": "tpm", "retry_base_delay": "retry_base_delay",
          "cases": "cases", "repeat": "repeat", "variants": "variants", "api": "api",
          "batch": "batch", "workers": "workers"}  # fmt: skip


def resolve_run(options: RunOptions, environ: Mapping[str, str] | None = None,
                saved: Mapping[str, Any] | None = None) -> RunSetup:  # fmt: skip
    """The run's settings from ``options`` over ``saved`` (a resumed run's run.json) over the environment.

    Raises SetupProblems listing every problem: a base URL that cannot work, or a cassette mode that
    sends requests with neither a key nor a base URL to send them to.
    """
    environ = os.environ if environ is None else environ
    given = {f.name: getattr(options, f.name) for f in fields(options)}
    for key, saved_key in _SAVED.items() if saved else ():
        if given[key] in (None, []):
            given[key] = saved.get(saved_key)
    base_url_source = options.base_url_flag if options.base_url else "the resumed run" if given["base_url"] else None
    if not given["base_url"] and environ.get("OPENAI_BASE_URL"):
        given["base_url"], base_url_source = environ["OPENAI_BASE_URL"], "OPENAI_BASE_URL"
    api_key = environ.get("OPENAI_API_KEY") or None
    problems: list[str] = []
    if given["base_url"] and (problem := base_url_problem(given["base_url"], base_url_source or "the base URL")):
        problems.append(problem)
    mode = CassetteMode(given["cassettes"] or CassetteMode.REPLAY)
    if mode.sends and not given["base_url"] and not api_key:
        problems.append(f"{options.cassettes_flag} {mode} sends requests: set OPENAI_API_KEY (for api.openai.com) "
                        f"or {options.base_url_flag} for another server")  # fmt: skip
    if given["batch"]:
        problems += batch_problems(options, mode)
    if problems:
        raise SetupProblems(problems)
    settings = RunSettings(
        paths=[str(p) for p in given["paths"] or []],
        model=given["model"],
        base_url=given["base_url"] or None,
        concurrency=given["concurrency"] or DEFAULT_CONCURRENCY,
        cassette_mode=mode,
        cassette_dir=given["cassette_dir"] or DEFAULT_CASSETTE_DIR,
        timeout=given["timeout"],
        max_retries=given["max_retries"],
        rpm=given["rpm"],
        tpm=given["tpm"],
        retry_base_delay=given["retry_base_delay"],
        cases=[str(c) for c in given["cases"] or []],
        repeat=given["repeat"],
        variants=[str(v) for v in given["variants"] or []],
        api=given["api"],
        batch=bool(given["batch"]),
        workers=given["workers"] or 1,
    )
    return RunSetup(settings, api_key)


def batch_problems(options: RunOptions, mode: CassetteMode) -> list[str]:
    """The options `--batch` cannot work with, each with why (docs/batch.md)."""
    problems = []
    if not mode.sends:
        problems.append(f"--batch sends the run's requests through the Batch API, but {options.cassettes_flag} "
                        f"{mode} sends nothing; add {options.cassettes_flag} off, record-missing or record")  # fmt: skip
    pacing = {"--concurrency": options.concurrency, "--rpm": options.rpm, "--tpm": options.tpm}
    for flag, value in pacing.items():
        if value is not None:
            problems.append(f"{flag} paces requests sent one by one; with --batch every request of a round goes "
                            f"out in one batch and the Batch API queues it: drop {flag}")  # fmt: skip
    if options.workers is not None and options.workers > 1:
        problems.append("--workers splits requests sent one by one over processes; with --batch a round's requests "
                        "go out in one batch and the Batch API does the work: drop --workers")  # fmt: skip
    if options.timeout is not None:
        problems.append("--timeout bounds one request; with --batch a request waits for its batch (up to the "
                        "API's 24-hour completion window): drop --timeout")  # fmt: skip
    return problems


def batch_plan_problems(plans: list[CasePlan]) -> list[Problem]:
    """Cases `--batch` cannot send: a streamed reply (`stream: true`) cannot come back through a batch file."""
    problems: dict[tuple[str, str], Problem] = {}
    for plan in plans:
        if plan.params.get("stream") is True and (plan.suite.name, plan.case.id) not in problems:
            problems[(plan.suite.name, plan.case.id)] = Problem(plan.case.loc or plan.suite.loc, (
                f"case {plan.case.id!r} asks for `stream: true`; the Batch API answers in a file, never as a stream: "
                "remove `stream` from its params (or from the suite's), or run it without --batch"))
    return list(problems.values())


def endpoint_key_problems(plans: list[CasePlan], mode: CassetteMode, environ: Mapping[str, str] | None = None,
                          cassettes_flag: str = "--cassettes") -> list[Problem]:  # fmt: skip
    """Every environment variable a named endpoint reads (its key, a `{env: VAR}` header) that is not set,
    when the run would send to it; found before anything is sent. Replaying needs no key."""
    if not mode.sends:
        return []
    environ = os.environ if environ is None else environ
    problems: dict[tuple[str, str], Problem] = {}
    for plan in plans:
        for endpoint in {id(e): e for e in (plan.endpoint, plan.grader_endpoint) if e is not None}.values():
            needed = [(endpoint.api_key_env, endpoint.key_loc)] if endpoint.api_key_env else []
            needed += [(value.var, endpoint.loc) for _, value in endpoint.headers if isinstance(value, EnvValue)]
            for var, loc in needed:
                if not environ.get(var) and (endpoint.name, var) not in problems:
                    problems[(endpoint.name, var)] = Problem(loc or plan.suite.loc, (
                        f"endpoint {endpoint.name!r} reads ${var}, which is not set; export it before a run that "
                        f"sends requests ({cassettes_flag} {mode}), or replay with {cassettes_flag} replay"))
    return list(problems.values())
