"""The provider seam: one small protocol that every model API implements.

A provider knows one API (its request shape, its reply shape, how replies and
tool results go back into the history) and nothing else. Rate limits, retries,
cassettes and redaction wrap it from outside (``harness.providers.pipeline``),
so a new API inherits all of them by implementing this protocol and adding one
line to ``harness.providers.registry``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.core.reply import Completion, Embeddings, ToolCall

# Header the cassette transport adds on replay, carrying the recorded latency; an HTTP provider reports it
# as the reply's latency, so replayed latencies are the recorded ones whatever the API.
REPLAYED_LATENCY_HEADER = "x-harness-recorded-latency-ms"


@dataclass
class ProviderSettings:
    """Where a provider sends its requests and how long it may wait; the key never leaves memory."""

    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    max_connections: int = 64
    headers: dict[str, str] = field(default_factory=dict)  # an endpoint's own headers, sent with every request
    history: str = "resend"  # how a conversation reaches the model (`history:`); only the Responses API keeps state


# Given the provider's own HTTP transport, the pipeline returns the one to use (the cassette layer around it).
WrapTransport = Callable[[Any], Any]


class Provider(Protocol):
    """One model API. Every method raises ``RequestFailed`` (classified for the retry layer) on failure."""

    async def complete(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
                       timeout: float | None = None) -> Completion:  # fmt: skip
        """Send one request built from the conversation so far and ``params`` exactly as written."""
        ...

    async def embed(self, model: str, inputs: list[str], timeout: float | None = None) -> Embeddings:
        """Embed ``inputs`` (the `similar` check)."""
        ...

    def assistant_message(self, reply: Completion) -> dict[str, Any]:
        """The reply as the history item the next turn sends back."""
        ...

    def tool_result_messages(self, calls: list[ToolCall], results: dict[str, str]) -> list[dict[str, Any]]:
        """The history items that answer ``calls`` with the turn's `tool_results` (function name -> text)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...

    # Optional: ``recorded_reply_problem(path: str, body: bytes) -> str | None``, why a recorded 2xx body
    # could not be replayed as a reply of this API (None when it could). The cassette validator
    # (harness/providers/cassette_check.py) asks before replay, and the cassette layer before recording.


ProviderFactory = Callable[[ProviderSettings, "WrapTransport | None"], Provider]
