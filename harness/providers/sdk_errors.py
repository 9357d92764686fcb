"""Classifying the openai SDK's failures for the retry layer, with messages that say what to fix.

Shared by every provider that talks through the SDK, so a 429, a timeout or a
wrong base URL reads the same whatever the API.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from harness.core.errors import RequestFailed


def request_failure(e: BaseException, timeout: float) -> RequestFailed:
    """Classify an SDK exception (or our own wait_for timeout) for the retry layer."""
    import openai

    if isinstance(e, openai.APIStatusError):
        return _status_failure(e)
    if isinstance(e, (openai.APITimeoutError, asyncio.TimeoutError)):
        return RequestFailed(f"request timed out after {timeout:g} s", retryable=True)
    if isinstance(e, openai.APIConnectionError):
        return _connection_failure(e)
    # e.g. a cassette miss in replay: permanent, with its own message and the recording it needs
    return RequestFailed(str(e), retryable=False, recording=getattr(e, "recording", None))


BASE_URL_HINT = "check --base-url (OpenAI-compatible servers usually end in /v1)"
BODY_SNIPPET_CHARS = 200


def _status_failure(e: Any) -> RequestFailed:
    status = e.status_code
    message = _error_message(e)
    wait = retry_after(e.response.headers) if e.response is not None else None
    transient = status in (408, 409, 429) or status >= 500
    return RequestFailed(f"HTTP {status}: {message}", retryable=transient, status=status, retry_after=wait)


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


def retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait, from retry-after-ms or Retry-After."""
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None
    return None
