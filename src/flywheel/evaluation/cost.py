"""Latency and cost of a retrieval system, measured while an experiment runs.

Quality alone cannot decide between a fine-tuned small model and a provider's; what each costs
to index a corpus and to answer queries can. Per variant, :func:`measure` records

* **latency p50 / p95 per query**: a sample of queries searched one at a time. A hosted answer
  replayed from the response cache counts the provider time of the original call, so a warm
  cache does not make a provider look instant;
* **index cost** (hosted embedders: billed tokens of the corpus at the price table's rate, cold
  cache) and **cost per 1,000 queries** (everything the batch search bought or replayed, scaled);
* for local models the **measured time** on this machine: index build seconds (small when the
  embedding cache already held the corpus, flagged ``index_cached``) and seconds per 1,000
  queries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from flywheel.data.types import Queries
from flywheel.hosted.usage import LEDGER, Ledger
from flywheel.retrieval.hosted_embedder import HostedEmbedder
from flywheel.retrieval.hosted_rerank import HostedReranker

DEFAULT_LATENCY_QUERIES = 20


@dataclass
class CostProfile:
    """One variant's latency and cost; ``None`` where a figure does not apply or is unknown."""

    hosted: bool
    models: list[str]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_queries: int
    index_seconds: float
    search_seconds_per_1k: float | None
    index_cost_usd: float | None
    cost_per_1k_queries_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hosted_parts(retriever: Any) -> tuple[list[HostedEmbedder], list[HostedReranker]]:
    """The hosted embedders and re-rankers inside a (possibly composed) retriever."""
    embedders: list[HostedEmbedder] = []
    rerankers: list[HostedReranker] = []
    stack, seen = [retriever], set()
    while stack:
        item = stack.pop()
        if id(item) in seen or item is None:
            continue
        seen.add(id(item))
        if isinstance(item, HostedEmbedder):
            embedders.append(item)
        elif isinstance(item, HostedReranker):
            rerankers.append(item)
        for attr in ("embedder", "first_stage", "reranker", "retrievers"):
            value = getattr(item, attr, None)
            if isinstance(value, list | tuple):
                stack.extend(value)
            elif value is not None:
                stack.append(value)
    return embedders, rerankers


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if values else None


def measure(
    build: Callable[[], Any],
    queries: Queries,
    *,
    k: int,
    corpus_texts: Sequence[str],
    latency_queries: int = DEFAULT_LATENCY_QUERIES,
) -> tuple[Any, dict[str, dict[str, float]], CostProfile]:
    """Build a retriever, run the batch search, time a query sample; returns (retriever, run,
    profile)."""
    start = time.perf_counter()
    retriever = build()
    index_seconds = time.perf_counter() - start
    before = LEDGER.snapshot()
    start = time.perf_counter()
    run = retriever.search(queries, k=k)
    search_seconds = time.perf_counter() - start
    spent = Ledger.delta(before, LEDGER.snapshot())
    embedders, rerankers = hosted_parts(retriever)
    hosted = bool(embedders or rerankers)

    latencies = []
    for qid in list(queries)[: max(0, latency_queries)]:
        before_one = LEDGER.snapshot()
        t0 = time.perf_counter()
        retriever.search({qid: queries[qid]}, k=k)
        wall = time.perf_counter() - t0
        latencies.append(1000 * (wall + Ledger.delta(before_one, LEDGER.snapshot()).replayed_s))

    index_cost: float | None = 0.0
    for embedder in embedders:
        part = embedder.index_cost(corpus_texts)
        index_cost = None if part is None or index_cost is None else index_cost + part
    n = max(1, len(queries))
    per_1k = None if spent.unpriced else spent.list_cost_usd / n * 1000
    profile = CostProfile(
        hosted=hosted,
        models=[e.model_name for e in embedders] + [r.model_name for r in rerankers],
        latency_p50_ms=_percentile(latencies, 50),
        latency_p95_ms=_percentile(latencies, 95),
        latency_queries=len(latencies),
        index_seconds=round(index_seconds, 3),
        search_seconds_per_1k=round(search_seconds / n * 1000, 3),
        index_cost_usd=index_cost if hosted else None,
        cost_per_1k_queries_usd=per_1k if hosted else None,
    )
    return retriever, run, profile


def _money(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def cost_rows(costs: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Table rows: system, p50, p95, index, per 1,000 queries (money for hosted, time local)."""
    rows = []
    for system, c in costs.items():
        p50, p95 = c.get("latency_p50_ms"), c.get("latency_p95_ms")
        if c.get("hosted"):
            index = _money(c.get("index_cost_usd"))
            per_1k = _money(c.get("cost_per_1k_queries_usd"))
        else:
            index = f"local, {c.get('index_seconds', 0):.1f} s here"
            per_1k = f"local, {c.get('search_seconds_per_1k') or 0:.1f} s here"
        rows.append(
            [
                system,
                "-" if p50 is None else f"{p50:.1f} ms",
                "-" if p95 is None else f"{p95:.1f} ms",
                index,
                per_1k,
            ]
        )
    return rows


COST_HEADER = ["system", "latency p50", "latency p95", "index cost", "per 1,000 queries"]
