"""Combine runs from several retrievers into one: reciprocal rank fusion and weighted sums.

Both functions take plain ``Run`` dicts, never change them, and return a new run whose queries
are the union of the inputs' and whose documents per query are the union of what any run
retrieved, best first. Ranks are 1-based, ties broken by doc_id, as in :func:`~.base.top_k`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum

from flywheel.data.types import Run
from flywheel.errors import ConfigError
from flywheel.retrieval.base import ranked_ids


class Norm(StrEnum):
    """Per-query score normalisation before a weighted sum."""

    MINMAX = "minmax"
    ZSCORE = "zscore"


def _weights(runs: Sequence[Run], weights: Sequence[float] | None) -> list[float]:
    if not runs:
        raise ConfigError("fusion needs at least one run")
    if weights is None:
        return [1.0] * len(runs)
    if len(weights) != len(runs):
        raise ConfigError(f"got {len(weights)} weights for {len(runs)} runs; pass one per run")
    return [float(w) for w in weights]


def _sorted(scores: dict[str, float]) -> dict[str, float]:
    return {doc_id: scores[doc_id] for doc_id in ranked_ids(scores)}


def _qids(runs: Sequence[Run]) -> list[str]:
    seen: dict[str, None] = {}
    for run in runs:
        seen.update(dict.fromkeys(run))
    return list(seen)


def rrf(runs: Sequence[Run], *, k: int = 60, weights: Sequence[float] | None = None) -> Run:
    """Reciprocal rank fusion (Cormack et al., 2009): ``score(d) = sum_i w_i / (k + rank_i(d))``.

    Uses ranks only, so runs with incomparable scores (BM25 vs cosine) need no normalising;
    a run that did not retrieve ``d`` adds nothing. Equal to ``ranx.fuse(method="rrf")``
    when no weights are given.
    """
    if k < 0:
        raise ConfigError(f"rrf k must be >= 0, got {k}; 60 is the usual value")
    ws = _weights(runs, weights)
    fused: Run = {}
    for qid in _qids(runs):
        scores: dict[str, float] = {}
        for weight, run in zip(ws, runs, strict=True):
            for rank, doc_id in enumerate(ranked_ids(run.get(qid, {})), start=1):
                scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
        fused[qid] = _sorted(scores)
    return fused


def _minmax(scores: Mapping[str, float]) -> tuple[dict[str, float], float]:
    low, high = min(scores.values()), max(scores.values())
    if high == low:  # one document, or all tied: each retrieved doc counts as the best
        return dict.fromkeys(scores, 1.0), 0.0
    return {d: (s - low) / (high - low) for d, s in scores.items()}, 0.0


def _zscore(scores: Mapping[str, float]) -> tuple[dict[str, float], float]:
    values = list(scores.values())
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    if std == 0:
        return dict.fromkeys(scores, 0.0), 0.0
    normed = {d: (s - mean) / std for d, s in scores.items()}
    return normed, min(normed.values())


_NORMALISERS: dict[Norm, Callable[[Mapping[str, float]], tuple[dict[str, float], float]]] = {
    Norm.MINMAX: _minmax,
    Norm.ZSCORE: _zscore,
}


def weighted_fusion(runs: Sequence[Run], weights: Sequence[float], *, norm: str = "minmax") -> Run:
    """Weighted sum of per-query normalised scores.

    ``norm="minmax"`` maps each run's scores for a query to [0, 1]; ``"zscore"`` to zero mean,
    unit variance. A document a run did not retrieve gets that run's normalised minimum for
    the query (0 for min-max), i.e. "no better than its worst hit". With min-max this equals
    ``ranx.fuse(method="wsum", norm="min-max")``; unlike ranx, a query whose scores are all
    equal maps them to 1 (retrieved beats missing) rather than 0.
    """
    try:
        normaliser = _NORMALISERS[Norm(norm)]
    except ValueError:
        known = ", ".join(n.value for n in Norm)
        raise ConfigError(f"unknown norm '{norm}'; choose one of: {known}") from None
    ws = _weights(runs, weights)
    fused: Run = {}
    for qid in _qids(runs):
        parts = [normaliser(run[qid]) if run.get(qid) else ({}, 0.0) for run in runs]
        docs: dict[str, None] = {}
        for normed, _ in parts:
            docs.update(dict.fromkeys(normed))
        fused[qid] = _sorted(
            {
                doc_id: sum(
                    w * normed.get(doc_id, floor)
                    for w, (normed, floor) in zip(ws, parts, strict=True)
                )
                for doc_id in docs
            }
        )
    return fused
