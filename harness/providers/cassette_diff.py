"""What changed between a request and its recording, in words a prompt engineer reads.

A stale cassette says which message (Chat) or input item (Responses API)
changed, with the text around the change, and which parameters changed,
rather than "the body differs".
"""

from __future__ import annotations

import json
from typing import Any

ITEM_LISTS = ("messages", "input")


def describe_changes(old: Any, new: Any) -> list[str]:
    """What differs between two request bodies (either API), in words a prompt engineer reads."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ["the request body changed"]
    changes: list[str] = []
    for items in ITEM_LISTS:  # Chat's messages, the Responses API's input items
        changes.extend(_item_changes(items, old.get(items), new.get(items)))
    for key in sorted(set(old) | set(new)):
        if (key in ITEM_LISTS and isinstance(old.get(key), list) and isinstance(new.get(key), list)) \
                or old.get(key) == new.get(key):  # fmt: skip
            continue
        if key not in old:
            changes.append(f"param {key} added: {_clip(new[key])}")
        elif key not in new:
            changes.append(f"param {key} removed (was {_clip(old[key])})")
        else:
            changes.append(f"param {key}: {_clip(old[key])} -> {_clip(new[key])}")
    return changes


def _item_changes(name: str, old: Any, new: Any) -> list[str]:
    """Per item of a `messages` or `input` list: added, removed or changed, with the text around a change."""
    if not isinstance(old, list) or not isinstance(new, list):
        return []
    changes = []
    for i in range(max(len(old), len(new))):
        a = old[i] if i < len(old) else None
        b = new[i] if i < len(new) else None
        if a == b:
            continue
        if a is None:
            changes.append(f"{name}[{i}] ({_kind(b)}) added: {_clip(_content(b))}")
        elif b is None:
            changes.append(f"{name}[{i}] ({_kind(a)}) removed: {_clip(_content(a))}")
        elif _content(a) != _content(b):
            old_text, new_text = _around_difference(_content(a), _content(b))
            changes.append(f"{name}[{i}] ({_kind(b)}) changed: {old_text} -> {new_text}")
        else:
            changes.append(f"{name}[{i}] ({_kind(b)}) changed")
    return changes


def _kind(item: Any) -> str:
    """A message's role, or an input item's type (function_call, function_call_output...)."""
    return str(item.get("role") or item.get("type") or "?") if isinstance(item, dict) else "?"


def _content(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    for key in ("content", "output", "arguments"):
        if key in item:
            return item[key]
    return None


def _around_difference(old: Any, new: Any, context: int = 30) -> tuple[str, str]:
    """Both texts shown from just before their first difference, newlines visible."""
    if not isinstance(old, str) or not isinstance(new, str):
        return _clip(old), _clip(new)
    i = next((k for k, (x, y) in enumerate(zip(old, new)) if x != y), min(len(old), len(new)))
    start = max(0, i - context)
    prefix = "..." if start else ""

    def cut(text: str) -> str:
        piece = text[start : start + 2 * context + 20]
        suffix = "..." if start + len(piece) < len(text) else ""
        return prefix + repr(piece)[1:-1] + suffix

    return f"'{cut(old)}'", f"'{cut(new)}'"


def _clip(value: Any, limit: int = 80) -> str:
    """Strings quoted, other values (numbers, lists) as they are; long ones shortened."""
    text = " ".join((value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)).split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return repr(text) if isinstance(value, str) else text
