"""Backpressure: token buckets for --rpm/--tpm and an adaptive (AIMD) cap on requests in flight.

Every attempt at a request, retries included, pays its way through the buckets
(one request, and its pre-counted prompt tokens plus the requested completion
budget) and then takes a slot. A 429 halves the number of slots; a full round
of successes gives one back, up to ``--concurrency``, as TCP does with its
congestion window.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from harness.metering.tokens import count_chat_tokens

# A bucket holds this many seconds' worth of its rate: short bursts go at once,
# anything longer is paced (servers enforce per-minute limits over shorter windows).
BURST_SECONDS = 6.0
COMPLETION_LIMIT_PARAMS = ("max_completion_tokens", "max_tokens")


class TokenBucket:
    """``per_minute`` units refilled continuously; ``acquire`` waits, first come first served.

    A request larger than the bucket waits for a full bucket and leaves it in
    debt, so even oversized requests average out to the configured rate
    instead of waiting forever.
    """

    def __init__(self, per_minute: float, burst_seconds: float = BURST_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep):  # fmt: skip
        if per_minute <= 0:
            raise ValueError("a rate must be more than 0 per minute")
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = asyncio.Lock()  # FIFO: waiters are served in arrival order

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self, amount: float = 1.0) -> float:
        """Take ``amount`` units, waiting as long as the rate requires; returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            need = min(amount, self.capacity)
            self._refill()
            while self.tokens < need:
                delay = (need - self.tokens) / self.rate
                await self._sleep(delay)
                waited += delay
                self._refill()
            self.tokens -= amount
        return waited


class AdaptiveConcurrency:
    """A FIFO semaphore whose size follows AIMD: halve on a rate limit, +1 after a round of successes.

    Only one decrease per "generation": a 429 on a request that was admitted
    before the last decrease says nothing new (it was sent under the old,
    larger limit), so a burst of 429s halves the limit once, not once per reply.
    """

    def __init__(self, maximum: int, minimum: int = 1):
        self.maximum = max(1, maximum)
        self.minimum = max(1, min(minimum, self.maximum))
        self.limit = self.maximum
        self.in_flight = 0
        self.decreases = 0
        self._generation = 0
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    async def acquire(self) -> int:
        """Wait for a slot; returns the generation it was granted in (give it back to ``release``)."""
        if not self._waiters and self.in_flight < self.limit:
            self.in_flight += 1
            return self._generation
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # granted just as we were cancelled: hand it on
                self.in_flight -= 1
                self._wake()
            else:
                self._waiters.remove(waiter)
            raise
        return self._generation

    def release(self, generation: int, outcome: str) -> None:
        """Give a slot back; ``outcome`` is "ok", "rate_limited" or anything else (no change)."""
        self.in_flight -= 1
        if outcome == "rate_limited":
            if generation == self._generation:
                self._generation += 1
                if self.limit > self.minimum:
                    self.limit = max(self.minimum, self.limit // 2)
                    self.decreases += 1
            self._successes = 0
        elif outcome == "ok":
            self._successes += 1
            if self._successes >= self.limit and self.limit < self.maximum:
                self.limit += 1
                self._successes = 0
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)


@dataclass
class Slot:
    """One admitted request; set ``outcome`` before leaving the ``admit`` block."""

    generation: int
    outcome: str = "failed"


@dataclass
class RequestGate:
    """Everything a request waits for before it is sent: rpm, tpm (run-wide and per suite), then a slot."""

    concurrency: AdaptiveConcurrency
    rpm: TokenBucket | None = None
    tpm: TokenBucket | None = None
    suite_buckets: dict[str, tuple[TokenBucket | None, TokenBucket | None]] = field(default_factory=dict)

    @classmethod
    def build(cls, concurrency: int, rpm: float | None = None, tpm: float | None = None) -> RequestGate:
        return cls(AdaptiveConcurrency(concurrency), TokenBucket(rpm) if rpm else None, TokenBucket(tpm) if tpm else None)

    def add_suite(self, suite: str, rpm: float | None, tpm: float | None) -> None:
        """A suite's own `rate_limit:`, applied to its requests on top of the run-wide caps."""
        if rpm or tpm:
            self.suite_buckets[suite] = (TokenBucket(rpm) if rpm else None, TokenBucket(tpm) if tpm else None)

    def counts_tokens(self, suite: str) -> bool:
        return self.tpm is not None or (self.suite_buckets.get(suite, (None, None))[1] is not None)

    @asynccontextmanager
    async def admit(self, suite: str, tokens: int) -> AsyncIterator[Slot]:
        suite_rpm, suite_tpm = self.suite_buckets.get(suite, (None, None))
        for bucket, amount in ((self.rpm, 1), (suite_rpm, 1), (self.tpm, tokens), (suite_tpm, tokens)):
            if bucket is not None:
                await bucket.acquire(amount)
        slot = Slot(await self.concurrency.acquire())
        try:
            yield slot
        finally:
            self.concurrency.release(slot.generation, slot.outcome)


def request_tokens(model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> int:
    """What a request costs against a tokens-per-minute limit: prompt tokens plus the completion budget.

    The prompt is counted offline with tiktoken; the completion budget is the
    request's own max_completion_tokens/max_tokens (0 when it sets none), which
    is how OpenAI itself reserves tokens when it admits a request.
    """
    tools = params.get("tools") if isinstance(params.get("tools"), list) else None
    prompt = count_chat_tokens(messages, model, tools)
    budget = next((params[k] for k in COMPLETION_LIMIT_PARAMS if isinstance(params.get(k), int)), 0)
    return prompt + max(int(budget), 0)
