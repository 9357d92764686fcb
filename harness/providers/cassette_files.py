"""How cassettes look on disk: readable YAML, atomic writes, no secrets.

JSON bodies are stored as YAML structure (not one escaped line) and long or
multi-line strings as block scalars, so a pull-request diff of a cassette shows
the prompt change and the reply change as lines a reviewer can read. A
streamed reply is stored as its list of events, each with the ms after the
request at which it arrived and its JSON as structure:

    body:
      events:
      - {ms: 212.4, data: {id: chatcmpl-1, choices: [{index: 0, delta: {content: Hel}}]}}
      - {ms: 230.9, data: '[DONE]'}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.request import Request as VcrRequest
from vcr.serialize import serialize
from vcr.serializers import compat

from harness.core.atomic_files import write_text_atomic
from harness.core.redaction import leaks
from harness.core.text_policy import has_surrogates, repair
from harness.providers import cassette_cache
from harness.providers.cassette_check import ReplyProblem, StreamFinished, cassette_problem
from harness.providers.cassette_yaml import load_cassette_yaml
from harness.providers.sse import SseEvent, parse_sse, sse_text

_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class CassetteFileError(Exception):
    """A cassette that cannot be used: invalid YAML, wrong shape, or a secret about to be written."""


class _Dumper(_BaseDumper):  # type: ignore[misc, valid-type]
    pass


def _str_presenter(dumper: Any, value: str) -> Any:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_presenter)


def body_json(body: Any) -> Any:
    """Parse a recorded body as JSON, or return None."""
    if body is None:
        return None
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        return json.loads(body)
    except (TypeError, ValueError, RecursionError):
        return None


def json_body(r1: Any, r2: Any) -> None:
    """vcrpy matcher: bodies equal as parsed JSON (key order and whitespace never matter)."""
    a, b = body_json(r1.body), body_json(r2.body)
    if a is None or b is None:
        if r1.body != r2.body:
            raise AssertionError("bodies differ")
        return
    if a != b:
        raise AssertionError("JSON bodies differ")


# `"\ud83d"` in a JSON body: as structure it would be a lone surrogate, which YAML cannot hold
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _structured(body: Any) -> Any:
    parsed = body_json(body)
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    if isinstance(parsed, (dict, list)) and not _ESCAPED_SURROGATE.search(text):
        return {"json": parsed}
    return text  # kept as the JSON text it was, so it replays byte for byte


def _flat(body: Any) -> Any:
    if isinstance(body, dict) and set(body) == {"json"}:
        text = json.dumps(body["json"], ensure_ascii=False, separators=(",", ":"))
        # a hand-written "\ud83d" in the structure: escaped, so the body stays bytes a reply can be parsed from
        return json.dumps(body["json"], separators=(",", ":")) if has_surrogates(text) else text
    return body


class ReadableYaml:
    """vcrpy serializer with JSON bodies stored as structure and multi-line text as block scalars."""

    @staticmethod
    def serialize(data: dict[str, Any]) -> str:
        for interaction in data.get("interactions", []):
            request = interaction["request"]
            request["body"] = _structured(request.get("body"))
            response = interaction["response"]
            if response.get("offsets_ms") is not None:
                interaction["response"] = _stream_on_disk(response)
                continue
            response_body = response.get("body") or {}
            response_body["string"] = _structured(response_body.get("string"))
        try:
            return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)
        except UnicodeEncodeError:  # text no file can hold slipped past: stored repaired, never a failed write
            return yaml.dump(repair(data)[0], Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)

    @staticmethod
    def deserialize(text: str) -> dict[str, Any]:
        # read before? then as JSON, ~15x faster than YAML
        cached = cassette_cache.get(text)
        if cached is not None:
            return cached
        data = load_cassette_yaml(text)
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise ValueError("not a cassette: expected a mapping with an `interactions:` list")
        for interaction in data["interactions"]:
            if not isinstance(interaction, dict) or "request" not in interaction or "response" not in interaction:
                raise ValueError("every interaction needs a `request:` and a `response:`")
            interaction["request"]["body"] = _flat(interaction["request"].get("body"))
            body = interaction["response"].get("body") or {}
            if "events" in body:
                _stream_in_memory(interaction["response"])
                continue
            body["string"] = _flat(body.get("string"))
        cassette_cache.put(text, data)
        return data


def _stream_on_disk(response: dict[str, Any]) -> dict[str, Any]:
    """A recorded stream as its events: offset, event name (when the server sends one) and data as structure."""
    text = response["body"]["string"]
    text = text.decode("utf-8") if isinstance(text, (bytes, bytearray)) else text
    events = []
    for event, offset in zip(parse_sse(text), response["offsets_ms"]):
        entry: dict[str, Any] = {"ms": offset}
        if event.event is not None:
            entry["event"] = event.event
        parsed = event.json()
        entry["data"] = parsed if isinstance(parsed, (dict, list)) else event.data
        events.append(entry)
    kept = {k: v for k, v in response.items() if k not in ("body", "offsets_ms")}
    return {**kept, "body": {"events": events}}


def _stream_in_memory(response: dict[str, Any]) -> None:
    """The inverse: the SSE text the replay sends and the offsets it keeps to."""
    events = response["body"]["events"]
    if not isinstance(events, list) or not all(isinstance(e, dict) and "data" in e for e in events):
        raise ValueError("a streamed response's `events:` must be a list of {ms, data} entries")
    parsed = [SseEvent(e.get("event"), e["data"] if isinstance(e["data"], str) else
                       json.dumps(e["data"], ensure_ascii=False, separators=(",", ":")), float(e.get("ms") or 0))
              for e in events]  # fmt: skip
    response["body"] = {"string": "".join(sse_text(e) for e in parsed)}
    response["offsets_ms"] = [e.offset_ms for e in parsed]


class SafePersister:
    """vcrpy persister: clear errors on bad files, one validator before use, atomic writes, no key written.

    ``others``: the keys of the suites' named endpoints; ``reply_problem``: the provider's check of a recorded
    reply (harness/providers/cassette_check.py); with ``replace_broken`` (`--cassettes record`) a broken file is
    read as no file, to be recorded afresh.
    """

    def __init__(self, api_key: str | None, others: tuple[str, ...] = (), reply_problem: ReplyProblem | None = None,
                 replace_broken: bool = False, stream_finished: StreamFinished | None = None):  # fmt: skip
        self.api_key = api_key
        self.others = others  # the keys of the suites' named endpoints
        self.reply_problem = reply_problem
        self.replace_broken = replace_broken
        self.stream_finished = stream_finished

    def load_cassette(self, cassette_path: str, serializer: Any) -> Any:
        try:
            return self._load(Path(cassette_path), serializer)
        except CassetteFileError:
            if self.replace_broken:
                raise CassetteNotFoundError() from None
            raise

    def _load(self, path: Path, serializer: Any) -> Any:
        if not path.is_file():
            raise CassetteNotFoundError()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CassetteFileError(f"{path}: cannot read the cassette: {e}") from None
        if not text.strip():
            raise CassetteFileError(f"{path}: the cassette file is empty (a recording never finished writing, or "
                                    "it was emptied by hand)")  # fmt: skip
        try:
            data = serializer.deserialize(text)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            raise CassetteFileError(f"{where}: cassette is not valid YAML ({e.problem})") from None
        except (yaml.YAMLError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
            raise CassetteFileError(f"{path}: cassette is malformed ({e})") from None
        problem = cassette_problem(data, self.reply_problem, self.stream_finished)
        if problem:
            raise CassetteFileError(f"{path}: broken cassette: {problem}")
        try:  # vcrpy's own deserialize, on the data validated above
            requests = [VcrRequest._from_dict(i["request"]) for i in data["interactions"]]
            responses = [compat.convert_to_bytes(i["response"]) for i in data["interactions"]]
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise CassetteFileError(f"{path}: broken cassette: a request vcrpy cannot read ({e})") from None
        return requests, responses

    def save_cassette(self, cassette_path: str, cassette_dict: dict[str, Any], serializer: Any) -> None:
        text = serialize(cassette_dict, serializer)
        if any(key and len(key) >= 8 and leaks(text, key) for key in (self.api_key, *self.others)):  # replies: redacted
            raise CassetteFileError(f"refusing to write {cassette_path}: it would contain an API key in use (or "
                                    "a run of it that counts as a leak: 10 characters, or 6 of its secret part), in a request the suite makes")  # fmt: skip
        try:
            write_text_atomic(Path(cassette_path), text)
        except OSError as e:  # disk full, permissions: this case is an error, the run goes on
            raise CassetteFileError(f"cannot write cassette {cassette_path}: {e}") from None
