"""The Chat Completions provider: a chat request in, a ``Completion`` out.

Requests go through the official ``openai`` SDK (``harness.providers.openai_sdk``
builds the client, with the SDK's own retries off).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from harness.core.errors import RequestFailed
from harness.core.reply import Completion, ToolCall
from harness.providers.api_usage import chat_usage
from harness.providers.openai_sdk import OpenAISdkProvider, recorded_latency, unparsable
from harness.providers.sdk_errors import request_failure


class ChatCompletionsProvider(OpenAISdkProvider):
    """Chat Completions (``/v1/chat/completions``) through one ``AsyncOpenAI`` client shared by all cases."""

    async def complete(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
                       timeout: float | None = None) -> Completion:  # fmt: skip
        """Send one chat completion request exactly as given; raise RequestFailed on any failure.

        ``timeout`` (default: the client's) bounds the whole request, not just each read.
        Every message is scrubbed of the API key: servers echo keys in 401 errors.
        """
        try:
            return await self._complete(model, messages, params, timeout or self.settings.timeout)
        except RequestFailed as e:
            raise self._redacted(e) from None

    @staticmethod
    def stream_finished(events: list[Any]) -> bool:
        """Whether a recorded stream reached its end (the cassette layer keeps only those)."""
        from harness.providers import chat_stream

        return chat_stream.finished(events)

    async def _complete(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
                        timeout: float) -> Completion:  # fmt: skip
        import openai

        if params.get("stream") is True:
            from harness.providers.chat_stream import ChatStream
            from harness.providers.streaming import receive

            return await receive(lambda: self._openai.chat.completions.with_streaming_response.create(
                model=model, messages=[], extra_body={"messages": messages, **params}, timeout=timeout),
                ChatStream(), timeout)  # fmt: skip
        started = time.perf_counter()
        try:
            raw = await asyncio.wait_for(
                # The messages ride in extra_body: they are plain JSON already, and the SDK's
                # TypedDict transform of `messages` (a recursive walk of every message of every
                # request) cost a tenth of a 10,000-case run. The body sent is the same, key order too.
                self._openai.chat.completions.with_raw_response.create(
                    model=model, messages=[], extra_body={"messages": messages, **params}, timeout=timeout
                ),
                timeout,
            )
            body = raw.http_response.content
        except (openai.OpenAIError, asyncio.TimeoutError) as e:
            raise request_failure(e, timeout) from None
        latency_ms = recorded_latency(raw.headers, (time.perf_counter() - started) * 1000)
        return parse_completion(body, latency_ms)

    @staticmethod
    def assistant_message(reply: Completion) -> dict[str, Any]:
        """The assistant message to append to the history before the next turn."""
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            # null content beside tool_calls is valid for OpenAI but rejected by some
            # compatible servers (llama.cpp answers 500); an empty string works everywhere.
            message["content"] = reply.content or ""
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in reply.tool_calls
            ]
        return message


def parse_completion(body: bytes, latency_ms: float) -> Completion:
    """Reduce a Chat Completions response body to a Completion; a malformed body is retryable."""
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        message = choice.get("message") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise unparsable(body) from None
    tool_calls = []
    for i, call in enumerate(message.get("tool_calls") or []):
        fn = call.get("function") or {}
        tool_calls.append(ToolCall(id=str(call.get("id") or f"call_{i}"), name=str(fn.get("name", "")),
                                   arguments=fn.get("arguments") or ""))  # fmt: skip
    content = message.get("content")
    if isinstance(content, list):  # some servers return content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return Completion(
        content=content,
        finish_reason=choice.get("finish_reason"),
        usage=chat_usage(data.get("usage")),
        tool_calls=tool_calls,
        refusal=message.get("refusal"),
        model=data.get("model"),
        id=data.get("id"),
        latency_ms=round(latency_ms, 1),
    )
