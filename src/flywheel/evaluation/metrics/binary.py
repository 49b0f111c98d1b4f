"""Binary-relevance metrics: hits, recall, precision, hit rate (success), MRR, MAP.

Each takes the :class:`JudgedRanks` of a run and a cutoff ``k`` (``None``: all retrieved) and
returns one float per query, with ranx's and trec_eval's definitions:

* ``precision@k`` divides by ``k`` even when fewer than ``k`` documents were retrieved
  (trec_eval ``P_k``); without a cutoff it divides by the number retrieved;
* ``map@k`` divides by the number of relevant documents of the query (trec_eval ``map_cut``).
"""

from __future__ import annotations

import numpy as np

from flywheel.evaluation.metrics.ranks import JudgedRanks


def _within(ranks: JudgedRanks, k: int | None) -> np.ndarray:
    if k is None:
        return np.ones(ranks.hit_rank.size, dtype=bool)
    return ranks.hit_rank <= k


def hits(ranks: JudgedRanks, k: int | None) -> np.ndarray:
    """Number of relevant documents in the top ``k`` (ranx ``hits``)."""
    return ranks.per_query_sum(ranks.hit_query, _within(ranks, k).astype(np.float64))


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def recall(ranks: JudgedRanks, k: int | None) -> np.ndarray:
    """Share of the query's relevant documents found in the top ``k``."""
    return _safe_divide(hits(ranks, k), ranks.n_relevant.astype(np.float64))


def precision(ranks: JudgedRanks, k: int | None) -> np.ndarray:
    """Share of the top ``k`` positions that hold a relevant document."""
    denominator = ranks.n_retrieved if k is None else np.full(ranks.n_queries, k)
    return _safe_divide(hits(ranks, k), denominator.astype(np.float64))


def hit_rate(ranks: JudgedRanks, k: int | None) -> np.ndarray:
    """1 when at least one relevant document is in the top ``k`` (trec_eval ``success``)."""
    return (hits(ranks, k) > 0).astype(np.float64)


def reciprocal_rank(ranks: JudgedRanks, k: int | None) -> np.ndarray:
    """1 / rank of the first relevant document in the top ``k``; 0 when there is none."""
    first = ranks.hit_order == 1
    if k is not None:
        first &= ranks.hit_rank <= k
    return ranks.per_query_sum(ranks.hit_query[first], 1.0 / ranks.hit_rank[first])


def average_precision(ranks: JudgedRanks, k: int | None) -> np.ndarray:
    """Mean of precision at each relevant document's rank, over all relevant documents."""
    keep = _within(ranks, k)
    precision_at_hit = ranks.hit_order[keep] / ranks.hit_rank[keep]
    total = ranks.per_query_sum(ranks.hit_query[keep], precision_at_hit)
    return _safe_divide(total, ranks.n_relevant.astype(np.float64))
