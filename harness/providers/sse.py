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
        except (ValueError, RecursionError):
            return None


class _Lines:
    """SSE lines in, complete events out: the one parser of the live reader and of a recorded stream's text."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.data: list[str] = []
        self.recorded: float | None = None  # the offset a replayed stream's comment gave the event

    def feed(self, line: str) -> tuple[str | None, str, float | None] | None:
        """The event a blank line completes, as (name, data, recorded offset); None for any other line."""
        if not line:
            done = (self.name, "\n".join(self.data), self.recorded) if self.data or self.name is not None else None
            self.name, self.data, self.recorded = None, [], None
            return done
        if line.startswith(":"):
            found = _OFFSET.match(line)
            if found:
                self.recorded = float(found[1])
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self.name = value
        elif field == "data":
            self.data.append(value)
        return None


async def read_events(lines: AsyncIterator[str], started: float) -> AsyncIterator[SseEvent]:
    """The events of a stream of lines, each with its offset in ms since ``started`` (a perf_counter)."""
    parser = _Lines()
    async for line in lines:
        if done := parser.feed(line):
            name, data, recorded = done
            offset = recorded if recorded is not None else (time.perf_counter() - started) * 1000
            yield SseEvent(name, data, round(offset, 1))
    # An event without its closing blank line was cut off: it is not yielded.


def parse_sse(text: str) -> list[SseEvent]:
    """The complete events of an SSE text (a recorded stream), without offsets."""
    parser = _Lines()
    done = (parser.feed(line.rstrip("\r")) for line in text.split("\n"))
    return [SseEvent(name, data) for name, data, _ in filter(None, done)]


def sse_text(event: SseEvent, with_offset: bool = False) -> str:
    """One event as SSE text, ending in its blank line; optionally with its offset as a comment first."""
    lines = [f": {OFFSET_COMMENT} {event.offset_ms}"] if with_offset else []
    if event.event is not None:
        lines.append(f"event: {event.event}")
    lines.extend(f"data: {part}" for part in event.data.split("\n"))
    return "\n".join(lines) + "\n\n"
