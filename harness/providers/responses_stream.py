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
        if (problem := event_problem(kind, data)) is not None:
            raise RequestFailed(f"the server sent a malformed stream event after {self.progress()}: {problem}",
                                retryable=False)  # fmt: skip
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


_TEXT = (str, type(None))
_SLOTS = {  # the slots of each event the harness reads, and the types they may hold
    "response.output_text.delta": {"delta": _TEXT},
    "response.refusal.delta": {"delta": _TEXT},
    "response.function_call_arguments.delta": {"delta": _TEXT, "item_id": _TEXT},
    "response.output_item.added": {"item": (dict, type(None)), "output_index": (int, type(None))},
    "response.output_item.done": {"item": (dict, type(None)), "output_index": (int, type(None))},
    "error": {"code": _TEXT, "message": _TEXT},
}


def event_problem(kind: object, data: dict) -> str | None:
    """What keeps a streamed event from being one the harness can read; None when it can.

    A stream is a reply too: a slot of the wrong type is a malformed response, as it is for a whole body.
    """
    if not isinstance(kind, _TEXT):
        return f"`type` is {type(kind).__name__}, not text"
    for slot, types in _SLOTS.get(kind or "", {}).items():
        value = data.get(slot)
        if not isinstance(value, types) or isinstance(value, bool):
            return f"the {kind} event's `{slot}` is {type(value).__name__}, which it cannot be"
    item = data.get("item")
    if isinstance(item, dict) and not all(isinstance(item.get(k), _TEXT) for k in ("type", "id", "call_id", "name")):
        return f"the {kind} event's item has a type, id, call_id or name that is not text"
    return None
