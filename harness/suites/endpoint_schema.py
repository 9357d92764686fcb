"""`endpoints:` (named servers), `endpoint:` (choosing one), and keeping literal keys out of suite files.

A suite file is committed, shared and printed in CI logs, and what it sends is
recorded in cassettes, so a key never belongs in it: an endpoint names the
environment variable that holds its key (`api_key_env:`), and anything in the
suite that is, or looks like, a literal key is a load-time error.
"""

from __future__ import annotations

import re
from typing import Any

from harness.core.base_url import base_url_problem
from harness.core.locations import Loc
from harness.core.problems import did_you_mean
from harness.core.specs import DEFAULT_ENDPOINT, EndpointSpec, EnvValue
from harness.core.yaml_positions import PosDict, PosList
from harness.suites.schema_base import ValidatorBase as SuiteValidator  # what these functions use of the validator

ENDPOINT_KEYS = {"base_url", "api_key_env", "headers", "rate_limit"}
RATE_LIMIT_EXAMPLE = "rate_limit: {rpm: 60}"
# Mapping keys that hold a secret when their value is text: never allowed in a suite.
SECRET_NAMES = {"api_key", "apikey", "api-key", "openai_api_key", "secret_key", "access_token", "password",
                "authorization", "x-api-key", "bearer"}  # fmt: skip
# Header names whose value is a credential: only `{env: VAR}` (or `api_key_env:` for Authorization).
CREDENTIAL_HEADERS = {"authorization", "api-key", "x-api-key", "proxy-authorization", "x-goog-api-key", "cookie"}
# Strings shaped like the keys of common providers (OpenAI, Anthropic, Google, Hugging Face, GitHub, Groq, xAI, AWS).
KEY_SHAPES = re.compile(r"\bsk-[A-Za-z0-9_-]{16,}|\bBearer\s+[A-Za-z0-9._~+/=-]{12,}|\bAIza[0-9A-Za-z_-]{30,}"
                        r"|\bhf_[A-Za-z0-9]{20,}|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgsk_[A-Za-z0-9]{20,}"
                        r"|\bxai-[A-Za-z0-9]{20,}|\bAKIA[0-9A-Z]{16}\b")  # fmt: skip
# Where a suite holds message text or test data, which may legitimately show a key-shaped string
# (a prompt-injection test, a leak check): not scanned for key shapes.
TEXT_KEYS = {"system", "user", "messages", "content", "vars", "expect", "tool_results", "description", "defaults"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENDPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
FIX = ("a key never goes in a suite file (it would be committed, shared and printed); put it in an environment "
       "variable and name the variable with `api_key_env:` in `endpoints:`")  # fmt: skip


def parse_endpoints(v: SuiteValidator, data: PosDict) -> dict[str, EndpointSpec]:
    """The suite's `endpoints:` by name, every problem recorded on ``v``."""
    block = v.typed(data, "endpoints", dict, "a mapping of names to servers, e.g. "
                                             "{judge: {base_url: 'https://api.openai.com/v1', api_key_env: JUDGE_KEY}}",
                    "the suite")  # fmt: skip
    out: dict[str, EndpointSpec] = {}
    for name, spec in (block or {}).items():
        where = f"endpoint {name!r}"
        if not isinstance(name, str) or not _ENDPOINT_NAME.fullmatch(name):
            v.add(block.key_locs[name], f"endpoint name {name!r} must be letters, digits, '_', '.' or '-'")
            continue
        if name == DEFAULT_ENDPOINT:
            v.add(block.key_locs[name], f"`{DEFAULT_ENDPOINT}` names the run's own server (--base-url, else "
                                        "$OPENAI_BASE_URL); give this endpoint another name")  # fmt: skip
            continue
        v.endpoint_names.add(name)  # chosen by `endpoint:` even when its settings have a problem (reported here)
        if not isinstance(spec, PosDict):
            v.add(block.value_locs[name], f"{where} must be a mapping like {{base_url: ..., api_key_env: VAR}}")
            continue
        for key in spec:
            if str(key).lower() in SECRET_NAMES:
                v.add(spec.key_locs[key], f"`{key}` in {where}: {FIX}, e.g. `api_key_env: {_env_hint(name)}`")
            elif key not in ENDPOINT_KEYS:
                hint = did_you_mean(str(key), ENDPOINT_KEYS) or f"; expected one of {', '.join(sorted(ENDPOINT_KEYS))}"
                v.add(spec.key_locs[key], f"unknown key {key!r} in {where}{hint}")
        base_url = _base_url(v, spec, where)
        key_env = v.typed(spec, "api_key_env", str, "the name of an environment variable, e.g. JUDGE_API_KEY", where)
        if key_env is not None and not _ENV_NAME.fullmatch(key_env):
            shaped = KEY_SHAPES.search(key_env) or len(key_env) >= 20 and " " not in key_env and "_" not in key_env
            why = ("looks like a key itself: " + FIX) if shaped else "is not an environment variable name"
            v.add(spec.value_locs["api_key_env"], f"`api_key_env` of {where} {why}; write the variable's name, "
                                                  f"e.g. `api_key_env: {_env_hint(name)}`")  # fmt: skip
            key_env = None
        headers = _headers(v, spec, where)
        limits = v.numbers(spec, "rate_limit", {"rpm": (float, 0, False), "tpm": (float, 0, False)}, RATE_LIMIT_EXAMPLE)
        if base_url is not None:
            out[name] = EndpointSpec(name, base_url, key_env, headers, limits.get("rpm"), limits.get("tpm"),
                                     block.key_locs[name], spec.value_locs.get("api_key_env"))  # fmt: skip
    return out


def _env_hint(name: str) -> str:
    """An environment variable name to suggest for an endpoint's key or a secret header."""
    base = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")
    return base if base.endswith(("KEY", "TOKEN")) else base + "_API_KEY"


def _base_url(v: SuiteValidator, spec: PosDict, where: str) -> str | None:
    if "base_url" not in spec:
        v.add(spec.loc, f"{where} needs `base_url:`, e.g. http://127.0.0.1:8080/v1")
        return None
    url = v.typed(spec, "base_url", str, "a URL like http://127.0.0.1:8080/v1", where)
    if url is None:
        return None
    loc = spec.value_locs["base_url"]
    if problem := base_url_problem(url, f"`base_url` of {where}"):
        v.add(loc, problem)
        return None
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    secret_query = [k for k, value in parse_qsl(parts.query) if value and _secret_name(k)]
    if parts.password or secret_query or KEY_SHAPES.search(url):
        v.add(loc, f"`base_url` of {where} holds a credential ({'a password' if parts.password else 'a key'}); {FIX}")
        return None
    return url


def _secret_name(name: str) -> bool:
    lowered = name.lower().replace("_", "-")
    return any(word in lowered for word in ("key", "token", "secret", "password", "sig", "auth"))


def _headers(v: SuiteValidator, spec: PosDict, where: str) -> tuple[tuple[str, str | EnvValue], ...]:
    """`headers: {Name: value}`: text, or `{env: VAR}` for anything secret; credentials as text are refused."""
    block = v.typed(spec, "headers", dict, "a mapping of header names to values", where)
    out: list[tuple[str, str | EnvValue]] = []
    for name, value in (block or {}).items():
        loc = block.value_locs[name]
        lowered = str(name).lower()
        if isinstance(value, PosDict) and set(value) == {"env"} and isinstance(value["env"], str):
            if not _ENV_NAME.fullmatch(value["env"]):
                v.add(value.value_locs["env"], f"`{{env: ...}}` of header {name!r} in {where} must name an "
                                               "environment variable")  # fmt: skip
                continue
            out.append((str(name), EnvValue(value["env"])))
        elif not isinstance(value, (str, int, float)) or isinstance(value, bool):
            v.add(loc, f"header {name!r} in {where} must be text, or `{{env: VAR}}` to read it from the environment")
        elif lowered == "authorization":
            v.add(loc, f"header `{name}` in {where}: {FIX} (it is sent as `Authorization: Bearer ...`)")
        elif lowered in CREDENTIAL_HEADERS or KEY_SHAPES.search(str(value)):
            v.add(loc, f"header {name!r} in {where} holds a credential: a key never goes in a suite file; "
                       f"read it from the environment with `{name}: {{env: {_env_hint(str(name))}}}`")  # fmt: skip
        else:
            out.append((str(name), str(value)))
    return tuple(out)


def chosen_endpoint(v: SuiteValidator, data: PosDict, where: str) -> tuple[str | None, Loc | None]:
    """`endpoint: NAME` at ``where``: a name from the suite's `endpoints:`, or `default` for the run's own server."""
    name = v.typed(data, "endpoint", str, "the name of one of the suite's `endpoints:`", where)
    if name is None:
        return None, None
    loc = data.value_locs["endpoint"]
    known = set(v.endpoint_names) | {DEFAULT_ENDPOINT}
    if name not in known:
        listed = ", ".join(sorted(known))
        hint = did_you_mean(name, known) or f"; the suite defines {listed}"
        v.add(loc, f"unknown endpoint {name!r} in {where}{hint} (define it under `endpoints:`)")
        return None, loc
    return name, loc


def literal_keys(v: SuiteValidator, node: Any, key: Any = None) -> None:
    """Report every literal key anywhere in the suite: a secret-named key with text, or a key-shaped value.

    Message text and test data (``TEXT_KEYS``) are not scanned for shapes: a prompt-injection test may show one.
    """
    if isinstance(node, PosDict):
        for k, value in node.items():
            if isinstance(k, str) and k.lower() in SECRET_NAMES and isinstance(value, str) and value.strip():
                v.add(node.value_locs[k], f"literal key in `{k}`: {FIX}")
                continue
            if isinstance(value, str):
                if k not in TEXT_KEYS and KEY_SHAPES.search(value):
                    v.add(node.value_locs[k], f"`{k}` holds what looks like an API key ({_shape(value)}); {FIX}")
            elif k not in TEXT_KEYS and k != "endpoints":  # endpoints are checked, with their own fixes, above
                literal_keys(v, value, k)
    elif isinstance(node, PosList):
        for item, loc in zip(node, node.item_locs):
            if isinstance(item, str):
                if KEY_SHAPES.search(item):
                    v.add(loc, f"an item of `{key}` looks like an API key ({_shape(item)}); {FIX}")
            else:
                literal_keys(v, item, key)


def _shape(text: str) -> str:
    """The start of a key-shaped string, never the key: messages are printed in CI logs."""
    found = KEY_SHAPES.search(text)
    return (found[0][:4] + "\u2026") if found else "\u2026"
