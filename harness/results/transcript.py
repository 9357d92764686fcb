"""A case as a chat transcript: what was authored, what the model replied, in order.

Each turn's request repeats the whole history, so storing every request whole
in a report would grow with the square of the turns. A transcript keeps each
message once: the first request whole (system prompt, fixed history, first
user message), then per later turn only what was added after the previous
reply (tool results, the next user message), then the reply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.core.reply import Completion
from harness.core.result import TurnResult


@dataclass
class Entry:
    """One message of a transcript; ``kind`` says where it came from."""

    turn: int
    kind: str  # "system", "history", "input" (user or tool message of a turn), "reply"
    role: str
    text: str
    name: str = ""  # a tool message's function name (the call id only when no call names it)


def content_text(content: Any) -> str:
    """Message content as plain text (content-part lists keep their text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            else:
                parts.append(json.dumps(part, ensure_ascii=False))
        return "\n".join(parts)
    return json.dumps(content, ensure_ascii=False)


def tool_calls_text(calls: list[dict[str, Any]] | list[Any]) -> str:
    """Tool calls written as ``name(arguments)`` lines, the way a reviewer reads them."""
    lines = []
    for c in calls:
        if isinstance(c, dict):
            fn = c.get("function") or {}
            lines.append(f"{fn.get('name', '?')}({fn.get('arguments', '')})")
        else:
            lines.append(f"{c.name}({c.arguments})")
    return "\n".join(lines)


def message_text(message: dict[str, Any]) -> str:
    text = content_text(message.get("content"))
    if message.get("tool_calls"):
        calls = tool_calls_text(message["tool_calls"])
        text = f"{text}\n{calls}" if text else calls
    return text


def reply_text(reply: Completion | None) -> str:
    """The reply as text: content, refusal and tool calls, so a diff sees all three."""
    if reply is None:
        return ""
    parts = [reply.content or ""]
    if reply.refusal:
        parts.append(f"[refusal] {reply.refusal}")
    if reply.tool_calls:
        parts.append(tool_calls_text(reply.tool_calls))
    return "\n".join(p for p in parts if p)


def _function_names(messages: list[dict[str, Any]]) -> dict[str, str]:
    """tool_call_id -> function name, from the assistant messages that made the calls."""
    names: dict[str, str] = {}
    for m in messages:
        for call in m.get("tool_calls") or []:
            if isinstance(call, dict) and call.get("id"):
                names[str(call["id"])] = str((call.get("function") or {}).get("name") or "")
    return names


def turn_inputs(turns: list[TurnResult]) -> list[Entry]:
    """The messages the harness authored, in order: system, history, then each turn's new input.

    A tool message is named by the function it answers, not by its call id: ids
    differ from one recording to the next, the function is what a reader knows.
    """
    entries: list[Entry] = []
    for position, turn in enumerate(turns):
        messages = turn.messages
        functions = _function_names(messages)
        if position == 0:
            new = messages
        else:
            last_reply = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
            new = messages[last_reply + 1 :]
        last_user = max((i for i, m in enumerate(new) if m.get("role") == "user"), default=len(new))
        for i, m in enumerate(new):
            role = str(m.get("role", "?"))
            if position == 0 and role in ("system", "developer"):
                kind = "system"
            elif position == 0 and i < last_user:
                kind = "history"
            else:
                kind = "input"
            call = str(m.get("tool_call_id") or "")
            name = str(m.get("name") or functions.get(call) or call)
            entries.append(Entry(turn.index, kind, role, message_text(m), name))
    return entries


def transcript(turns: list[TurnResult]) -> list[Entry]:
    """Authored messages and replies interleaved, as the conversation happened."""
    inputs = turn_inputs(turns)
    by_turn: dict[int, list[Entry]] = {}
    for e in inputs:
        by_turn.setdefault(e.turn, []).append(e)
    entries: list[Entry] = []
    for turn in turns:
        entries.extend(by_turn.get(turn.index, []))
        if turn.reply is not None:
            entries.append(Entry(turn.index, "reply", "assistant", reply_text(turn.reply)))
    return entries
