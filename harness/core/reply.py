"""One reply from a model (or one embeddings answer), reduced to what checks and reports need."""

from __future__ import annotations

from dataclasses import dataclass, field


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



@dataclass
class Embeddings:
    """The vectors of one embeddings request, in input order, and what it used."""

    vectors: list[list[float]]
    usage: Usage
    model: str | None = None
