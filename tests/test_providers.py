"""The provider seam (harness/providers/base.py, registry.py, pipeline.py) and the one settings object.

A second provider, used only here, speaks a made-up JSON API over an in-memory
HTTP transport. Registered under a name and chosen by a plan, it inherits the
pipeline: retries, cassettes (recorded, then replayed with no request), budgets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from harness.core.cassette_mode import CASSETTE_MODES, CassetteMode
from harness.core.errors import RequestFailed
from harness.core.reply import Completion, Embeddings, ToolCall, Usage
from harness.core.settings import RunSettings
from harness.execution.runner import run_plans
from harness.providers import registry
from harness.providers.base import ProviderSettings, WrapTransport
from harness.suites.planning import load_plans


class EchoServer:
    """The in-memory server behind the provider: answers `echo: <last text>`, after `busy` 503s."""

    def __init__(self, busy: int = 0):
        self.busy = busy
        self.requests: list[dict[str, Any]] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if self.busy:
            self.busy -= 1
            return httpx2.Response(503, json={"error": "busy"})
        return httpx2.Response(200, json={"text": f"echo: {body['input'][-1]['text']}", "in": 7, "out": 3})


class EchoProvider:
    """A provider of another API shape: `input` items of `{who, text}`, a reply of `{text, in, out}`."""

    server = EchoServer()

    def __init__(self, settings: ProviderSettings, wrap_transport: WrapTransport | None = None):
        inner = httpx2.MockTransport(self.server.handle)
        transport = wrap_transport(inner) if wrap_transport else inner
        self.http = httpx2.AsyncClient(transport=transport, base_url="http://echo.invalid")

    async def complete(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
                       timeout: float | None = None) -> Completion:  # fmt: skip
        items = [{"who": m["role"], "text": m["content"]} for m in messages]
        response = await self.http.post("/v1/echo", json={"model": model, "input": items, **params})
        if response.status_code != 200:
            raise RequestFailed(f"HTTP {response.status_code}", retryable=response.status_code >= 500,
                                status=response.status_code)  # fmt: skip
        data = response.json()
        usage = Usage(data["in"], data["out"], data["in"] + data["out"])
        return Completion(content=data["text"], finish_reason="stop", usage=usage, model=model)

    async def embed(self, model: str, inputs: list[str], timeout: float | None = None) -> Embeddings:
        raise RequestFailed("the echo API has no embeddings", retryable=False)

    @staticmethod
    def assistant_message(reply: Completion) -> dict[str, Any]:
        return {"role": "assistant", "content": reply.content}

    @staticmethod
    def tool_result_messages(calls: list[ToolCall], results: dict[str, str]) -> list[dict[str, Any]]:
        return []

    async def aclose(self) -> None:
        await self.http.aclose()


SUITE = """\
suite: echo
model: echo-1
encoding: o200k_base
retry: {base_delay: 0}
cases:
  - id: two-turns
    budget: {max_total_tokens: 100}
    turns:
      - user: "hello"
        expect: [{contains: "echo: hello"}]
      - user: "again"
        expect: [{contains: "echo: again"}]
  - id: over-budget
    budget: {max_completion_tokens: 5}
    turns:
      - user: "one"
      - user: "two"
"""


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> EchoServer:
    server = EchoServer(busy=1)
    monkeypatch.setattr(EchoProvider, "server", server)
    monkeypatch.setitem(registry.PROVIDERS, "echo", EchoProvider)
    return server


def _run(suite: Path, cassette_dir: Path, mode: CassetteMode) -> dict[str, Any]:
    _, plans = load_plans([str(suite)])
    for plan in plans:
        plan.api = "echo"
    settings = RunSettings(paths=[str(suite)], cassette_mode=mode, cassette_dir=str(cassette_dir))
    run = run_plans(plans, settings, api_key=None)
    return {c.id: c for c in run.cases}


def test_a_second_provider_runs_through_the_same_retries_cassettes_and_budgets(echo, write_suite, tmp_path):
    suite = write_suite(SUITE)
    cassettes = tmp_path / "cassettes"

    recorded = _run(suite, cassettes, CassetteMode.RECORD)

    # retries: the first request got a 503 and was sent again; 4 answered requests for 4 turns
    assert len(echo.requests) == 5
    assert recorded["two-turns"].status == "passed"
    assert [t.reply.content for t in recorded["two-turns"].turns] == ["echo: hello", "echo: again"]
    # the whole history went out, shaped by the provider (its assistant items, its request format)
    second = next(r for r in echo.requests if r["input"][-1]["text"] == "again")
    assert second["input"] == [{"who": "user", "text": "hello"}, {"who": "assistant", "text": "echo: hello"},
                               {"who": "user", "text": "again"}]
    # budgets: 3 completion tokens a turn; 6 > 5 fails the case's budget after its second turn
    assert recorded["over-budget"].status == "failed"
    budget = [c for t in recorded["over-budget"].turns for c in t.checks if c.name == "budget"]
    assert budget and not budget[-1].passed and "max_completion_tokens" in budget[-1].reason
    # cassettes: one readable file per case, holding the provider's own requests
    stored = yaml.safe_load((cassettes / "echo" / "two-turns.yaml").read_text())
    assert [i["request"]["uri"] for i in stored["interactions"]] == ["http://echo.invalid/v1/echo"] * 2

    echo.requests.clear()
    replayed = _run(suite, cassettes, CassetteMode.REPLAY)

    assert echo.requests == []  # replay never reaches the server
    assert {k: c.status for k, c in replayed.items()} == {k: c.status for k, c in recorded.items()}
    assert [t.reply.content for t in replayed["two-turns"].turns] == ["echo: hello", "echo: again"]


def test_an_unknown_api_names_the_known_ones():
    with pytest.raises(registry.UnknownProvider) as caught:
        registry.create("chta", ProviderSettings())
    assert str(caught.value) == "no provider for api 'chta'; did you mean 'chat'?; known: chat, responses"


def test_settings_replay_by_default_and_modes_are_one_enum():
    assert RunSettings().cassette_mode is CassetteMode.REPLAY
    assert RunSettings.from_dict({}).cassette_mode is CassetteMode.REPLAY
    assert CASSETTE_MODES == ("replay", "record-missing", "record", "off")
    assert RunSettings(cassette_mode="off").cassette_mode is CassetteMode.OFF  # a mode's spelling is accepted
    assert RunSettings(cassette_mode="record").to_dict()["cassettes"] == "record"
    with pytest.raises(ValueError):
        RunSettings(cassette_mode="replay-all")
