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
    """The suite's `grader:` key: the chat model that grades, its params, the embeddings model, and its server."""

    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    embedding_model: str | None = None
    endpoint: str | None = None  # a name in the suite's `endpoints:` (None: the case's own endpoint)
    endpoint_loc: Loc | None = None


DEFAULT_ENDPOINT = "default"  # the run's own server: --base-url, else $OPENAI_BASE_URL, with $OPENAI_API_KEY


@dataclass(frozen=True)
class EnvValue:
    """A header value read from an environment variable when the run starts (`{env: VAR}`), never from YAML."""

    var: str


@dataclass(frozen=True)
class EndpointSpec:
    """One entry of a suite's `endpoints:`: a named server, where its key comes from, and its own limits.

    The key itself is never in the suite: ``api_key_env`` names the environment variable holding it.
    """

    name: str
    base_url: str
    api_key_env: str | None = None
    headers: tuple[tuple[str, str | EnvValue], ...] = ()
    rpm: float | None = None
    tpm: float | None = None
    loc: Loc | None = None
    key_loc: Loc | None = None  # where `api_key_env` is written, for a message when the variable is unset

    @property
    def identity(self) -> tuple[object, ...]:
        """What makes two suites' endpoints the same server: they then share a client and rate limits."""
        return (self.name, self.base_url, self.api_key_env, self.headers, self.rpm, self.tpm)
