"""Context-window table: published numbers, name resolution, suite overrides."""

from __future__ import annotations

import re

import pytest

from harness.metering.models import ModelLimits, default_limits, limits_as_of, limits_for, resolve_model_name
from harness.metering.pricing import PriceTable

REQUIRED = [
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o3", "o3-mini",
    "o4-mini", "gpt-4-turbo", "gpt-4", "gpt-3.5-turbo", "gpt-5", "gpt-5-mini", "gpt-5-nano",
]


def test_table_covers_every_required_model_and_matches_the_price_table():
    assert set(REQUIRED) <= set(default_limits())
    chat_models = {m for m in PriceTable.load_default().models if not m.startswith("text-embedding-")}
    assert set(default_limits()) == chat_models  # embeddings models are priced but have no chat window
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", limits_as_of())


@pytest.mark.parametrize(
    "model, expected",
    [
        ("gpt-4o", ModelLimits(128000, 16384)),
        ("gpt-4.1", ModelLimits(1047576, 32768)),
        ("gpt-4", ModelLimits(8192, 8192)),
        ("gpt-3.5-turbo", ModelLimits(16385, 4096)),
        ("gpt-5-nano", ModelLimits(400000, 128000)),
        ("o3-mini", ModelLimits(200000, 100000)),
        # snapshots, routing prefix, case and longest-prefix variants
        ("gpt-4o-mini-2024-07-18", ModelLimits(128000, 16384)),
        ("gpt-4-0613", ModelLimits(8192, 8192)),
        ("gpt-4-turbo-2024-04-09", ModelLimits(128000, 4096)),
        ("openai/gpt-4.1-nano", ModelLimits(1047576, 32768)),
        (" GPT-4o ", ModelLimits(128000, 16384)),
        ("gpt-4o-mini-search-preview", ModelLimits(128000, 16384)),
        ("gpt-5-chat-latest", ModelLimits(400000, 128000)),
    ],
)
def test_limits_for_known_models(model, expected):
    assert limits_for(model) == expected


@pytest.mark.parametrize("model", ["llama3:8b", "gpt-4.5-preview", "ft:gpt-4o-mini:acme::abc123", "gpt-5.1", ""])
def test_unknown_models_have_no_limits(model):
    assert limits_for(model) is None


def test_prefix_resolution_respects_boundaries_and_prefers_the_longest():
    known = {"gpt-4", "gpt-4-turbo", "gpt-4o"}
    assert resolve_model_name("gpt-4-turbo-preview", known) == "gpt-4-turbo"
    assert resolve_model_name("gpt-4o-audio-preview", known) == "gpt-4o"
    assert resolve_model_name("gpt-4o1", known) is None
    assert resolve_model_name("gpt-4.5", known) is None
    assert resolve_model_name("gpt-4o:latest", known) == "gpt-4o"


def test_overrides_replace_fields_of_a_known_model():
    assert limits_for("gpt-4o", {"context_window": 4096}) == ModelLimits(4096, 16384)
    assert limits_for("gpt-4o", {"context_window": 4096, "max_output_tokens": 512}) == ModelLimits(4096, 512)


def test_overrides_describe_an_unknown_model():
    assert limits_for("llama3:8b", {"context_window": 8192, "max_output_tokens": 512}) == ModelLimits(8192, 512)
    # the window alone is enough: output can at most fill it
    assert limits_for("llama3:8b", {"context_window": 8192}) == ModelLimits(8192, 8192)
    assert limits_for("llama3:8b", {"max_output_tokens": 512}) is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"context_windw": 4096}, "'context_windw'"),
        ({"context_window": 0}, "context_window must be a positive integer"),
        ({"max_output_tokens": "512"}, "max_output_tokens must be a positive integer"),
        ({"context_window": True}, "context_window must be a positive integer"),
    ],
)
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        limits_for("gpt-4o", overrides)
