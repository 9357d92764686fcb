"""Stop sending after the first authentication failure: a wrong key fails every request the same way.

500 cases with a wrong key made 500 requests and printed 500 identical errors.
The gate sits under the cassette layer, on the way to the network, so a
recording still replays; once a response is 401 or 403 every later request of
the run is refused before it is sent, with one message that says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

AUTH_FAILURES = (401, 403)


class NotSent(openai.OpenAIError):
    """A request the gate kept back. An OpenAIError, so the SDK passes it through unwrapped (never retried)."""


@dataclass
class AuthLatch:
    """Set by a server's first 401 or 403 in the run; shared by every provider's transport to that server."""

    on_trip: Callable[[str], None] | None = None
    server: str = "the server"  # or a suite's named endpoint, with its URL
    fix: str = "check OPENAI_API_KEY and --base-url"
    status: int | None = field(default=None, init=False)

    def trip(self, status: int) -> None:
        if self.status is None:
            self.status = status
            if self.on_trip is not None:
                self.on_trip(f"{self.server} refused the request with HTTP {status} (authentication failed): no more "
                             f"requests are sent to it in this run, and the cases not yet sent are errors; {self.fix}")  # fmt: skip

    @property
    def reason(self) -> str:
        return (f"not sent: an earlier request of this run was refused by {self.server} with HTTP {self.status} "
                f"(authentication failed), so no more requests are sent to it; {self.fix}, then run again")  # fmt: skip


class AuthGate(httpx2.AsyncBaseTransport):
    """Forwards to ``inner`` until the latch trips; its first 401/403 trips it."""

    def __init__(self, inner: Any, latch: AuthLatch):
        self.inner = inner
        self.latch = latch

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.latch.status is not None:
            raise NotSent(self.latch.reason)
        response = await self.inner.handle_async_request(request)
        if response.status_code in AUTH_FAILURES:
            self.latch.trip(response.status_code)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
