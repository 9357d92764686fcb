"""harness/providers/chat.py and sdk_errors.py: what a failed request says, against real HTTP servers that are not OpenAI-shaped."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import FAKE_KEY

ONE_CASE = "model: m\ncases: [{id: a, turns: [{user: hi}]}]\n"


class _Framework(BaseHTTPRequestHandler):
    """A server that is not an OpenAI-compatible API: FastAPI-style 404s, an HTML 500 page, a text 401."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/v1/chat/completions":
            self._send(500, "text/html", b"<html><body><h1>500 Internal Server Error</h1>\n<p>oops</p></body></html>")
        elif self.path == "/key/chat/completions":
            key = (self.headers.get("authorization") or "").removeprefix("Bearer ")
            self._send(401, "text/plain", f"invalid token {key}".encode())
        else:
            self._send(404, "application/json", json.dumps({"detail": "Not Found"}).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def framework_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Framework)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _error(harness_cli, write_suite, tmp_path, base_url: str) -> str:
    r = harness_cli("run", write_suite(ONE_CASE), "--cassettes", "off", "--base-url", base_url, "--max-retries", "0",
                    "-q")  # fmt: skip
    assert r.code == 3, r.out + r.err
    return r.results(tmp_path / "reports/latest")["cases"][0]["error"]


def test_a_404_names_the_body_the_path_and_the_likely_fix(framework_url, harness_cli, write_suite, tmp_path):
    error = _error(harness_cli, write_suite, tmp_path, framework_url)  # the base URL lacks /v1
    assert error == ('turn 1: HTTP 404: {"detail": "Not Found"} (POST /chat/completions); '
                     "check --base-url (OpenAI-compatible servers usually end in /v1)")  # fmt: skip


def test_a_body_that_is_not_json_is_shown_in_short(framework_url, harness_cli, write_suite, tmp_path):
    error = _error(harness_cli, write_suite, tmp_path, f"{framework_url}/v1")
    assert error == ("turn 1: HTTP 500: <html><body><h1>500 Internal Server Error</h1> <p>oops</p></body></html> "
                     "(POST /v1/chat/completions)")  # fmt: skip


def test_a_connection_failure_names_the_server(harness_cli, write_suite, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = _error(harness_cli, write_suite, tmp_path, f"http://127.0.0.1:{port}/v1")
    assert error.startswith(f"turn 1: connection failed (POST http://127.0.0.1:{port}/v1/chat/completions): ")


def test_a_body_snippet_never_shows_the_key(framework_url, harness_cli, write_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    error = _error(harness_cli, write_suite, tmp_path, f"{framework_url}/key")
    assert error == "turn 1: HTTP 401: invalid token [redacted] (POST /key/chat/completions)"
    assert FAKE_KEY[:12] not in (tmp_path / "reports/latest/results.json").read_text()


@pytest.mark.parametrize("body, words", [
    ({"choices": [{"index": 0, "message": None, "finish_reason": "stop"}]}, "choices[0].message is null"),
    ({"choices": []}, "`choices` is an empty list"),
    ({"choices": [{"message": {"role": "assistant", "content": "hi"}}]}, "no `finish_reason`"),
    ({"choices": [{"message": {"content": {"text": "hi"}}, "finish_reason": "stop"}]}, "content is an object"),
    ({"error": {"message": "model overloaded"}}, "it holds an error instead of choices: 'model overloaded'"),
    ([1, 2], "the body is a list"),
])  # fmt: skip
def test_a_200_that_is_not_a_chat_completion_is_a_malformed_response_not_an_empty_reply(body, words, fake_server,
                                                                                        harness_cli, write_suite,
                                                                                        tmp_path):  # fmt: skip
    """On main `message: null` was scored as an empty reply: a failed check (exit 1), not a broken response."""
    fake_server.responder = lambda request: (200, json.dumps(body).encode())
    suite = write_suite("model: m\ncases: [{id: a, turns: [{user: hi, expect: [{contains: hi}]}]}]\n")
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 3, r.out
    case = r.results(tmp_path / "reports/latest")["cases"][0]
    assert case["status"] == "error" and case["turns"][0]["checks"] == []
    assert "the server sent a malformed chat completion: " in case["error"] and words in case["error"], case["error"]
    assert len(fake_server.requests) == 1  # not retried: sending it again would get the same


def test_usage_of_the_wrong_type_is_dropped_not_a_crash(fake_server, harness_cli, write_suite, tmp_path):
    body = {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": "many", "completion_tokens": -3, "total_tokens": 2.5}}  # fmt: skip
    fake_server.responder = lambda request: (200, json.dumps(body).encode())
    r = harness_cli("run", write_suite(ONE_CASE), "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.out
    usage = r.results(tmp_path / "reports/latest")["cases"][0]["turns"][0]["reply"]["usage"]
    assert usage["prompt_tokens"] is usage["completion_tokens"] is usage["total_tokens"] is None
