"""Context windows and output limits of OpenAI chat models, and model-name resolution.

Requests name models in many spellings (dated snapshots, `openai/` prefixes,
variants); both this table and the price table resolve them the same way, so the
rule lives here once. Unknown models give None: a wrong limit is worse than none.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

DATA_FILE = "models.json"
LIMIT_KEYS = ("context_window", "max_output_tokens")
_PROVIDER_PREFIX = "openai/"


@dataclass(frozen=True)
class ModelLimits:
    """Tokens one request may hold: prompt + completion <= context_window."""

    context_window: int
    max_output_tokens: int


def normalize_model_name(model: str) -> str:
    """Lower-case, trimmed, without an `openai/` routing prefix."""
    name = model.strip().lower()
    return name[len(_PROVIDER_PREFIX):] if name.startswith(_PROVIDER_PREFIX) else name


def resolve_model_name(model: str, known: Collection[str]) -> str | None:
    """Find the table entry for `model`: exact match, else the longest known prefix.

    `known` holds normalized names. A prefix only matches at a "-" or ":" boundary,
    so "gpt-4" never claims "gpt-4o" or "gpt-4.5" while "llama3" covers "llama3:8b";
    fine-tuned ids ("ft:...") match nothing and stay unknown (they cost more).
    """
    name = normalize_model_name(model)
    if name in known:
        return name
    # Dated snapshots ("gpt-4o-mini-2024-07-18", "gpt-4-0613") resolve through the prefix rule.
    candidates = [k for k in known if name.startswith((k + "-", k + ":"))]
    return max(candidates, key=len) if candidates else None


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _parse_limits(data: Mapping[str, Any], source: str) -> dict[str, ModelLimits]:
    table: dict[str, ModelLimits] = {}
    for model, entry in data.items():
        if not isinstance(entry, Mapping) or not all(_positive_int(entry.get(k)) for k in LIMIT_KEYS):
            raise ValueError(f"{source}: models.{model}: needs positive integers {', '.join(LIMIT_KEYS)}")
        table[normalize_model_name(str(model))] = ModelLimits(**{k: entry[k] for k in LIMIT_KEYS})
    return table


@functools.lru_cache(maxsize=1)
def _default_document() -> dict[str, Any]:
    text = resources.files("harness").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=1)
def default_limits() -> Mapping[str, ModelLimits]:
    """The shipped table (harness/data/models.json), keyed by normalized name."""
    return _parse_limits(_default_document()["models"], f"harness/data/{DATA_FILE}")


def limits_as_of() -> str:
    """The date the shipped limits were read from OpenAI's model pages."""
    return str(_default_document()["as_of"])


def validate_limit_overrides(overrides: Mapping[str, Any], source: str = "overrides") -> dict[str, int]:
    """Check suite keys `context_window` / `max_output_tokens`; errors name the key."""
    checked: dict[str, int] = {}
    for key, value in overrides.items():
        if key not in LIMIT_KEYS:
            raise ValueError(f"{source}: unknown model limit {key!r}; expected one of {', '.join(LIMIT_KEYS)}")
        if not _positive_int(value):
            raise ValueError(f"{source}: {key} must be a positive integer, got {value!r}")
        checked[key] = value
    return checked


def limits_for(model: str, overrides: Mapping[str, Any] | None = None) -> ModelLimits | None:
    """Limits for `model`, with suite overrides applied on top.

    For a model we do not know (a local server, a fine-tune), `context_window`
    alone is enough: the output limit then defaults to the whole window.
    """
    checked = validate_limit_overrides(overrides or {})
    table = default_limits()
    key = resolve_model_name(model, table)
    base = table.get(key) if key else None
    if base is None:
        if "context_window" not in checked:
            return None
        window = checked["context_window"]
        return ModelLimits(window, checked.get("max_output_tokens", window))
    return ModelLimits(
        checked.get("context_window", base.context_window),
        checked.get("max_output_tokens", base.max_output_tokens),
    )
