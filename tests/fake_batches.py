"""The fake server's Batch API: ``/v1/files`` and ``/v1/batches``, shaped as OpenAI serves them.

Upload a JSONL input file (``purpose=batch``, multipart), create a batch on it, and the batch moves
``validating -> in_progress -> finalizing -> completed`` in a background thread, with
``request_counts`` rising as its lines are answered. Each line is answered by sending it over real
HTTP to this same server (its ``url`` on the server's own address), so a batched request gets exactly
the reply, error or directive behaviour a live one gets. Lines answered 2xx go to the output file,
the others to the error file, both in the API's line shape
``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``.

Test switches on the ``FakeOpenAI`` (set up by ``attach``):

    batch_hold       a threading.Event: a batch stays ``validating`` until it is set (set by default)
    batch_limits     (max requests, max bytes) per input file; a file over either fails its batch
                     (the API's own: 50,000 requests, 200 MB)
    batch_creates    every ``POST /v1/batches`` body, in order
    fail_lines_once  custom_id substrings: the first line holding each is answered 500 (a failed line)
    poll_errors      how many of the next ``GET /v1/batches/{id}`` answer 500 (a transient failure while polling)

Bodies validate against ``openai.types.Batch`` and ``openai.types.FileObject`` (tests/test_fake_batches.py).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import urlsplit

MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024 * 1024
ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions")


def attach(server: Any) -> None:
    """Give ``server`` (a FakeOpenAI) the Batch API's state and switches."""
    server.files = {}
    server.file_bytes = {}
    server.batches = {}
    server.batch_creates = []
    server.batch_hold = threading.Event()
    server.batch_hold.set()
    server.batch_limits = (MAX_REQUESTS, MAX_BYTES)
    server.fail_lines_once = []
    server.failed_once = set()
    server.poll_errors = 0


def handles(path: str) -> bool:
    """Whether ``path`` belongs to the Batch API (files or batches)."""
    parts = urlsplit(path).path.rstrip("/").split("/")
    return len(parts) >= 3 and parts[2] in ("files", "batches")


def route(server: Any, method: str, path: str, headers: Any, raw: bytes) -> tuple[int, Any]:
    """(status, JSON payload or raw bytes) for one Batch API request."""
    parts = urlsplit(path).path.rstrip("/").split("/")[2:]  # after /v1
    with server.lock:
        if parts == ["files"] and method == "POST":
            return _upload(server, headers, raw)
        if parts[0] == "files" and len(parts) >= 2:
            if parts[1] not in server.files:
                return 404, _error(f"No such File object: {parts[1]}", "invalid_request_error")
            if len(parts) == 3 and parts[2] == "content":
                return 200, server.file_bytes[parts[1]]
            return 200, server.files[parts[1]]
        if parts == ["batches"] and method == "POST":
            return _create(server, json.loads(raw or b"{}"))
        if parts[0] == "batches" and len(parts) >= 2:
            batch = server.batches.get(parts[1])
            if method == "GET" and server.poll_errors > 0:
                server.poll_errors -= 1
                return 500, _error("The server had an error while processing your request.", "server_error")
            if batch is None:
                return 404, _error(f"No batch found with id '{parts[1]}'.", "invalid_request_error")
            if len(parts) == 3 and parts[2] == "cancel" and method == "POST":
                if batch["status"] in ("validating", "in_progress"):
                    batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
            return 200, dict(batch)
    return 404, _error(f"no route {path}", "invalid_request_error")


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _upload(server: Any, headers: Any, raw: bytes) -> tuple[int, Any]:
    message = BytesParser(policy=HTTP).parsebytes(
        f"content-type: {headers.get('content-type', '')}\r\n\r\n".encode() + raw)  # fmt: skip
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = (part.get_filename(), part.get_payload(decode=True))
    if "file" not in fields or fields.get("purpose", (None, b""))[1] != b"batch":
        return 400, _error("a file and purpose=batch are required", "invalid_request_error")
    filename, content = fields["file"]
    file_id = f"file-{len(server.files) + 1:06d}"
    server.file_bytes[file_id] = content
    server.files[file_id] = _file_object(file_id, filename or "upload.jsonl", len(content), "batch")
    return 200, server.files[file_id]


def _file_object(file_id: str, filename: str, size: int, purpose: str) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "bytes": size, "created_at": int(time.time()), "filename": filename,
            "purpose": purpose, "status": "processed", "status_details": None, "expires_at": None}  # fmt: skip


def _create(server: Any, body: dict[str, Any]) -> tuple[int, Any]:
    server.batch_creates.append(body)
    file_id = body.get("input_file_id")
    if file_id not in server.files:
        return 400, _error(f"Invalid 'input_file_id': '{file_id}'.", "invalid_request_error")
    if body.get("endpoint") not in ENDPOINTS or body.get("completion_window") != "24h":
        return 400, _error("endpoint must be one of the batch endpoints and completion_window 24h",
                           "invalid_request_error")  # fmt: skip
    batch_id = f"batch_{len(server.batches) + 1:06d}"
    now = int(time.time())
    batch = {
        "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
        "input_file_id": file_id, "completion_window": "24h", "status": "validating",
        "output_file_id": None, "error_file_id": None, "created_at": now, "in_progress_at": None,
        "expires_at": now + 24 * 3600, "finalizing_at": None, "completed_at": None, "failed_at": None,
        "expired_at": None, "cancelling_at": None, "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": body.get("metadata"),
    }  # fmt: skip
    server.batches[batch_id] = batch
    threading.Thread(target=_process, args=(server, batch_id), daemon=True).start()
    return 200, dict(batch)


def _process(server: Any, batch_id: str) -> None:
    """Move one batch through its states, answering each line over real HTTP to this same server."""
    server.batch_hold.wait()
    with server.lock:
        batch = server.batches[batch_id]
        content = server.file_bytes[batch["input_file_id"]]
    lines = [json.loads(line) for line in content.splitlines() if line.strip()]
    max_requests, max_bytes = server.batch_limits
    problem = None
    if len(lines) > max_requests:
        problem = ("too_many_requests", f"The input file has {len(lines)} requests; the limit is {max_requests}.")
    elif len(content) > max_bytes:
        problem = ("file_too_large", f"The input file is {len(content)} bytes; the limit is {max_bytes}.")
    elif any(line.get("url") != batch["endpoint"] for line in lines):
        problem = ("invalid_url", "Every request of a batch must go to the batch's endpoint.")
    with server.lock:
        if problem:
            batch.update(status="failed", failed_at=int(time.time()),
                         errors={"object": "list", "data": [{"code": problem[0], "message": problem[1],
                                                            "param": None, "line": None}]})  # fmt: skip
            return
        batch.update(status="in_progress", in_progress_at=int(time.time()))
        batch["request_counts"]["total"] = len(lines)
    host, port = server.httpd.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=60)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle/delayed-ACK stall a line
    output: list[bytes] = []
    errors: list[bytes] = []
    for number, line in enumerate(lines, start=1):
        if batch["status"] == "cancelling":
            break
        status, request_id, body = _answer(server, connection, line, batch_id)
        out = {"id": f"batch_req_{batch_id}_{number}", "custom_id": line["custom_id"],
               "response": {"status_code": status, "request_id": request_id, "body": body}, "error": None}  # fmt: skip
        (output if 200 <= status < 300 else errors).append(json.dumps(out).encode())
        with server.lock:
            batch["request_counts"]["completed" if 200 <= status < 300 else "failed"] += 1
    connection.close()
    with server.lock:
        if batch["status"] == "cancelling":
            batch.update(status="cancelled", cancelled_at=int(time.time()))
        else:
            batch.update(status="finalizing", finalizing_at=int(time.time()))
        for kind, rows in (("output_file_id", output), ("error_file_id", errors)):
            if rows:
                file_id = f"file-{len(server.files) + 1:06d}"
                data = b"\n".join(rows) + b"\n"
                server.file_bytes[file_id] = data
                server.files[file_id] = _file_object(file_id, f"{batch_id}_{kind[:-8]}.jsonl", len(data), "batch_output")
                batch[kind] = file_id
    time.sleep(0.01)  # finalizing is a state a poller may see
    with server.lock:
        if batch["status"] == "finalizing":
            batch.update(status="completed", completed_at=int(time.time()))


def _answer(server: Any, connection: http.client.HTTPConnection, line: dict[str, Any],
            batch_id: str) -> tuple[int, str, Any]:  # fmt: skip
    """(status, request id, body) of one line, sent to this server as a live request is."""
    custom_id = line["custom_id"]
    with server.lock:
        marked = [m for m in server.fail_lines_once if m in custom_id and m not in server.failed_once]
        server.failed_once.update(marked)
    if marked:
        return 500, f"req_{batch_id}_{custom_id}", _error("The server had an error while processing the request.",
                                                          "server_error")  # fmt: skip
    data = json.dumps(line["body"]).encode()
    connection.request("POST", line["url"], body=data, headers={"content-type": "application/json",
                                                                 "x-harness-batch": batch_id})  # fmt: skip
    response = connection.getresponse()
    raw = response.read()
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")
    return response.status, response.getheader("x-request-id") or "", body
