"""A streamed Chat Completion put together: content and refusal deltas, tool-call fragments by index, usage.

The chunks of `choices[0]` are joined into exactly what the non-streamed reply
would hold; the usage arrives in a last chunk when the request asked for it
(`stream_options: {include_usage: true}`, which the harness adds when a suite
does not set `stream_options`). The stream is complete at `data: [DONE]`.
"""

from __future__ import annotations

from harness.core.errors import RequestFailed
from harness.core.reply import Completion, Usage
from harness.providers.api_usage import chat_usage
from harness.providers.sse import SseEvent
from harness.providers.streaming import StreamAssembler

DONE = "[DONE]"


def finished(events: list[SseEvent]) -> bool:
    """Whether a recorded stream reached its end (`[DONE]`), so it may be kept in a cassette."""
    return any(e.data.strip() == DONE for e in events)


class ChatStream(StreamAssembler):
    """One streamed chat completion, chunk by chunk."""

    def __init__(self) -> None:
        super().__init__()
        self.refusal: list[str] = []
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self.id: str | None = None
        self.done = False

    @property
    def finished(self) -> bool:
        return self.done

    def add(self, event: SseEvent) -> None:
        self.events += 1
        if event.data.strip() == DONE:
            self.done = True
            return
        chunk = event.json()
        if not isinstance(chunk, dict):
            raise self.unparsable(event)
        if isinstance(chunk.get("error"), dict):
            message = chunk["error"].get("message") or "no message"
            raise RequestFailed(f"the stream reported an error after {self.progress()}: {message}", retryable=True)
        self.id = self.id or chunk.get("id")
        self.model = self.model or chunk.get("model")
        if isinstance(chunk.get("usage"), dict):
            self.usage = chat_usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._choice(choice, event)

    def _choice(self, choice: dict, event: SseEvent) -> None:
        delta = choice.get("delta") or {}
        if delta.get("content"):
            self.text.append(str(delta["content"]))
            self.first_token(event)
        if delta.get("refusal"):
            self.refusal.append(str(delta["refusal"]))
            self.first_token(event)
        for fragment in delta.get("tool_calls") or []:
            call = self.calls.setdefault(fragment.get("index", 0), {"id": "", "name": "", "arguments": ""})
            fn = fragment.get("function") or {}
            call["id"] = fragment.get("id") or call["id"]
            call["name"] += fn.get("name") or ""
            call["arguments"] += fn.get("arguments") or ""
            self.first_token(event)
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]

    def reply(self, latency_ms: float) -> Completion:
        return Completion(
            content="".join(self.text) or None,
            finish_reason=self.finish_reason,
            usage=self.usage or Usage(),
            tool_calls=self.tool_calls(),
            refusal="".join(self.refusal) or None,
            model=self.model,
            id=self.id,
            latency_ms=round(latency_ms, 1),
            ttft_ms=self.ttft_ms,
        )
