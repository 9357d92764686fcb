"""The cassette parse cache: a cassette read before comes back as JSON, and nothing a replay sees changes."""

from __future__ import annotations

import datetime
import sqlite3

import pytest
import yaml

from harness.providers import cassette_cache
from harness.providers.cassette_files import ReadableYaml

CASSETTE = """\
version: 1
interactions:
- request:
    method: POST
    uri: http://127.0.0.1:8080/v1/chat/completions
    body:
      json:
        model: m
        messages:
        - {role: user, content: "Hi: caf\u00e9"}
        temperature: 0
    headers:
      content-type: [application/json]
  response:
    status: {code: 200, message: OK}
    headers:
      content-type: [application/json]
    body:
      string:
        json:
          choices:
          - message: {role: assistant, content: "line one\\nline two"}
            finish_reason: stop
          usage: {prompt_tokens: 5, completion_tokens: 3, total_tokens: 8}
    latency_ms: 12.5
"""


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def entries(root):
    cassette_cache.flush()  # parses are written in batches, and at exit
    path = root / cassette_cache.DB_NAME
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT key FROM parsed ORDER BY key")]


def test_second_read_comes_from_the_cache_and_is_identical(cache_root, monkeypatch):
    first = ReadableYaml.deserialize(CASSETTE)
    assert len(entries(cache_root)) == 1

    def no_yaml(*args, **kwargs):
        raise AssertionError("parsed the YAML again")

    monkeypatch.setattr(yaml, "load", no_yaml)
    second = ReadableYaml.deserialize(CASSETTE)
    assert second == first
    assert second is not first and second["interactions"][0] is not first["interactions"][0]
    assert first["interactions"][0]["request"]["body"].startswith('{"model":"m"')


def test_an_edited_cassette_is_a_new_entry(cache_root):
    ReadableYaml.deserialize(CASSETTE)
    edited = ReadableYaml.deserialize(CASSETTE.replace("temperature: 0", "temperature: 1"))
    assert '"temperature":1' in edited["interactions"][0]["request"]["body"]
    assert len(entries(cache_root)) == 2


def test_a_damaged_entry_is_a_miss(cache_root):
    expected = ReadableYaml.deserialize(CASSETTE)
    (key,) = entries(cache_root)
    for damage in ('{"interactions": ', "[]", ""):
        with sqlite3.connect(cache_root / cassette_cache.DB_NAME) as db:
            db.execute("UPDATE parsed SET data = ? WHERE key = ?", (damage, key))
        assert ReadableYaml.deserialize(CASSETTE) == expected


def test_a_cache_file_that_is_not_a_database_turns_the_cache_off(cache_root):
    cache_root.mkdir(parents=True)
    (cache_root / cassette_cache.DB_NAME).write_text("not a database")
    assert ReadableYaml.deserialize(CASSETTE)["interactions"][0]["response"]["latency_ms"] == 12.5
    assert ReadableYaml.deserialize(CASSETTE)["interactions"][0]["response"]["latency_ms"] == 12.5


def test_what_json_cannot_hold_exactly_is_not_cached(cache_root):
    text = CASSETTE.replace("latency_ms: 12.5", "latency_ms: 12.5\n    recorded: 2024-05-01")
    data = ReadableYaml.deserialize(text)
    assert data["interactions"][0]["response"]["recorded"] == datetime.date(2024, 5, 1)
    assert entries(cache_root) == []


def test_an_empty_cache_dir_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", "")
    assert cassette_cache.cache_dir() is None
    ReadableYaml.deserialize(CASSETTE)
    assert not any(tmp_path.rglob("*.sqlite3"))


def test_a_bad_cassette_still_fails_the_same_way(cache_root):
    with pytest.raises(ValueError, match="interactions"):
        ReadableYaml.deserialize("just: a mapping\n")
    assert entries(cache_root) == []
