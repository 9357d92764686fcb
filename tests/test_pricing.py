"""Cost from the dated price table: resolution, arithmetic, estimates, override files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.core.reply import Usage
from harness.metering.pricing import Price, PriceFileError, PriceTable
from tests.test_models import REQUIRED


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load_default()


def test_default_table_is_dated_sourced_and_complete(table):
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", table.as_of or "")
    assert "openai" in (table.source or "").lower()
    assert set(REQUIRED) <= set(table.models)


@pytest.mark.parametrize(
    "model, priced_as, price",
    [
        ("gpt-4o-mini", "gpt-4o-mini", Price(0.15, 0.075, 0.60)),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", Price(0.15, 0.075, 0.60)),
        ("gpt-4o-2024-08-06", "gpt-4o", Price(2.50, 1.25, 10.00)),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13", Price(5.00, None, 15.00)),  # the pricier launch snapshot
        ("openai/gpt-4.1", "gpt-4.1", Price(2.00, 0.50, 8.00)),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano", Price(0.10, 0.025, 0.40)),
        ("o3-2025-04-16", "o3", Price(2.00, 0.50, 8.00)),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo", Price(0.50, None, 1.50)),
        ("gpt-5-chat-latest", "gpt-5", Price(1.25, 0.125, 10.00)),
        ("o3-pro-2025-06-10", "o3-pro", Price(20.00, None, 80.00)),  # not billed as plain o3
    ],
)
def test_prices_resolve_for_snapshots_and_prefixes(table, model, priced_as, price):
    assert table.resolve(model) == priced_as
    assert standard(table.lookup(model)) == price


def standard(price: Price | None) -> Price | None:
    """The standard-tier columns of a price (the batch ones are checked on their own)."""
    return None if price is None else Price(price.input, price.cached_input, price.output)


def test_the_batch_columns_are_dated_and_half_the_standard_price_as_the_batch_api_bills(table):
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", table.batch_as_of or "")
    for model in table.models:
        p = table.lookup(model)
        assert (p.batch_input, p.batch_output) == (pytest.approx(p.input / 2), pytest.approx(p.output / 2)), model
        assert p.batch_cached_input == (None if p.cached_input is None else pytest.approx(p.cached_input / 2)), model
    usage = Usage(prompt_tokens=10_000, completion_tokens=2_000, total_tokens=12_000, cached_tokens=4_000)
    assert table.for_batch().cost("gpt-4o-mini", usage) == pytest.approx(table.cost("gpt-4o-mini", usage) / 2)


def test_a_suite_price_without_batch_columns_bills_batches_at_the_apis_discount(table):
    local = table.with_overrides({"mine": {"input": 1, "output": 3},
                                  "theirs": {"input": 1, "output": 3, "batch_input": 0.8, "batch_output": 2}})  # fmt: skip
    batch = local.for_batch()
    assert batch.cost("mine", Usage(1_000_000, 1_000_000)) == pytest.approx(0.5 + 1.5)
    assert batch.cost("theirs", Usage(1_000_000, 1_000_000)) == pytest.approx(0.8 + 2)
    assert local.cost("theirs", Usage(1_000_000, 1_000_000)) == pytest.approx(4)


@pytest.mark.parametrize("model", ["llama3:8b", "gpt-4.5-preview", "ft:gpt-4o-mini:acme::abc", "mistral-large"])
def test_unknown_model_cost_is_unknown_not_zero(table, model):
    assert table.lookup(model) is None
    assert table.cost(model, Usage(100, 50, 150, 0)) is None
    assert table.estimate(model, 100, 50) is None


def test_cost_bills_cached_tokens_at_the_cached_rate(table):
    usage = Usage(prompt_tokens=10_000, completion_tokens=2_000, total_tokens=12_000, cached_tokens=4_000)
    # gpt-4o-mini: 6,000 fresh x $0.15 + 4,000 cached x $0.075 + 2,000 out x $0.60, per 1M
    expected = (6_000 * 0.15 + 4_000 * 0.075 + 2_000 * 0.60) / 1_000_000
    assert expected == pytest.approx(0.0024)
    assert table.cost("gpt-4o-mini-2024-07-18", usage) == pytest.approx(expected)


def test_cost_without_a_cache_discount_bills_cached_tokens_as_input(table):
    usage = Usage(prompt_tokens=1_000, completion_tokens=100, cached_tokens=500)
    assert table.cost("gpt-4", usage) == pytest.approx((1_000 * 30 + 100 * 60) / 1_000_000)


def test_cost_is_unknown_without_usage(table):
    assert table.cost("gpt-4o", Usage()) is None
    assert table.cost("gpt-4o", Usage(prompt_tokens=10)) is None
    assert table.cost("gpt-4o", Usage(completion_tokens=10)) is None
    assert table.cost("gpt-4o", Usage(prompt_tokens=10, completion_tokens=0)) == pytest.approx(10 * 2.5 / 1e6)


def test_estimate_is_a_range_from_prompt_only_to_full_completion(table):
    low, high = table.estimate("gpt-4o", 1_000, 500)
    assert low == pytest.approx(1_000 * 2.50 / 1e6)
    assert high == pytest.approx(1_000 * 2.50 / 1e6 + 500 * 10.00 / 1e6)
    # no max_tokens: the model's own output limit (16,384 for gpt-4o) bounds the max
    low, high = table.estimate("gpt-4o", 1_000, None)
    assert high == pytest.approx(low + 16_384 * 10.00 / 1e6)


def test_overrides_add_and_replace_without_touching_the_original(table):
    local = table.with_overrides({"llama3": {"input": 0, "output": 0}, "gpt-4o": {"input": 1, "output": 2}})
    assert local.cost("llama3:8b", Usage(100, 50)) == 0.0  # free, and known to be free
    assert local.cost("llama3.1", Usage(100, 50)) is None
    assert local.lookup("gpt-4o-2024-08-06") == Price(1.0, None, 2.0)
    assert standard(table.lookup("gpt-4o")) == Price(2.50, 1.25, 10.00)
    assert local.as_of == table.as_of


def test_bad_override_names_source_model_and_key(table):
    with pytest.raises(PriceFileError) as e:
        table.with_overrides({"my-model": {"input": "cheap", "output": 1}}, source="evals/support.yaml")
    assert "evals/support.yaml" in str(e.value) and "'my-model'" in str(e.value) and "'input'" in str(e.value)


def test_price_file_yaml_good(tmp_path: Path):
    path = tmp_path / "prices.yaml"
    path.write_text("as_of: 2026-01-31\nmy-model:\n  input: 1\n  cached_input: 0.5\n  output: 4\n")
    loaded = PriceTable.from_file(path)
    assert loaded.as_of == "2026-01-31"
    assert loaded.lookup("my-model-2026-01-01") == Price(1.0, 0.5, 4.0)
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000, cached_tokens=1_000_000)
    assert loaded.cost("my-model", usage) == pytest.approx(0.5 + 4.0)


def test_price_file_json_good_with_models_wrapper(tmp_path: Path):
    path = tmp_path / "prices.json"
    path.write_text('{"as_of": "2026-02-01", "models": {"openai/Big": {"input": 3, "output": 9}}}')
    loaded = PriceTable.from_file(path)
    assert loaded.lookup("big") == Price(3.0, None, 9.0)


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("p.yaml", "gpt-4o:\n  input: 2.5\n  ouput: 10\n", [":3:3:", "'gpt-4o'", "'ouput'"]),
        ("p.yaml", "gpt-4o:\n  input: 2.5\n  output: ten\n", [":3:11:", "'gpt-4o'", "'output'", "'ten'"]),
        ("p.yaml", "gpt-4o:\n  input: 2.5\n", ["'gpt-4o'", "missing 'output'"]),
        ("p.yaml", "gpt-4o: 2.5\n", [":1:9:", "'gpt-4o'", "must be a mapping"]),
        ("p.yaml", "gpt-4o: [1, 2\n", ["invalid YAML"]),
        ("p.json", '{"models": {"m": {"input": -1, "output": 1}}}', ["'m'", "'input'", "non-negative"]),
        ("p.json", '{"models": {"m": {"input": 1, "output": 1}', [":1:", "not valid JSON"]),
        ("p.json", '{"currency": "EUR", "m": {"input": 1, "output": 1}}', ["currency must be USD"]),
        ("p.json", "[1, 2]", ["expected a mapping"]),
    ],
)
def test_price_file_errors_name_file_and_key(tmp_path: Path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PriceFileError) as e:
        PriceTable.from_file(path)
    message = str(e.value)
    assert message.startswith(str(path))
    for part in expected:
        assert part in message


def test_missing_price_file(tmp_path: Path):
    with pytest.raises(PriceFileError, match="no such price file"):
        PriceTable.from_file(tmp_path / "nope.yaml")
