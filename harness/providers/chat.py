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
from harness.providers.openai_sdk import OpenAISdkProvider, parse_embeddings, recorded_latency, unparsable
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
    def recorded_reply_problem(path: str, body: bytes) -> str | None:
        """Why a recorded 2xx body could not be replayed as this API's reply; None when it could.

        The cassette validator asks before a cassette is used, with the very parsers a live reply goes
        through, so a recording that is cut short or mistyped is a broken cassette, not an empty reply.
        (A recorded stream is checked by the validator's own rules: its events are not one JSON body.)
        """
        try:
            if path.endswith("/chat/completions"):
                parse_completion(body, 0.0)
            elif path.endswith("/embeddings"):
                parse_embeddings(body, None)
        except RequestFailed as e:
            return e.message.replace("the server sent ", "it is ", 1)
        return None

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
    """Reduce a Chat Completions response body to a Completion.

    A body that is not JSON (cut short, garbled) is retryable; JSON that is not a chat completion (no
    `choices[0].message` object, no `finish_reason`, a field of the wrong type) is a malformed response,
    not an empty reply, and is not retried. Usage counts of the wrong type are dropped (usage is optional).
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply for Python's parser
        raise unparsable(body) from None
    problem = completion_problem(data)
    if problem is not None:
        raise RequestFailed(f"the server sent a malformed chat completion: {problem}", retryable=False)
    choice = data["choices"][0]
    message = choice["message"]
    tool_calls = [ToolCall(id=str(call.get("id") or f"call_{i}"), name=call["function"]["name"],
                           arguments=_arguments(call["function"].get("arguments")))
                  for i, call in enumerate(message.get("tool_calls") or [])]  # fmt: skip
    content = message.get("content")
    if isinstance(content, list):  # some servers return content parts
        content = "".join(p.get("text") or "" for p in content)
    return Completion(
        content=content,
        finish_reason=choice.get("finish_reason"),
        usage=chat_usage(data.get("usage")),
        tool_calls=tool_calls,
        refusal=message.get("refusal"),
        model=_text(data.get("model")),
        id=_text(data.get("id")),
        latency_ms=round(latency_ms, 1),
    )


def completion_problem(data: Any) -> str | None:
    """What keeps parsed JSON from being a chat completion the harness can judge; None when it is one."""
    if not isinstance(data, dict):
        return f"the body is {_kind(data)}, not a JSON object"
    if "choices" not in data and isinstance(data.get("error"), (dict, str)):
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else error
        return f"it holds an error instead of choices: {str(message)[:200]!r}"
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return f"`choices` is {_kind(choices)}, not a list of at least one choice"
    choice = choices[0]
    if not isinstance(choice, dict):
        return f"choices[0] is {_kind(choice)}, not an object"
    message = choice.get("message")
    if message is None:
        return "choices[0].message is null" if "message" in choice else "choices[0] has no `message`"
    if not isinstance(message, dict):
        return f"choices[0].message is {_kind(message)}, not an object"
    if "finish_reason" not in choice:
        return "choices[0] has no `finish_reason` (a reply cut short?)"
    for where, key, value in (("choices[0]", "finish_reason", choice.get("finish_reason")),
                              ("choices[0].message", "refusal", message.get("refusal"))):  # fmt: skip
        if not isinstance(value, (str, type(None))):
            return f"{where}.{key} is {_kind(value)}, not text"
    content = message.get("content")
    parts_ok = isinstance(content, list) and all(isinstance(p, dict) and isinstance(p.get("text", ""), (str, type(None)))
                                                 for p in content)  # fmt: skip
    if not (content is None or isinstance(content, str) or parts_ok):
        return f"choices[0].message.content is {_kind(content)}, not text or a list of text parts"
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        return f"choices[0].message.tool_calls is {_kind(calls)}, not a list"
    for i, call in enumerate(calls or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return f"choices[0].message.tool_calls[{i}] has no function with a name"
    return None


def _arguments(value: Any) -> str:
    """A tool call's arguments as the JSON text the API sends (some servers send an object)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if value == []:
        return "an empty list"
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean"}.get(type(value), f"{value!r}"[:40])
