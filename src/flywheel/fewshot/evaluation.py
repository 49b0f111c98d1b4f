"""Offline figures for example selection, no LLM needed: a labelled held-out set is enough.

For each held-out query (whose intent is known) and each selector's ``k`` examples:

* ``coverage``: 1 when at least one chosen example has the query's own intent (the issue's
  "intent coverage"); the mean is the share of queries covered;
* ``redundancy``: the share of chosen examples that repeat an intent already shown
  (``1 - distinct intents / k``): 0 when every example teaches something different;
* ``diversity``: mean pairwise cosine distance between the chosen examples' embeddings;
* ``precision``: the share of chosen examples of the query's intent. Reported so the trade-off
  is visible: nearest-neighbour selection maximises it by repeating one intent.

Per-query values go through :func:`flywheel.evaluation.compare.compare`, so every system gets a
bootstrap interval and a paired permutation test against the baseline, as retrieval runs do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from flywheel._internal.progress import track
from flywheel.errors import ConfigError
from flywheel.evaluation.compare import Comparison, compare
from flywheel.evaluation.evaluate import EvaluationResult
from flywheel.fewshot.selectors import Selection, Selector

METRICS = ("coverage", "redundancy", "diversity", "precision")


def selection_figures(
    selection: Selection,
    query_intent: str,
    example_intents: Sequence[str | None],
    embeddings: np.ndarray,
) -> dict[str, float]:
    """The four figures of one query's selection (intents and embeddings of the chosen rows)."""
    chosen = selection.indices
    if not chosen:
        return {"coverage": 0.0, "redundancy": 0.0, "diversity": 0.0, "precision": 0.0}
    intents = [example_intents[i] for i in chosen]
    same = sum(intent == query_intent for intent in intents)
    vectors = embeddings[chosen]
    pairs = list(combinations(range(len(chosen)), 2))
    diversity = (
        float(np.mean([1.0 - float(vectors[a] @ vectors[b]) for a, b in pairs])) if pairs else 0.0
    )
    return {
        "coverage": float(same > 0),
        "redundancy": 1.0 - len(set(intents)) / len(intents),
        "diversity": diversity,
        "precision": same / len(intents),
    }


@dataclass(frozen=True)
class OfflineReport:
    """Figures of several selectors on the same queries, compared against ``baseline``."""

    k: int
    comparison: Comparison
    n_queries: int

    def mean(self, system: str, metric: str) -> float:
        return self.comparison.mean(system, metric)

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "k": self.k,
            "queries": self.n_queries,
            "baseline": c.baseline,
            "mean": {s: {m: c.mean(s, m) for m in c.metrics} for s in c.systems},
            "ci": {s: {m: list(c.ci[s][m]) for m in c.metrics} for s in c.systems},
            "p_value": {s: {m: o.p_value for m, o in c.outcomes[s].items()} for s in c.variants},
        }


def evaluate_selectors(
    selectors: Mapping[str, Selector],
    queries: Sequence[str],
    vectors: np.ndarray,
    intents: Sequence[str],
    truth: Mapping[str, str],
    *,
    k: int = 4,
    baseline: str = "nearest",
    n_resamples: int = 2000,
    seed: int = 0,
) -> OfflineReport:
    """Run every selector on every query and compare the figures against ``baseline``.

    ``truth`` maps each pool example's qid to its true intent (a library built without labels
    is still scored against them); ``intents[i]`` is query ``i``'s intent.
    """
    if not (len(queries) == vectors.shape[0] == len(intents)):
        raise ConfigError(
            f"{len(queries)} queries, {vectors.shape[0]} vectors and {len(intents)} intents; "
            "give one of each per query"
        )
    if baseline not in selectors:
        raise ConfigError(
            f"baseline '{baseline}' is not among the selectors: {', '.join(selectors)}"
        )
    qids = [f"q{i:06d}" for i in range(len(queries))]
    results: dict[str, EvaluationResult] = {}
    for name, selector in selectors.items():
        pool = selector.pool
        pool_intents = [truth.get(example.qid) for example in pool.examples]
        per_query: dict[str, dict[str, float]] = {m: {} for m in METRICS}
        rows = zip(qids, queries, vectors, intents, strict=True)
        for qid, query, vector, intent in track(rows, f"Selecting with {name}", len(qids)):
            figures = selection_figures(
                selector.select(query, vector, k), intent, pool_intents, pool.embeddings
            )
            for metric, value in figures.items():
                per_query[metric][qid] = value
        results[name] = EvaluationResult(
            mean={m: float(np.mean(list(v.values()))) for m, v in per_query.items()},
            per_query=per_query,
            metrics=list(METRICS),
        )
    comparison = compare(
        {}, results, metrics=list(METRICS), baseline=baseline, n_resamples=n_resamples, seed=seed
    )
    return OfflineReport(k, comparison, len(queries))
