"""The fake server's ``/v1/responses``: the Responses API's shape, with conversation state kept as OpenAI keeps it.

Replies follow the same directives as Chat Completions (tests/fake_openai.py).
Every response is stored under its id unless the request says ``store: false``;
``previous_response_id`` continues a stored conversation (the server prepends
everything it holds for that id: earlier inputs and outputs), and an unknown
id is a 400, as OpenAI answers it. A ``function_call_output`` whose ``call_id``
no ``function_call`` of the conversation made is a 400 too, so a test proves
that tool results reach the right call. ``instructions`` are never carried
over from a stored response, as in the real API.

Bodies are built to validate against ``openai.types.responses.Response``
(tests/test_fake_server.py checks them), so the fake cannot drift.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tests.fake_openai import FakeOpenAI, Reply, decide

INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def respond(server: FakeOpenAI, body: dict[str, Any], n: int,
            refuse: Callable[[Reply], bool]) -> tuple[int, dict[str, Any], Reply | None]:  # fmt: skip
    """(HTTP status, body, the reply decided) for one request; status 0 when ``refuse`` already answered it."""
    stored = getattr(server, "responses_store", None)
    if stored is None:
        stored = server.responses_store = {}
    earlier: list[dict[str, Any]] = []
    previous = body.get("previous_response_id")
    if previous is not None:
        if previous not in stored:
            return 400, _error(f"Previous response with id '{previous}' not found.", "previous_response_id",
                               "previous_response_not_found"), None  # fmt: skip
        earlier = stored[previous]
    items = body.get("input")
    items = [{"role": "user", "content": items}] if isinstance(items, str) else list(items or [])
    conversation = earlier + items
    problem = _unanswered_output(conversation)
    if problem:
        return 400, _error(problem, "input", None), None
    users = [_text(i.get("content")) for i in conversation if i.get("role") == "user"]
    last_user = users[-1] if users else ""
    recall = "recall: " + " | ".join(users)
    reply = decide(server, str(body.get("instructions") or ""), last_user, body.get("max_output_tokens"),
                   visible_default=recall if "[[recall]]" in last_user else None, n=n)  # fmt: skip
    if refuse(reply):
        return 0, {}, reply
    prompt_tokens = sum(len(_text(i.get("content") or i.get("output") or i.get("arguments")).split()) + 3
                        for i in conversation) + len(str(body.get("instructions") or "").split()) + 3  # fmt: skip
    response = _response(body, reply, n, prompt_tokens)
    if body.get("store") is not False:
        stored[response["id"]] = conversation + response["output"]
    return 200, response, reply


def _response(body: dict[str, Any], reply: Reply, n: int, prompt_tokens: int) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if reply.reasoning_tokens:
        output.append({"id": f"rs_{n}", "type": "reasoning", "summary": []})
    if reply.tool:
        output.append({"id": f"fc_{n}", "type": "function_call", "call_id": f"call_{n}", "name": reply.tool[0],
                       "arguments": reply.tool[1], "status": "completed"})  # fmt: skip
    else:
        content = []
        if reply.content is not None:
            content.append({"type": "output_text", "text": reply.content, "annotations": []})
        if reply.refusal is not None:
            content.append({"type": "refusal", "refusal": reply.refusal})
        status = "incomplete" if reply.finish in INCOMPLETE else "completed"
        output.append({"id": f"msg_{n}", "type": "message", "role": "assistant", "status": status, "content": content})
    incomplete = INCOMPLETE.get(reply.finish)
    output_tokens = len((reply.content or "").split()) + reply.reasoning_tokens
    output_tokens += len(reply.tool[1]) // 4 if reply.tool else 0
    tools = body.get("tools") or []
    return {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if incomplete else "completed",
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model") or "fake-model",
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": tools,
        "top_p": body.get("top_p", 1.0),
        "usage": {
            "input_tokens": prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
            "total_tokens": prompt_tokens + output_tokens,
        },
        "metadata": body.get("metadata") or {},
    }


def _unanswered_output(conversation: list[dict[str, Any]]) -> str | None:
    """OpenAI's 400 for a tool result whose call the conversation never made."""
    calls = {i.get("call_id") for i in conversation if i.get("type") == "function_call"}
    for item in conversation:
        if item.get("type") == "function_call_output" and item.get("call_id") not in calls:
            return f"No tool call found for function call output with call_id {item.get('call_id')}."
    return None


def _error(message: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else content if isinstance(content, str) else json.dumps(content)
