"""How cassettes look on disk: readable YAML, atomic writes, no secrets.

JSON bodies are stored as YAML structure (not one escaped line) and long or
multi-line strings as block scalars, so a pull-request diff of a cassette shows
the prompt change and the reply change as lines a reviewer can read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.serialize import deserialize, serialize

from harness.core.atomic_files import write_text_atomic
from harness.providers import cassette_cache

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
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
    except (TypeError, ValueError):
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


def _structured(body: Any) -> Any:
    parsed = body_json(body)
    if isinstance(parsed, (dict, list)):
        return {"json": parsed}
    if isinstance(body, (bytes, bytearray)):
        return body.decode("utf-8", "replace")
    return body


def _flat(body: Any) -> Any:
    if isinstance(body, dict) and set(body) == {"json"}:
        return json.dumps(body["json"], ensure_ascii=False, separators=(",", ":"))
    return body


class ReadableYaml:
    """vcrpy serializer with JSON bodies stored as structure and multi-line text as block scalars."""

    @staticmethod
    def serialize(data: dict[str, Any]) -> str:
        for interaction in data.get("interactions", []):
            request = interaction["request"]
            request["body"] = _structured(request.get("body"))
            response_body = interaction["response"].get("body") or {}
            response_body["string"] = _structured(response_body.get("string"))
        return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)

    @staticmethod
    def deserialize(text: str) -> dict[str, Any]:
        # read before? then as JSON, ~15x faster than YAML
        cached = cassette_cache.get(text)
        if cached is not None:
            return cached
        data = yaml.load(text, Loader=_Loader)
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise ValueError("not a cassette: expected a mapping with an `interactions:` list")
        for interaction in data["interactions"]:
            if not isinstance(interaction, dict) or "request" not in interaction or "response" not in interaction:
                raise ValueError("every interaction needs a `request:` and a `response:`")
            interaction["request"]["body"] = _flat(interaction["request"].get("body"))
            body = interaction["response"].get("body") or {}
            body["string"] = _flat(body.get("string"))
        cassette_cache.put(text, data)
        return data


class SafePersister:
    """vcrpy persister: clear errors on bad files, atomic writes, and a last check for the API key."""

    def __init__(self, api_key: str | None, others: tuple[str, ...] = ()):
        self.api_key = api_key
        self.others = others  # the keys of the suites' named endpoints

    @staticmethod
    def load_cassette(cassette_path: str, serializer: Any) -> Any:
        path = Path(cassette_path)
        if not path.is_file():
            raise CassetteNotFoundError()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CassetteFileError(f"cannot read cassette {path}: {e}") from None
        if not text.strip():
            raise CassetteNotFoundError()
        try:
            return deserialize(text, serializer)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            raise CassetteFileError(f"{where}: cassette is not valid YAML ({e.problem}); fix it or delete it and re-record") from None
        except (ValueError, KeyError, TypeError) as e:
            raise CassetteFileError(f"{path}: cassette is malformed ({e}); fix it or delete it and re-record") from None

    def save_cassette(self, cassette_path: str, cassette_dict: dict[str, Any], serializer: Any) -> None:
        text = serialize(cassette_dict, serializer)
        if any(key and len(key) >= 8 and key in text for key in (self.api_key, *self.others)):
            raise CassetteFileError(f"refusing to write {cassette_path}: it would contain the API key in use")
        try:
            write_text_atomic(Path(cassette_path), text)
        except OSError as e:  # disk full, permissions: this case is an error, the run goes on
            raise CassetteFileError(f"cannot write cassette {cassette_path}: {e}") from None
