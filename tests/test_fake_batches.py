"""The fake Batch API cannot drift from the real one: what it serves validates against the openai SDK's own types.

Files and batches are read with the official SDK over real HTTP and checked strictly (no key the SDK's type
does not define, tests/test_fake_server.py's ``strict``); each output line's body is a ``ChatCompletion`` or a
``Response``, and its line shape ``{"id", "custom_id", "response": {"status_code", "request_id", "body"},
"error"}`` is the API's.
"""

from __future__ import annotations

import json
import time

import openai
import pytest
from openai.types import Batch, FileObject
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from tests.fake_openai import FakeOpenAI
from tests.test_fake_server import strict

BODIES = {
    "/v1/chat/completions": lambda text: {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
    "/v1/responses": lambda text: {"model": "gpt-4o-mini", "input": [{"role": "user", "content": text}]},
}
REPLY_TYPES = {"/v1/chat/completions": ChatCompletion, "/v1/responses": Response}


def _jsonl(url: str, texts: list[str]) -> bytes:
    lines = [{"custom_id": f"c{i}", "method": "POST", "url": url, "body": BODIES[url](t)} for i, t in enumerate(texts)]
    return b"\n".join(json.dumps(line).encode() for line in lines) + b"\n"


def _until_done(client: openai.OpenAI, batch_id: str) -> tuple[Batch, list[str]]:
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = client.batches.retrieve(batch_id)
        seen.append(found.status)
        if found.status in ("completed", "failed", "cancelled", "expired"):
            return found, seen
        time.sleep(0.002)
    raise AssertionError(f"batch {batch_id} never finished: {seen[-5:]}")


@pytest.mark.parametrize("url", sorted(BODIES))
def test_a_batch_moves_through_its_states_and_its_files_have_the_apis_shapes(url):
    with FakeOpenAI() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        server.batch_hold.clear()
        uploaded = client.files.create(file=("in.jsonl", _jsonl(url, ["hello", "[[error:400]] no", "[[length]] a b c"])),
                                       purpose="batch")  # fmt: skip
        strict(FileObject, server.files[uploaded.id])
        assert uploaded.purpose == "batch" and uploaded.bytes == len(server.file_bytes[uploaded.id])
        created = client.batches.create(input_file_id=uploaded.id, endpoint=url, completion_window="24h")  # type: ignore[arg-type]
        strict(Batch, server.batches[created.id])
        assert created.status == "validating" and client.batches.retrieve(created.id).status == "validating"
        server.batch_hold.set()
        found, seen = _until_done(client, created.id)
        strict(Batch, server.batches[created.id])
        assert found.status == "completed" and set(seen) <= {"validating", "in_progress", "finalizing", "completed"}
        assert (found.request_counts.total, found.request_counts.completed, found.request_counts.failed) == (3, 2, 1)
        output = [json.loads(line) for line in client.files.content(found.output_file_id).content.splitlines()]
        errors = [json.loads(line) for line in client.files.content(found.error_file_id).content.splitlines()]
        strict(FileObject, server.files[found.output_file_id])
    assert sorted(line["custom_id"] for line in output) == ["c0", "c2"]
    for line in output + errors:
        assert set(line) == {"id", "custom_id", "response", "error"} and line["error"] is None
        assert set(line["response"]) == {"status_code", "request_id", "body"}
    for line in output:
        assert line["response"]["status_code"] == 200
        strict(REPLY_TYPES[url], line["response"]["body"])
    assert [(e["custom_id"], e["response"]["status_code"]) for e in errors] == [("c1", 400)]
    assert errors[0]["response"]["body"]["error"]["message"] == "injected error 400"


def test_a_file_over_the_limits_fails_its_batch_with_the_apis_error_shape():
    with FakeOpenAI() as server:
        server.batch_limits = (2, 10**9)
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        uploaded = client.files.create(file=("in.jsonl", _jsonl("/v1/chat/completions", ["a", "b", "c"])), purpose="batch")
        created = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
        found, _ = _until_done(client, created.id)
        strict(Batch, server.batches[created.id])
    assert found.status == "failed" and found.errors is not None
    assert found.errors.data[0].code == "too_many_requests" and found.output_file_id is None


def test_unknown_files_and_batches_are_404s_as_the_api_answers_them():
    with FakeOpenAI() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        with pytest.raises(openai.NotFoundError):
            client.batches.retrieve("batch_nope")
        with pytest.raises(openai.NotFoundError):
            client.files.content("file-nope")
        with pytest.raises(openai.BadRequestError):
            client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")
