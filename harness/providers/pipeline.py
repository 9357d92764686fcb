"""The request pipeline: rate gate -> retry -> provider, over the cassette transport, for any provider.

Built once per run. It holds one provider per (API, endpoint): the run's own
server (--base-url) and each named endpoint of the suites (`endpoints:`), with
its own key from the environment. Every request goes through its endpoint's
admission (rpm/tpm buckets, then the adaptive cap on requests in flight: a 429
from one server slows only that server) and the one retry layer; HTTP providers
get the cassette layer and the authentication gate (a 401 or 403 stops the
sending to that server) as their transport. Every reply and failure comes back
with its text made storable (harness/core/text_policy.py). A case reaches its
model, and its model-graded checks their grader, through a ``Channel``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

from harness.core.apis import CHAT, RESEND
from harness.core.errors import RequestFailed
from harness.core.plan import CasePlan
from harness.core.reply import Completion, Embeddings
from harness.core.cassette_mode import CassetteMode
from harness.core.settings import RunSettings
from harness.core.specs import DEFAULT_ENDPOINT, EndpointSpec, EnvValue
from harness.core.suite import Suite
from harness.core.text_policy import has_surrogates, repair, replaced_note, storable
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
    """How one case reaches its model: requests through the pipeline, history shaped by its provider.

    ``grader`` is where its model-graded checks send (a suite's `grader: {endpoint: ...}`, and always over
    Chat Completions: their requests and `grader: {params}` are in Chat's vocabulary); None: here too.
    """

    send: Send
    embed: Embed | None
    provider: Provider
    grader: Channel | None = None
    batch: bool = False  # its requests go through the Batch API: priced at the batch rates


class RequestPipeline:
    """Providers by (API, endpoint), created on first use, each endpoint behind its own gate; one retry layer."""

    def __init__(self, settings: RunSettings, api_key: str | None, suites: Iterable[Suite] = (),
                 on_retry: RetryHook | None = None, environ: Mapping[str, str] | None = None,
                 on_refused: Callable[[str], None] | None = None, batch: Any = None):  # fmt: skip
        self.settings = settings
        self.batch = batch  # the run's BatchQueue (harness/providers/batch.py) with --batch, else None
        self.environ = os.environ if environ is None else environ
        self.concurrency = max(settings.concurrency, 1)
        self.provider_settings = ProviderSettings(base_url=settings.base_url, api_key=api_key,
                                                  timeout=settings.timeout or DEFAULT_TIMEOUT,
                                                  max_connections=self.concurrency)  # fmt: skip
        self.suites = list(suites)
        self.on_retry = on_retry
        self.on_refused = on_refused  # told once per server, when its first 401/403 stops the sending to it
        self._latches: dict[Hashable, Any] = {}  # endpoint -> AuthLatch (harness/providers/auth_gate.py)
        self.gates: dict[Hashable, RequestGate] = {}
        self.gate = self._gate(None)  # the run's own server's
        self._providers: dict[tuple[str, str, Hashable], Provider] = {}
        endpoints = [spec for suite in self.suites for spec in suite.endpoints.values()]
        # Every key the run may use, for redaction: the run's own and each endpoint's (headers from the env too).
        self.secrets: tuple[str, ...] = tuple(dict.fromkeys(
            key for key in [api_key, *(self._endpoint_settings(spec).api_key for spec in endpoints),
                            *(self.environ.get(v.var) for spec in endpoints for _, v in spec.headers
                              if isinstance(v, EnvValue))] if key))  # fmt: skip

    def _gate(self, endpoint: EndpointSpec | None) -> RequestGate:
        """The endpoint's gate: --rpm/--tpm (or the endpoint's own, lower, `rate_limit:`), the suites' limits."""
        key = _identity(endpoint)
        if key not in self.gates:
            paced = self.settings.cassette_mode.sends  # replaying sends nothing, so there is nothing to pace
            rpm = _lowest(self.settings.rpm, endpoint.rpm if endpoint else None) if paced else None
            tpm = _lowest(self.settings.tpm, endpoint.tpm if endpoint else None) if paced else None
            share = partial(_shared, self.settings.rate_share)  # a worker's part of each limit (--workers)
            gate = RequestGate.build(self.concurrency, share(rpm), share(tpm))
            for suite in self.suites if paced else ():
                own = suite.rate_limit or {}
                gate.add_suite(suite.name, share(own.get("rpm")), share(own.get("tpm")))
            self.gates[key] = gate
        return self.gates[key]

    def _endpoint_settings(self, endpoint: EndpointSpec) -> ProviderSettings:
        """A named endpoint's server, key and headers; the key and secret headers come from the environment."""
        headers = {name: self.environ.get(value.var, "") if isinstance(value, EnvValue) else value
                   for name, value in endpoint.headers}  # fmt: skip
        key = self.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
        return ProviderSettings(base_url=endpoint.base_url, api_key=key or None, timeout=self.provider_settings.timeout,
                                max_connections=self.concurrency, headers=headers)  # fmt: skip

    def provider(self, api: str, endpoint: EndpointSpec | None = None, history: str = RESEND) -> Provider:
        """The run's one provider for ``api`` at ``endpoint`` (and `history:` mode); its HTTP goes through the
        cassettes (when on), then the endpoint's gate that stops sending after its first authentication failure."""
        key = (api, history, _identity(endpoint))
        if key not in self._providers:
            # The provider says when a stream is complete, so the cassette layer never records a broken one.
            finished = getattr(registry.PROVIDERS.get(api), "stream_finished", None)
            wrap = partial(_gated_transport, latch=self._latch(endpoint), endpoint=endpoint.name if endpoint else None,
                           cassettes=self.settings.cassette_mode is not CassetteMode.OFF, finished=finished)  # fmt: skip
            settings = self.provider_settings if endpoint is None else self._endpoint_settings(endpoint)
            if self.batch is not None:  # the innermost transport parks each request for its round's batch
                wrap = partial(wrap, batch=partial(_batch_transport, queue=self.batch,
                                                   server=self.batch.server(_identity(endpoint), settings)))  # fmt: skip
            self._providers[key] = registry.create(api, replace(settings, history=history), wrap)
        return self._providers[key]

    def _latch(self, endpoint: EndpointSpec | None) -> Any:
        """The endpoint's authentication latch: every provider (API) talking to one server shares it."""
        from harness.providers.auth_gate import AuthLatch

        key = _identity(endpoint)
        if key not in self._latches:
            if endpoint is None:
                self._latches[key] = AuthLatch(self.on_refused)
            else:
                fix = f"check ${endpoint.api_key_env} and" if endpoint.api_key_env else "check"
                self._latches[key] = AuthLatch(self.on_refused, f"endpoint {endpoint.name!r} ({endpoint.base_url})",
                                               f"{fix} the endpoint's base_url in the suite")  # fmt: skip
        return self._latches[key]

    def load(self) -> tuple[int, int, int]:
        """Requests in flight, the cap on them and requests waiting, over every endpoint (for the progress line)."""
        gates = [g.concurrency for g in self.gates.values()]
        return sum(c.in_flight for c in gates), sum(c.limit for c in gates), sum(c.waiting for c in gates)

    def channel(self, plan: CasePlan) -> Channel:
        """Send and embed for one case (and its grader): the suite's retry policy, each endpoint's gate."""
        channel = self._channel(plan, plan.endpoint, plan.api, plan.history_mode)
        if _identity(plan.grader_endpoint) != _identity(plan.endpoint) or plan.api != CHAT:
            channel.grader = self._channel(plan, plan.grader_endpoint, CHAT, RESEND)
        return channel

    def _channel(self, plan: CasePlan, endpoint: EndpointSpec | None, api: str, history: str) -> Channel:
        policy, timeout = retry_policy(self.settings, plan.suite)
        if self.batch is not None:  # a retry is the next round's batch: no backoff; a request waits for its batch
            from harness.providers.batch import WAIT_SECONDS

            policy, timeout = replace(policy, base_delay=0.0), WAIT_SECONDS
        provider = self.provider(api, endpoint, history)
        gate = self._gate(endpoint)
        suite = plan.suite.name

        async def send(model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
            async def attempt() -> Completion:
                tokens = request_tokens(model, messages, params) if gate.counts_tokens(suite) else 0
                if self.batch is not None:  # the Batch API queues a round's requests itself: no pacing here
                    return await provider.complete(model, messages, params, timeout)
                return await _admitted(gate, suite, tokens, lambda: provider.complete(model, messages, params, timeout))

            try:
                reply = await with_retries(attempt, policy, self._note_retry)
            except RequestFailed as e:
                raise _storable_failure(e) from None
            return _storable_reply(reply)

        async def embed(model: str, inputs: list[str]) -> Embeddings:
            async def attempt() -> Embeddings:
                tokens = sum(count_text(text, model) for text in inputs) if gate.counts_tokens(suite) else 0
                if self.batch is not None:
                    return await provider.embed(model, inputs, timeout)
                return await _admitted(gate, suite, tokens, lambda: provider.embed(model, inputs, timeout))

            try:
                return await with_retries(attempt, policy, self._note_retry)
            except RequestFailed as e:
                raise _storable_failure(e) from None

        return Channel(send=send, embed=embed, provider=provider, batch=self.batch is not None)

    def _note_retry(self, attempt: int, error: RequestFailed, wait: float) -> None:
        if self.on_retry is not None:
            self.on_retry(attempt, error, wait)

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        if self.batch is not None:
            await self.batch.aclose()


async def _admitted(gate: RequestGate, suite: str, tokens: int, call: Callable[[], Awaitable[T]]) -> T:
    """One attempt through an endpoint's gate; its outcome tunes that endpoint's adaptive cap (429s lower it)."""
    async with gate.admit(suite, tokens) as slot:
        try:
            result = await call()
        except RequestFailed as e:
            slot.outcome = "rate_limited" if e.status == 429 else "failed"
            raise
        slot.outcome = "ok"
        return result


def _identity(endpoint: EndpointSpec | None) -> Hashable:
    return DEFAULT_ENDPOINT if endpoint is None else endpoint.identity


def _lowest(*rates: float | None) -> float | None:
    given = [r for r in rates if r]
    return min(given) if given else None


def _shared(share: float, rate: float | None) -> float | None:
    """This process's part of a rate limit: all of it, or 1/N of it in each of N workers."""
    return rate * share if rate else rate


def _storable_reply(reply: Completion) -> Completion:
    """The reply with text no file can hold repaired, and a note saying so (harness/core/text_policy.py)."""
    texts = [reply.content, reply.refusal, reply.finish_reason, reply.model, reply.id, reply.status,
             reply.incomplete_reason, *(text for call in reply.tool_calls for text in (call.id, call.name, call.arguments)),
             json.dumps(reply.output, ensure_ascii=False) if reply.output else None]  # items sent back next turn  # fmt: skip
    if not has_surrogates("".join(t for t in texts if isinstance(t, str))):  # the usual case, in one scan
        return reply
    _, replaced = repair(reply)
    if replaced:
        reply.notes.append(replaced_note(replaced))
    return reply


def _storable_failure(failure: RequestFailed) -> RequestFailed:
    """A server's error message is stored too (the case's error), and so is the partial reply of a stream that
    broke off: the same repair."""
    failure.message = storable(failure.message)[0]
    failure.args = (failure.message,)
    if isinstance(failure.partial, Completion):
        _storable_reply(failure.partial)
    return failure


def _batch_transport(inner: Any, queue: Any, server: Any) -> Any:
    from harness.providers.batch import BatchTransport

    return BatchTransport(inner, queue, server)


def _gated_transport(inner: Any, latch: Any, endpoint: str | None, cassettes: bool,
                     finished: Callable[[list[Any]], bool] | None = None,
                     batch: Callable[[Any], Any] | None = None) -> Any:  # fmt: skip
    """The network transport (or, with --batch, the batch transport over it) behind the authentication gate,
    and, when cassettes are on, the cassette layer."""
    from harness.providers.auth_gate import AuthGate

    if batch is not None:
        inner = batch(inner)

    gated = AuthGate(inner, latch)
    if not cassettes:
        return gated
    # vcrpy loads only when cassettes are in use: `--cassettes off` and start-up do without it.
    from harness.providers.cassettes import CassetteTransport

    return CassetteTransport(gated, endpoint, finished)
