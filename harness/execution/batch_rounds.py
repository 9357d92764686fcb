"""`harness run --batch`: the run goes round by round, one batch per conversation round.

Every case runs as in a live run, all at once; its requests are parked by the batch
transport (harness/providers/batch.py). When every running case is waiting on a
parked request, the round is complete: turn k of every case that reached it (or a
retry, a grading request). Its requests go out as batches, one per server and
endpoint, split to the API's limits, and each answer goes back to its case, which
moves on to its next turn or finishes. A case that needs no request (replayed from
its cassette, skipped) simply finishes and no longer holds the round back.

A resumed run's journal lists the batches already created: a round whose requests
(same custom_id, same body) are in one of them polls it instead of creating a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

from harness.providers import batch as batch_api
from harness.providers.batch import (BatchLimits, BatchQueue, CaseRequests, LineAnswer, Parked, Submitted, current_case,
                                     failure, respond)  # fmt: skip

BatchHook = Callable[[dict[str, Any]], None]
StatusHook = Callable[[str], None]


class BatchRounds:
    """Decides when a round is complete and runs its batches; counts the cases still running."""

    def __init__(self, queue: BatchQueue, on_batch: BatchHook | None = None, on_status: StatusHook | None = None,
                 known: list[dict[str, Any]] | None = None, limits: BatchLimits | None = None):  # fmt: skip
        self.queue = queue
        self.on_batch = on_batch or (lambda record: None)
        self.on_status = on_status or (lambda text: None)
        self.known = [Submitted.from_record(r) for r in known or []]
        self.limits = limits or batch_api.LIMITS  # read when the run starts: a test may set smaller ones
        self.active = 0
        self.round = 0
        self.created = 0  # batches this session created (a resume that found its batches creates none)
        self.live: list[Submitted] = []

    @contextlib.asynccontextmanager
    async def case(self, label: str) -> AsyncIterator[None]:
        """Run one case inside: its requests are numbered for their custom_ids, and the round waits for it."""
        token = current_case.set(CaseRequests(label))
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            current_case.reset(token)
            self.queue.changed.set()

    def _complete(self) -> bool:
        """Every running case waits on a parked request (a case may wait on several: its graded checks)."""
        return bool(self.queue.parked) and len(self.queue.cases) >= self.active

    async def serve(self) -> None:
        """Run rounds for as long as the run lasts (the runner cancels it at the end)."""
        while True:
            await self.queue.changed.wait()
            self.queue.changed.clear()
            await asyncio.sleep(0)  # let every case that was just answered reach its next request first
            if self._complete():
                await self._run_round(self.queue.take())

    async def _run_round(self, parked: list[Parked]) -> None:
        self.round += 1
        groups: dict[tuple[int, str], list[Parked]] = defaultdict(list)
        for p in parked:
            groups[(id(p.server), p.url)].append(p)
        await asyncio.gather(*(self._run_group(group[0].server, url, group) for (_, url), group in groups.items()))
        self.live = []

    async def _run_group(self, server: Any, url: str, parked: list[Parked]) -> None:
        """One server's requests to one endpoint: the batches already created for them, then new ones."""
        try:
            batches = self._reuse(server.name, url, parked)
            reused = {cid for b in batches for cid in b.lines}
            fresh = [p for p in parked if p.custom_id not in reused]
            self.live += batches
            self._show()
            if fresh:
                created = await server.submit(url, fresh, self.limits, self._submitted, self._uploaded)
                self.live += created
            by_id = {p.custom_id: p for p in parked}
            await asyncio.gather(*(self._finish(server, b, by_id) for b in self.live if b.endpoint == url
                                   and b.server == server.name))  # fmt: skip
        except Exception as e:  # the Batch API itself failed: every request of the group fails (and is retried)
            for p in parked:
                if not p.answer.done():
                    p.answer.set_exception(_as_sdk_error(e, p))
        for p in parked:  # a line the batch never answered (cut off, cancelled, expired): retried next round
            respond(p, failure("the batch ended without answering this request"))

    def _reuse(self, server: str, url: str, parked: list[Parked]) -> list[Submitted]:
        """The journaled batches of an earlier session that hold some of these requests (same id, same body)."""
        wanted = {p.custom_id: p.digest for p in parked}
        found = []
        for batch in list(self.known):
            if batch.server == server and batch.endpoint == url and any(wanted.get(c) == d for c, d in batch.lines.items()):
                found.append(batch)
                self.known.remove(batch)
        return found

    def _uploaded(self, record: dict[str, Any]) -> None:
        self.on_batch({"uploaded": record})

    def _submitted(self, batch: Submitted) -> None:
        self.created += 1
        self.on_batch({"created": batch.record()})
        self._show()

    async def _finish(self, server: Any, batch: Submitted, by_id: dict[str, Parked]) -> None:
        found = await server.wait(batch, self._show)
        answers = await server.answers(found)
        why = f"the batch {batch.batch_id} ended {found.status}"
        if found.errors is not None and getattr(found.errors, "data", None):
            first = found.errors.data[0]
            why += f": {first.code}: {first.message}"
        for custom_id, digest in batch.lines.items():
            p = by_id.get(custom_id)
            if p is None or p.digest != digest:
                continue  # a line of an earlier session's batch that this session does not need
            answer = answers.get(custom_id) or failure(f"{why} before answering this request")
            respond(p, answer if isinstance(answer, LineAnswer) else failure(why))

    def _show(self) -> None:
        if not self.live:
            return
        states: dict[str, int] = defaultdict(int)
        for b in self.live:
            states[b.status] += 1
        done = sum(b.done + b.failed for b in self.live)
        total = sum(b.total for b in self.live)
        noun = "batch" if len(self.live) == 1 else "batches"
        kinds = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(states.items()))
        self.on_status(f"round {self.round}: {len(self.live)} {noun} ({kinds}), {done}/{total} requests done")


def _as_sdk_error(error: Exception, parked: Parked) -> Exception:
    """The Batch API's failure as the SDK reports a failed request, so the retry layer classifies it."""
    import openai

    if isinstance(error, openai.OpenAIError):
        return error
    return openai.APIConnectionError(message=f"the Batch API call failed: {type(error).__name__}: {error}",
                                     request=parked.request)  # fmt: skip
