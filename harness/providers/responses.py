"""The Responses API provider (``/v1/responses``): the conversation as instructions and input items.

The harness keeps every conversation in one shape (Chat's messages), which is
what budgets count, reports show and `harness compare` diffs, whatever the API.
This provider turns it into the Responses API's vocabulary on the way out: the
system prompt becomes ``instructions``; user and fixed-history messages become
input message items; the model's earlier replies go back as its own output
items; tool calls are ``function_call`` items answered by
``function_call_output`` items with the same ``call_id``.

With ``history: previous_response_id`` the server keeps the conversation: each
turn sends only what is new since the previous reply, with that reply's id,
plus ``instructions`` again (the API does not carry them over).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from harness.core.apis import PREVIOUS_RESPONSE_ID
from harness.core.errors import RequestFailed
from harness.core.reply import Completion
from harness.providers.openai_sdk import OpenAISdkProvider, recorded_latency, unparsable
from harness.providers.responses_reply import parse_response
from harness.providers.sdk_errors import request_failure

# The key of an assistant history message under which this provider keeps the reply's own id and output items.
CARRIED = "response"


class ResponsesProvider(OpenAISdkProvider):
    """The Responses API through one ``AsyncOpenAI`` client shared by all cases."""

    async def complete(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
                       timeout: float | None = None) -> Completion:  # fmt: skip
        """Send one request built from the conversation and ``params`` exactly as written."""
        timeout = timeout or self.settings.timeout
        try:
            return await self._complete(model, request_body(messages, params, self.settings.history), timeout)
        except RequestFailed as e:
            raise self._redacted(e) from None

    @staticmethod
    def recorded_reply_problem(path: str, body: bytes) -> str | None:
        """Why a recorded 2xx body could not be replayed as a Response; None when it could (see chat.py's)."""
        if not path.endswith("/responses"):
            return None
        try:
            parse_response(json.loads(body), 0.0, body)
        except (ValueError, RecursionError):
            return "it is not JSON"
        except RequestFailed as e:
            return e.message.replace("the server sent ", "it is ", 1)
        return None

    @staticmethod
    def stream_finished(events: list[Any]) -> bool:
        """Whether a recorded stream reached its final event (the cassette layer keeps only those)."""
        from harness.providers import responses_stream

        return responses_stream.finished(events)

    async def _complete(self, model: str, body: dict[str, Any], timeout: float) -> Completion:
        import openai

        if body.get("stream") is True:
            from harness.providers.responses_stream import ResponsesStream
            from harness.providers.streaming import receive

            return await receive(lambda: self._openai.responses.with_streaming_response.create(
                model=model, extra_body=body, timeout=timeout), ResponsesStream(), timeout)  # fmt: skip
        started = time.perf_counter()
        try:
            # The body rides in extra_body, as written (the SDK would otherwise walk and copy every item).
            raw = await asyncio.wait_for(
                self._openai.responses.with_raw_response.create(model=model, extra_body=body, timeout=timeout),
                timeout,
            )
            content = raw.http_response.content
        except (openai.OpenAIError, asyncio.TimeoutError) as e:
            raise request_failure(e, timeout) from None
        latency_ms = recorded_latency(raw.headers, (time.perf_counter() - started) * 1000)
        try:
            data = json.loads(content)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply for Python's parser
            raise unparsable(content) from None
        return parse_response(data, latency_ms, content)

    @staticmethod
    def assistant_message(reply: Completion) -> dict[str, Any]:
        """The reply in the harness's history shape, carrying its id and output items for the next request."""
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in reply.tool_calls
            ]
        message[CARRIED] = {"id": reply.id, "output": reply.output or []}
        return message


def request_body(messages: list[dict[str, Any]], params: dict[str, Any], history: str) -> dict[str, Any]:
    """The request body (without `model`): instructions, input items, then the params as written."""
    body: dict[str, Any] = {}
    rest = messages
    if rest and rest[0].get("role") == "system":
        body["instructions"] = _text(rest[0].get("content"))
        rest = rest[1:]
    if history == PREVIOUS_RESPONSE_ID:
        last = max((i for i, m in enumerate(rest) if (m.get(CARRIED) or {}).get("id")), default=None)
        if last is not None:
            body["previous_response_id"] = rest[last][CARRIED]["id"]
            rest = rest[last + 1 :]
    body["input"] = input_items(rest)
    body.update(params)
    return body


def input_items(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat-shaped messages as Responses input items."""
    items: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        carried = m.get(CARRIED)
        if role == "assistant" and isinstance(carried, dict) and carried.get("output"):
            items.extend(carried["output"])  # the model's own output items, as it sent them
        elif role == "assistant":
            if m.get("content"):
                items.append({"role": "assistant", "content": _text(m["content"])})
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                items.append({"type": "function_call", "call_id": call.get("id"), "name": fn.get("name"),
                              "arguments": fn.get("arguments") or ""})  # fmt: skip
        elif role == "tool":
            items.append({"type": "function_call_output", "call_id": m.get("tool_call_id"),
                          "output": _text(m.get("content"))})  # fmt: skip
        else:
            items.append({"role": role, "content": _input_content(m.get("content"))})
    return items


def _input_content(content: Any) -> Any:
    """Text as it is; Chat content parts in the Responses API's part types."""
    if not isinstance(content, list):
        return content
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "input_text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append({"type": "input_image", "image_url": url})
        else:
            parts.append(part)
    return parts


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)
