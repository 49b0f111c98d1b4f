"""Metric names such as ``ndcg@10``: parsed once, so every stage spells them the same way."""

from __future__ import annotations

from dataclasses import dataclass

from flywheel.errors import ConfigError


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """A metric name and its cutoff; ``k=None`` means "all retrieved" (ranx's ``k=0``)."""

    name: str
    k: int | None = None

    @classmethod
    def parse(cls, text: str) -> MetricSpec:
        """``"ndcg@10"`` -> ``MetricSpec("ndcg", 10)``; ``"mrr"`` -> ``MetricSpec("mrr", None)``."""
        raw = text.strip()
        name, sep, cutoff = raw.partition("@")
        name = name.strip().lower()
        if not name:
            raise ConfigError(f"metric '{text}' has no name; write e.g. 'ndcg@10' or 'mrr'")
        if not sep:
            return cls(name, None)
        try:
            k = int(cutoff)
        except ValueError:
            raise ConfigError(
                f"metric '{text}': cutoff '{cutoff}' is not an integer; write e.g. '{name}@10'"
            ) from None
        if k < 1:
            raise ConfigError(f"metric '{text}': the cutoff must be >= 1; write e.g. '{name}@10'")
        return cls(name, k)

    def __str__(self) -> str:
        return self.name if self.k is None else f"{self.name}@{self.k}"
