"""Plain settings a suite carries for the features built on it: budgets, the context window, the grader.

They live in the floor so the suite types need nothing above them; the logic
that reads them (metering, graded checks) imports them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.core.locations import Loc
from harness.core.reply import Usage


class Prices(Protocol):
    """What a suite's price table answers (harness.metering.pricing.PriceTable is the one implementation)."""

    def lookup(self, model: str) -> Any: ...

    def cost(self, model: str, usage: Usage) -> float | None: ...

    def estimate(self, model: str, prompt_tokens: int, max_completion_tokens: int | None) -> tuple[float, float] | None: ...


@dataclass
class Budget:
    """The `budget:` mapping at one level: limit name -> limit."""

    limits: dict[str, float]
    loc: Loc | None = None

    def get(self, key: str) -> float | None:
        return self.limits.get(key)


@dataclass
class ContextSpec:
    """The `context:` key: window overrides and what to do when a prompt does not fit."""

    window: int | None = None
    max_output_tokens: int | None = None
    strategy: str | None = None
    summary_max_tokens: int | None = None

    def over(self, base: ContextSpec | None) -> ContextSpec:
        """This spec's keys over `base`'s (a case's `context:` over its suite's)."""
        if base is None:
            return self
        return ContextSpec(**{k: v if v is not None else getattr(base, k) for k, v in vars(self).items()})


@dataclass
class GraderSpec:
    """The suite's `grader:` key: the chat model that grades, its params, and the embeddings model."""

    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    embedding_model: str | None = None
