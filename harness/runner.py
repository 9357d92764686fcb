"""Scheduling: run case plans concurrently, turns in order, and collect results.

Cases run as asyncio tasks behind a semaphore (``--concurrency``); each case's
turns run in order inside its task. Every finished case is handed to
``on_case_done`` at once, so callers can stream it to a journal or a display.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.client import ClientSettings, ModelClient
from harness.conversation import run_conversation
from harness.results import ERROR, CaseResult, Completion, RunResult
from harness.retry import RetryPolicy, with_retries
from harness.templating import CasePlan

CASSETTE_MODES = ("replay", "record-missing", "record", "off")


@dataclass
class RunSettings:
    """Everything that shapes a run; saved in results.json (never the key)."""

    paths: list[str] = field(default_factory=list)
    model: str | None = None
    base_url: str | None = None
    concurrency: int = 8
    cassette_mode: str = "off"
    cassette_dir: str = "cassettes"
    timeout: float = 60.0
    max_retries: int = 3

    def to_dict(self) -> dict[str, Any]:
        return {
            "paths": self.paths,
            "model": self.model,
            "base_url": self.base_url,
            "concurrency": self.concurrency,
            "cassettes": self.cassette_mode,
            "cassette_dir": self.cassette_dir,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
        }


CaseCallback = Callable[[CaseResult], None]


async def execute(
    plans: list[CasePlan],
    settings: RunSettings,
    api_key: str | None,
    on_case_done: CaseCallback | None = None,
    on_retry: Callable[[], None] | None = None,
) -> list[CaseResult]:
    """Run every plan; results come back in plan order whatever order they finish in."""
    client_settings = ClientSettings(base_url=settings.base_url, api_key=api_key, timeout=settings.timeout,
                                     max_connections=max(settings.concurrency, 1))  # fmt: skip
    transport = None
    if settings.cassette_mode != "off":
        import httpx2

        from harness.cassettes import CassetteTransport

        limits = httpx2.Limits(max_connections=client_settings.max_connections)
        transport = CassetteTransport(httpx2.AsyncHTTPTransport(limits=limits))
    client = ModelClient(client_settings, transport)
    policy = RetryPolicy(max_retries=settings.max_retries)
    semaphore = asyncio.Semaphore(max(settings.concurrency, 1))

    async def send(model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        return await with_retries(lambda: client.complete(model, messages, params), policy,
                                  (lambda *_: on_retry()) if on_retry else None)  # fmt: skip

    async def one(plan: CasePlan) -> CaseResult:
        async with semaphore:
            if settings.cassette_mode == "off":
                result = await run_conversation(plan, send)
            else:
                result = await _with_cassette(plan, settings, api_key, send)
        if on_case_done:
            on_case_done(result)
        return result

    try:
        return list(await asyncio.gather(*(one(p) for p in plans)))
    finally:
        await client.aclose()


async def _with_cassette(plan: CasePlan, settings: RunSettings, api_key: str | None, send: Any) -> CaseResult:
    """Run one case inside its own cassette; a cassette problem makes the case an error, never a crash."""
    from harness import cassettes

    path = cassettes.cassette_path(Path(settings.cassette_dir), plan.suite.name, plan.case.id)
    hint = f"harness run {shlex.quote(str(plan.suite.path))} --case {shlex.quote(plan.case.id)} --cassettes record-missing"
    try:
        cassette = cassettes.CaseCassette(path, settings.cassette_mode, hint, api_key)
    except cassettes.CassetteFileError as e:
        return error_result(plan, str(e))
    token = cassettes.current.set(cassette)
    try:
        result = await run_conversation(plan, send)
    finally:
        cassettes.current.reset(token)
    try:
        cassette.save(case_completed=result.status != ERROR)
    except cassettes.CassetteFileError as e:
        result.status, result.error = ERROR, str(e)
    return result


def error_result(plan: CasePlan, message: str) -> CaseResult:
    return CaseResult(suite=plan.suite.name, id=plan.case.id, status=ERROR, file=str(plan.suite.path),
                      model=plan.model, error=message)  # fmt: skip


def run_plans(
    plans: list[CasePlan],
    settings: RunSettings,
    api_key: str | None,
    on_case_done: CaseCallback | None = None,
) -> RunResult:
    """Synchronous entry point: run the plans and wrap the outcome as a RunResult."""
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    cases = asyncio.run(execute(plans, settings, api_key, on_case_done))
    return RunResult(
        settings=settings.to_dict(),
        cases=cases,
        started_at=started_at,
        duration_ms=(time.perf_counter() - t0) * 1000,
    )
