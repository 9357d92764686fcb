"""One reply from a model (or one embeddings answer), reduced to what checks and reports need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A field with this metadata is kept in memory but never written to results.json or the journal.
NOT_SAVED = {"saved": False}


@dataclass
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None
    # Part of completion_tokens (both APIs count them as output), so they are priced as output.
    reasoning_tokens: int | None = None

    @classmethod
    def zero(cls) -> Usage:
        return cls(0, 0, 0, 0, 0)

    def add(self, other: Usage) -> None:
        """Add ``other`` into this total (a missing count adds nothing)."""
        self.prompt_tokens = (self.prompt_tokens or 0) + (other.prompt_tokens or 0)
        self.completion_tokens = (self.completion_tokens or 0) + (other.completion_tokens or 0)
        self.total_tokens = (self.total_tokens or 0) + (other.total_tokens or 0)
        self.cached_tokens = (self.cached_tokens or 0) + (other.cached_tokens or 0)
        self.reasoning_tokens = (self.reasoning_tokens or 0) + (other.reasoning_tokens or 0)


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    """One reply from the model, reduced to what checks and reports need.

    ``finish_reason`` is normalised across APIs (stop, length, tool_calls, content_filter);
    ``status`` and ``incomplete_reason`` keep the Responses API's own words. ``ttft_ms`` is the
    time to the first content or tool-call delta of a streamed reply.
    """

    content: str | None
    finish_reason: str | None
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCall] = field(default_factory=list)
    refusal: str | None = None
    model: str | None = None
    id: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    status: str | None = None
    incomplete_reason: str | None = None
    # The Responses API's own output items, sent back as they are in the next turn's input.
    output: list[dict[str, Any]] | None = field(default=None, metadata=NOT_SAVED)
    # What the harness changed in the reply as it arrived (text repaired, see harness/core/text_policy.py);
    # the conversation moves these into its turn's notes, so they are not stored with the reply.
    notes: list[str] = field(default_factory=list, metadata=NOT_SAVED)

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
