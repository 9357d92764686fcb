"""`harness run --workers N`: one run's cases split over N processes and streamed back as one run.

The parent has already loaded, validated and planned the suites (bad input stopped it before this). It
cuts the plans into small units of work, in run order, and forks the workers: each inherits every plan
(nothing is parsed twice or pickled on the way in), takes the next unit from a shared counter whenever its
ordinary asyncio runner (``execute``) has a free slot (the counter records who took it), and sends its
finished cases back over a pipe in batches. So a worker on a core that runs slower (another guest on the
host, the other worker's caches) simply takes fewer units, and both finish together: shares dealt once,
like `--shard`'s, left one worker running alone for up to a fifth of a 10,000-case replay on this
project's 2-core VM. The parent hands every case to the same ``on_case_done`` and observer a one-process
run uses, so there is one journal, one progress line, one results.json, and `--resume` reads the journal
as it reads any other.

What the run promises as a whole is split: each worker gets its part of `--concurrency` and 1/N of every
rate limit; a suite with a suite-wide `budget:` is one unit, run whole by one worker, so its ledger stays exact. Each
worker stops sending after its own first 401/403 (so a bad key costs up to N refused requests).

Ctrl-C reaches the whole process group and SIGTERM only the parent: either way the parent passes the
signal on, every worker stops like a one-process run (its unfinished cases `interrupted`), and the
parent collects what finished. A worker that dies (killed, crashed) takes with it only the cases of the
units it took that had not reached the parent (the unfinished ones and its last batch; the others take the
units left): they end as errors that say so and are not journaled, so `--resume` runs them again.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from harness.core.cassette_mode import CassetteMode
from harness.core.errors import RequestFailed
from harness.core.plan import CasePlan
from harness.core.result import ERROR, INTERRUPTED, CaseResult
from harness.core.settings import RunSettings
from harness.execution.interrupt import StopFlag
from harness.execution.repeats import whole_case

if TYPE_CHECKING:  # multiprocessing is imported when workers start: a one-process run never pays for it
    from multiprocessing.connection import Connection

    from harness.execution.journal import Journal, JournalLine

TICK_SECONDS = 0.2
# A worker sends its finished cases with each progress tick (the runner's, every 0.2 s), or sooner once it has
# SEND_BATCH of them, or after SEND_EVERY_SECONDS if ticks stall: each message wakes the parent, which on a machine
# with as many cores as workers takes a core from a worker (a 10,000-case replay sent ~1,900 messages at 64 cases
# or 0.05 s, ~300 now).
SEND_EVERY_SECONDS = 0.25
SEND_BATCH = 512
UNIT = 16  # plans a worker takes at a time: small enough to even out the ends, large enough to cost nothing
STOP_GRACE_SECONDS = 15.0  # after passing a signal on, how long a worker may take before it is killed

CaseCallback = Callable[[CaseResult], None]
Execute = Callable[..., Coroutine[Any, Any, list[CaseResult]]]  # harness.execution.runner.execute


def fork_available() -> bool:
    """Workers are forked (they inherit the loaded plans); Windows has no fork."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def cpu_count() -> int:
    """The cores this process may use (`--workers auto`)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_count(requested: int, plans: list[CasePlan], settings: RunSettings) -> int:
    """How many workers actually run: no more than the cases, nor than `--concurrency` (each needs a slot)."""
    return max(1, min(requested, len(plans), max(settings.concurrency, 1)))


def work_units(plans: list[CasePlan]) -> list[list[int]]:
    """The plans' indices in units of ``UNIT``, in run order; all the plans of a suite with a suite-wide
    `budget:` are one unit (where its first plan would be), so one worker's ledger sees all its spending."""
    units: list[list[int]] = []
    whole: dict[str, list[int]] = {}
    open_unit: list[int] | None = None
    for i, plan in enumerate(plans):
        budget = getattr(plan.suite, "budget", None)
        if budget is not None and budget.limits:
            if plan.suite.name not in whole:
                whole[plan.suite.name] = []
                units.append(whole[plan.suite.name])
            whole[plan.suite.name].append(i)
            continue
        if open_unit is None or len(open_unit) >= UNIT:
            open_unit = []
            units.append(open_unit)
        open_unit.append(i)
    return units


def _import_before_forking(settings: RunSettings) -> None:
    """Import what every worker would import on its first request (the SDK, the cassette layer), once, here:
    forked workers share these pages instead of each spending the CPU time again."""
    import httpx2  # noqa: F401
    import openai  # noqa: F401
    import openai.resources.chat  # noqa: F401
    import httpcore2  # noqa: F401
    from openai import AsyncOpenAI  # noqa: F401

    import harness.providers.auth_gate  # noqa: F401

    if settings.cassette_mode is not CassetteMode.OFF:
        import harness.providers.cassettes  # noqa: F401


def worker_settings(settings: RunSettings, index: int, workers: int) -> RunSettings:
    """Worker ``index``'s settings: its part of --concurrency (the parts add up to it) and 1/N of each rate."""
    base, extra = divmod(max(settings.concurrency, 1), workers)
    return replace(settings, concurrency=base + (1 if index < extra else 0), workers=1,
                   rate_share=settings.rate_share / workers)  # fmt: skip


# ---------------------------------------------------------------- the worker process


class _Sender:
    """The worker's side of the pipe: finished cases in batches, the progress events as they happen.

    With the run's journal (``encode``: its ``Journal.encode``) a case goes as its journal line, encoded here,
    so the parent only writes bytes; without one, as the case itself.
    A thread writes to the pipe, so the worker's event loop never waits for the parent to read (on a busy
    machine the parent may not be scheduled for a while, and a full pipe would stall the worker with it).
    """

    def __init__(self, conn: Connection, stop: StopFlag, encode: Callable[[CaseResult], JournalLine] | None):
        self.conn = conn
        self.stop = stop
        self.encode = encode
        self.batch: list[CaseResult | JournalLine] = []
        self.sent: set[tuple[str, str, int]] = set()
        self.last = time.monotonic()
        self.broken = False
        self.outbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._pump, name="harness-worker-sender", daemon=True)
        self.thread.start()

    def send(self, message: tuple[Any, ...]) -> None:
        if not self.broken:
            self.outbox.put(message)

    def _pump(self) -> None:
        while (message := self.outbox.get()) is not None:
            if self.broken:
                continue
            try:
                self.conn.send(message)
            except (OSError, ValueError):  # the parent is gone: nobody would keep what this worker finishes
                self.broken = True
                try:
                    self.stop.set(signal.SIGTERM)
                except RuntimeError:  # the worker's loop has already ended
                    pass

    def close(self) -> None:
        """Send what is queued, then stop the thread."""
        self.outbox.put(None)
        self.thread.join()

    def finished(self, case: CaseResult) -> None:
        """The worker's ``on_case_done``: the case is in its cassette; now it goes to the parent's journal."""
        self.batch.append(self.encode(case) if self.encode else case)
        self.sent.add(case.key)
        if len(self.batch) >= SEND_BATCH or time.monotonic() - self.last >= SEND_EVERY_SECONDS:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        if self.batch:
            batch, self.batch = self.batch, []
            self.send(("lines" if self.encode else "cases", batch))

    # RunObserver's methods (duck-typed): the parent's observer gets them back
    def case_done(self, case: CaseResult) -> None:
        """Sent with the case itself (``finished``)."""

    def retry(self, attempt: int, error: RequestFailed, wait: float) -> None:
        self.send(("retry", attempt, error.status, wait))

    def tick(self, in_flight: int, limit: int, waiting: int) -> None:
        self.flush()
        self.send(("tick", in_flight, limit, waiting))

    def stopped_sending(self, reason: str) -> None:
        self.send(("refused", reason))


class _Units:
    """The units of work, shared by every worker: the next one goes to whichever asks first.

    The counter, and which worker took each unit, are in shared memory, written together under a lock on a
    file (``flock``) rather than a semaphore: the kernel drops a file lock when its holder dies, so a worker
    killed while taking a unit cannot leave the others waiting for ever, and the parent knows whose every
    taken unit was without a message that a dying worker might not send.
    """

    def __init__(self, context: Any, units: list[list[int]]) -> None:
        import tempfile

        self.units = units
        self.next = context.Value("q", 0, lock=False)  # made before the workers fork, so all of them share it
        self.owners = context.Array("i", [-1] * len(units), lock=False)  # the worker index that took each unit
        fd, self.lock_path = tempfile.mkstemp(prefix="harness-units-")
        os.close(fd)
        self._lock: tuple[int, int] | None = None  # (pid, fd): each process opens the file itself

    def take(self, worker: int) -> int | None:
        """The next unit's number, now worker ``worker``'s; None when every unit is taken."""
        import fcntl

        if self._lock is None or self._lock[0] != os.getpid():  # a lock belongs to an open file: not inherited
            self._lock = (os.getpid(), os.open(self.lock_path, os.O_RDWR))
        fd = self._lock[1]
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            number = self.next.value
            if number >= len(self.units):
                return None
            self.owners[number] = worker
            self.next.value = number + 1
            return number
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def owner(self, number: int) -> int | None:
        """The index of the worker that took unit ``number``; None if none did (read once the workers are gone).
        An owner written by a worker that died before it moved the counter on does not count: it never had the unit."""
        index = self.owners[number]
        return None if index < 0 or number >= self.next.value else index

    def close(self) -> None:
        try:
            os.unlink(self.lock_path)
        except OSError:
            pass


def _worker_main(execute: Execute, plans: list[CasePlan], units: _Units, index: int, settings: RunSettings,
                 api_key: str | None, conn: Connection, inherited: list[Connection],
                 encode: Callable[[CaseResult], JournalLine] | None) -> None:  # fmt: skip
    """A forked worker (number ``index``): run units of the plans while any are left, send back every finished
    case, then the unfinished ones' results."""
    from harness.providers import cassette_cache

    _name_process(f"harness-w{index + 1}")
    for other in inherited:  # reading ends (its own, and those of the workers forked before it): only the
        other.close()  # parent reads, so when the parent dies a write fails and the worker stops

    stop = StopFlag()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set(signum)  # never re-raised here: the parent decides when a worker is killed

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, on_signal)
    sender = _Sender(conn, stop, encode)

    def claim() -> list[int] | None:
        number = None if stop.is_set else units.take(index)
        return None if number is None else units.units[number]

    try:
        results = asyncio.run(execute(plans, settings, api_key, on_case_done=sender.finished, observer=sender,
                                      stop=stop, claim=claim))  # type: ignore[arg-type]  # fmt: skip
        sender.flush()
        sender.send(("end", [r for r in results if r.key not in sender.sent]))
    except BaseException as e:  # noqa: BLE001 (a harness bug: say what it was; the parent keeps the run going)
        sender.flush()
        sender.send(("crash", f"{type(e).__name__}: {e}"))
    finally:
        sender.close()
        cassette_cache.flush()  # a forked process ends with os._exit: atexit hooks do not run
        conn.close()


def _name_process(name: str) -> None:
    """Show this worker as ``name`` in `ps -e`, `top` and `pgrep` (Linux: its command name, 15 bytes at most);
    elsewhere it keeps the parent's."""
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name[:15])
    except OSError:
        pass


# ---------------------------------------------------------------- the parent


@dataclass
class _Worker:
    index: int
    process: Any
    conn: Connection
    received: dict[tuple[str, str, int], CaseResult | None] = field(default_factory=dict)  # None: not kept
    unfinished: dict[tuple[str, str, int], CaseResult] = field(default_factory=dict)
    ended: bool = False
    crash: str | None = None
    load: tuple[int, int, int] = (0, 0, 0)


def run_in_workers(execute: Execute, plans: list[CasePlan], settings: RunSettings, api_key: str | None,
                   workers: int, on_case_done: CaseCallback | None = None, observer: Any = None,
                   stop: StopFlag | None = None, keep: bool = True,
                   journal: Journal | None = None) -> list[CaseResult]:  # fmt: skip
    """Run ``plans`` with ``execute`` (the runner's, handed down: this module sits beside it) in ``workers``
    forked processes; like ``execute`` alone, every case's results come back (with ``keep=False`` only
    those ``on_case_done`` or the journal never saw: the parent then holds no finished case, only its key).

    Finished cases reach ``on_case_done`` (or with a ``journal``, encoded by their worker, its
    ``append_lines``) and ``observer.case_done`` in the parent as they arrive.
    """
    import gc
    import multiprocessing

    context = multiprocessing.get_context("fork")
    units = _Units(context, work_units(plans))
    pool: list[_Worker] = []
    _import_before_forking(settings)
    # The workers inherit the plans: frozen, the collector never walks (nor copies) those pages in them. No
    # gc.collect() first: a full pass over a 10,000-case run's objects costs more than the garbage it frees.
    gc.freeze()
    try:
        for index in range(workers):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_worker_main, name=f"harness-worker-{index + 1}", daemon=True,
                                      args=(execute, plans, units, index, worker_settings(settings, index, workers),
                                            api_key, send, [*(w.conn for w in pool), receive],
                                            journal.encode if journal else None))  # fmt: skip
            process.start()
            send.close()  # the parent keeps only the reading end, so a worker's exit reads as end of file
            pool.append(_Worker(index, process, receive))
    finally:
        gc.unfreeze()
    try:
        _collect(pool, on_case_done, observer, stop, keep, journal)
    finally:
        for worker in pool:  # a second Ctrl-C, or a bug here: no worker outlives the parent
            if worker.process.is_alive():
                worker.process.kill()
            worker.process.join()
            worker.conn.close()
        units.close()
    owner: dict[int, _Worker] = {i: pool[index] for number, unit in enumerate(units.units)
                                 if (index := units.owner(number)) is not None for i in unit}  # fmt: skip
    return [result for i, plan in enumerate(plans) for result in _results(owner.get(i), plan, pool, stop)]


def _collect(pool: list[_Worker], on_case_done: CaseCallback | None, observer: Any, stop: StopFlag | None,
             keep: bool = True, journal: Journal | None = None) -> None:  # fmt: skip
    """Read every worker's messages until each one has ended or died; pass a stop signal on once."""
    from multiprocessing.connection import wait

    live = {worker.conn: worker for worker in pool}
    refusals: set[str] = set()
    passed_on = False
    kill_at = float("inf")
    while live:
        if stop is not None and stop.is_set and not passed_on:
            passed_on, kill_at = True, time.monotonic() + STOP_GRACE_SECONDS
            for worker in live.values():
                _signal(worker, stop.signum or signal.SIGINT)
        if time.monotonic() > kill_at:
            for worker in live.values():
                worker.process.kill()
        for conn in wait(list(live), timeout=TICK_SECONDS):
            worker = live[conn]  # type: ignore[index]
            try:
                message = conn.recv()  # type: ignore[union-attr]
            except (EOFError, OSError):  # the worker is gone, ended or not
                del live[conn]  # type: ignore[arg-type]
                continue
            _handle(worker, message, on_case_done, observer, refusals, keep, journal)
        if observer is not None:
            loads = [w.load for w in pool]
            observer.tick(*(sum(values) for values in zip(*loads)))


def _handle(worker: _Worker, message: tuple[Any, ...], on_case_done: CaseCallback | None, observer: Any,
            refusals: set[str], keep: bool = True, journal: Journal | None = None) -> None:  # fmt: skip
    kind = message[0]
    if kind == "lines" and journal is not None:  # cases encoded by the worker: the parent writes their bytes
        journal.append_lines(message[1])
        for line in message[1]:
            worker.received[line.key] = None
            if observer is not None:
                observer.case_done(line.head)
    elif kind == "cases":
        for case in message[1]:
            worker.received[case.key] = case if keep else None
            if on_case_done is not None:
                on_case_done(case)
            if observer is not None:
                observer.case_done(case)
    elif kind == "tick":
        worker.load = message[1:4]
    elif kind == "retry" and observer is not None:
        attempt, status, wait_s = message[1:4]
        observer.retry(attempt, RequestFailed("retried in a worker", retryable=True, status=status), wait_s)
    elif kind == "refused" and message[1] not in refusals:  # every worker says it; the user hears it once
        refusals.add(message[1])
        if observer is not None:
            observer.stopped_sending(message[1])
    elif kind == "end":
        worker.ended = True
        worker.unfinished = {case.key: case for case in message[1]}
    elif kind == "crash":
        worker.crash = message[1]


def _signal(worker: _Worker, signum: int) -> None:
    try:
        if worker.process.pid is not None:
            os.kill(worker.process.pid, signum)
    except ProcessLookupError:
        pass


def _results(worker: _Worker | None, plan: CasePlan, pool: list[_Worker], stop: StopFlag | None) -> list[CaseResult]:
    """A plan's results as the worker that took it left them: finished, unfinished (interrupted), or lost with
    the worker; ``worker`` None: no worker took it."""
    if worker is None:
        if stop is not None and stop.is_set:
            return whole_case(plan, INTERRUPTED, error=f"interrupted by {stop.name} before it started")
        deaths = "; ".join(_death(w, len(pool)) for w in pool if not w.ended)
        return whole_case(plan, ERROR, error=f"no worker was left to run this case ({deaths})")
    workers = len(pool)
    keys = [(plan.suite.name, plan.label, repeat) for repeat in range(plan.repeats)]
    if all(k in worker.received for k in keys):
        return [case for k in keys if (case := worker.received[k]) is not None]  # none when not kept
    if all(k in worker.unfinished for k in keys):
        return [worker.unfinished[k] for k in keys]
    if stop is not None and stop.is_set:
        return whole_case(plan, INTERRUPTED, error=f"interrupted by {stop.name} before it finished")
    return whole_case(plan, ERROR, error=_death(worker, workers))


def _death(worker: _Worker, workers: int) -> str:
    """Why a worker's case has no result: the worker crashed or was killed before it finished the case."""
    name = f"worker {worker.index + 1} of {workers} (pid {worker.process.pid})"
    if worker.crash:
        how = f"stopped on an internal error ({worker.crash})"
    else:
        code = worker.process.exitcode
        if code is not None and code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with code {code}"
    return (f"{name} {how} before this case's result was saved; `harness run --resume` on this run's folder runs "
            "it again")
