"""The fake server cannot drift from the real API: its replies validate against the openai SDK's own types.

Every directive's reply, for both APIs, is parsed with the SDK's pydantic
models (extra keys are an error here, unlike in the SDK's lenient parsing), so
a field the real API does not send, or one it requires that the fake leaves
out, fails this file.
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter

from harness.providers.sse import parse_sse

DIRECTIVES = ["hello", "[[length]] one two three four", "[[content_filter]]", "[[refusal]]",
              '[[tool:get_weather {"city": "Paris"}]]', "[[reasoning:12]] think", "[[reply:{\"a\": 1}]]"]  # fmt: skip


def strict(model: type[BaseModel], data: Any) -> BaseModel:
    """Validate with the SDK's type, and fail on any key it does not define (the SDK itself keeps such keys)."""
    parsed = model.model_validate(data)
    _no_extra(parsed, model.__name__)
    return parsed


def _no_extra(value: Any, path: str) -> None:
    if isinstance(value, BaseModel):
        assert not value.model_extra, f"{path}: keys the SDK's type does not define: {sorted(value.model_extra)}"
        for name in type(value).model_fields:
            _no_extra(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _no_extra(item, f"{path}[{i}]")


def test_the_shape_check_itself_catches_a_key_the_api_does_not_send():
    body = {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi", "bogus": 1}, "finish_reason": "stop"}]}
    with pytest.raises(AssertionError, match=r"choices\[0\]\.message: keys the SDK's type does not define: \['bogus'\]"):
        strict(ChatCompletion, body)


def post(server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx2.post(server.base_url + path, json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("text", DIRECTIVES)
def test_chat_completions_replies_are_sdk_chat_completions(text, fake_server):
    body = post(fake_server, "/chat/completions", {"model": "m", "messages": [{"role": "user", "content": text}],
                                                   "max_tokens": 2})  # fmt: skip
    strict(ChatCompletion, body)


@pytest.mark.parametrize("text", DIRECTIVES)
def test_responses_replies_are_sdk_responses(text, fake_server):
    body = post(fake_server, "/responses", {"model": "m", "instructions": "Be brief.", "max_output_tokens": 2,
                                            "input": [{"role": "user", "content": text}]})  # fmt: skip
    parsed = strict(Response, body)
    assert parsed.status in ("completed", "incomplete")


def test_a_chained_response_is_an_sdk_response_and_an_unknown_id_is_openais_400(fake_server):
    first = post(fake_server, "/responses", {"model": "m", "input": "hi"})
    second = post(fake_server, "/responses", {"model": "m", "previous_response_id": first["id"],
                                              "input": [{"role": "user", "content": "[[recall]]"}]})  # fmt: skip
    assert strict(Response, second).output_text == "recall: hi | [[recall]]"
    missing = httpx2.post(fake_server.base_url + "/responses", json={"model": "m", "previous_response_id": "resp_x",
                                                                     "input": "hi"})  # fmt: skip
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "previous_response_not_found"
    unstored = post(fake_server, "/responses", {"model": "m", "input": "hi", "store": False})
    assert httpx2.post(fake_server.base_url + "/responses", json={"model": "m", "input": "x",
                       "previous_response_id": unstored["id"]}).status_code == 400  # fmt: skip


def test_a_tool_result_without_its_call_is_openais_400(fake_server):
    r = httpx2.post(fake_server.base_url + "/responses",
                    json={"model": "m", "input": [{"type": "function_call_output", "call_id": "call_9", "output": "x"}]})
    assert r.status_code == 400
    assert "No tool call found for function call output with call_id call_9" in r.json()["error"]["message"]


def stream(server, path: str, body: dict[str, Any]) -> list:
    response = httpx2.post(server.base_url + path, json={**body, "stream": True}, timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.text)


@pytest.mark.parametrize("text", DIRECTIVES)
def test_chat_stream_chunks_are_sdk_chat_completion_chunks(text, fake_server):
    events = stream(fake_server, "/chat/completions", {"model": "m", "messages": [{"role": "user", "content": text}],
                                                       "max_tokens": 2, "stream_options": {"include_usage": True}})  # fmt: skip
    assert events[-1].data == "[DONE]"
    for event in events[:-1]:
        strict(ChatCompletionChunk, event.json())


@pytest.mark.parametrize("text", DIRECTIVES)
def test_responses_stream_events_are_sdk_stream_events(text, fake_server):
    events = stream(fake_server, "/responses", {"model": "m", "max_output_tokens": 2,
                                                "input": [{"role": "user", "content": text}]})  # fmt: skip
    adapter = TypeAdapter(ResponseStreamEvent)
    kinds = []
    for event in events:
        parsed = adapter.validate_python(event.json())
        _no_extra(parsed, event.event or "event")
        assert parsed.type == event.event
        kinds.append(parsed.type)
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] in ("response.completed", "response.incomplete")
    assert [e.json()["sequence_number"] for e in events] == list(range(len(events)))
