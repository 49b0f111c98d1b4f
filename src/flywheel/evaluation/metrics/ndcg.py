"""Graded nDCG, trec_eval's ``ndcg_cut`` definition (Järvelin & Kekäläinen).

``DCG@k = sum(grade_i / log2(rank_i + 1))`` over relevant documents in the top ``k`` (linear gain,
the grade itself); the ideal DCG ranks *all* judged-relevant documents of the query by grade.
Documents graded below the relevance threshold add no gain. ranx's ``ndcg`` is the same formula.
"""

from __future__ import annotations

import numpy as np

from flywheel.evaluation.metrics.ranks import JudgedRanks


def dcg(ranks: JudgedRanks, k: int | None) -> np.ndarray:
    """Discounted cumulative gain at ``k`` with linear gain."""
    keep = np.ones(ranks.hit_rank.size, dtype=bool) if k is None else ranks.hit_rank <= k
    gains = ranks.hit_grade[keep] / np.log2(ranks.hit_rank[keep] + 1.0)
    return ranks.per_query_sum(ranks.hit_query[keep], gains)


def ideal_dcg(ranks: JudgedRanks, k: int | None) -> np.ndarray:
    """DCG at ``k`` of the best possible ranking of the query's relevant documents."""
    if k is None:
        keep = np.ones(ranks.ideal_position.size, dtype=bool)
    else:
        keep = ranks.ideal_position <= k
    gains = ranks.ideal_grade[keep] / np.log2(ranks.ideal_position[keep] + 1.0)
    return ranks.per_query_sum(ranks.ideal_query[keep], gains)


def ndcg(ranks: JudgedRanks, k: int | None) -> np.ndarray:
    """DCG divided by the ideal DCG; 0 for queries without relevant documents."""
    ideal = ideal_dcg(ranks, k)
    out = np.zeros(ranks.n_queries, dtype=np.float64)
    np.divide(dcg(ranks, k), ideal, out=out, where=ideal > 0)
    return out
