"""Receiving a streamed reply (`stream: true`), whatever the API: events in, one ``Completion`` out.

Each API's assembler (``chat_stream.py``, ``responses_stream.py``) puts the
events together exactly as the non-streamed reply would read, and notes when
the first content or tool-call delta arrived (``ttft_ms``). A stream that
breaks off, or ends before its API's final event, is a retryable failure whose
message says how far it got, carrying what arrived as ``partial`` for
results.json; the cassette layer never records it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from harness.core.errors import RequestFailed
from harness.core.reply import Completion, ToolCall
from harness.providers.openai_sdk import recorded_latency
from harness.providers.sdk_errors import request_failure
from harness.providers.sse import SseEvent, read_events

PREVIEW_CHARS = 60


class StreamAssembler:
    """What every API's assembler shares: counting events, timing the first token, saying how far it got."""

    def __init__(self) -> None:
        self.events = 0
        self.ttft_ms: float | None = None
        self.text: list[str] = []
        self.calls: dict[Any, dict[str, str]] = {}  # key -> {id, name, arguments} in arrival order

    def add(self, event: SseEvent) -> None:
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        raise NotImplementedError

    def reply(self, latency_ms: float) -> Completion:
        raise NotImplementedError

    def first_token(self, event: SseEvent) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = event.offset_ms

    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(id=c.get("id") or f"call_{i}", name=c.get("name", ""), arguments=c.get("arguments", ""))
                for i, c in enumerate(self.calls.values())]  # fmt: skip

    def partial(self) -> Completion:
        """What arrived before the stream stopped: its text and tool calls so far, no finish_reason."""
        text = "".join(self.text)
        return Completion(content=text or None, finish_reason=None, tool_calls=self.tool_calls(), ttft_ms=self.ttft_ms)

    def progress(self) -> str:
        """How far the stream got, in words: events, text received, tool calls begun."""
        text = "".join(self.text)
        said = f"{self.events} event{'' if self.events == 1 else 's'}"
        if text:
            shown = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 3] + "..."
            said += f", {len(text)} characters of text ({shown!r})"
        elif not self.calls:
            said += ", no text yet"
        if self.calls:
            said += f", {len(self.calls)} tool call{'' if len(self.calls) == 1 else 's'} begun"
        return said

    def unparsable(self, event: SseEvent) -> RequestFailed:
        return RequestFailed(f"the server sent an unparsable stream event after {self.progress()}: "
                             f"{event.data[:120]!r}", retryable=True)  # fmt: skip


async def receive(open_stream: Callable[[], AbstractAsyncContextManager[Any]], assembler: StreamAssembler,
                  timeout: float) -> Completion:  # fmt: skip
    """Read one streamed reply to its end; raise RequestFailed (retryable, with ``partial``) if it stops short.

    ``open_stream`` opens the SDK's streaming response (``with_streaming_response.create``).
    """
    import httpx2
    import openai

    started = time.perf_counter()
    headers: dict[str, str] = {}

    async def consume() -> None:
        async with open_stream() as response:
            headers.update(response.headers)
            async for event in read_events(response.http_response.aiter_lines(), started):
                assembler.add(event)

    try:
        await asyncio.wait_for(consume(), timeout)
    except RequestFailed as e:  # an error event, or an event that is not JSON
        e.partial = e.partial or (assembler.partial() if assembler.events else None)
        raise
    except (openai.OpenAIError, asyncio.TimeoutError) as e:
        failure = request_failure(e, timeout)
        if assembler.events:
            failure.message = f"{failure.message}; the stream had delivered {assembler.progress()}"
            failure.args, failure.partial = (failure.message,), assembler.partial()
        raise failure from None
    except httpx2.HTTPError as e:
        cause = f"{type(e).__name__}: {e}".rstrip(": ")
        raise RequestFailed(f"the stream broke off after {assembler.progress()} ({cause})", retryable=True,
                            partial=assembler.partial()) from None  # fmt: skip
    if not assembler.finished:
        raise RequestFailed(f"the stream ended before its final event, after {assembler.progress()}", retryable=True,
                            partial=assembler.partial())  # fmt: skip
    return assembler.reply(recorded_latency(headers, (time.perf_counter() - started) * 1000))
