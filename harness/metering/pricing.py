"""What a request cost, from a dated price table that suites can override.

Prices change and local servers have none, so an unknown model costs None
(unknown), never 0, and the shipped table carries the date it was read.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.core.json_errors import json_error_text
from harness.core.reply import Usage
from harness.core.yaml_positions import YamlSyntaxError, load_yaml
from harness.metering.models import limits_for, normalize_model_name, resolve_model_name

DATA_FILE = "prices.json"
PRICE_FIELDS = ("input", "cached_input", "output", "batch_input", "batch_cached_input", "batch_output")
META_KEYS = ("as_of", "source", "currency", "unit", "batch_as_of", "batch_source")
BATCH_DISCOUNT = 0.5  # the Batch API bills inputs and outputs at half the standard price (docs/batch.md)
PER_TOKENS = 1_000_000


class PriceFileError(ValueError):
    """A price table or override that cannot be used; the message names file and key."""


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens; cached_input None means cached tokens bill at `input`.

    The batch_* prices are the Batch API's (`--batch`); None means the standard price at the API's discount.
    """

    input: float
    cached_input: float | None
    output: float
    batch_input: float | None = None
    batch_cached_input: float | None = None
    batch_output: float | None = None

    def for_batch(self) -> Price:
        """This model's price through the Batch API."""
        def half(value: float | None) -> float | None:
            return None if value is None else value * BATCH_DISCOUNT

        cached = self.batch_cached_input if self.batch_cached_input is not None else half(self.cached_input)
        return Price(self.batch_input if self.batch_input is not None else self.input * BATCH_DISCOUNT, cached,
                     self.batch_output if self.batch_output is not None else self.output * BATCH_DISCOUNT)  # fmt: skip


def _where(source: str, container: Any, key: Any, *, key_position: bool = False) -> str:
    """`file:line:col` when the value came from YAML with positions, else `source`."""
    locs = getattr(container, "key_locs" if key_position else "value_locs", None)
    loc = locs.get(key) if isinstance(locs, dict) else None
    return str(loc) if loc is not None else source


def _rate(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _parse_price(model: str, entry: Any, source: str, parent: Any) -> Price:
    if not isinstance(entry, Mapping):
        raise PriceFileError(
            f"{_where(source, parent, model)}: price for {model!r} must be a mapping with "
            f"input, output and optional cached_input (USD per 1M tokens), got {entry!r}"
        )
    for key in entry:
        if key not in PRICE_FIELDS:
            raise PriceFileError(
                f"{_where(source, entry, key, key_position=True)}: price for {model!r}: unknown key {key!r}; "
                f"expected {', '.join(PRICE_FIELDS)}"
            )
    for key in ("input", "output"):
        if key not in entry:
            raise PriceFileError(f"{_where(source, parent, model)}: price for {model!r}: missing {key!r}")
    for key in PRICE_FIELDS:
        value = entry.get(key)
        if not (_rate(value) or (key not in ("input", "output") and value is None)):
            raise PriceFileError(
                f"{_where(source, entry, key)}: price for {model!r}: {key!r} must be a non-negative "
                f"number (USD per 1M tokens), got {value!r}"
            )
    optional = {key: None if entry.get(key) is None else float(entry[key])
                for key in ("cached_input", "batch_input", "batch_cached_input", "batch_output")}  # fmt: skip
    return Price(float(entry["input"]), output=float(entry["output"]), **optional)


def _parse_prices(models: Mapping[Any, Any], source: str) -> dict[str, Price]:
    return {
        normalize_model_name(str(model)): _parse_price(str(model), entry, source, models)
        for model, entry in models.items()
        if model not in META_KEYS
    }


class PriceTable:
    """Model name -> Price, resolved like the limits table (snapshots, prefixes)."""

    def __init__(self, prices: Mapping[str, Price], as_of: str | None = None, source: str | None = None):
        self._prices = MappingProxyType({normalize_model_name(k): v for k, v in prices.items()})
        self.as_of = as_of
        self.source = source
        self.batch_as_of: str | None = None  # when the batch_* columns were read
        self._batch: PriceTable | None = None

    def for_batch(self) -> PriceTable:
        """The same table at the Batch API's prices (its batch columns), for a run with --batch."""
        if self._batch is None:
            self._batch = PriceTable({k: p.for_batch() for k, p in self._prices.items()}, self.as_of, self.source)
        return self._batch

    @classmethod
    def load_default(cls) -> PriceTable:
        """The shipped, dated table (harness/data/prices.json); cached per process."""
        return _default_table()

    @classmethod
    def from_mapping(cls, data: Any, source: str) -> PriceTable:
        """Build from `{model: {input, cached_input, output}}`, optionally under `models:`."""
        if not isinstance(data, Mapping):
            raise PriceFileError(f"{source}: expected a mapping of model name to {{input, cached_input, output}}")
        if data.get("currency", "USD") != "USD":
            raise PriceFileError(f"{_where(source, data, 'currency')}: currency must be USD, got {data['currency']!r}")
        models = data.get("models", data)
        if not isinstance(models, Mapping):
            raise PriceFileError(f"{_where(source, data, 'models')}: 'models' must be a mapping of model name to price")
        as_of, note = data.get("as_of"), data.get("source")
        table = cls(_parse_prices(models, source), None if as_of is None else str(as_of), note)
        table.batch_as_of = None if data.get("batch_as_of") is None else str(data["batch_as_of"])
        return table

    @classmethod
    def from_file(cls, path: str | Path) -> PriceTable:
        """Read a JSON or YAML price file; every error names the file and the key."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PriceFileError(f"{path}: no such price file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise PriceFileError(f"{path}: cannot read price file: {e}") from None
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise PriceFileError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({json_error_text(e, position=False)})") from None
        else:
            try:
                data = load_yaml(text, str(path))
            except YamlSyntaxError as e:
                raise PriceFileError(str(e)) from None
        return cls.from_mapping(data, str(path))

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "pricing overrides") -> PriceTable:
        """A new table where suite-provided prices replace or add entries."""
        if not isinstance(overrides, Mapping):
            raise PriceFileError(f"{source}: expected a mapping of model name to {{input, cached_input, output}}")
        merged = {**self._prices, **_parse_prices(overrides, source)}
        table = PriceTable(merged, self.as_of, self.source)
        table.batch_as_of = self.batch_as_of
        return table

    @property
    def models(self) -> list[str]:
        return sorted(self._prices)

    def resolve(self, model: str) -> str | None:
        """The table entry `model` is priced as (e.g. 'gpt-4o-mini-2024-07-18' -> 'gpt-4o-mini')."""
        return resolve_model_name(model, self._prices)

    def lookup(self, model: str) -> Price | None:
        key = self.resolve(model)
        return self._prices[key] if key is not None else None

    def cost(self, model: str, usage: Usage) -> float | None:
        """USD for one reply: cached prompt tokens at cached_input, the rest at input.

        None when the model has no price or the server reported no usage.
        """
        price = self.lookup(model)
        if price is None or usage.prompt_tokens is None or usage.completion_tokens is None:
            return None
        cached = min(max(usage.cached_tokens or 0, 0), usage.prompt_tokens)
        cached_rate = price.input if price.cached_input is None else price.cached_input
        return (
            (usage.prompt_tokens - cached) * price.input
            + cached * cached_rate
            + usage.completion_tokens * price.output
        ) / PER_TOKENS

    def estimate(
        self, model: str, prompt_tokens: int, max_completion_tokens: int | None
    ) -> tuple[float, float] | None:
        """A (min, max) USD range before sending: prompt only .. prompt + a full completion.

        Without `max_completion_tokens` the model's own output limit bounds the max.
        """
        price = self.lookup(model)
        if price is None:
            return None
        if max_completion_tokens is None:
            limits = limits_for(model)
            if limits is None:
                return None
            max_completion_tokens = limits.max_output_tokens
        low = prompt_tokens * price.input / PER_TOKENS
        return low, low + max_completion_tokens * price.output / PER_TOKENS


@functools.lru_cache(maxsize=1)
def _default_table() -> PriceTable:
    text = resources.files("harness").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return PriceTable.from_mapping(json.loads(text), f"harness/data/{DATA_FILE}")
