"""A small fake OpenAI-compatible server: real HTTP on 127.0.0.1, deterministic replies.

The reply is derived from the request, and directives in the last user message
choose special behaviour, so each test states what it wants in the suite itself:

    [[reply:TEXT]]        reply with TEXT verbatim
    [[length]]            finish_reason "length" (reply cut short)
    [[content_filter]]    finish_reason "content_filter", no content
    [[tool:NAME ARGS]]    a tool call to NAME with JSON ARGS, finish_reason "tool_calls"
    [[refusal]]           the API's refusal field set, no content
    [[badjson]]           the response body is not JSON
    [[error:STATUS]]      an error response with that HTTP status
    [[echo_key]]          a 401 whose message echoes the Authorization key, as real servers do
    [[sleep:MS]]          wait MS milliseconds before answering
    [[pad:K]]             append 0 to K words to the reply (the request's number modulo K + 1): replies
                          whose length varies from request to request, as a real model's do
    [[reasoning:N]]       report N reasoning tokens (part of the completion/output tokens)
    [[recall]]            (Responses) reply with every user message of the conversation the server saw,
                          its stored history included: proves `previous_response_id` carried the state

``/v1/chat/completions`` and ``/v1/responses`` (tests/fake_responses.py) answer
the same directives, each in its own shape; ``/v1/files`` and ``/v1/batches``
(tests/fake_batches.py) run a batch of either by sending each line to them.

A test that needs a reply no directive makes (a lone surrogate, a malformed shape, a
generated body) sets ``server.responder``: called with each Chat or Responses request, it returns
``(status, body bytes)`` or ``(status, body bytes, headers)`` to send, or None for the usual reply.

Directives in the system message apply too (the user's win), so a test can
edit a system prompt and see the reply change. Without a directive the reply
is ``echo: <last user message>``. Every request
is kept in ``server.requests`` (parsed body plus headers) for assertions.

A grading request (the harness's model-graded checks: a user message with a
<reply> and a <rubric> or <reference> tag) is answered with the grader's JSON,
computed from the request (see ``_grade``); only directives inside the rubric
or reference apply to it, so a test can make the grader fail or misbehave.
"""

from __future__ import annotations

import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DIRECTIVE = re.compile(r"\[\[(\w+)(?::(.*?))?\]\]", re.S)


@dataclass
class Faults:
    """Switches for fault injection; each request draws once from ``rng``."""

    rate_429: float = 0.0
    retry_after: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_hang: float = 0.0
    hang_seconds: float = 5.0
    rate_drop: float = 0.0
    rate_badjson: float = 0.0
    seed: int = 0
    rng: random.Random = field(default_factory=random.Random)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # tests run 50 cases at once; the default backlog of 5 drops connects
    daemon_threads = True


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    raw: bytes = b""  # the body's bytes as they arrived


class FakeOpenAI:
    """Start with ``with FakeOpenAI() as server:``; ``server.base_url`` ends in /v1."""

    def __init__(self, latency_ms: float = 0.0, faults: Faults | None = None, nondeterministic: bool = False):
        self.latency_ms = latency_ms
        self.faults = faults or Faults()
        self.faults.rng.seed(self.faults.seed)
        self.nondeterministic = nondeterministic
        self.requests: list[Recorded] = []
        self.seen_streams: set[str] = set()  # request bodies streamed once ([[flaky_break:N]])
        self.lock = threading.Lock()
        self.counter = 0
        self.responder: Callable[[Recorded], tuple[Any, ...] | None] | None = None
        handler = _make_handler(self)
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = _quiet_when_client_left(self.httpd.handle_error)  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        from tests import fake_batches

        fake_batches.attach(self)  # /v1/files and /v1/batches (tests/fake_batches.py)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def record(self, entry: Recorded) -> int:
        with self.lock:
            self.requests.append(entry)
            self.counter += 1
            return self.counter


def _quiet_when_client_left(report: Any) -> Any:
    """A client that timed out before a hang ended is expected here, not a traceback on stderr."""

    def handle_error(request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            report(request, client_address)

    return handle_error


def _make_handler(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stall per reply

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _batch_api(self, method: str, raw: bytes = b"") -> bool:
            """Answer a Batch API request (tests/fake_batches.py); False when the path is not one."""
            from tests import fake_batches

            if not fake_batches.handles(self.path):
                return False
            status, payload = fake_batches.route(server, method, self.path, self.headers, raw)
            if isinstance(payload, bytes):
                self._raw(status, payload, {"content-type": "application/octet-stream"})
            else:
                self._json(status, payload)
            return True

        def do_GET(self) -> None:
            if self._batch_api("GET"):
                return
            if self.path.rstrip("/").endswith("/models"):
                self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            if self._batch_api("POST", raw):
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._json(400, {"error": {"message": "request body is not JSON"}})
                return
            entry = Recorded(self.path, body, {k.lower(): v for k, v in self.headers.items()}, raw)
            n = server.record(entry)
            if server.latency_ms:
                time.sleep(server.latency_ms / 1000)
            if self._inject_fault():
                return
            scripted = None
            if server.responder and self.path.endswith(("/chat/completions", "/responses")):
                scripted = server.responder(entry)
            if scripted is not None:
                self._raw(*scripted)
            elif self.path.endswith("/embeddings"):
                self._json(200, _embeddings(body))
            elif self.path.endswith("/chat/completions"):
                self._chat(body, n)
            elif self.path.endswith("/responses"):
                self._responses(body, n)
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def _inject_fault(self) -> bool:
            f = server.faults
            with server.lock:
                roll = f.rng.random()
            edges = [(f.rate_429, "429"), (f.rate_500, "500"), (f.rate_503, "503"), (f.rate_hang, "hang"),
                     (f.rate_drop, "drop"), (f.rate_badjson, "badjson")]  # fmt: skip
            acc = 0.0
            for rate, kind in edges:
                acc += rate
                if roll < acc:
                    break
            else:
                return False
            if kind == "429":
                headers = {"retry-after": f"{f.retry_after:g}"} if f.retry_after else {}
                self._json(429, {"error": {"message": "Rate limit reached", "type": "rate_limit"}}, headers)
            elif kind == "500":
                self._json(500, {"error": {"message": "The server had an error"}})
            elif kind == "503":
                self._json(503, {"error": {"message": "The engine is currently overloaded"}})
            elif kind == "hang":
                time.sleep(f.hang_seconds)
                self._json(200, _completion("late", "stop", []))
            elif kind == "drop":
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "500")
                self.end_headers()
                self.wfile.write(b'{"id": "chatcmpl-dro')
                self.wfile.flush()
                self.close_connection = True
            else:
                self._raw(200, b'{"choices": [ {"message": ')
            return True

        def _chat(self, body: dict[str, Any], n: int) -> None:
            messages = body.get("messages") or []
            last_user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "") or ""
            system = next((m.get("content") for m in messages if m.get("role") == "system"), "") or ""
            limit = body.get("max_tokens") or body.get("max_completion_tokens")
            reply = decide(server, str(system), last_user, limit, n=n)
            if self._refuse(reply):
                return
            prompt_tokens = sum(len(str(m.get("content") or "").split()) + 3 for m in messages) + 3
            tool_calls = []
            if reply.tool:
                tool_calls = [{"id": f"call_{n}", "type": "function",
                               "function": {"name": reply.tool[0], "arguments": reply.tool[1]}}]  # fmt: skip
            completion = _completion(reply.content, reply.finish, tool_calls, reply.refusal, body.get("model"),
                                     prompt_tokens, n, reply.reasoning_tokens)  # fmt: skip
            if body.get("stream") is True:
                from tests.fake_streams import chat_events

                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                self._stream(chat_events(completion, include_usage), reply, body)
            else:
                self._json(200, completion)

        def _responses(self, body: dict[str, Any], n: int) -> None:
            from tests.fake_responses import respond

            status, payload, reply = respond(server, body, n, self._refuse)
            if status == 200 and body.get("stream") is True:
                from tests.fake_streams import responses_events

                self._stream(responses_events(payload), reply, body)
            elif status:
                self._json(status, payload)

        def _stream(self, events: list[Any], reply: Reply, body: dict[str, Any]) -> None:
            """Send ``events`` as server-sent events over chunked HTTP, with the stream directives applied."""
            d = reply.directives
            breaks = d.get("break")
            if "flaky_break" in d:
                key = json.dumps(body, sort_keys=True)
                with server.lock:
                    first = key not in server.seen_streams
                    server.seen_streams.add(key)
                breaks = d["flaky_break"] if first else None
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            waited = False
            for sent, (name, data, carries) in enumerate(events):
                if breaks is not None and sent == int(breaks):
                    self.wfile.write(b"5\r\ndata:")  # half a chunk, then the connection drops
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if "cut" in d and sent == int(d["cut"]):
                    break
                if carries and not waited and "ttft" in d:
                    time.sleep(float(d["ttft"]) / 1000)
                    waited = True
                elif sent and "chunk_ms" in d:
                    time.sleep(float(d["chunk_ms"]) / 1000)
                text = (f"event: {name}\n" if name else "") + f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"
                raw = text.encode()
                self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _refuse(self, reply: Reply) -> bool:
            """Answer a reply that is an error (or a bad body) here; True when it was one."""
            if reply.echo_key:
                key = (self.headers.get("authorization") or "").removeprefix("Bearer ")
                self._json(401, {"error": {"message": f"Incorrect API key provided: {key}. Also seen as "
                                           f"{key[:14]}****{key[-4:]}.", "type": "invalid_request_error"}})  # fmt: skip
            elif reply.error:
                self._json(reply.error, {"error": {"message": f"injected error {reply.error}", "type": "test"}})
            elif reply.badjson:
                self._raw(200, b"this is not json {")
            else:
                return False
            return True

        def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._raw(status, json.dumps(payload).encode(), headers)

        def _raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            if "content-type" not in {k.lower() for k in headers or {}}:
                self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("x-request-id", f"req_{time.monotonic_ns()}")
            self.send_header("openai-organization", "org-secret-test")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@dataclass
class Reply:
    """What the fake answers, decided from the directives; each API's handler shapes it into its own body."""

    content: str | None
    finish: str = "stop"  # stop, length, content_filter, tool_calls (the Responses handler maps it onto status)
    tool: tuple[str, str] | None = None  # (function name, JSON arguments)
    refusal: str | None = None
    reasoning_tokens: int = 0
    error: int = 0
    badjson: bool = False
    echo_key: bool = False
    directives: dict[str, str] = field(default_factory=dict)


def decide(server: FakeOpenAI, system: str, last_user: Any, limit: Any, visible_default: str | None = None,
           n: int = 0) -> Reply:  # fmt: skip
    """The reply to a request whose system prompt and last user message are given (directives apply)."""
    if not isinstance(last_user, str):
        last_user = json.dumps(last_user)
    graded = _grading_parts(last_user)
    if graded is not None:  # the graded conversation's own directives must not steer its grader
        last_user, system = graded.get("rubric", graded.get("reference", "")), ""
    directives = {name: (arg or "") for name, arg in DIRECTIVE.findall(str(system))}
    directives.update({name: (arg or "") for name, arg in DIRECTIVE.findall(last_user)})
    if "sleep" in directives:
        time.sleep(float(directives["sleep"]) / 1000)
    if "echo_key" in directives or "error" in directives or "badjson" in directives:
        return Reply(None, echo_key="echo_key" in directives, error=int(directives.get("error") or 500) if
                     "error" in directives else 0, badjson="badjson" in directives, directives=directives)  # fmt: skip
    visible = DIRECTIVE.sub("", last_user).strip()
    default = visible_default if visible_default is not None else f"echo: {visible}"
    content: str | None = directives.get("reply", _grade(graded) if graded is not None else default)
    if server.nondeterministic:
        content = f"{content} #{random.randint(1, 3)}"
    if "pad" in directives and content is not None:
        content = " ".join([content] + ["more"] * (n % (int(directives["pad"] or 1) + 1)))
    reply = Reply(content, directives=directives, reasoning_tokens=int(directives.get("reasoning") or 0))
    if "length" in directives:
        reply.content = " ".join((content or "").split()[: max(int(limit or 3), 1)])
        reply.finish = "length"
    if "content_filter" in directives:
        reply.content, reply.finish = None, "content_filter"
    if "refusal" in directives:
        reply.content, reply.refusal = None, "I can't help with that."
    if "tool" in directives:
        name, _, args = directives["tool"].partition(" ")
        reply.content, reply.finish, reply.tool = None, "tool_calls", (name, args.strip() or "{}")
    return reply


def _completion(content: str | None, finish: str, tool_calls: list[dict[str, Any]], refusal: str | None = None,
                model: str | None = None, prompt_tokens: int = 10, n: int = 0,
                reasoning_tokens: int = 0) -> dict[str, Any]:  # fmt: skip
    completion_tokens = len((content or "").split()) + sum(len(c["function"]["arguments"]) // 4 for c in tool_calls)
    completion_tokens += reasoning_tokens
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls:
        message["tool_calls"] = tool_calls
    usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                             "total_tokens": prompt_tokens + completion_tokens}  # fmt: skip
    if reasoning_tokens:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model or "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


_TAG = re.compile(r"<(user_message|reply|rubric|reference)>\n(.*?)\n</\1>", re.S)


def _grading_parts(text: str) -> dict[str, str] | None:
    """The tagged parts of a grading request's user message, or None when it is not one."""
    parts = dict(_TAG.findall(text))
    return parts if "reply" in parts and ("rubric" in parts or "reference" in parts) else None


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _grade(parts: dict[str, str]) -> str:
    """A deterministic grader.

    Rubric: passes when every 'quoted' word or phrase of the rubric appears in
    the reply (ignoring case); the score is the fraction that does.
    Reference: compares word sets: same, superset or subset of the reference,
    else disagree.
    """
    reply = parts["reply"]
    if "rubric" in parts:
        rubric = DIRECTIVE.sub("", parts["rubric"])
        wanted = [a or b for a, b in re.findall(r"'([^']+)'|\"([^\"]+)\"", rubric)]
        found = [w for w in wanted if w.lower() in reply.lower()]
        missing = [w for w in wanted if w not in found]
        score = len(found) / len(wanted) if wanted else 1.0
        reasoning = f"the reply lacks {missing}" if missing else f"the reply has {found}"
        return json.dumps({"pass": not missing, "score": score, "reasoning": reasoning})
    reference, said = _words(DIRECTIVE.sub("", parts["reference"])), _words(reply)
    if said == reference:
        category = "same"
    elif reference <= said:
        category = "superset"
    elif said <= reference:
        category = "subset"
    else:
        category = "disagree"
    score = len(reference & said) / len(reference | said) if reference | said else 1.0
    reasoning = f"missing {sorted(reference - said)}, extra {sorted(said - reference)}"
    return json.dumps({"category": category, "pass": category != "disagree", "score": round(score, 4),
                       "reasoning": reasoning})  # fmt: skip


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """Deterministic bag-of-letters embeddings: similar texts get similar vectors."""
    inputs = body.get("input")
    texts = inputs if isinstance(inputs, list) else [inputs]
    data = []
    for i, text in enumerate(texts):
        vec = [0.0] * 26
        for ch in str(text).lower():
            if "a" <= ch <= "z":
                vec[ord(ch) - 97] += 1.0
        data.append({"object": "embedding", "index": i, "embedding": vec})
    tokens = sum(len(str(t).split()) for t in texts)
    return {"object": "list", "data": data, "model": body.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}  # fmt: skip
