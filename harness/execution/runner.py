"""Scheduling: run case plans concurrently, turns in order, and collect results.

Cases run as asyncio tasks, at most ``--concurrency`` at a time; each case's
turns run in order inside its task. Every request attempt goes through one
``RequestGate`` (rpm/tpm buckets, then an adaptive cap on requests in flight)
and one retry layer. Every finished case is handed to ``on_case_done`` at once,
so callers can stream it to the journal. A ``StopFlag`` (set by Ctrl-C or
SIGTERM) cancels what is in flight and marks every unfinished case
`interrupted`; what finished is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.core.cassette_mode import CassetteMode
from harness.core.errors import RequestFailed
from harness.core import rerecord
from harness.core.plan import CasePlan
from harness.core.redaction import redact_case
from harness.core.result import ERROR, INTERRUPTED, SKIPPED, CaseResult, RunResult
from harness.core.settings import RunSettings
from harness.core.text_policy import cap_stored_text
from harness.core.case_file import CaseFile, CaseHead
from harness.execution.journal import Journal
from harness.execution import workers
from harness.execution.interrupt import StopFlag, stop_on_signals
from harness.execution.repeats import run_repeats, stamp, whole_case
from harness.metering.budgets import Spending
from harness.providers.pipeline import Channel, RequestPipeline

TICK_SECONDS = 0.2




CaseCallback = Callable[[CaseResult], None]


class RunObserver:
    """What the runner reports while it works; the progress display implements it. All no-ops here."""

    def case_done(self, case: CaseResult | CaseHead) -> None:
        """A case finished: its result, or with `--workers` its head (status, usage, cost: what a progress line needs)."""

    def retry(self, attempt: int, error: RequestFailed, wait: float) -> None: ...

    def tick(self, in_flight: int, limit: int, waiting: int) -> None: ...

    def stopped_sending(self, reason: str) -> None:
        """The run sends no more requests (an authentication failure); said once."""

    def batch_status(self, text: str) -> None:
        """With --batch: the current round's batches, their states and requests done (shown while polling)."""


async def execute(
    plans: list[CasePlan],
    settings: RunSettings,
    api_key: str | None,
    on_case_done: CaseCallback | None = None,
    on_retry: Callable[[], None] | None = None,
    observer: RunObserver | None = None,
    stop: StopFlag | None = None,
    batches: BatchOptions | None = None,
    *,
    keep: bool = True,
    claim: Callable[[], list[int] | None] | None = None,
) -> list[CaseResult]:
    """Run every plan; results come back in plan order whatever order they finish in.

    When ``stop`` is set part-way, cases not finished come back `interrupted`. With ``settings.batch``
    every case runs at once and its requests go out round by round (harness/execution/batch_rounds.py).
    With ``keep=False`` the finished cases are only handed to ``on_case_done`` (which streams them to
    the journal) and only the ones it never saw (interrupted, or a harness bug) come back, so memory
    does not grow with the run. Only ``concurrency`` cases are started at a time: a case's task is
    created when a slot frees, not 100,000 tasks up front. With ``claim`` (a `--workers` process) only
    some plans are this run's: ``claim()`` gives the indices of the next few whenever a slot needs one,
    None when no plan is left, and only the plans claimed come back.
    """
    observer = observer or RunObserver()
    concurrency = max(settings.concurrency, 1)
    rounds = None
    if settings.batch:
        from harness.execution.batch_rounds import BatchRounds
        from harness.providers.batch import BatchQueue

        batches = batches or BatchOptions()
        rounds = BatchRounds(BatchQueue(), batches.on_batch, observer.batch_status, batches.known)
        concurrency = max(len(plans), 1)  # a round holds every case that reached it

    def note_retry(attempt: int, error: RequestFailed, wait: float) -> None:
        observer.retry(attempt, error, wait)
        if on_retry:
            on_retry()

    pipeline = RequestPipeline(settings, api_key, {id(p.suite): p.suite for p in plans}.values(), note_retry,
                               on_refused=observer.stopped_sending, batch=rounds.queue if rounds else None)  # fmt: skip
    spending = Spending()  # suite budgets: a suite whose budget is spent starts no more cases
    kept: dict[int, list[CaseResult]] = {}  # plan index -> its results (every plan with keep, else the unsent ones)
    done = bytearray(len(plans))  # 1 once a plan's results are final

    async def one(plan: CasePlan) -> list[CaseResult]:
        """One case, all its repeats in order (harness/repeats.py); one result per repeat."""
        async with rounds.case(f"{plan.suite.name}/{plan.label}") if rounds else _none():
            try:
                channel = pipeline.channel(plan)
                if skip := spending.skip_reason(plan):
                    results = whole_case(plan, SKIPPED, reason=skip)
                elif settings.cassette_mode is CassetteMode.OFF:
                    results = await run_repeats(plan, channel, spending=spending)
                else:
                    results = await _with_cassette(plan, settings, api_key, channel, spending, pipeline.secrets)
            except Exception as e:  # a bug in one case must not lose the run  # noqa: BLE001
                message = f"internal error: {type(e).__name__}: {e}"
                results = whole_case(plan, ERROR, error=message)
        for result in results:
            cap_stored_text(result)  # judged whole; stored at most STORED_TEXT_LIMIT characters a text
            for key in pipeline.secrets:  # every endpoint's key, before the journal, results or reports see it
                redact_case(result, key)
            if on_case_done:
                on_case_done(result)
            observer.case_done(result)
        return results

    taken = None if claim is None else bytearray(len(plans))  # with claim: 1 for the plans this run took

    def claimed() -> Iterator[tuple[int, CasePlan]]:
        assert claim is not None and taken is not None
        while (unit := claim()) is not None:
            for index in unit:  # all marked before the first is run: a stop mid-unit leaves the rest interrupted
                taken[index] = 1
            for index in unit:
                yield index, plans[index]

    queue = iter(enumerate(plans)) if claim is None else claimed()

    async def worker() -> None:
        """Take the next plan whenever this slot is free; ``concurrency`` of these run at once."""
        for index, plan in queue:
            try:
                results = await one(plan)
            except Exception as e:  # e.g. the callback failed: a harness bug, not an interruption  # noqa: BLE001
                kept[index] = whole_case(plan, ERROR, error=f"internal error: {type(e).__name__}: {e}")
            else:
                if keep:
                    kept[index] = results
            done[index] = 1

    async def ticker() -> None:
        while True:
            observer.tick(*pipeline.load())
            await asyncio.sleep(TICK_SECONDS)

    stopped = stop.bind() if stop else None
    tasks = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(plans)))]
    tick_task = asyncio.create_task(ticker())
    helpers = [tick_task] + ([asyncio.create_task(rounds.serve())] if rounds else [])
    try:
        await _until_done_or_stopped(tasks, stopped)
    finally:
        for t in [*tasks, *helpers]:
            t.cancel()
        await asyncio.gather(*tasks, *helpers, return_exceptions=True)
        await pipeline.aclose()
    why = f"interrupted by {stop.name} before it finished" if stop and stop.is_set else "interrupted before it finished"
    for index, plan in enumerate(plans):
        if not done[index] and (taken is None or taken[index]):
            kept[index] = whole_case(plan, INTERRUPTED, error=why)
    return [result for index in sorted(kept) for result in kept[index]]


@dataclass
class BatchOptions:
    """With --batch: where each batch created is journaled, and the batches an interrupted session created."""

    on_batch: Callable[[dict[str, Any]], None] | None = None
    known: list[dict[str, Any]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def _none() -> AsyncIterator[None]:
    yield


async def _until_done_or_stopped(tasks: list[asyncio.Task[None]], stopped: asyncio.Event | None) -> None:
    if not tasks:
        return
    everything = asyncio.ensure_future(asyncio.wait(tasks))
    waiters: set[asyncio.Future[Any]] = {everything}
    if stopped is not None:
        waiters.add(asyncio.ensure_future(stopped.wait()))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def _with_cassette(plan: CasePlan, settings: RunSettings, api_key: str | None, channel: Channel,
                         spending: Spending | None = None, secrets: tuple[str, ...] = ()) -> list[CaseResult]:  # fmt: skip
    """Run one case (every repeat) inside its own cassette; a cassette problem makes it an error, never a crash."""
    # vcrpy loads only when cassettes are in use (start-up time of `--cassettes off` and of the commands).
    from harness.providers import cassettes

    root = Path(settings.cassette_dir)
    path = cassettes.cassette_path(root, plan.suite.name, plan.case.id, plan.variant)
    try:
        cassette = cassettes.CaseCassette(path, settings.cassette_mode, rerecord_command(plan, settings), api_key,
                                          root=root, suite_file=Path(plan.suite.path), secrets=secrets,
                                          reply_problem=getattr(channel.provider, "recorded_reply_problem", None),
                                          stream_finished=getattr(channel.provider, "stream_finished", None),
                                          overwrite_hint=rerecord_command(plan, settings, mode=CassetteMode.RECORD))  # fmt: skip
        cassette.endpoint = plan.endpoint.name if plan.endpoint else None  # its server is named in the suite
        if not settings.base_url:  # a replay has no base URL of its own: the recordings say which server they came from
            cassette.rerecord_hint = rerecord_command(plan, settings, cassette.recorded_base_url)
    except cassettes.CassetteFileError as e:
        return whole_case(plan, ERROR, error=str(e))
    with cassette.active():
        results = await run_repeats(plan, channel, cassette.start_repeat, spending=spending)
    try:
        cassette.save(case_completed=all(r.status != ERROR for r in results))
    except cassettes.CassetteFileError as e:
        for result in results:
            result.status, result.error = ERROR, str(e)
    return results


def rerecord_command(plan: CasePlan, settings: RunSettings, recorded_base_url: str | None = None,
                     mode: CassetteMode = CassetteMode.RECORD_MISSING) -> str:  # fmt: skip
    """The command that re-records one case with this run's settings, to paste as it is.

    ``mode`` is record-missing, or record for a broken cassette (record-missing reports one rather than
    overwriting it).
    The flags that change what is recorded or where (--model, --repeat, --cassette-dir,
    --base-url) are the run's own; without a base URL of the run's, the one the cassette was
    recorded from; with neither, the command needs OPENAI_API_KEY for api.openai.com and says
    how to point it at another server instead.
    """
    if plan.endpoint is not None:  # the suite's `endpoints:` names the server: --base-url would not reach it
        return rerecord.rerecord_command(str(plan.suite.path), [plan.case.id], variants=[plan.variant] if plan.variant else [],
                                         model=settings.model, api=settings.api, repeat=settings.repeat,
                                         cassette_dir=settings.cassette_dir, mode=mode)  # fmt: skip
    base_url = settings.base_url or recorded_base_url
    command = rerecord.rerecord_command(str(plan.suite.path), [plan.case.id], variants=[plan.variant] if plan.variant else [],
                                        model=settings.model, api=settings.api, repeat=settings.repeat,
                                        cassette_dir=settings.cassette_dir, base_url=base_url, mode=mode)  # fmt: skip
    return command if base_url else f"{command} {rerecord.NO_BASE_URL}"


def plan_key(plan: CasePlan) -> tuple[str, str, int]:
    """The key a plan's (first) result is journaled under (``CaseResult.key``)."""
    return (plan.suite.name, plan.label, 0)


def plan_keys(plan: CasePlan) -> list[tuple[str, str, int]]:
    """The keys of every repeat of a plan; a case is finished when all of them are."""
    return [(plan.suite.name, plan.label, repeat) for repeat in range(plan.repeats)]


def run_plans(
    plans: list[CasePlan],
    settings: RunSettings,
    api_key: str | None,
    on_case_done: CaseCallback | None = None,
    *,
    observer: RunObserver | None = None,
    stop: StopFlag | None = None,
    finished: dict[tuple[str, str, int], CaseResult] | None = None,
    batches: BatchOptions | None = None,
    journal: Journal | None = None,
) -> RunResult:
    """Synchronous entry point: run the plans and wrap the outcome as a RunResult.

    ``finished`` holds cases already done (from a journal, on resume): they are
    not run again and take their place in plan order. With ``stop``, Ctrl-C
    and SIGTERM stop the run cleanly instead of raising. With ``journal`` (which
    every finished case is appended to: by ``on_case_done`` when it is given,
    else by ``journal.append``), the run keeps no case in memory: the
    RunResult's cases are read back from the journal as they are used.
    """
    finished = finished or {}
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    todo = [p for p in plans if not all(k in finished for k in plan_keys(p))]  # part of a case's repeats: run it again
    ran_alone = settings.workers <= 1 or settings.batch or not todo  # a batch waits on the Batch API, in one process
    count = 1 if ran_alone else workers.worker_count(settings.workers, todo, settings)
    with stop_on_signals(stop) if stop else nullcontext():
        new = _run_todo(todo, settings, api_key, count, on_case_done, observer, stop, batches, journal) if todo else []
    ran = {case.key: case for case in new}  # everything, or (with a journal) only what never reached it
    cases: list[CaseResult] | CaseFile
    if journal is None:
        cases = [ran[k] if k in ran else stamp(p, finished[k]) for p in plans for k in plan_keys(p)]
    else:
        ran_now = {id(p) for p in todo}  # kept in memory only when the journal could not take them
        cases = journal.cases([(ran[k] if k in ran else journal.find(k)) if id(p) in ran_now else stamp(p, finished[k])
                               for p in plans for k in plan_keys(p)])  # fmt: skip
    return RunResult(
        settings={**settings.to_dict(), **({"workers": count} if todo else {})},  # the processes that ran, not asked
        cases=cases,  # type: ignore[arg-type]
        started_at=started_at,
        duration_ms=(time.perf_counter() - t0) * 1000,
        fingerprints={p.suite.name: p.suite.fingerprint for p in plans if p.suite.fingerprint},
    )


def _run_todo(todo: list[CasePlan], settings: RunSettings, api_key: str | None, count: int,
              on_case_done: CaseCallback | None, observer: RunObserver | None, stop: StopFlag | None,
              batches: BatchOptions | None = None, journal: Journal | None = None) -> list[CaseResult]:  # fmt: skip
    """In this process, or split over ``count`` `--workers` processes that stream their cases back the same way
    (never a `--batch` run: it waits on the Batch API, and `harness run` refuses the two together).
    With a journal the finished cases go to it and only those it never saw come back."""
    keep = journal is None
    if count > 1:
        lines_to = journal if journal is not None and on_case_done is None else None  # workers encode its lines
        return workers.run_in_workers(execute, todo, settings, api_key, count, on_case_done, observer, stop, keep,
                                      lines_to)  # fmt: skip
    if journal is not None and on_case_done is None:
        on_case_done = journal.append
    return asyncio.run(execute(todo, settings, api_key, on_case_done, observer=observer, stop=stop,
                               batches=batches, keep=keep))  # fmt: skip
