"""What every provider that talks through the official ``openai`` SDK shares: the client, embeddings, redaction.

One ``AsyncOpenAI`` client per provider, shared by all cases, with the SDK's
own retries off (``max_retries=0``): the harness retries in exactly one layer
(``harness.providers.retry``), so retry counts never multiply and every
attempt is seen. Its HTTP transport is the pipeline's (the cassette layer), so
every API is recorded and replayed the same way.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from harness.core.errors import RequestFailed
from harness.core.redaction import redact
from harness.core.reply import Embeddings, ToolCall, Usage
from harness.providers.base import REPLAYED_LATENCY_HEADER, ProviderSettings, WrapTransport
from harness.providers.sdk_errors import request_failure

PLACEHOLDER_KEY = "sk-harness-no-key"


class OpenAISdkProvider:
    """The base of the SDK providers: builds the client, embeds, scrubs the key from failures."""

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
            default_headers=settings.headers or None,  # an endpoint's own headers
            # Organization and project ids are account details; never send or record them.
            organization=None,
            project=None,
        )

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
    def tool_result_messages(calls: list[ToolCall], results: dict[str, str]) -> list[dict[str, Any]]:
        """One `tool` message per call, answering it by its id (the Responses provider sends them as
        `function_call_output` items with that id as `call_id`)."""
        return [{"role": "tool", "tool_call_id": c.id, "content": results[c.name]} for c in calls]

    async def aclose(self) -> None:
        await self._openai.close()


def _same(transport: Any) -> Any:
    return transport


def recorded_latency(headers: Any, measured_ms: float) -> float:
    """The latency a replayed response recorded (the cassette layer's header), else the one measured."""
    recorded = headers.get(REPLAYED_LATENCY_HEADER)
    return float(recorded) if recorded is not None else measured_ms


def unparsable(body: bytes, what: str = "response body") -> RequestFailed:
    """A 2xx whose body cannot be read: retryable (a proxy cut it short, a server garbled it)."""
    snippet = body[:120].decode("utf-8", "replace")
    return RequestFailed(f"the server sent an unparsable {what}: {snippet!r}", retryable=True)


def parse_embeddings(body: bytes, expected: int | None) -> Embeddings:
    """Reduce an embeddings response body to its vectors; a malformed body is retryable.

    ``expected`` is the number of inputs (None: any number, for checking a recording). A vector holding
    NaN or infinity is malformed: no similarity can be computed from it.
    """
    try:
        data = json.loads(body)
        items = sorted(data["data"], key=lambda item: item.get("index", 0))
        vectors = [[float(x) for x in item["embedding"]] for item in items]
        if not all(math.isfinite(x) for vector in vectors for x in vector):
            raise ValueError("not finite")
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
        raise unparsable(body, "embeddings body") from None
    if expected is not None and len(vectors) != expected:
        raise RequestFailed(f"the server sent {len(vectors)} embeddings for {expected} inputs", retryable=False)
    usage_raw = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    prompt = whole_number(usage_raw.get("prompt_tokens"))
    total = whole_number(usage_raw.get("total_tokens", prompt))
    model = data.get("model")
    return Embeddings(vectors, Usage(prompt_tokens=prompt, completion_tokens=0 if prompt is not None else None,
                                     total_tokens=total), model if isinstance(model, str) else None)  # fmt: skip


def whole_number(value: Any) -> int | None:
    """A token count from a usage object: an int of 0 or more, else None (servers send null, omit it, or send odd
    types; a negative count would make a negative cost)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
