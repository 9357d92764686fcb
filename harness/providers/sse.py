"""Server-sent events: reading a streamed reply event by event, with when each arrived.

Both APIs stream as SSE (`event:`/`data:` lines, a blank line after each
event). Each event gets its offset from when the request was sent, so the time
to the first token can be measured; a replayed stream carries its recorded
offsets in SSE comment lines (which every SSE reader ignores), so a replay
reports exactly the timing that was recorded.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

# The comment a replayed stream puts before each event: `: harness-recorded-offset-ms 123.4`.
OFFSET_COMMENT = "harness-recorded-offset-ms"
_OFFSET = re.compile(rf":\s*{OFFSET_COMMENT}\s+([0-9.]+)")


@dataclass
class SseEvent:
    """One event: its `event:` name (None when the server sends only `data:`), its data, and when it came."""

    event: str | None
    data: str
    offset_ms: float = 0.0

    def json(self) -> Any:
        """The data as JSON; None for a sentinel such as `[DONE]` or any other text."""
        try:
            return json.loads(self.data)
        except ValueError:
            return None


async def read_events(lines: AsyncIterator[str], started: float) -> AsyncIterator[SseEvent]:
    """The events of a stream of lines, each with its offset in ms since ``started`` (a perf_counter)."""
    name: str | None = None
    data: list[str] = []
    recorded: float | None = None
    async for line in lines:
        if not line:
            if data or name is not None:
                offset = recorded if recorded is not None else (time.perf_counter() - started) * 1000
                yield SseEvent(name, "\n".join(data), round(offset, 1))
            name, data, recorded = None, [], None
        elif line.startswith(":"):
            found = _OFFSET.match(line)
            if found:
                recorded = float(found[1])
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    # An event without its closing blank line was cut off: it is not yielded.


def parse_sse(text: str) -> list[SseEvent]:
    """The complete events of an SSE text (a recorded stream), without offsets."""
    events: list[SseEvent] = []
    name: str | None = None
    data: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line:
            if data or name is not None:
                events.append(SseEvent(name, "\n".join(data)))
            name, data = None, []
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    return events


def sse_text(event: SseEvent, with_offset: bool = False) -> str:
    """One event as SSE text, ending in its blank line; optionally with its offset as a comment first."""
    lines = [f": {OFFSET_COMMENT} {event.offset_ms}"] if with_offset else []
    if event.event is not None:
        lines.append(f"event: {event.event}")
    lines.extend(f"data: {part}" for part in event.data.split("\n"))
    return "\n".join(lines) + "\n\n"
