"""The one seam to the model: a chat request in, a ``Completion`` out.

Requests go through the official ``openai`` SDK. The SDK's own retries are
off (``max_retries=0``): the harness retries in exactly one layer
(``harness.providers.retry``), so retry counts never multiply and every attempt is seen.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from harness.core.errors import RequestFailed
from harness.core.redaction import redact
from harness.core.reply import Completion, Embeddings, ToolCall, Usage

# Header the cassette transport adds on replay, carrying the recorded latency.
REPLAYED_LATENCY_HEADER = "x-harness-recorded-latency-ms"
PLACEHOLDER_KEY = "sk-harness-no-key"






def base_url_problem(url: str, source: str = "--base-url") -> str | None:
    """What is wrong with a base URL, with the fix; None when it has an http(s) scheme and a host.

    Checked before anything is sent: without a scheme httpx fails every request with
    UnsupportedProtocol, one case at a time. ``source`` names where the URL came from.
    """
    import ipaddress
    from urllib.parse import urlsplit

    if "://" not in url:
        host = urlsplit("//" + url).hostname or ""
        try:
            local = host == "localhost" or bool(ipaddress.ip_address(host))
        except ValueError:
            local = False
        return f"{source} {url!r} has no scheme; did you mean {'http' if local else 'https'}://{url}?"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return f"{source} {url!r} must start with http:// or https://"
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError:
        return f"{source} {url!r} has an invalid port"
    if not parts.hostname:
        return f"{source} {url!r} has no host; e.g. http://127.0.0.1:8080/v1"
    return None


@dataclass
class ClientSettings:
    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    max_connections: int = 64


class ModelClient:
    """An ``AsyncOpenAI`` client shared by all cases, over an optional custom transport."""

    def __init__(self, settings: ClientSettings, transport: Any = None):
        import httpx2
        from openai import AsyncOpenAI

        self.settings = settings
        limits = httpx2.Limits(max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections)
        http_client = httpx2.AsyncClient(
            transport=transport or httpx2.AsyncHTTPTransport(limits=limits),
            timeout=httpx2.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
            limits=limits,
        )
        self._openai = AsyncOpenAI(
            api_key=settings.api_key or PLACEHOLDER_KEY,
            base_url=settings.base_url,
            max_retries=0,
            timeout=settings.timeout,
            http_client=http_client,
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
            raise _request_failure(e, timeout) from None
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
            raise self._redacted(_request_failure(e, timeout)) from None
        return parse_embeddings(body, len(inputs))

    def _redacted(self, failure: RequestFailed) -> RequestFailed:
        """The failure with the API key scrubbed from its message: servers echo keys in 401 errors."""
        failure.message = redact(failure.message, self.settings.api_key)
        failure.args = (failure.message,)
        return failure

    async def aclose(self) -> None:
        await self._openai.close()


def _request_failure(e: BaseException, timeout: float) -> RequestFailed:
    """Classify an SDK exception (or our own wait_for timeout) for the retry layer."""
    import openai

    if isinstance(e, openai.APIStatusError):
        return _status_failure(e)
    if isinstance(e, (openai.APITimeoutError, asyncio.TimeoutError)):
        return RequestFailed(f"request timed out after {timeout:g} s", retryable=True)
    if isinstance(e, openai.APIConnectionError):
        return _connection_failure(e)
    return RequestFailed(str(e), retryable=False)  # e.g. a cassette miss in replay: permanent, with its own message


BASE_URL_HINT = "check --base-url (OpenAI-compatible servers usually end in /v1)"
BODY_SNIPPET_CHARS = 200


def _status_failure(e: Any) -> RequestFailed:
    status = e.status_code
    message = _error_message(e)
    retry_after = _retry_after(e.response.headers) if e.response is not None else None
    transient = status in (408, 409, 429) or status >= 500
    return RequestFailed(f"HTTP {status}: {message}", retryable=transient, status=status, retry_after=retry_after)


def _error_message(e: Any) -> str:
    """The server's own message for an OpenAI-shaped error body; for any other body (a proxy's
    HTML page, a framework's `{"detail": "Not Found"}`), a snippet of it and the request's method and
    path, which usually show what is wrong: the wrong server or a base URL without /v1."""
    body = getattr(e, "body", None)
    message = _openai_message(body)
    request = getattr(getattr(e, "response", None), "request", None)
    endpoint = _endpoint(request, with_host=False)
    path = request.url.path if request is not None else ""
    if message is not None and not (e.status_code == 404 and "/v1/" not in path):
        return message
    if message is None:
        text = json.dumps(body, ensure_ascii=False) if isinstance(body, (dict, list)) else str(body or "")
        text = " ".join(text.split())
        message = (text if len(text) <= BODY_SNIPPET_CHARS else text[: BODY_SNIPPET_CHARS - 3] + "...") or "empty body"
    if endpoint:
        message += f" ({endpoint})"
    return f"{message}; {BASE_URL_HINT}" if e.status_code == 404 else message


def _openai_message(body: Any) -> str | None:
    """`{"error": {"message": ...}}`, `{"error": "..."}` or `{"message": ...}`; None for any other body."""
    if not isinstance(body, dict):
        return None
    inner = body.get("error", body)
    if isinstance(inner, dict) and inner.get("message"):
        return str(inner["message"])
    if isinstance(inner, str) and inner:
        return inner
    return None


def _endpoint(request: Any, with_host: bool = True) -> str:
    """`POST http://host:port/path` (or `POST /path`) of an httpx request; never a query string or user info."""
    try:
        url = request.url
        where = f"{url.scheme}://{url.host}{f':{url.port}' if url.port else ''}" if with_host else ""
        return f"{request.method} {where}{url.path}"
    except Exception:  # noqa: BLE001 (no request, or an unexpected object: say nothing rather than fail)
        return ""


def _connection_failure(e: Any) -> RequestFailed:
    """A request that never got a response; names the server it tried, so a wrong host or port shows."""
    cause = e.__cause__ or e
    endpoint = _endpoint(getattr(e, "request", None))
    detail = f"{type(cause).__name__}: {cause}".rstrip(": ")
    return RequestFailed(f"connection failed ({endpoint}): {detail}" if endpoint else f"connection failed: {detail}",
                         retryable=True)  # fmt: skip


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait, from retry-after-ms or Retry-After."""
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None
    return None


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
