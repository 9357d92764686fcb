"""JSON parse errors in words: the standard library's message can end in "at" ("Unterminated string starting at")."""

from __future__ import annotations

import json


def json_error_text(error: json.JSONDecodeError, position: bool = True) -> str:
    """'Unterminated string starting at line 1 column 10'; without ``position`` (the caller
    prints file:line:column itself): 'Unterminated string'."""
    message = error.msg.rstrip(": ").removesuffix(" at").rstrip()
    if position:
        return f"{message} at line {error.lineno} column {error.colno}"
    return message.removesuffix(" starting")
