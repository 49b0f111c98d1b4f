"""Counting what hosted calls used and cost: per client, and process-wide per model.

A :class:`UsageMeter` belongs to one client (one ``provider:model``) and is what a command
records as its run's usage (``flywheel status`` shows it). ``list_cost_usd`` also counts answers
replayed from the response cache at the price they were bought for - what the work *would*
cost on a cold cache, which is what an experiment table's cost columns report. The process-wide
:data:`LEDGER` adds up every meter by model, so an experiment can read what one variant spent
without threading a meter through every retriever.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flywheel.hosted.prices import Usage


@dataclass
class UsageMeter:
    """Calls, retries, tokens, cost and latency of one client's work (thread-safe)."""

    provider: str
    model: str
    calls: int = 0  # answered by the provider (paid)
    cached: int = 0  # answered from the response cache (free)
    retries: int = 0
    failures: int = 0  # requests that ended without an answer
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = 0.0  # None once any paid call had no price
    cached_usage: Usage = field(default_factory=Usage)
    cached_cost_usd: float | None = 0.0
    latency_s: float = 0.0  # provider time of paid calls
    replayed_latency_s: float = 0.0  # original provider time of cached answers
    budget_stopped: bool = False
    in_process: bool = False  # a local model: its cost is the seconds it ran here
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"

    def add_call(self, usage: Usage, cost: float | None, latency: float) -> None:
        with self._lock:
            self.calls += 1
            self.usage = self.usage + usage
            self.cost_usd = None if cost is None or self.cost_usd is None else self.cost_usd + cost
            self.latency_s += latency
        LEDGER.add(self.name, cost=cost, list_cost=cost, latency=latency, replayed=0.0, calls=1)

    def add_cached(self, usage: Usage, cost: float | None, latency: float) -> None:
        with self._lock:
            self.cached += 1
            self.cached_usage = self.cached_usage + usage
            self.cached_cost_usd = (
                None
                if cost is None or self.cached_cost_usd is None
                else self.cached_cost_usd + cost
            )
            self.replayed_latency_s += latency
        LEDGER.add(self.name, cost=0.0, list_cost=cost, latency=0.0, replayed=latency, calls=0)

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def add_failure(self) -> None:
        with self._lock:
            self.failures += 1

    @property
    def cost_text(self) -> str:
        """What the work cost: dollars for a provider, compute seconds for a local model."""
        if self.in_process:
            return f"{self.latency_s:.1f}s here"
        return "?" if self.cost_usd is None else f"${self.cost_usd:.4f}"

    @property
    def list_cost_usd(self) -> float | None:
        if self.cost_usd is None or self.cached_cost_usd is None:
            return None
        return self.cost_usd + self.cached_cost_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "calls": self.calls,
            "cached_calls": self.cached,
            "retries": self.retries,
            "failures": self.failures,
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "search_units": self.usage.search_units,
            "cost_usd": self.cost_usd,
            "list_cost_usd": self.list_cost_usd,
            "provider_seconds": round(self.latency_s, 3),
            "in_process": self.in_process,
            "budget_stopped": self.budget_stopped,
        }


@dataclass
class LedgerEntry:
    cost_usd: float = 0.0
    list_cost_usd: float = 0.0
    unpriced: int = 0  # calls or replays of a model with no price: their cost is unknown
    latency_s: float = 0.0  # provider time of paid calls
    replayed_s: float = 0.0  # original provider time of answers replayed from the cache
    calls: int = 0

    @property
    def known_list_cost(self) -> float | None:
        return None if self.unpriced else self.list_cost_usd


class Ledger:
    """Process-wide totals per ``provider:model``; read deltas with :meth:`snapshot`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, LedgerEntry] = {}

    def add(
        self,
        name: str,
        *,
        cost: float | None,
        list_cost: float | None,
        latency: float,
        replayed: float,
        calls: int,
    ) -> None:
        with self._lock:
            e = self._entries.setdefault(name, LedgerEntry())
            e.cost_usd += cost or 0.0
            e.list_cost_usd += list_cost or 0.0
            e.unpriced += int(list_cost is None)
            e.latency_s += latency
            e.replayed_s += replayed
            e.calls += calls

    def snapshot(self) -> dict[str, LedgerEntry]:
        with self._lock:
            return {k: LedgerEntry(**vars(v)) for k, v in self._entries.items()}

    @staticmethod
    def delta(before: dict[str, LedgerEntry], after: dict[str, LedgerEntry]) -> LedgerEntry:
        """Everything spent between two snapshots, over all models."""
        out = LedgerEntry()
        for name, a in after.items():
            b = before.get(name, LedgerEntry())
            for attr in (
                "cost_usd",
                "list_cost_usd",
                "unpriced",
                "latency_s",
                "replayed_s",
                "calls",
            ):
                setattr(out, attr, getattr(out, attr) + getattr(a, attr) - getattr(b, attr))
        return out


LEDGER = Ledger()


@dataclass(frozen=True)
class Estimate:
    """What ``--dry-run`` prints: calls to send, tokens and cost (``None``: unknown price)."""

    model: str
    requests: int
    cached: int
    input_tokens: int
    output_tokens: int
    search_units: float
    cost_usd: float | None

    @property
    def calls(self) -> int:
        return self.requests - self.cached

    def summary(self) -> str:
        cost = (
            "unknown (no price for this model)"
            if self.cost_usd is None
            else (f"${self.cost_usd:.4f}")
        )
        units = f", {self.search_units:g} searches" if self.search_units else ""
        return (
            f"{self.model}: {self.calls} calls to send ({self.cached} already cached), "
            f"~{self.input_tokens:,} input + ~{self.output_tokens:,} output tokens{units}; "
            f"estimated cost {cost}"
        )
