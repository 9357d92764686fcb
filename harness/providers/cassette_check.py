"""One validator for a cassette before it is replayed: the file's shape, then every recorded reply.

A cassette cut short can still be valid YAML: replayed, its reply was `content:
null`, scored as a failed check; a wrong type inside one was "internal error:
TypeError"; `version: 99` was read as if it were 1. Every interaction is
checked here, the replies with the provider's own parser (the one a live reply
goes through), so a broken recording is a broken cassette (exit 3, the file,
the re-record command) and never a verdict on the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from harness.providers.sse import parse_sse

CASSETTE_VERSION = 1  # vcrpy's format version, the one this harness writes and reads

# (request path, recorded 2xx body) -> why it is not a reply of the provider's API, or None (a provider's
# `recorded_reply_problem`, see harness/providers/base.py).
ReplyProblem = Callable[[str, bytes], "str | None"]
StreamFinished = Callable[[list[Any]], bool]  # a provider's `stream_finished`: the events reach the stream's end


def cassette_problem(data: Any, reply_problem: ReplyProblem | None = None,
                     stream_finished: StreamFinished | None = None) -> str | None:  # fmt: skip
    """What makes a parsed cassette (bodies flattened to JSON text) unusable, in words; None when it is sound.

    ``stream_finished`` (the provider's) says whether a recorded stream's events reach its end.
    """
    if not isinstance(data, dict):
        return "not a cassette: expected a mapping with `version:` and `interactions:`"
    version = data.get("version")
    if "version" not in data:
        return "no `version:` (a cassette written by the harness starts with `version: 1`)"
    if isinstance(version, int) and not isinstance(version, bool) and version > CASSETTE_VERSION:
        return f"cassette format version {version} is newer than this harness reads ({CASSETTE_VERSION})"
    if version != CASSETTE_VERSION:
        return f"cassette format version {version!r} is not one this harness reads ({CASSETTE_VERSION})"
    interactions = data.get("interactions")
    if not isinstance(interactions, list):
        return "`interactions:` must be a list of recorded requests and responses"
    for number, interaction in enumerate(interactions, start=1):
        problem = _interaction_problem(interaction, reply_problem, stream_finished)
        if problem:
            return f"interaction {number}: {problem}"
    return None


def _interaction_problem(interaction: Any, reply_problem: ReplyProblem | None,
                         stream_finished: StreamFinished | None) -> str | None:  # fmt: skip
    if not isinstance(interaction, dict) or not isinstance(interaction.get("request"), dict):
        return "needs a `request:` mapping"
    if not isinstance(interaction.get("response"), dict):
        return "needs a `response:` mapping"
    request, response = interaction["request"], interaction["response"]
    for key in ("method", "uri"):
        if not isinstance(request.get(key), str):
            return f"the request's `{key}` must be text, got {request.get(key)!r}"
    headers = request.get("headers", {})
    if not isinstance(headers, dict) or not all(
            isinstance(k, str) and (isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v)))
            for k, v in headers.items()):  # fmt: skip
        return "the request's `headers` must map each name to a list of text values"
    if not isinstance(request.get("body"), (str, bytes, type(None))):
        return "the request's `body` must be text"
    status = response.get("status")
    code = status.get("code") if isinstance(status, dict) else None
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
        return f"the response's status code must be a number from 100 to 599, got {code!r}"
    problem = _headers_problem(response.get("headers", {}))
    if problem:
        return problem
    latency = response.get("latency_ms")
    if latency is not None and (isinstance(latency, bool) or not isinstance(latency, (int, float))
                                or not math.isfinite(latency) or latency < 0):  # fmt: skip
        return f"the response's `latency_ms` must be a number of milliseconds, got {latency!r}"
    body = response.get("body")
    text = body.get("string") if isinstance(body, dict) else None
    if not isinstance(text, (str, bytes)):
        return f"the response's `body` must hold its text under `string:`, got {text!r}"[:200]
    try:
        path = urlsplit(request["uri"]).path
    except ValueError as e:  # "Invalid IPv6 URL" and the like
        return f"the request's `uri` is not a URL ({e})"
    if "offsets_ms" in response:  # a stream, kept as its events
        return _stream_problem(response["offsets_ms"], text, code, stream_finished)
    if 200 <= code < 300 and reply_problem is not None:
        raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
        problem = reply_problem(path, raw)
        if problem:
            return f"the recorded reply is not one the harness can replay: {problem}"
    return None


def _stream_problem(offsets: Any, text: str | bytes, code: int, stream_finished: StreamFinished | None) -> str | None:
    if not isinstance(offsets, list) or not all(
            isinstance(ms, (int, float)) and not isinstance(ms, bool) and math.isfinite(ms) and ms >= 0
            for ms in offsets):  # fmt: skip
        return "the recorded stream's event times (`ms:`) must be numbers of milliseconds"
    if 200 <= code < 300 and stream_finished is not None:
        events = parse_sse(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)
        if not stream_finished(events):
            return "the recorded stream ends before its final event (cut short?)"
    return None


def _headers_problem(headers: Any) -> str | None:
    ok = isinstance(headers, dict) and all(
        isinstance(k, str) and k.isascii() and isinstance(v, list) and all(isinstance(x, str) and x.isascii() for x in v)
        for k, v in headers.items())  # fmt: skip
    return None if ok else "the response's `headers` must map each name to a list of text values, in ASCII as HTTP has them"
