"""The Chat Completions provider: a chat request in, a ``Completion`` out.

Requests go through the official ``openai`` SDK. The SDK's own retries are
off (``max_retries=0``): the harness retries in exactly one layer
(``harness.providers.retry``), so retry counts never multiply and every attempt is seen.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from harness.core.errors import RequestFailed
from harness.core.redaction import redact
from harness.core.reply import Completion, Embeddings, ToolCall, Usage
from harness.providers.base import REPLAYED_LATENCY_HEADER, ProviderSettings, WrapTransport
from harness.providers.sdk_errors import request_failure

PLACEHOLDER_KEY = "sk-harness-no-key"






class ChatCompletionsProvider:
    """Chat Completions (``/v1/chat/completions``) through one ``AsyncOpenAI`` client shared by all cases."""

    def __init__(self, settings: ProviderSettings, wrap_transport: WrapTransport | None = None):
        import httpx2
        from openai import AsyncOpenAI

        self.settings = settings
        limits = httpx2.Limits(max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections)
        http_client = httpx2.AsyncClient(
            transport=(wrap_transport or _same)(httpx2.AsyncHTTPTransport(limits=limits)),
            timeout=httpx2.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
            limits=limits,
        )
        self._openai = AsyncOpenAI(
            api_key=settings.api_key or PLACEHOLDER_KEY,
            base_url=settings.base_url,
            max_retries=0,
            timeout=settings.timeout,
            http_client=http_client,
            default_headers=settings.headers or None,
            # Organization and project ids are account details; never send or record them.
            organization=None,
            project=None,
        )

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

    async def _complete(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
                        timeout: float) -> Completion:  # fmt: skip
        import openai

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
        latency_ms = (time.perf_counter() - started) * 1000
        recorded = raw.headers.get(REPLAYED_LATENCY_HEADER)
        if recorded is not None:
            latency_ms = float(recorded)
        return parse_completion(body, latency_ms)

    async def embed(self, model: str, inputs: list[str], timeout: float | None = None) -> Embeddings:
        """One embeddings request (``/v1/embeddings``) for ``inputs``; raise RequestFailed on any failure.

        Asks for plain floats (the SDK's default is base64), so a recorded
        cassette stays readable and every compatible server understands it.
        """
        import openai

        timeout = timeout or self.settings.timeout
        try:
            raw = await asyncio.wait_for(
                self._openai.embeddings.with_raw_response.create(
                    model=model, input=inputs, encoding_format="float", timeout=timeout
                ),
                timeout,
            )
            body = raw.http_response.content
        except (openai.OpenAIError, asyncio.TimeoutError) as e:
            raise self._redacted(request_failure(e, timeout)) from None
        return parse_embeddings(body, len(inputs))

    def _redacted(self, failure: RequestFailed) -> RequestFailed:
        """The failure with the API key scrubbed from its message: servers echo keys in 401 errors."""
        failure.message = redact(failure.message, self.settings.api_key)
        failure.args = (failure.message,)
        return failure

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

    @staticmethod
    def tool_result_messages(calls: list[ToolCall], results: dict[str, str]) -> list[dict[str, Any]]:
        """One `tool` message per call, answering it by its id."""
        return [{"role": "tool", "tool_call_id": c.id, "content": results[c.name]} for c in calls]

    async def aclose(self) -> None:
        await self._openai.close()


def _same(transport: Any) -> Any:
    return transport


def parse_completion(body: bytes, latency_ms: float) -> Completion:
    """Reduce a Chat Completions response body to a Completion; a malformed body is retryable."""
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        message = choice.get("message") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        snippet = body[:120].decode("utf-8", "replace")
        raise RequestFailed(f"the server sent an unparsable response body: {snippet!r}", retryable=True) from None
    usage_raw = data.get("usage") or {}
    details = usage_raw.get("prompt_tokens_details") or {}
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
        usage=Usage(
            prompt_tokens=usage_raw.get("prompt_tokens"),
            completion_tokens=usage_raw.get("completion_tokens"),
            total_tokens=usage_raw.get("total_tokens"),
            cached_tokens=details.get("cached_tokens"),
        ),
        tool_calls=tool_calls,
        refusal=message.get("refusal"),
        model=data.get("model"),
        id=data.get("id"),
        latency_ms=round(latency_ms, 1),
    )


def parse_embeddings(body: bytes, expected: int) -> Embeddings:
    """Reduce an embeddings response body to its vectors; a malformed body is retryable."""
    try:
        data = json.loads(body)
        items = sorted(data["data"], key=lambda item: item.get("index", 0))
        vectors = [[float(x) for x in item["embedding"]] for item in items]
    except (ValueError, KeyError, TypeError, AttributeError):
        snippet = body[:120].decode("utf-8", "replace")
        raise RequestFailed(f"the server sent an unparsable embeddings body: {snippet!r}", retryable=True) from None
    if len(vectors) != expected:
        raise RequestFailed(f"the server sent {len(vectors)} embeddings for {expected} inputs", retryable=False)
    usage_raw = data.get("usage") or {}
    prompt = usage_raw.get("prompt_tokens")
    total = usage_raw.get("total_tokens", prompt)
    return Embeddings(vectors, Usage(prompt_tokens=prompt, completion_tokens=0 if prompt is not None else None,
                                     total_tokens=total), data.get("model"))  # fmt: skip
