"""What a hosted call costs, from an editable price table.

The package ships ``prices.yaml`` (published list prices, dated). A user file - ``--prices
FILE`` or ``$FLYWHEEL_PRICES`` - replaces entries model by model, so a negotiated rate, a new
model or a free local endpoint is one line, not a code change. A model with no price has an
unknown cost: reports say so, and ``--max-cost`` refuses to start (a budget cannot be kept
without a price).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from flywheel.errors import ConfigError, DataFormatError

PRICES_ENV = "FLYWHEEL_PRICES"
_KEYS = ("input_per_1m", "output_per_1m", "per_1k_searches")


@dataclass(frozen=True, slots=True)
class Usage:
    """What one call consumed, as the provider reported it."""

    input_tokens: int = 0
    output_tokens: int = 0
    search_units: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.search_units + other.search_units,
        )


@dataclass(frozen=True, slots=True)
class Price:
    """Dollars per million input/output tokens and per thousand searches."""

    input_per_1m: float = 0.0
    output_per_1m: float = 0.0
    per_1k_searches: float = 0.0

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input_per_1m / 1e6
            + usage.output_tokens * self.output_per_1m / 1e6
            + usage.search_units * self.per_1k_searches / 1e3
        )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"price table {path} not found; fix --prices or ${PRICES_ENV}") from None
    except yaml.YAMLError as exc:
        raise DataFormatError(path, None, f"not valid YAML ({exc})", "fix the file") from None
    if not isinstance(data, dict):
        raise DataFormatError(path, None, "expected a mapping of provider -> model -> prices")
    return data


def _parse(data: dict[str, Any], source: str) -> dict[tuple[str, str], Price]:
    table: dict[tuple[str, str], Price] = {}
    for provider, models in data.items():
        if provider == "as_of":
            continue
        if not isinstance(models, dict):
            raise DataFormatError(source, None, "expected model: {prices}", field=str(provider))
        for model, entry in models.items():
            where = f"{provider}.{model}"
            if not isinstance(entry, dict) or set(entry) - set(_KEYS):
                raise DataFormatError(
                    source,
                    None,
                    f"unknown keys {sorted(set(entry or {}) - set(_KEYS))}",
                    f"use only {', '.join(_KEYS)}",
                    field=where,
                )
            try:
                values = {k: float(entry.get(k, 0.0)) for k in _KEYS}
            except (TypeError, ValueError):
                raise DataFormatError(source, None, "prices must be numbers", field=where) from None
            if any(v < 0 for v in values.values()):
                raise DataFormatError(source, None, "prices cannot be negative", field=where)
            table[(str(provider), str(model))] = Price(**values)
    return table


class PriceTable:
    """``PriceTable.load().price("openai", "text-embedding-3-small")``."""

    def __init__(self, prices: dict[tuple[str, str], Price], *, as_of: str | None = None) -> None:
        self.prices = prices
        self.as_of = as_of

    @classmethod
    def load(cls, override: str | Path | None = None) -> PriceTable:
        """The shipped table, with ``override`` (or ``$FLYWHEEL_PRICES``) applied on top."""
        shipped = resources.files("flywheel.hosted").joinpath("prices.yaml").read_text("utf-8")
        base = yaml.safe_load(shipped)
        prices = _parse(base, "flywheel/hosted/prices.yaml")
        as_of = str(base.get("as_of")) if base.get("as_of") else None
        path = override or os.environ.get(PRICES_ENV)
        if path:
            user = _read(Path(path))
            prices.update(_parse(user, str(path)))
            as_of = str(user.get("as_of") or as_of)
        return cls(prices, as_of=as_of)

    def price(self, provider: str, model: str) -> Price | None:
        """The model's price, else the provider's ``"*"`` entry, else None (unknown)."""
        return self.prices.get((provider, model)) or self.prices.get((provider, "*"))

    def cost(self, provider: str, model: str, usage: Usage) -> float | None:
        price = self.price(provider, model)
        return None if price is None else price.cost(usage)

    def require(self, provider: str, model: str) -> Price:
        price = self.price(provider, model)
        if price is None:
            raise ConfigError(
                f"no price for {provider}:{model}, so --max-cost cannot be kept; add it to a "
                f"prices file (see flywheel/hosted/prices.yaml) and pass --prices FILE or set "
                f"{PRICES_ENV}"
            )
        return price
