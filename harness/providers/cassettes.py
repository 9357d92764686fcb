"""Record and replay of every HTTP interaction, one vcrpy cassette per case.

vcrpy's usual ``use_cassette`` patches httpx globally, so concurrent cases
would write into each other's cassettes. Instead, one httpx transport serves
the whole run and looks up the *current case's* cassette in a context variable
(each asyncio task has its own), and each cassette is a real ``vcr.Cassette``
with vcrpy's format, matching, record modes and persister hooks.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import re
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
import openai
from vcr.cassette import Cassette
from vcr.matchers import method, path, requests_match
from vcr.record_mode import RecordMode
from vcr.request import Request as VcrRequest

from harness.core.cassette_mode import CassetteMode
from harness.core.redaction import leaks, redact
from harness.providers.base import REPLAYED_LATENCY_HEADER
from harness.providers.cassette_check import ReplyProblem
from harness.providers.cassette_diff import describe_changes
from harness.providers.cassette_files import CassetteFileError, ReadableYaml, SafePersister, body_json, json_body
from harness.providers.cassette_streams import LiveStream, ReplayStream, is_stream
from harness.providers.sse import SseEvent, sse_text

MODES = {CassetteMode.REPLAY: RecordMode.NONE, CassetteMode.RECORD_MISSING: RecordMode.NEW_EPISODES,
         CassetteMode.RECORD: RecordMode.ALL}
# A request to a named endpoint (a suite's `endpoints:`) is recorded with the endpoint's name in this
# header (never sent to the server), so it only replays for that endpoint; the run's own server has none.
ENDPOINT_HEADER = "x-harness-endpoint"


def endpoint(r1: Any, r2: Any) -> None:
    """vcrpy matcher: both requests went to the same endpoint (no header: the run's own server)."""
    if r1.headers.get(ENDPOINT_HEADER) != r2.headers.get(ENDPOINT_HEADER):
        raise AssertionError("endpoints differ")


MATCH_ON = (method, path, json_body, endpoint)
TRANSIENT = {408, 409, 429}
VOLATILE_FIELDS = ("id", "created", "system_fingerprint", "usage.prompt_tokens_details", "usage.completion_tokens_details")
_PLAIN_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")

__all__ = ["CassetteFileError", "CassetteMiss", "CaseCassette", "CassetteTransport", "cassette_path", "safe_name"]


class CassetteMiss(openai.OpenAIError):
    """No recording for a request in replay. An OpenAIError, so the SDK passes it through unwrapped.

    ``recording`` says which cassette and which server it was recorded from, so the case's
    result can say "needs re-record" with a command (``RequestFailed.recording``).
    """

    def __init__(self, message: str, recording: dict[str, Any] | None = None):
        super().__init__(message)
        self.recording = recording


ENDPOINTS = ("/chat/completions", "/embeddings", "/responses", "/completions")  # what a base URL is followed by
_URI_LINE = re.compile(r"^\s*uri: (\S+)\s*$", re.M)


def base_url_of(uri: str) -> str | None:
    """The base URL a recorded request went to: its URI without the endpoint path, or None."""
    parts = urlsplit(uri)
    for endpoint in ENDPOINTS:
        if parts.path.endswith(endpoint):
            return urlunsplit((parts.scheme, parts.netloc, parts.path[: -len(endpoint)], parts.query, ""))
    return None


@functools.lru_cache(maxsize=64)  # a new suite's many unrecorded cases share one folder: read it once
def _folder_base_url(folder: str, _mtime_ns: int) -> str | None:
    """The base URL the cassettes in ``folder`` (up to 50 of them) agree on."""
    uris: list[str] = []
    for sibling in sorted(Path(folder).glob("*.yaml"))[:50]:
        try:
            text = sibling.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for interaction in text.split("\n- request:")[1:]:  # one recorded request each (our own YAML layout)
            if ENDPOINT_HEADER not in interaction.split("\n  response:", 1)[0]:
                uris += _URI_LINE.findall(interaction)[:1]
    return one_base_url(uris)


def one_base_url(uris: list[str]) -> str | None:
    """The base URL every recording went to, or None when they disagree (or there are none)."""
    found = {base_url_of(uri) for uri in uris}
    return found.pop() if len(found) == 1 else None


def safe_name(name: str) -> str:
    """A file-system-safe, collision-free file name for a suite or case id.

    Names that are already lowercase and safe are kept; any other name is
    sanitised and suffixed with ``~`` and a hash of the original, a character
    plain names never contain, so two different ids never share a file, even
    on case-insensitive file systems.
    """
    if _PLAIN_NAME.fullmatch(name) and name not in (".", ".."):
        return name
    stem = re.sub(r"[^a-z0-9._-]+", "_", name.lower()).strip("._-")[:80] or "case"
    return f"{stem}~{hashlib.sha256(name.encode()).hexdigest()[:10]}"


def cassette_path(root: Path, suite: str, case_id: str, variant: str = "") -> Path:
    """cassettes/<suite>/<case>.yaml, or cassettes/<suite>/<variant>/<case>.yaml for a suite with variants."""
    folder = root / safe_name(suite)
    return (folder / safe_name(variant) if variant else folder) / f"{safe_name(case_id)}.yaml"


current: contextvars.ContextVar[CaseCassette | None] = contextvars.ContextVar("harness_cassette", default=None)


class _RepeatableCassette(Cassette):
    """Keeps every interaction recorded in this run, even one whose request matches an older recording.

    vcrpy's `record-missing` save drops a new interaction whose request matches
    a loaded one, assuming a request is recorded once. A case that repeats
    sends the same first request N times, one recording each; and a new
    recording only ever happens when every matching old one was already
    played, so all of them are new.
    """

    def _new_interactions(self) -> list[tuple[Any, Any]]:
        return self.data[self._loaded_count :]

    def play_first_match(self, request: VcrRequest) -> dict[str, Any] | None:
        """What ``can_play_response_for`` then ``play_response`` return, in one pass instead of three.

        vcrpy scrubs the request and matches it against every recording once to ask, then twice more
        to play; this does it once, skipping recordings already played: the first unplayed recording
        that matches is played and marked, exactly as vcrpy would.
        """
        if self.record_mode == RecordMode.ALL or not (self.rewound or self.allow_playback_repeats):
            return None
        request = self._before_record_request(request)
        if not request:
            return None
        for index, (stored, response) in enumerate(self.data):
            if (self.play_counts[index] == 0 or self.allow_playback_repeats) and requests_match(request, stored,
                                                                                                self._match_on):  # fmt: skip
                if self.play_counts[index] == 0 and index < self._loaded_count:
                    self._played_interactions.append((stored, response))
                self.play_counts[index] += 1
                return response
        return None


@dataclass
class CaseCassette:
    """One case's cassette and what this run did with it."""

    path: Path
    mode: CassetteMode
    rerecord_hint: str
    api_key: str | None = None
    root: Path | None = None  # the --cassette-dir this path is under
    suite_file: Path | None = None  # for a missing cassette: a `cassettes/` folder near it is suggested
    reply_problem: ReplyProblem | None = None  # the provider's check of a recorded reply (cassette_check.py)
    stream_finished: StreamFinished | None = None  # the provider's check that a recorded stream reached its end
    overwrite_hint: str = ""  # the command that records the case afresh (`--cassettes record`), for a broken file
    cassette: _RepeatableCassette = field(init=False)
    requests_seen: int = 0
    loaded: int = 0
    repeat: int = 0  # the case's repeat being played (0-based), set by the runner
    endpoint: str | None = None  # the case's named endpoint (`endpoints:`), set by the runner; None: the run's server
    secrets: tuple[str, ...] = ()  # the keys of the suites' other endpoints: never written either

    def __post_init__(self) -> None:
        """Load and validate the cassette; a broken one raises CassetteFileError with the re-record command.

        `--cassettes record` records afresh over a broken file; replay and `record-missing` report it
        (never replaying or silently keeping a recording that is cut short or mistyped).
        """
        try:
            self.cassette = self._load()
        except CassetteFileError as e:
            hint = self.overwrite_hint or self.rerecord_hint
            raise CassetteFileError(f"{e}; fix it, or re-record it with: {hint}") from None
        self.loaded = len(self.cassette.data)

    def _load(self) -> _RepeatableCassette:
        return _RepeatableCassette.load(
            path=str(self.path),
            serializer=ReadableYaml,
            persister=SafePersister(self.api_key, self.secrets, self.reply_problem,
                                    replace_broken=self.mode is CassetteMode.RECORD,
                                    stream_finished=self.stream_finished),  # fmt: skip
            record_mode=MODES[self.mode],
            match_on=MATCH_ON,
            before_record_request=_scrub_request,
            before_record_response=_scrub_response,
            drop_unused_requests=True,
        )

    @property
    def exists(self) -> bool:
        return self.loaded > 0

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Route this task's requests through this cassette (the transport finds it through ``current``)."""
        token = current.set(self)
        try:
            yield
        finally:
            current.reset(token)

    def start_repeat(self, repeat: int) -> None:
        """Repeat ``repeat`` (0-based) is about to play, so a miss can say which recording is missing."""
        self.repeat = repeat

    def play(self, request: VcrRequest) -> dict[str, Any] | None:
        return self.cassette.play_first_match(request)

    def record(self, request: VcrRequest, response: dict[str, Any]) -> dict[str, Any]:
        """Append a fresh recording, reusing the old one when only volatile fields changed.

        Returns what was stored, which the caller hands to the client, so the
        conversation continues with exactly what the cassette holds (a reused
        tool-call id, say) and replays the same way. The API key, and any piece of it a reply echoes, is
        redacted from the body first (harness/core/redaction.py: the rule for every file the harness writes).
        """
        response = _redacted_response(response, (self.api_key, *self.secrets))
        if self.mode is CassetteMode.RECORD:
            for old_request, old_response in self.cassette.data[: self.loaded]:
                if requests_match(request, old_request, MATCH_ON) and _same_reply(old_response, response):
                    request, response = old_request, old_response  # no churn, not even the server's port
                    break
        index = len(self.cassette.data)
        self.cassette.append(request, response)
        if len(self.cassette.data) > index:  # used by the request that made it: a later repeat records its own
            self.cassette.play_counts[index] += 1
        return response

    def replayable(self, request: httpx2.Request, body: bytes) -> bool:
        """Whether the provider could parse ``body`` back as a reply (the check every loaded recording meets)."""
        return self.reply_problem is None or self.reply_problem(request.url.path, body) is None

    @property
    def recorded_base_url(self) -> str | None:
        """The server this case's recordings were made against, when they agree; for a missing cassette,
        the one its suite's other cassettes agree on. A re-record command needs it, and a replay has no other."""
        # the run's own server: requests to a suite's named endpoints carry its name in a header
        uris = [r.uri for r, _ in self.cassette.data[: self.loaded] if not r.headers.get(ENDPOINT_HEADER)]
        if uris:
            return one_base_url(uris)
        try:
            return _folder_base_url(str(self.path.parent), self.path.parent.stat().st_mtime_ns)
        except OSError:
            return None

    def miss(self, request: VcrRequest) -> CassetteMiss:
        """The error for a request replay cannot answer: the message, and the recording it needs."""
        problem, fix = self._miss(request)
        recording = {"cassette": str(self.path), "base_url": None if self.endpoint else self.recorded_base_url,
                     "endpoint": self.endpoint, "problem": problem}  # fmt: skip
        return CassetteMiss(f"{problem}{fix}: {self.rerecord_hint}", recording)

    def _miss(self, request: VcrRequest) -> tuple[str, str]:
        """Why replay failed (missing cassette, too few recordings, or a short diff), and the words before the fix."""
        if not self.exists:
            other = self._cassette_dir_nearby()
            if other is not None:  # run from the wrong folder, most likely: the absolute path shows which
                return (f"no cassette at {self.path.resolve()}; the suite's project has a cassettes folder at {other}: "
                        f"pass --cassette-dir {shlex.quote(str(other))}", ", or record it with")  # fmt: skip
            return f"no cassette at {self.path}", "; record it with"
        recorded = self.cassette.data[: self.loaded]
        same = sum(1 for old, _ in recorded if requests_match(request, old, MATCH_ON))
        if same:  # it matches recordings, and every one of them was played already
            held = f"the cassette holds {same} recording{'' if same == 1 else 's'} of this request"
            if self.repeat:
                return f"repeat {self.repeat + 1} of this case is not recorded in {self.path} ({held})", "; re-record with"
            return f"the request was sent more times than {self.path} recorded it ({held})", "; re-record with"
        index = self.requests_seen - 1
        old = recorded[index][0] if index < len(recorded) else recorded[-1][0]
        changes = describe_changes(body_json(old.body), body_json(request.body))
        detail = "; ".join(changes) if changes else "the request differs from every recording"
        return (f"the request no longer matches its recording in {self.path} (request {self.requests_seen}): {detail}",
                ". Re-record with")  # fmt: skip

    def _cassette_dir_nearby(self) -> Path | None:
        """The nearest `cassettes/` folder in or above the suite's folder (up to two levels), unless it is the
        one in use (--cassette-dir): then the case is simply not recorded yet.

        Run from another directory, the default `cassettes` is relative to the wrong place;
        the project's own folder is usually beside the suites' folder. A folder further up than the one in
        use belongs to an enclosing project, never to this suite.
        """
        if self.suite_file is None or self.root is None:
            return None
        root = self.root.resolve()
        for folder in list(self.suite_file.resolve().parents)[:3]:
            candidate = folder / "cassettes"
            if candidate == root:
                return None
            if candidate.is_dir():
                return candidate
        return None

    def save(self, case_completed: bool) -> bool:
        """Write the cassette if recording changed it; never in replay. Returns whether it wrote."""
        if self.mode is CassetteMode.REPLAY:
            return False
        # A case that stopped part-way did not replay its later interactions: keep them.
        self.cassette.drop_unused_requests = case_completed
        before = self.cassette.dirty
        unused = len(self.cassette._played_interactions) < self.loaded  # noqa: SLF001 (vcrpy's own bookkeeping)
        if not before and not (case_completed and unused and self.mode is CassetteMode.RECORD_MISSING):
            return False
        self.cassette._save(force=self.mode is CassetteMode.RECORD)  # noqa: SLF001 (vcrpy's save honours modes and drop_unused)
        return True


StreamFinished = Callable[[list[SseEvent]], bool]


class CassetteTransport(httpx2.AsyncBaseTransport):
    """Routes each request through the current case's cassette; forwards to ``inner`` only to record.

    ``endpoint`` names the suite endpoint this transport's provider talks to (None: the run's own server).
    A streamed response (`text/event-stream`) is passed on event by event as it arrives and recorded
    once it has ended cleanly and ``stream_finished`` (its provider's) says it reached its final
    event; a stream that broke off is never recorded. Replayed, the events come back at their
    recorded offsets. Either way each event is preceded by an SSE comment with its offset, so the
    provider reports the same time to first token live, recorded and replayed.
    """

    def __init__(self, inner: httpx2.AsyncBaseTransport, endpoint: str | None = None,
                 stream_finished: StreamFinished | None = None):  # fmt: skip
        self.inner = inner
        self.endpoint = endpoint
        self.stream_finished = stream_finished

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        cassette = current.get()
        if cassette is None:
            return await self.inner.handle_async_request(request)
        body = await request.aread()
        headers = dict(request.headers)
        if self.endpoint is not None:
            headers[ENDPOINT_HEADER] = self.endpoint
        vcr_request = VcrRequest(request.method, str(request.url), body, headers)
        cassette.requests_seen += 1
        recorded = cassette.play(vcr_request)
        if recorded is not None:
            return _to_response(recorded, request)
        if cassette.cassette.write_protected:
            raise cassette.miss(vcr_request)
        started = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        if 200 <= response.status_code < 300 and is_stream(response.headers):
            return self._recording(response, request, cassette, vcr_request, started)
        content = await response.aread()
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        await response.aclose()
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]  # fmt: skip
        # A 2xx whose body is not JSON (cut short, garbled) is a transient failure the client retries, and one
        # that is not a reply of the API is an error: neither is recorded, so every recording can be replayed.
        if 200 <= response.status_code < 300 and body_json(content) is not None and cassette.replayable(request, content):
            stored = cassette.record(vcr_request, {
                "status": {"code": response.status_code, "message": response.reason_phrase},
                "headers": _group_headers(headers),
                "body": {"string": content},
                "latency_ms": latency_ms,
            })  # fmt: skip
            return _to_response(stored, request)
        return httpx2.Response(response.status_code, headers=headers, content=content, request=request,
                               extensions={"reason_phrase": response.reason_phrase.encode()})  # fmt: skip

    def _recording(self, response: httpx2.Response, request: httpx2.Request, cassette: CaseCassette,
                   vcr_request: VcrRequest, started: float) -> httpx2.Response:  # fmt: skip
        """Pass a live stream on as it arrives; record it when it ended complete."""
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]  # fmt: skip
        finished = self.stream_finished or (lambda events: True)

        def ended(events: list[SseEvent]) -> None:
            if not finished(events):
                return  # it stopped short of its final event: a failure the provider reports, never a recording
            cassette.record(vcr_request, {
                "status": {"code": response.status_code, "message": response.reason_phrase},
                "headers": _group_headers(headers),
                "body": {"string": "".join(sse_text(e) for e in events)},
                "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                "offsets_ms": [e.offset_ms for e in events],
            })  # fmt: skip

        return httpx2.Response(response.status_code, headers=headers, request=request,
                               stream=LiveStream(response, started, ended),
                               extensions={"reason_phrase": response.reason_phrase.encode()})  # fmt: skip

    async def aclose(self) -> None:
        await self.inner.aclose()


def _to_response(recorded: dict[str, Any], request: httpx2.Request) -> httpx2.Response:
    headers = [(k, v) for k, values in recorded.get("headers", {}).items() for v in values]
    if recorded.get("latency_ms") is not None:
        headers.append((REPLAYED_LATENCY_HEADER, str(recorded["latency_ms"])))
    body = recorded["body"]["string"]
    if recorded.get("offsets_ms") is not None:
        return httpx2.Response(recorded["status"]["code"], headers=headers, request=request,
                               stream=ReplayStream.of(body, recorded["offsets_ms"]))  # fmt: skip
    return httpx2.Response(recorded["status"]["code"], headers=headers, content=body, request=request)


def _redacted_response(response: dict[str, Any], keys: tuple[str | None, ...]) -> dict[str, Any]:
    """The response with each key, and any run of one that counts as a leak (harness/core/redaction.py), replaced
    by [redacted] in its body."""
    body = response["body"]["string"]
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else str(body)
    if not any(leaks(text, key) for key in keys):
        return response
    for key in keys:
        text = redact(text, key)
    return {**response, "body": {**response["body"], "string": text.encode()}}


def _group_headers(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for k, v in pairs:
        grouped.setdefault(k, []).append(v)
    return grouped


KEPT_HEADERS = {"content-type", ENDPOINT_HEADER}


def _scrub_request(request: VcrRequest) -> VcrRequest:
    """Keep only content-type (and the endpoint's name): keys, org/project ids, cookies and SDK fingerprints
    never reach disk."""
    request.headers = {k: v for k, v in request.headers.items() if k.lower() in KEPT_HEADERS}
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """Keep only content-type: openai-organization, set-cookie and request ids never reach disk."""
    response["headers"] = {k: v for k, v in response.get("headers", {}).items() if k.lower() in KEPT_HEADERS}
    return response


def _without_volatile(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    trimmed = {k: v for k, v in body.items() if k not in VOLATILE_FIELDS}
    if isinstance(trimmed.get("usage"), dict):
        trimmed["usage"] = {k: v for k, v in trimmed["usage"].items() if not k.endswith("_details")}
    for choice in trimmed.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and isinstance(message.get("tool_calls"), list):
            message["tool_calls"] = [{k: v for k, v in c.items() if k != "id"} if isinstance(c, dict) else c
                                     for c in message["tool_calls"]]  # fmt: skip
    return trimmed


def _same_reply(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Equal status and body once ids, timestamps and fingerprints are set aside.

    Never for a reply whose ids are conversation state (a Responses API object: a later request
    names it by `previous_response_id` or sends its items back by id), since the live server knows
    only its own ids; and never for a body that is not JSON.
    """
    if old["status"]["code"] != new["status"]["code"]:
        return False
    before, after = body_json(old["body"]["string"]), body_json(new["body"]["string"])
    if not isinstance(after, dict) or after.get("object") == "response":
        return False
    return _without_volatile(before) == _without_volatile(after)
