"""API name -> provider factory: the one place a new API is added.

A factory takes the provider settings and the pipeline's transport wrapper
(the cassette layer); it must import its SDK lazily, so naming a provider
here costs nothing at start-up.
"""

from __future__ import annotations

from harness.core.problems import did_you_mean
from harness.providers.base import Provider, ProviderFactory, ProviderSettings, WrapTransport
from harness.providers.chat import ChatCompletionsProvider
from harness.providers.responses import ResponsesProvider

PROVIDERS: dict[str, ProviderFactory] = {
    "chat": ChatCompletionsProvider,
    "responses": ResponsesProvider,
}


class UnknownProvider(KeyError):
    """An API name no provider is registered under."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(name: str, factory: ProviderFactory) -> None:
    """Add (or replace) the provider for ``name``; for plug-ins and tests."""
    PROVIDERS[name] = factory


def create(name: str, settings: ProviderSettings, wrap_transport: WrapTransport | None = None) -> Provider:
    """A new provider for the API ``name``."""
    try:
        factory = PROVIDERS[name]
    except KeyError:
        raise UnknownProvider(f"no provider for api {name!r}{did_you_mean(name, list(PROVIDERS))}; "
                              f"known: {', '.join(sorted(PROVIDERS))}") from None  # fmt: skip
    return factory(settings, wrap_transport)
