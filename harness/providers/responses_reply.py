"""A Response object (streamed or not) read as a ``Completion``: its text, refusals, calls, status and usage.

One ``finish_reason`` for every check and report, as Chat Completions would
say it, with the raw `status` and `incomplete_details.reason` kept beside it.
"""

from __future__ import annotations

import json
from typing import Any

from harness.core.errors import RequestFailed
from harness.core.reply import Completion, ToolCall
from harness.providers.api_usage import responses_usage
from harness.providers.openai_sdk import unparsable

RETRYABLE_FAILURES = ("server_error", "rate_limit_exceeded")


def parse_response(data: Any, latency_ms: float, body: bytes = b"") -> Completion:
    """Reduce a Response object to a Completion; a malformed one is retryable, a failed one an error."""
    if not isinstance(data, dict) or not isinstance(data.get("output", []), list):
        raise unparsable(body or json.dumps(data).encode())
    if (problem := response_problem(data)) is not None:
        raise RequestFailed(f"the server sent a malformed response: {problem}", retryable=False)
    status = data.get("status")
    if status == "failed":
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        code = error.get("code") or "failed"
        raise RequestFailed(f"the response failed ({code}): {error.get('message') or 'no message'}",
                            retryable=code in RETRYABLE_FAILURES)  # fmt: skip
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[ToolCall] = []
    output = [item for item in data.get("output") or [] if isinstance(item, dict)]
    for item in output:
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "output_text":
                    texts.append(str(part.get("text") or ""))
                elif part.get("type") == "refusal":
                    refusals.append(str(part.get("refusal") or ""))
        elif item.get("type") == "function_call":
            call_id = item.get("call_id") or item.get("id") or f"call_{len(calls)}"
            calls.append(ToolCall(id=str(call_id), name=str(item.get("name") or ""),
                                  arguments=str(item.get("arguments") or "")))  # fmt: skip
    details = data.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    return Completion(
        content="".join(texts) if texts else None,
        finish_reason=finish_reason(status, reason, bool(calls)),
        usage=responses_usage(data.get("usage")),
        tool_calls=calls,
        refusal="".join(refusals) if refusals else None,
        model=data.get("model"),
        id=data.get("id"),
        latency_ms=round(latency_ms, 1),
        status=status,
        incomplete_reason=reason,
        output=output,
    )


_TEXT = (str, type(None))
_OBJECT = (dict, type(None))


def response_problem(data: dict) -> str | None:
    """What keeps a Response object from being one the harness can judge; None when it is one.

    As for a chat completion, a slot of the wrong type is a malformed response, not an empty reply; unknown keys
    and null details are fine (compatible servers send them).
    """
    for key in ("id", "status", "model"):
        if not isinstance(data.get(key), _TEXT):
            return f"`{key}` is {type(data.get(key)).__name__}, not text"
    for key, inner in (("incomplete_details", ("reason",)), ("error", ("code", "message"))):
        value = data.get(key)
        if not isinstance(value, _OBJECT):
            return f"`{key}` is {type(value).__name__}, not an object"
        for name in inner:
            if not isinstance((value or {}).get(name), _TEXT):
                return f"`{key}.{name}` is {type(value[name]).__name__}, not text"
    for i, item in enumerate(data.get("output") or []):
        if not isinstance(item, dict):
            continue  # items the harness does not read are kept as they are, whatever they hold
        if item.get("type") == "message":
            content = item.get("content")
            if not isinstance(content, (list, type(None))):
                return f"output[{i}].content is {type(content).__name__}, not a list of parts"
            for j, part in enumerate(content or []):
                if isinstance(part, dict) and not all(isinstance(part.get(k), _TEXT) for k in ("type", "text", "refusal")):
                    return f"output[{i}].content[{j}] has a type, text or refusal that is not text"
        elif item.get("type") == "function_call":
            if not all(isinstance(item.get(k), _TEXT) for k in ("call_id", "id", "name", "arguments")):
                return f"output[{i}] (a function call) has a call_id, id, name or arguments that is not text"
    return None


def finish_reason(status: Any, incomplete_reason: Any, called_tools: bool) -> str | None:
    """One finish_reason for every check and report, as Chat Completions would say it."""
    if status == "completed":
        return "tool_calls" if called_tools else "stop"
    if status == "incomplete":
        return {"max_output_tokens": "length", "content_filter": "content_filter"}.get(incomplete_reason)
    return None
