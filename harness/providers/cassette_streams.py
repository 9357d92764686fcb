"""Streamed responses in the cassette layer: passed on live as they arrive, played back at the recorded pace.

Each event is passed on preceded by an SSE comment with its offset in ms from
the request (`harness.providers.sse.OFFSET_COMMENT`), live and replayed alike,
so a provider reports the same time to first token either way.
"""

from __future__ import annotations

import asyncio
import codecs
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2

from harness.providers.sse import SseEvent, parse_sse, sse_text


def is_stream(headers: Any) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() == "text/event-stream"


class LiveStream(httpx2.AsyncByteStream):
    """A live stream passed on event by event, each timed and preceded by its offset; ``ended`` gets them all."""

    def __init__(self, upstream: httpx2.Response, started: float, ended: Callable[[list[SseEvent]], None]):
        self.upstream, self.started, self.ended = upstream, started, ended

    async def __aiter__(self) -> AsyncIterator[bytes]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        buffer, events = "", []
        async for chunk in self.upstream.aiter_bytes():
            buffer += decoder.decode(chunk).replace("\r\n", "\n")
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                offset = round((time.perf_counter() - self.started) * 1000, 1)
                for event in parse_sse(block + "\n\n"):
                    event.offset_ms = offset
                    events.append(event)
                    yield sse_text(event, with_offset=True).encode()
        self.ended(events)  # reached only when the upstream ended cleanly

    async def aclose(self) -> None:
        await self.upstream.aclose()


class ReplayStream(httpx2.AsyncByteStream):
    """A recorded stream played back event by event at its recorded offsets."""

    def __init__(self, events: list[SseEvent]):
        self.events = events

    @classmethod
    def of(cls, body: str | bytes, offsets: list[float]) -> ReplayStream:
        """The stream of a recorded SSE body and the offset of each of its events."""
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
        events = parse_sse(text)
        for event, offset in zip(events, offsets):
            event.offset_ms = offset
        return cls(events)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        started = time.perf_counter()
        for event in self.events:
            wait = event.offset_ms / 1000 - (time.perf_counter() - started)
            if wait > 0:
                await asyncio.sleep(wait)
            yield sse_text(event, with_offset=True).encode()
