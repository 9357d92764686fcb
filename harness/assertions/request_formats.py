"""What a request itself declares about its reply: the structured format it asks for, the functions it offers.

Read from the params as sent, in either API's vocabulary, so a check can hold
the reply to the request's own schema instead of a copy written twice:
Chat's `response_format: {type: json_schema, json_schema: {schema}}` or the
Responses API's `text: {format: {type: json_schema, schema}}`, and function
tools nested (`{type: function, function: {name, parameters}}`) or flat
(`{type: function, name, parameters}`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STRUCTURED_TYPES = ("json_schema", "json_object")


@dataclass(frozen=True)
class RequestedFormat:
    """The reply format a request asks for: json_schema (with its schema) or json_object."""

    kind: str
    schema: Any
    where: str  # the param it came from, for reasons: `response_format` or `text.format`


def requested_format(params: dict[str, Any]) -> RequestedFormat | None:
    """The structured format of the request, or None when it asks for plain text."""
    chat = params.get("response_format")
    if isinstance(chat, dict) and chat.get("type") in STRUCTURED_TYPES:
        inner = chat.get("json_schema") if isinstance(chat.get("json_schema"), dict) else {}
        return RequestedFormat(chat["type"], inner.get("schema"), "response_format")
    text = params.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") in STRUCTURED_TYPES:
        return RequestedFormat(fmt["type"], fmt.get("schema"), "text.format")
    return None


def declared_functions(params: dict[str, Any]) -> dict[str, Any]:
    """Function name -> its `parameters` schema (None when it declares none), from the request's `tools`."""
    found: dict[str, Any] = {}
    for tool in params.get("tools") or []:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        if isinstance(fn.get("name"), str):
            found[fn["name"]] = fn.get("parameters")
    return found
