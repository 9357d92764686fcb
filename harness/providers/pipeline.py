"""The request pipeline: rate gate -> retry -> provider, over the cassette transport, for any provider.

Built once per run. Every request of every case, whatever its API, goes through
the same admission (rpm/tpm buckets, then the adaptive cap on requests in
flight) and the one retry layer; HTTP providers get the cassette layer as
their transport. A case reaches its model through a ``Channel``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.core.errors import RequestFailed
from harness.core.plan import CasePlan
from harness.core.reply import Completion, Embeddings
from harness.core.cassette_mode import CassetteMode
from harness.core.settings import RunSettings
from harness.core.suite import Suite
from harness.metering.tokens import count_text
from harness.providers import registry
from harness.providers.base import Provider, ProviderSettings
from harness.providers.ratelimit import RequestGate, request_tokens
from harness.providers.retry import DEFAULT_TIMEOUT, retry_policy, with_retries

T = TypeVar("T")
Send = Callable[[str, list[dict[str, Any]], dict[str, Any]], Awaitable[Completion]]  # (model, messages, params)
Embed = Callable[[str, list[str]], Awaitable[Embeddings]]  # (model, inputs)
RetryHook = Callable[[int, RequestFailed, float], None]  # (attempt, error, wait in seconds)


@dataclass
class Channel:
    """How one case reaches its model: requests through the pipeline, history shaped by its provider."""

    send: Send
    embed: Embed | None
    provider: Provider


class RequestPipeline:
    """Providers by API name, created on first use, behind one gate and one retry layer."""

    def __init__(self, settings: RunSettings, api_key: str | None, suites: Iterable[Suite] = (),
                 on_retry: RetryHook | None = None):  # fmt: skip
        self.settings = settings
        concurrency = max(settings.concurrency, 1)
        self.provider_settings = ProviderSettings(base_url=settings.base_url, api_key=api_key,
                                                  timeout=settings.timeout or DEFAULT_TIMEOUT,
                                                  max_connections=concurrency)  # fmt: skip
        paced = settings.cassette_mode.sends  # replaying sends nothing, so there is nothing to pace
        self.gate = RequestGate.build(concurrency, settings.rpm if paced else None, settings.tpm if paced else None)
        for suite in suites if paced else ():
            own = suite.rate_limit or {}
            self.gate.add_suite(suite.name, own.get("rpm"), own.get("tpm"))
        self.on_retry = on_retry
        self._providers: dict[str, Provider] = {}

    def provider(self, api: str) -> Provider:
        """The run's one provider for ``api``; with cassettes on, its HTTP goes through the cassette layer."""
        if api not in self._providers:
            wrap = None if self.settings.cassette_mode is CassetteMode.OFF else _cassette_transport
            self._providers[api] = registry.create(api, self.provider_settings, wrap)
        return self._providers[api]

    def channel(self, plan: CasePlan) -> Channel:
        """Send and embed for one case: its suite's rate limits and retry policy, its API's provider."""
        policy, timeout = retry_policy(self.settings, plan.suite)
        provider = self.provider(plan.api)
        suite = plan.suite.name

        async def send(model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
            async def attempt() -> Completion:
                tokens = request_tokens(model, messages, params) if self.gate.counts_tokens(suite) else 0
                return await self._admitted(suite, tokens, lambda: provider.complete(model, messages, params, timeout))

            return await with_retries(attempt, policy, self._note_retry)

        async def embed(model: str, inputs: list[str]) -> Embeddings:
            async def attempt() -> Embeddings:
                tokens = sum(count_text(text, model) for text in inputs) if self.gate.counts_tokens(suite) else 0
                return await self._admitted(suite, tokens, lambda: provider.embed(model, inputs, timeout))

            return await with_retries(attempt, policy, self._note_retry)

        return Channel(send=send, embed=embed, provider=provider)

    async def _admitted(self, suite: str, tokens: int, call: Callable[[], Awaitable[T]]) -> T:
        """One attempt through the gate; its outcome tunes the adaptive cap (429s lower it)."""
        async with self.gate.admit(suite, tokens) as slot:
            try:
                result = await call()
            except RequestFailed as e:
                slot.outcome = "rate_limited" if e.status == 429 else "failed"
                raise
            slot.outcome = "ok"
            return result

    def _note_retry(self, attempt: int, error: RequestFailed, wait: float) -> None:
        if self.on_retry is not None:
            self.on_retry(attempt, error, wait)

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()


def _cassette_transport(inner: Any) -> Any:
    # vcrpy loads only when cassettes are in use: `--cassettes off` and start-up do without it.
    from harness.providers.cassettes import CassetteTransport

    return CassetteTransport(inner)
