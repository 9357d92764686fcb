"""The OpenAI Batch API as a transport: requests are parked, sent together as batches, answered from the output.

With ``--batch`` the SDK providers build and send each request exactly as in a live
run, but the innermost transport (``BatchTransport``, under the cassette layer and
the authentication gate) does not send it: it parks it in the run's ``BatchQueue``
and waits. The round scheduler (harness/execution/batch_rounds.py) decides when a
round is complete and hands its requests to a ``BatchServer``, which uploads them
as JSONL (``client.files.create(purpose="batch")``), creates one batch per file
(``client.batches.create``), polls it (``client.batches.retrieve``) and reads the
output and error files (``client.files.content``). Each line's answer comes back
to its waiting request as the HTTP response a live request would have received,
so the SDK, the reply parsing, the retry layer and the cassettes see no difference.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2

from harness.core.redaction import redact_url
from harness.providers.base import ProviderSettings

COMPLETION_WINDOW = "24h"  # the only window the Batch API offers
WAIT_SECONDS = 25 * 3600.0  # a batched request may wait for its whole completion window
BATCH_PATHS = ("/chat/completions", "/responses", "/embeddings")
DONE = ("completed", "failed", "expired", "cancelled")
POLL_FIRST, POLL_MAX = 0.05, 30.0  # seconds between polls: quick at first, then at most every 30 s
PATIENCE = 6  # tries of one Batch API call that fails transiently (about a minute of pauses)
T = TypeVar("T")


@dataclass(frozen=True)
class BatchLimits:
    """What one input file may hold (the Batch API's limits); a round over them is split into several batches."""

    max_requests: int = 50_000
    max_bytes: int = 200 * 1024 * 1024


LIMITS = BatchLimits()


@dataclass
class CaseRequests:
    """One case's numbering of its batched requests, so a request's ``custom_id`` is the same on every resume."""

    label: str
    sent: int = 0

    def next_id(self) -> str:
        self.sent += 1
        return f"{self.label}#{self.sent}"


current_case: contextvars.ContextVar[CaseRequests | None] = contextvars.ContextVar("batch_case", default=None)


@dataclass
class Parked:
    """A request waiting for its round's batch; ``answer`` receives the response a live request would get."""

    server: BatchServer
    url: str  # as a batch line names it: /v1/chat/completions
    custom_id: str
    body: bytes
    request: httpx2.Request
    answer: asyncio.Future[httpx2.Response]

    @property
    def digest(self) -> str:
        """What the request said, so a resumed run only reuses a batch line for the very same request."""
        return hashlib.sha256(self.body).hexdigest()[:16]

    def line(self) -> bytes:
        """The batch input line: the request body as the SDK wrote it, untouched."""
        head = json.dumps({"custom_id": self.custom_id, "method": "POST", "url": self.url})[:-1]
        return head.encode() + b', "body": ' + self.body + b"}"


class BatchQueue:
    """The requests parked since the last round, and a signal for the scheduler each time that changes."""

    def __init__(self) -> None:
        self.parked: list[Parked] = []
        self.cases: set[str] = set()  # the cases with a parked request (a case may park several: graded checks)
        self.changed = asyncio.Event()
        self.servers: dict[Hashable, BatchServer] = {}

    def park(self, parked: Parked) -> None:
        self.parked.append(parked)
        self.cases.add(parked.custom_id.rsplit("#", 1)[0])
        self.changed.set()

    def take(self) -> list[Parked]:
        taken, self.parked = self.parked, []
        self.cases = set()
        return taken

    def server(self, key: Hashable, settings: ProviderSettings) -> BatchServer:
        """The one BatchServer of an endpoint (every provider talking to it shares it)."""
        if key not in self.servers:
            self.servers[key] = BatchServer(settings)
        return self.servers[key]

    async def aclose(self) -> None:
        for server in self.servers.values():
            await server.aclose()


class BatchTransport(httpx2.AsyncBaseTransport):
    """Parks each model request for the round's batch; anything else (``/models``) goes to the network."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, queue: BatchQueue, server: BatchServer):
        self.inner, self.queue, self.server = inner, queue, server

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        suffix = next((p for p in BATCH_PATHS if path.endswith(p)), None)
        if suffix is None or request.method != "POST":
            return await self.inner.handle_async_request(request)
        body = await request.aread()
        case = current_case.get()
        custom_id = case.next_id() if case else f"request-{hashlib.sha256(body).hexdigest()[:16]}"
        answer: asyncio.Future[httpx2.Response] = asyncio.get_running_loop().create_future()
        self.queue.park(Parked(self.server, "/v1" + suffix, custom_id, body, request, answer))
        return await answer

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Submitted:
    """One batch of a round: its ids and the lines it carries (custom_id -> digest), as the journal keeps them."""

    batch_id: str
    input_file_id: str
    endpoint: str
    server: str
    lines: dict[str, str]
    status: str = "validating"
    done: int = 0
    failed: int = 0
    total: int = 0

    def record(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "input_file_id": self.input_file_id, "endpoint": self.endpoint,
                "server": self.server, "lines": self.lines}  # fmt: skip

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Submitted:
        lines = data.get("lines")
        return cls(str(data["batch_id"]), str(data["input_file_id"]), str(data["endpoint"]), str(data["server"]),
                   {str(k): str(v) for k, v in lines.items()} if isinstance(lines, dict) else {})  # fmt: skip


@dataclass
class LineAnswer:
    """One output or error line: its HTTP status and body, or why it has none."""

    status: int
    body: bytes
    request_id: str | None = None


@dataclass
class BatchServer:
    """The Batch API of one server, through the official SDK (its retries off: a batch created twice is paid twice).

    A poll or a download that fails transiently is tried again (``_patiently``): giving up on a batch that is
    running would send its requests again in a new one.
    """

    settings: ProviderSettings
    _client: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The server, as the journal keeps it: no user info or secret query value (harness/core/redaction.py)."""
        return redact_url(self.settings.base_url) or "https://api.openai.com/v1"

    @property
    def client(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            from harness.providers.openai_sdk import PLACEHOLDER_KEY

            self._client = AsyncOpenAI(api_key=self.settings.api_key or PLACEHOLDER_KEY, base_url=self.settings.base_url,
                                       timeout=max(self.settings.timeout, 120.0), max_retries=0,
                                       default_headers=self.settings.headers or None, organization=None, project=None)  # fmt: skip
        return self._client

    async def submit(self, endpoint: str, parked: list[Parked], limits: BatchLimits,
                     on_submitted: Callable[[Submitted], None],
                     on_uploaded: Callable[[dict[str, Any]], None] = lambda record: None) -> list[Submitted]:  # fmt: skip
        """Upload ``parked`` as one or more input files within ``limits`` and create a batch on each.

        ``on_uploaded`` hears of each file as soon as it exists (a file whose batch was never created is
        uploaded again on resume; its id in the journal lets it be found and deleted).
        """
        batches = []
        for part in split(parked, limits):
            data = b"\n".join(p.line() for p in part) + b"\n"
            uploaded = await _patiently(lambda: self.client.files.create(file=("harness-batch.jsonl", data),
                                                                          purpose="batch"))  # fmt: skip
            on_uploaded({"input_file_id": uploaded.id, "endpoint": endpoint, "server": self.name, "requests": len(part)})
            created = await self.client.batches.create(input_file_id=uploaded.id, endpoint=endpoint,  # type: ignore[arg-type]
                                                       completion_window=COMPLETION_WINDOW,
                                                       metadata={"source": "prompt-harness"})  # fmt: skip
            submitted = Submitted(created.id, uploaded.id, endpoint, self.name, {p.custom_id: p.digest for p in part},
                                  total=len(part))  # fmt: skip
            on_submitted(submitted)  # in the journal before the first poll: a resume polls it, never pays twice
            batches.append(submitted)
        return batches

    async def wait(self, batch: Submitted, on_status: Callable[[], None]) -> Any:
        """Poll until the batch is done; ``batch`` carries the latest status and counts for the progress line."""
        pause = POLL_FIRST
        while True:
            found = await _patiently(lambda: self.client.batches.retrieve(batch.batch_id))
            counts = found.request_counts
            batch.status = found.status
            if counts is not None:
                batch.done, batch.failed, batch.total = counts.completed, counts.failed, counts.total or batch.total
            on_status()
            if found.status in DONE:
                return found
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, POLL_MAX)

    async def answers(self, found: Any) -> dict[str, LineAnswer]:
        """Every answered line of a finished batch (output and error files), by custom_id."""
        answers: dict[str, LineAnswer] = {}
        for file_id in (found.output_file_id, found.error_file_id):
            if file_id:
                content = await _patiently(lambda: self.client.files.content(file_id))
                for raw in content.content.splitlines():
                    if raw.strip():
                        custom_id, answer = parse_line(raw)
                        answers[custom_id] = answer
        return answers

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


async def _patiently(call: Callable[[], Awaitable[T]], attempts: int = PATIENCE) -> T:
    """``call()``, tried again after a transient failure (connection, timeout, 429, 5xx) with a growing pause."""
    import openai

    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError):
            if attempt == attempts:
                raise
            await asyncio.sleep(min(2.0 ** attempt, POLL_MAX))
    raise AssertionError("unreachable")


def split(parked: list[Parked], limits: BatchLimits) -> Iterable[list[Parked]]:
    """The requests in order, cut into parts of at most ``limits.max_requests`` lines and ``max_bytes`` bytes."""
    part: list[Parked] = []
    size = 0
    for p in parked:
        length = len(p.line()) + 1
        if part and (len(part) >= limits.max_requests or size + length > limits.max_bytes):
            yield part
            part, size = [], 0
        part.append(p)
        size += length
    if part:
        yield part


def parse_line(raw: bytes) -> tuple[str, LineAnswer]:
    """(custom_id, answer) of one output or error line: ``{"id", "custom_id", "response", "error"}``."""
    data = json.loads(raw)
    response = data.get("response")
    if isinstance(response, dict) and isinstance(response.get("status_code"), int):
        body = response.get("body")
        text = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return str(data["custom_id"]), LineAnswer(response["status_code"], text, response.get("request_id"))
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    return str(data["custom_id"]), failure(f"the batch could not run this request: {error.get('code') or 'error'}: "
                                           f"{error.get('message') or 'no message'}")  # fmt: skip


def failure(message: str, status: int = 500) -> LineAnswer:
    """An answer for a request its batch did not answer (retryable: it goes into the next round's batch)."""
    return LineAnswer(status, json.dumps({"error": {"message": message, "type": "batch_error"}}).encode())


def respond(parked: Parked, answer: LineAnswer) -> None:
    """Hand a parked request the HTTP response its line says."""
    if parked.answer.done():
        return
    headers = {"content-type": "application/json"}
    if answer.request_id:
        headers["x-request-id"] = answer.request_id
    parked.answer.set_result(httpx2.Response(answer.status, headers=headers, content=answer.body,
                                             request=parked.request))  # fmt: skip
