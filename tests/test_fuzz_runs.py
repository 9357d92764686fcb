"""Whatever a server replies and whatever a cassette holds, a run ends in a result, never a traceback.

Hypothesis generates reply bodies the fake server sends (chat-completion shapes
with any type in any slot, any JSON, unicode with lone surrogates and control
characters, pieces of the API key, bodies cut short, bytes that are not UTF-8,
error statuses) and cassette files (recordings with any node replaced or
removed, any version, text cut short or garbled). The property is the same for
both: `harness run` exits with a documented code (0, 1 or 3), results.json holds
every case and loads, no case is an "internal error", nothing prints a
traceback, every file written is valid UTF-8 (junit.xml valid XML), and no
piece of the key is on disk.

CI runs a fixed, derandomized set (a few seconds each). Explore further with
`HARNESS_FUZZ_EXAMPLES=600 pytest tests/test_fuzz_runs.py`; set
`HARNESS_FUZZ_REPORT=path.json` to have the figures (replies served, cassettes
written, exit codes, statuses) written there.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.core.redaction import leaks
from harness.core.result import load_run
from tests.conftest import FAKE_KEY

_EXAMPLES = int(os.environ.get("HARNESS_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_EXAMPLES or 40, deadline=None, suppress_health_check=list(HealthCheck),
                derandomize=not _EXAMPLES, database=None)  # fmt: skip
DOCUMENTED_EXIT_CODES = {0, 1, 3}
FIGURES: Counter[str] = Counter()

# --- what a server might send -------------------------------------------------------------------------------------

KEY_PIECES = [FAKE_KEY, FAKE_KEY[3:15], FAKE_KEY[-12:], f"Bearer {FAKE_KEY}"]
odd_text = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "Co", "Cn"]), max_size=8),  # surrogates, controls
    st.sampled_from(["\ud83d", "\udc00x", "ok \ud83d\ude00", "\x00", "\u202e", "\ufffe", "{{ x }}", "[[reply:x]]",
                     "\r\n", "é" * 3, "\U0010ffff"]),
    st.sampled_from(KEY_PIECES).map(lambda piece: f"key {piece} here"),
)  # fmt: skip
numbers = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True, allow_infinity=True))
anything = st.recursive(st.one_of(st.none(), st.booleans(), numbers, odd_text),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
                        max_leaves=8)  # fmt: skip


def maybe(right: st.SearchStrategy) -> st.SearchStrategy:
    """Usually the right type, sometimes anything at all."""
    return st.one_of(right, right, right, right, right, anything)


tool_call = st.fixed_dictionaries({"id": maybe(odd_text), "type": maybe(st.just("function")),
                                   "function": maybe(st.fixed_dictionaries({"name": maybe(odd_text),
                                                                            "arguments": maybe(odd_text)}))})  # fmt: skip
message = st.fixed_dictionaries({"role": maybe(st.just("assistant"))}, optional={
    "content": maybe(st.one_of(odd_text, st.none(), st.lists(st.fixed_dictionaries({"type": st.just("text"),
                                                                                     "text": maybe(odd_text)}),
                                                             max_size=2))),
    "tool_calls": maybe(st.lists(tool_call, max_size=2)), "refusal": maybe(st.one_of(st.none(), odd_text)),
})  # fmt: skip
choice = st.fixed_dictionaries({}, optional={"index": maybe(st.just(0)), "message": maybe(message),
                                             "finish_reason": maybe(st.sampled_from(["stop", "length", "tool_calls",
                                                                                     "content_filter"]))})  # fmt: skip
usage = st.fixed_dictionaries({}, optional={k: maybe(st.integers(min_value=0, max_value=10**6)) for k in
                                            ("prompt_tokens", "completion_tokens", "total_tokens")})  # fmt: skip
completion = st.fixed_dictionaries({"choices": maybe(st.lists(maybe(choice), min_size=1, max_size=2))}, optional={
    "id": maybe(odd_text), "model": maybe(odd_text), "usage": maybe(usage), "object": anything,
})  # fmt: skip


valid = st.builds(lambda content, finish, usage: {
    "id": "x", "model": "m", "usage": usage,
    "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": content}}]},
    st.one_of(odd_text, st.sampled_from(["ok", '{"a": {"b": 1}}', "k" * 2000, ""]), st.none()),
    st.sampled_from(["stop", "length", None]), usage)  # fmt: skip


chunk = st.fixed_dictionaries({"choices": maybe(st.lists(st.fixed_dictionaries({}, optional={
    "index": maybe(st.just(0)), "delta": maybe(st.fixed_dictionaries({}, optional={"content": maybe(odd_text),
                                                                                   "tool_calls": anything})),
    "finish_reason": maybe(st.sampled_from(["stop", "length", None]))}), max_size=2))}, optional={"usage": maybe(usage)})  # fmt: skip


@st.composite
def sse_body(draw: st.DrawFn) -> bytes:
    """A server-sent event stream: chunks (any shape), sometimes cut short or missing its [DONE]."""
    events = [f"data: {json.dumps(draw(chunk))}\n\n" for _ in range(draw(st.integers(min_value=0, max_value=4)))]
    if draw(st.booleans()):
        events.append(draw(st.sampled_from(["data: [DONE]\n\n", "data: {oops\n\n", ": comment\n\n",
                                            "event: error\ndata: {\"error\": {\"message\": \"boom\"}}\n\n"])))
    text = "".join(events).encode()
    return text[: draw(st.integers(min_value=0, max_value=len(text)))] if draw(st.booleans()) else text


@st.composite
def reply(draw: st.DrawFn) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) as the server sends them."""
    shape = draw(st.sampled_from(["valid"] * 4 + ["completion"] * 4 + ["json", "cut", "bytes", "status", "sse", "sse"]))
    if shape == "sse":
        return 200, draw(sse_body()), {"content-type": "text/event-stream"}
    data = {"valid": valid, "json": anything}.get(shape, completion)
    data = draw(data)
    body = json.dumps(data).encode()  # lone surrogates become \\ud83d escapes: valid JSON
    if shape == "cut":
        body = body[: draw(st.integers(min_value=0, max_value=len(body)))]
    elif shape == "bytes":
        body = draw(st.binary(max_size=60))
    status = draw(st.sampled_from([400, 401, 404, 429, 500, 503, 200])) if shape == "status" else 200
    return status, body, {}


def assert_ended_in_a_result(r, out: Path, cases: int, *dirs: Path, inputs: dict[Path, bytes] | None = None) -> dict:
    """The property: a documented exit code, a complete results.json, no traceback, no secret on disk.

    ``dirs`` are scanned too (cassettes), except the files of ``inputs`` the run left as the test wrote them.
    """
    assert r.code in DOCUMENTED_EXIT_CODES, (r.code, r.out, r.err)
    assert "Traceback" not in r.out + r.err and "internal error" not in r.out + r.err, r.out + r.err
    run = load_run(out / "results.json")
    assert len(run.cases) == cases
    for case in run.cases:
        assert not (case.error or "").startswith("internal error"), case.error
    ET.parse(out / "junit.xml")
    assert not leaks(r.out + r.err, FAKE_KEY)
    for folder in (out, *dirs):
        for path in folder.rglob("*"):
            if path.is_file() and (inputs or {}).get(path) != path.read_bytes():
                text = path.read_bytes().decode("utf-8")  # valid UTF-8, every file the harness wrote
                assert not leaks(text, FAKE_KEY), f"a piece of the key in {path}"
    FIGURES[f"exit {r.code}"] += 1
    for case in run.cases:
        FIGURES[f"case {case.status}"] += 1
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module", autouse=True)
def figures():
    """The fuzz run's figures, written where HARNESS_FUZZ_REPORT says (for the long run's write-up)."""
    FIGURES.clear()
    yield
    if os.environ.get("HARNESS_FUZZ_REPORT"):
        Path(os.environ["HARNESS_FUZZ_REPORT"]).write_text(json.dumps(dict(sorted(FIGURES.items())), indent=2))


def suite_of(n: int, name: str = "fz", streams: tuple[bool, ...] = (), api: str = "chat",
             history: str = "resend") -> str:  # fmt: skip
    """n cases, each asking for reply #i; every other one with checks that read a reply in every way; the
    cases ``streams`` marks ask for a stream (`stream: true`); ``api`` and ``history`` as a suite sets them."""
    checks = ("[{contains: ok}, {is_json: true}, {finish_reason: stop}, {max_completion_tokens: 50}, "
              "{not_tool_call: lookup}, {regex: '^o'}, {json_path: {path: $.a.b, equals: 1}}, {is_refusal: false}, "
              "{no_system_leak: true}, {starts_with: k}]")  # fmt: skip
    head = f"suite: {name}\nmodel: m\nretry: {{max_retries: 0}}\n" + (f"api: {api}\nhistory: {history}\n"
                                                                   if api != "chat" else "")  # fmt: skip
    return head + "cases:\n" + "".join(
        f"  - {{id: c{i}, {'params: {stream: true}, ' if i < len(streams) and streams[i] else ''}"
        f"turns: [{{user: 'reply {i}', expect: {checks if i % 2 else '[]'}}}, {{user: 'again {i}'}}]}}\n"
        for i in range(n))  # fmt: skip


_runs = Counter()


@FUZZ
@given(replies=st.lists(reply(), min_size=1, max_size=5), mode=st.sampled_from(["off", "record"]),
       streams=st.lists(st.booleans(), max_size=5))
def test_any_reply_ends_in_a_result(replies, mode, streams, fake_server, harness_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    _runs["replies"] += 1
    run_dir = tmp_path / f"r{_runs['replies']}"
    run_dir.mkdir()
    (run_dir / "suite.yaml").write_text(suite_of(len(replies), streams=tuple(streams)))

    def respond(request):
        text = request.body["messages"][-1]["content"]
        number = int(text.split()[-1])
        FIGURES["replies served"] += 1
        FIGURES["streamed requests"] += bool(request.body.get("stream"))
        return replies[number] if text.startswith("reply") else None

    fake_server.responder = respond
    out = run_dir / "out"
    r = harness_cli("run", run_dir / "suite.yaml", "--cassettes", mode, "--base-url", fake_server.base_url,
                    "--cassette-dir", run_dir / "cassettes", "--out", out, "--concurrency", 2)  # fmt: skip
    assert_ended_in_a_result(r, out, len(replies), run_dir / "cassettes")
    if mode == "record" and (run_dir / "cassettes").exists():  # what was recorded replays, to a result too
        replay = harness_cli("run", run_dir / "suite.yaml", "--cassette-dir", run_dir / "cassettes", "--out",
                             run_dir / "replayed")  # fmt: skip
        assert_ended_in_a_result(replay, run_dir / "replayed", len(replies))


# --- what a Responses API server might send --------------------------------------------------------------------

output_text = st.fixed_dictionaries({"type": maybe(st.sampled_from(["output_text", "refusal"])), "text": maybe(odd_text)},
                                    optional={"refusal": maybe(odd_text), "annotations": maybe(st.just([]))})  # fmt: skip
output_item = st.one_of(
    st.fixed_dictionaries({"type": maybe(st.just("message")), "role": maybe(st.just("assistant")),
                           "content": maybe(st.lists(maybe(output_text), max_size=2))},
                          optional={"id": maybe(odd_text), "status": maybe(st.just("completed"))}),
    st.fixed_dictionaries({"type": maybe(st.just("function_call")), "call_id": maybe(odd_text),
                           "name": maybe(st.sampled_from(["lookup", "get_weather"]) | odd_text),
                           "arguments": maybe(st.sampled_from(['{"city": "Paris"}', "{", ""]) | odd_text)},
                          optional={"id": maybe(odd_text)}),
    st.fixed_dictionaries({"type": maybe(st.just("reasoning")), "summary": maybe(st.just([]))}),
)  # fmt: skip
response_usage = st.fixed_dictionaries({}, optional={
    **{k: maybe(st.integers(min_value=0, max_value=10**6)) for k in ("input_tokens", "output_tokens", "total_tokens")},
    "output_tokens_details": maybe(st.fixed_dictionaries({}, optional={"reasoning_tokens": maybe(st.integers(0, 99))})),
})  # fmt: skip
response_object = st.fixed_dictionaries({"output": maybe(st.lists(maybe(output_item), max_size=3))}, optional={
    "id": maybe(odd_text), "object": maybe(st.just("response")), "model": maybe(odd_text), "usage": maybe(response_usage),
    "status": maybe(st.sampled_from(["completed", "incomplete", "failed", "in_progress", "cancelled"])),
    "incomplete_details": maybe(st.one_of(st.none(), st.fixed_dictionaries(
        {"reason": maybe(st.sampled_from(["max_output_tokens", "content_filter"]))}))),
    "error": maybe(st.one_of(st.none(), st.fixed_dictionaries({"code": maybe(odd_text), "message": maybe(odd_text)}))),
})  # fmt: skip
response_event = st.fixed_dictionaries({"type": maybe(st.sampled_from([
    "response.created", "response.output_text.delta", "response.refusal.delta", "response.output_item.added",
    "response.function_call_arguments.delta", "response.output_item.done", "response.completed",
    "response.incomplete", "response.failed", "error"]))}, optional={
    "delta": maybe(odd_text), "item": maybe(output_item), "output_index": maybe(st.integers(0, 3)),
    "item_id": maybe(odd_text), "response": maybe(response_object), "code": maybe(odd_text), "message": maybe(odd_text),
})  # fmt: skip


@st.composite
def responses_reply(draw: st.DrawFn) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) as a Responses API server sends them: a Response object or a stream of events."""
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        events = [f"data: {json.dumps(draw(response_event))}\n\n" for _ in range(draw(st.integers(0, 4)))]
        text = "".join(events).encode()
        cut = draw(st.booleans())
        return 200, text[: draw(st.integers(min_value=0, max_value=len(text)))] if cut else text, {
            "content-type": "text/event-stream"}
    body = json.dumps(draw(st.one_of(response_object, response_object, response_object, anything))).encode()
    if draw(st.booleans()):
        body = body[: draw(st.integers(min_value=0, max_value=len(body)))]
    return 200, body, {}


@FUZZ
@given(replies=st.lists(responses_reply(), min_size=1, max_size=4), mode=st.sampled_from(["off", "record"]),
       history=st.sampled_from(["resend", "previous_response_id"]), streams=st.lists(st.booleans(), max_size=4))
def test_any_responses_api_reply_ends_in_a_result(replies, mode, history, streams, fake_server, harness_cli, tmp_path,
                                                  monkeypatch):  # fmt: skip
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    _runs["responses"] += 1
    run_dir = tmp_path / f"rs{_runs['responses']}"
    run_dir.mkdir()
    (run_dir / "suite.yaml").write_text(suite_of(len(replies), streams=tuple(streams), api="responses", history=history))

    def respond(request):
        asked = re.findall(r"(reply|again) (\d+)", json.dumps(request.body))
        FIGURES["responses replies served"] += 1
        return replies[int(asked[-1][1])] if asked and asked[-1][0] == "reply" else None

    fake_server.responder = respond
    out = run_dir / "out"
    r = harness_cli("run", run_dir / "suite.yaml", "--cassettes", mode, "--base-url", fake_server.base_url,
                    "--cassette-dir", run_dir / "cassettes", "--out", out, "--concurrency", 2)  # fmt: skip
    assert_ended_in_a_result(r, out, len(replies), run_dir / "cassettes")
    if mode == "record" and (run_dir / "cassettes").exists():
        replay = harness_cli("run", run_dir / "suite.yaml", "--cassette-dir", run_dir / "cassettes", "--out",
                             run_dir / "replayed")  # fmt: skip
        assert_ended_in_a_result(replay, run_dir / "replayed", len(replies))


# --- what a cassette might hold --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> list[dict]:
    """Real recordings of the four cases the cassette fuzz runs (two turns each), to mutate."""
    from harness.cli.main import main
    from tests.fake_openai import FakeOpenAI

    folder = tmp_path_factory.mktemp("recorded")
    (folder / "suite.yaml").write_text(suite_of(4))
    with FakeOpenAI() as server:
        main(["run", str(folder / "suite.yaml"), "--cassettes", "record", "--base-url", server.base_url, "-q",
              "--cassette-dir", str(folder / "cassettes"), "--out", str(folder / "out")])  # fmt: skip
    return [yaml.safe_load((folder / f"cassettes/fz/c{i}.yaml").read_text()) for i in range(4)]


def _positions(node, path=()):
    """Every place in a parsed cassette: (path of keys/indexes) for each node."""
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _positions(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _positions(value, (*path, i))


@st.composite
def cassette_text(draw: st.DrawFn, base: dict) -> str:
    """A cassette file: the recording with nodes replaced or removed, its text cut short, garbled, or empty."""
    data = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        places = [p for p in _positions(data) if p]
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(st.one_of(anything, st.sampled_from([99, 2, "1", None, [], {}])))
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=draw(st.booleans()))
    damage = draw(st.sampled_from(["none"] * 3 + ["cut", "junk", "empty", "bytes"]))
    if damage == "cut":
        text = text[: draw(st.integers(min_value=0, max_value=len(text)))]
    elif damage == "junk":
        at = draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + draw(st.sampled_from([": :", "\t", "- [", "\"\\ud83d\"", "&a *a", "\x00", "}"])) + text[at:]
    elif damage == "empty":
        text = draw(st.sampled_from(["", "\n", "# nothing\n", "null\n", "[]\n"]))
    elif damage == "bytes":
        text = draw(st.binary(max_size=40)).decode("latin-1")
    return text


@FUZZ
@given(data=st.data())
def test_any_cassette_ends_in_a_result(data, recorded, fake_server, harness_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)  # set, as on most machines: what a cassette holds is scrubbed
    _runs["cassettes"] += 1
    run_dir = tmp_path / f"c{_runs['cassettes']}"
    count = data.draw(st.integers(min_value=1, max_value=4))
    written: dict[Path, bytes] = {}
    for i in range(count):
        text = data.draw(cassette_text(recorded[i]))
        path = run_dir / "cassettes" / "fz" / f"c{i}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        encoding = data.draw(st.sampled_from(["utf-8", "utf-8", "latin-1"]))  # sometimes not UTF-8 at all
        written[path] = text.encode(encoding, "surrogatepass" if encoding == "utf-8" else "replace")
        path.write_bytes(written[path])
        FIGURES["cassettes written"] += 1
    (run_dir / "suite.yaml").write_text(suite_of(count))
    out = run_dir / "out"
    mode = data.draw(st.sampled_from(["replay", "replay", "record-missing"]))
    r = harness_cli("run", run_dir / "suite.yaml", "--cassette-dir", run_dir / "cassettes", "--out", out,
                    "--cassettes", mode, "--base-url", fake_server.base_url)  # fmt: skip
    results = assert_ended_in_a_result(r, out, count, run_dir / "cassettes", inputs=written)
    for case in results["cases"]:  # a cassette that could not be used names itself
        if case["status"] == "error" and not case["turns"]:
            assert f"c{case['id'][1:]}.yaml" in case["error"], case["error"]
