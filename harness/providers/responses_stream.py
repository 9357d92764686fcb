"""A streamed Response put together from its events: text, refusal and function-call deltas, the final status.

The final event (`response.completed`, `response.incomplete` or
`response.failed`) carries the whole Response, which is read exactly as a
non-streamed one (`responses.parse_response`); its output items come from the
`response.output_item.done` events when a server leaves them out of it. The
deltas before it time the first token and, if the stream breaks off, say what
had arrived.
"""

from __future__ import annotations

from typing import Any

from harness.core.errors import RequestFailed
from harness.core.reply import Completion
from harness.providers.responses_reply import RETRYABLE_FAILURES, parse_response
from harness.providers.sse import SseEvent
from harness.providers.streaming import StreamAssembler

FINAL = ("response.completed", "response.incomplete", "response.failed")


def finished(events: list[SseEvent]) -> bool:
    """Whether a recorded stream reached its final event, so it may be kept in a cassette."""
    return any(isinstance(data := e.json(), dict) and data.get("type") in FINAL for e in events)


class ResponsesStream(StreamAssembler):
    """One streamed Response, event by event."""

    def __init__(self) -> None:
        super().__init__()
        self.refusal: list[str] = []
        self.items: dict[int, dict[str, Any]] = {}
        self.final: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.final is not None

    def add(self, event: SseEvent) -> None:
        self.events += 1
        if event.data.strip() == "[DONE]":  # some compatible servers end with Chat's sentinel too
            return
        data = event.json()
        if not isinstance(data, dict):
            raise self.unparsable(event)
        kind = data.get("type") or event.event
        if kind == "response.output_text.delta":
            self.text.append(str(data.get("delta") or ""))
            self.first_token(event)
        elif kind == "response.refusal.delta":
            self.refusal.append(str(data.get("delta") or ""))
            self.first_token(event)
        elif kind == "response.output_item.added" and (data.get("item") or {}).get("type") == "function_call":
            item = data["item"]
            self.calls[item.get("id") or data.get("output_index")] = {
                "id": str(item.get("call_id") or ""), "name": str(item.get("name") or ""), "arguments": ""}  # fmt: skip
            self.first_token(event)
        elif kind == "response.function_call_arguments.delta":
            call = self.calls.setdefault(data.get("item_id"), {"id": "", "name": "", "arguments": ""})
            call["arguments"] += str(data.get("delta") or "")
            self.first_token(event)
        elif kind == "response.output_item.done" and isinstance(data.get("item"), dict):
            self.items[int(data.get("output_index") or len(self.items))] = data["item"]
        elif kind in FINAL and isinstance(data.get("response"), dict):
            self.final = data["response"]
        elif kind == "error":
            code = data.get("code") or "error"
            message = data.get("message") or "no message"
            raise RequestFailed(f"the stream reported an error ({code}) after {self.progress()}: {message}",
                                retryable=code in RETRYABLE_FAILURES)  # fmt: skip

    def reply(self, latency_ms: float) -> Completion:
        response = dict(self.final or {})
        if not response.get("output") and self.items:
            response["output"] = [self.items[i] for i in sorted(self.items)]
        reply = parse_response(response, latency_ms)
        reply.ttft_ms = self.ttft_ms
        return reply
