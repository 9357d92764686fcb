"""A fast fake OpenAI-compatible server for benchmarks: stdlib asyncio, HTTP/1.1 keep-alive.

Run in its own process (``python benchmarks/fake_server.py``); it prints
``PORT <n>`` on its first stdout line. ``POST .../chat/completions`` answers
with a small JSON object holding the last ``tok-...`` token found in the
request, so a ``contains`` check and an ``is_json`` check both pass. Latency
is chosen per request by the path: ``/latency/<ms>/v1/chat/completions`` waits
``<ms>`` milliseconds (asyncio.sleep, so concurrent requests overlap);
``/v1/...`` uses ``--latency-ms``. ``GET /stats`` returns the server's own CPU
seconds and request count, so the driver can show the server is not the
bottleneck. The parser is deliberately minimal: it only has to understand the
OpenAI SDK (httpx) on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

_TOKEN_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-")


class Stats:
    requests = 0


def _token(body: bytes) -> str:
    """The last tok-... token in the body (the newest user message comes last)."""
    i = body.rfind(b"tok-")
    if i < 0:
        return "tok-none"
    j = i + 4
    n = len(body)
    while j < n and body[j] in _TOKEN_CHARS:
        j += 1
    return body[i:j].decode("ascii")


def _completion(body: bytes) -> bytes:
    token = _token(body)
    content = json.dumps({"token": token, "ok": True})
    prompt_tokens = len(body) // 4
    Stats.requests += 1
    return (
        b'{"id":"chatcmpl-bench-%d","object":"chat.completion","created":%d,"model":"bench-model",'
        b'"choices":[{"index":0,"message":{"role":"assistant","content":%s,"refusal":null},'
        b'"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":12,"total_tokens":%d}}'
        % (Stats.requests, int(time.time()), json.dumps(content).encode(), prompt_tokens, prompt_tokens + 12)
    )


def _response(status: str, payload: bytes) -> bytes:
    return (
        b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: keep-alive\r\n\r\n"
        % (status.encode(), len(payload))
    ) + payload


def _stats() -> bytes:
    t = os.times()
    return json.dumps({"requests": Stats.requests, "cpu_s": round(t.user + t.system, 4)}).encode()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, default_latency_ms: float) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            request_line, _, header_block = head.partition(b"\r\n")
            parts = request_line.split(b" ")
            if len(parts) < 2:
                return
            method, path = parts[0], parts[1].decode("latin-1")
            length = 0
            close = False
            for line in header_block.split(b"\r\n"):
                name, _, value = line.partition(b":")
                lname = name.strip().lower()
                if lname == b"content-length":
                    length = int(value)
                elif lname == b"connection" and value.strip().lower() == b"close":
                    close = True
            body = await reader.readexactly(length) if length else b""
            latency_ms = default_latency_ms
            if path.startswith("/latency/"):
                latency_ms = float(path.split("/")[2])
            if method == b"GET" and path.rstrip("/").endswith("/stats"):
                writer.write(_response("200 OK", _stats()))
            elif method == b"POST" and path.endswith("/chat/completions"):
                if latency_ms:
                    await asyncio.sleep(latency_ms / 1000)
                writer.write(_response("200 OK", _completion(body)))
            else:
                writer.write(_response("404 Not Found", b'{"error":{"message":"no route"}}'))
            await writer.drain()
            if close:
                return
    finally:
        writer.close()


async def main_async(host: str, port: int, latency_ms: float) -> None:
    server = await asyncio.start_server(lambda r, w: _serve(r, w, latency_ms), host, port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed as `PORT n`)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency of /v1/... requests")
    args = parser.parse_args(argv)
    try:
        asyncio.run(main_async(args.host, args.port, args.latency_ms))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
