"""The single retry layer: exponential backoff with jitter, honouring Retry-After.

The SDK's own retries are disabled, so this is the only place a request is
repeated; the count of attempts is therefore exact and bounded: at most
``1 + max_retries`` per request.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.core.errors import RequestFailed
from harness.core.settings import RunSettings
from harness.core.suite import Suite

T = TypeVar("T")

DEFAULT_MAX_RETRIES = 3
DEFAULT_BASE_DELAY = 0.5
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = DEFAULT_MAX_RETRIES
    base_delay: float = DEFAULT_BASE_DELAY
    max_delay: float = 30.0
    # A Retry-After longer than this is cut to it: a run should not sleep for an hour on one header.
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based).

        The server's Retry-After is honoured as a floor, plus up to 10% jitter so
        a burst of 429s does not come back in the same millisecond.
        """
        if retry_after is not None and retry_after >= 0:
            wait = min(retry_after, self.max_retry_after)
            return wait + wait * random.random() / 10
        backoff = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return backoff * (0.5 + random.random() / 2)  # "equal jitter": never zero, never thundering


async def with_retries(
    send: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    on_retry: Callable[[int, RequestFailed, float], None] | None = None,
) -> T:
    """Call ``send`` until it succeeds, fails permanently, or the retries run out.

    The exception that escapes carries the last cause, with how many retries
    were spent on it, so an `error` case says why it could not be evaluated.
    """
    attempt = 0
    while True:
        try:
            return await send()
        except RequestFailed as e:
            attempt += 1
            if not e.retryable or attempt > policy.max_retries:
                if e.retryable and policy.max_retries:
                    retries = "1 retry" if policy.max_retries == 1 else f"{policy.max_retries} retries"
                    e.message = f"{e.message} (gave up after {retries})"
                raise
            wait = policy.delay(attempt, e.retry_after)
            if on_retry:
                on_retry(attempt, e, wait)
            await asyncio.sleep(wait)


def retry_policy(settings: RunSettings, suite: Suite) -> tuple[RetryPolicy, float]:
    """Retry policy and per-request timeout for one suite: command line, then `retry:`, then defaults."""
    block = suite.retry or {}
    max_retries = _first(settings.max_retries, block.get("max_retries"), DEFAULT_MAX_RETRIES)
    base_delay = _first(settings.retry_base_delay, block.get("base_delay"), DEFAULT_BASE_DELAY)
    timeout = _first(settings.timeout, block.get("timeout"), DEFAULT_TIMEOUT)
    return RetryPolicy(max_retries=int(max_retries), base_delay=float(base_delay)), float(timeout)


def _first(*values: Any) -> Any:
    return next(v for v in values if v is not None)
