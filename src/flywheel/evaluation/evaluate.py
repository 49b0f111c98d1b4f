"""``evaluate(qrels, run, metrics)``: mean and per-query scores, keyed by metric name.

Per-query scores are kept because every later step (confidence intervals, paired tests, the
queries that changed most) needs them; a bare mean cannot be compared honestly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flywheel.errors import ConfigError
from flywheel.evaluation.metrics import judged_ranks, resolve_metric


@dataclass(frozen=True)
class EvaluationResult:
    """Scores of one run: ``mean[metric]`` and ``per_query[metric][qid]``."""

    mean: dict[str, float]
    per_query: dict[str, dict[str, float]]
    metrics: list[str] = field(default_factory=list)

    @property
    def qids(self) -> list[str]:
        first = next(iter(self.per_query.values()), {})
        return list(first)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": list(self.metrics),
            "mean": dict(self.mean),
            "per_query": {m: dict(v) for m, v in self.per_query.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        return cls(
            mean={k: float(v) for k, v in data["mean"].items()},
            per_query={
                m: {q: float(x) for q, x in v.items()} for m, v in data["per_query"].items()
            },
            metrics=list(data.get("metrics") or data["mean"]),
        )


def evaluate(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] | str,
    *,
    relevance_threshold: int = 1,
) -> EvaluationResult:
    """Score ``run`` against ``qrels`` for each metric name (e.g. ``["ndcg@10", "recall@100"]``).

    Every query of ``qrels`` counts (missing from the run or without relevant documents: 0);
    queries only in the run are ignored. Ties: ``doc_id`` descending, as trec_eval.
    Neither input is modified.
    """
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise ConfigError("no metrics asked for; pass e.g. metrics=['ndcg@10', 'recall@100']")
    resolved = [(name, *resolve_metric(name)) for name in names]  # fail before any work
    ranks = judged_ranks(qrels, run, relevance_threshold=relevance_threshold)
    mean: dict[str, float] = {}
    per_query: dict[str, dict[str, float]] = {}
    for name, spec, fn in resolved:
        values = np.asarray(fn(ranks, spec.k), dtype=np.float64)
        mean[name] = float(values.mean()) if values.size else 0.0
        per_query[name] = dict(zip(ranks.qids, values.tolist(), strict=True))
    return EvaluationResult(mean=mean, per_query=per_query, metrics=names)
