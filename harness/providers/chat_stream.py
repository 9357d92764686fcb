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
        if (problem := chunk_problem(chunk)) is not None:
            raise RequestFailed(f"the server sent a malformed stream chunk after {self.progress()}: {problem}",
                                retryable=False)  # fmt: skip
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
            call = self.calls.setdefault(fragment.get("index") or 0, {"id": "", "name": "", "arguments": ""})
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


_TEXT = (str, type(None))


def chunk_problem(chunk: dict) -> str | None:
    """What keeps a chunk from being a chat.completion.chunk the harness can join; None when it is one.

    A stream is a reply too: a slot of the wrong type is a malformed response, as it is for a whole body.
    """
    choices = chunk.get("choices")
    if not isinstance(choices, (list, type(None))):
        return f"`choices` is {type(choices).__name__}, not a list"
    for i, choice in enumerate(choices or []):
        if not isinstance(choice, dict):
            return f"choices[{i}] is {type(choice).__name__}, not an object"
        delta = choice.get("delta")
        if not isinstance(delta, (dict, type(None))):
            return f"choices[{i}].delta is {type(delta).__name__}, not an object"
        delta = delta or {}
        for key, value in (("finish_reason", choice.get("finish_reason")), ("delta.content", delta.get("content")),
                           ("delta.refusal", delta.get("refusal"))):  # fmt: skip
            if not isinstance(value, _TEXT):
                return f"choices[{i}].{key} is {type(value).__name__}, not text"
        calls = delta.get("tool_calls")
        if not isinstance(calls, (list, type(None))):
            return f"choices[{i}].delta.tool_calls is {type(calls).__name__}, not a list"
        for j, call in enumerate(calls or []):
            where = f"choices[{i}].delta.tool_calls[{j}]"
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(call, dict) or not isinstance(function, (dict, type(None))):
                return f"{where} is not a tool-call fragment (an object with an index and a function object)"
            index = call.get("index")
            if not (index is None or (isinstance(index, int) and not isinstance(index, bool))):
                return f"{where}.index is {type(index).__name__}, not a whole number"
            texts = (call.get("id"), *((function or {}).get(k) for k in ("name", "arguments")))
            if not all(isinstance(v, _TEXT) for v in texts):
                return f"{where}: its id, function.name and function.arguments must be text"
    return None
