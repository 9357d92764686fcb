"""One reply from a model (or one embeddings answer), reduced to what checks and reports need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    """One reply from the model, reduced to what checks and reports need."""

    content: str | None
    finish_reason: str | None
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCall] = field(default_factory=list)
    refusal: str | None = None
    model: str | None = None
    id: str | None = None
    latency_ms: float = 0.0

    @property
    def text(self) -> str:
        """The reply text that text checks look at ('' when the model only called tools)."""
        return self.content or ""

    def as_message(self) -> dict[str, Any]:
        """The assistant message to append to the history before the next turn."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            # null content beside tool_calls is valid for OpenAI but rejected by some
            # compatible servers (llama.cpp answers 500); an empty string works everywhere.
            message["content"] = self.content or ""
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        return message


@dataclass
class Embeddings:
    """The vectors of one embeddings request, in input order, and what it used."""

    vectors: list[list[float]]
    usage: Usage
    model: str | None = None
