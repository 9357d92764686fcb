"""The fake server's streams (`stream: true`): a reply it would send whole, as the events the real API sends.

Chat Completions: a role chunk, content (or refusal) deltas a word at a time,
tool-call fragments by index (name first, then the arguments a few characters
at a time), the finish chunk, a usage chunk when `stream_options.include_usage`
asks for it, then `data: [DONE]`. Responses API: `response.created`,
`response.in_progress`, per output item its added/delta/done events, then
`response.completed` or `response.incomplete` carrying the whole Response;
each with `event:` and a `sequence_number`, as OpenAI sends them.

Directives for streams (in the last user message, like the others):

    [[ttft:MS]]           wait MS ms before the first content or tool-call delta
    [[chunk_ms:MS]]       wait MS ms between events
    [[break:N]]           drop the connection after N events (a stream that breaks off)
    [[flaky_break:N]]     the same, only the first time this exact request is seen (a retry succeeds)
    [[cut:N]]             end the stream cleanly after N events, before its final event

Every event validates against the SDK's own types (tests/test_fake_server.py).
"""

from __future__ import annotations

import copy
import re
from typing import Any

Event = tuple[str | None, Any, bool]  # (event name, data, whether it carries content: the first such is the first token)

_WORDS = re.compile(r"\S+\s*|\s+")


def _pieces(text: str) -> list[str]:
    return _WORDS.findall(text) or [text]


def chat_events(completion: dict[str, Any], include_usage: bool) -> list[Event]:
    """A chat.completion as its chunks."""
    choice = completion["choices"][0]
    message = choice["message"]
    base = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"],
            "model": completion["model"]}  # fmt: skip

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        if include_usage:
            out["usage"] = None
        return out

    events: list[Event] = [(None, chunk({"role": "assistant", "content": ""}), False)]
    for piece in _pieces(message["content"]) if message.get("content") else []:
        events.append((None, chunk({"content": piece}), True))
    for piece in _pieces(message["refusal"]) if message.get("refusal") else []:
        events.append((None, chunk({"refusal": piece}), True))
    for i, call in enumerate(message.get("tool_calls") or []):
        head = {"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}
        events.append((None, chunk({"tool_calls": [head]}), True))
        args = call["function"]["arguments"]
        for start in range(0, len(args), 4):
            events.append((None, chunk({"tool_calls": [{"index": i, "function": {"arguments": args[start : start + 4]}}]}), True))
    events.append((None, chunk({}, choice["finish_reason"]), False))
    if include_usage:
        events.append((None, {**base, "choices": [], "usage": completion["usage"]}, False))
    events.append((None, "[DONE]", False))
    return events


def responses_events(response: dict[str, Any]) -> list[Event]:
    """A Response as its stream events."""
    events: list[Event] = []

    def add(kind: str, carries: bool = False, **fields: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": len(events), **fields}, carries))

    started = {**copy.deepcopy(response), "status": "in_progress", "output": [], "usage": None,
               "incomplete_details": None}  # fmt: skip
    add("response.created", response=started)
    add("response.in_progress", response=started)
    for index, item in enumerate(response["output"]):
        if item["type"] == "message":
            add("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []})
            for part_index, part in enumerate(item["content"]):
                text_key = "text" if part["type"] == "output_text" else "refusal"
                empty = {**part, text_key: ""}
                add("response.content_part.added", item_id=item["id"], output_index=index, content_index=part_index,
                    part=empty)  # fmt: skip
                where = {"item_id": item["id"], "output_index": index, "content_index": part_index}
                if part["type"] == "output_text":
                    for piece in _pieces(part["text"]):
                        add("response.output_text.delta", True, delta=piece, logprobs=[], **where)
                    add("response.output_text.done", text=part["text"], logprobs=[], **where)
                else:
                    for piece in _pieces(part["refusal"]):
                        add("response.refusal.delta", True, delta=piece, **where)
                    add("response.refusal.done", refusal=part["refusal"], **where)
                add("response.content_part.done", part=part, **where)
        elif item["type"] == "function_call":
            add("response.output_item.added", True, output_index=index,
                item={**item, "arguments": "", "status": "in_progress"})  # fmt: skip
            args = item["arguments"]
            for start in range(0, len(args), 4):
                add("response.function_call_arguments.delta", True, item_id=item["id"], output_index=index,
                    delta=args[start : start + 4])  # fmt: skip
            add("response.function_call_arguments.done", item_id=item["id"], output_index=index, arguments=args)
        else:
            add("response.output_item.added", output_index=index, item=item)
        add("response.output_item.done", output_index=index, item=item)
    add("response.incomplete" if response["status"] == "incomplete" else "response.completed", response=response)
    return events
