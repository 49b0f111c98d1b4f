"""Where each relevant document landed in a run: the one pass every metric reads from.

Every metric here depends only on the ranks and grades of the *relevant* documents a run retrieved,
plus per-query counts. So instead of sorting every ranked list (ranx sorts with numba), we compute
those ranks with a handful of vectorised numpy calls over the whole run at once:

* the rank of a relevant document is ``1 + #(scores above it) + #(ties ordered before it)``;
* ties are broken the way trec_eval does: score descending, then ``doc_id`` descending
  (string order), so results are deterministic and do not depend on dict insertion order.

Conventions (the ones trec_eval ``-c`` and ranx ``make_comparable=True`` use):

* a document is relevant when its grade is ``>= relevance_threshold`` (default 1);
* every query in the qrels is scored, including queries with no relevant document (every metric is
  0 for them) and queries missing from the run (0 as well);
* queries that are only in the run are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain

import numpy as np

from flywheel.errors import ConfigError


@dataclass(frozen=True, slots=True)
class JudgedRanks:
    """Per-query counts and the rank of every retrieved relevant document.

    Arrays prefixed ``hit_`` have one entry per (query, retrieved relevant document), ordered by
    query then rank; ``ideal_`` arrays one entry per relevant judgment, ordered by query then grade
    descending (the ideal ranking used by nDCG).
    """

    qids: list[str]
    n_relevant: np.ndarray  # int64 [n_queries]
    n_retrieved: np.ndarray  # int64 [n_queries]
    hit_query: np.ndarray  # int64 [n_hits]
    hit_rank: np.ndarray  # int64 [n_hits], 1-based
    hit_grade: np.ndarray  # float64 [n_hits]
    hit_order: np.ndarray  # int64 [n_hits], 1-based position among the query's hits
    ideal_query: np.ndarray  # int64 [n_relevant_total]
    ideal_grade: np.ndarray  # float64 [n_relevant_total]
    ideal_position: np.ndarray  # int64 [n_relevant_total], 1-based

    @property
    def n_queries(self) -> int:
        return len(self.qids)

    def per_query_sum(self, query: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Sum ``weights`` per query index (0 for queries with no entries)."""
        return np.bincount(query, weights=weights, minlength=self.n_queries).astype(np.float64)


def _positions_within(groups: np.ndarray) -> np.ndarray:
    """1-based position of each element inside its run of equal, contiguous ``groups`` values."""
    if groups.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, groups[1:] != groups[:-1]]
    start_index = np.maximum.accumulate(np.where(starts, np.arange(groups.size), 0))
    return np.arange(groups.size) - start_index + 1


def judged_ranks(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    *,
    relevance_threshold: int = 1,
) -> JudgedRanks:
    """Rank every retrieved relevant document of ``run``, query by query of ``qrels``."""
    qids = list(qrels)
    n = len(qids)
    lists = [run.get(qid) or {} for qid in qids]
    lengths = np.fromiter((len(d) for d in lists), dtype=np.int64, count=n)
    total = int(lengths.sum())
    scores = np.fromiter(
        chain.from_iterable(d.values() for d in lists), dtype=np.float64, count=total
    )
    if total and np.isnan(scores).any():
        raise ConfigError("the run has NaN scores; drop or fix them before evaluating")

    rel_query: list[int] = []
    rel_grade: list[float] = []
    hit_query: list[int] = []
    hit_score: list[float] = []
    hit_grade: list[float] = []
    hit_doc: list[str] = []
    for i, qid in enumerate(qids):
        retrieved = lists[i]
        for doc_id, grade in qrels[qid].items():
            if grade < relevance_threshold:
                continue
            rel_query.append(i)
            rel_grade.append(float(grade))
            score = retrieved.get(doc_id)
            if score is not None:
                hit_query.append(i)
                hit_score.append(float(score))
                hit_grade.append(float(grade))
                hit_doc.append(doc_id)

    r_query = np.asarray(rel_query, dtype=np.int64)
    r_grade = np.asarray(rel_grade, dtype=np.float64)
    n_relevant = np.bincount(r_query, minlength=n).astype(np.int64)
    ideal_sort = np.lexsort((-r_grade, r_query))
    ideal_query = r_query[ideal_sort]
    ideal_grade = r_grade[ideal_sort]

    h_query = np.asarray(hit_query, dtype=np.int64)
    h_score = np.asarray(hit_score, dtype=np.float64)
    h_grade = np.asarray(hit_grade, dtype=np.float64)
    h_rank = _hit_ranks(scores, lengths, h_query, h_score, hit_doc, lists)

    order = np.lexsort((h_rank, h_query))
    h_query, h_rank, h_grade = h_query[order], h_rank[order], h_grade[order]
    return JudgedRanks(
        qids=qids,
        n_relevant=n_relevant,
        n_retrieved=lengths,
        hit_query=h_query,
        hit_rank=h_rank,
        hit_grade=h_grade,
        hit_order=_positions_within(h_query),
        ideal_query=ideal_query,
        ideal_grade=ideal_grade,
        ideal_position=_positions_within(ideal_query),
    )


def _hit_ranks(
    scores: np.ndarray,
    lengths: np.ndarray,
    h_query: np.ndarray,
    h_score: np.ndarray,
    h_doc: list[str],
    lists: list[Mapping[str, float]],
) -> np.ndarray:
    """1-based ranks: scores descending, ties by ``doc_id`` descending (trec_eval's order)."""
    if h_query.size == 0:
        return np.zeros(0, dtype=np.int64)
    # Encode (query ascending, score descending) as one sortable int64 key per retrieved document.
    unique_scores, inverse = np.unique(scores, return_inverse=True)
    width = unique_scores.size + 1
    query_of = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    keys = np.sort(query_of * width + (unique_scores.size - 1 - inverse.reshape(-1)))
    h_key = h_query * width + (unique_scores.size - 1 - np.searchsorted(unique_scores, h_score))
    first = np.searchsorted(keys, h_key, side="left")
    last = np.searchsorted(keys, h_key, side="right")
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    ranks = first - offsets[h_query] + 1
    for j in np.flatnonzero(last - first > 1):  # ties: rare for real scores, exact when they occur
        doc_id, score = h_doc[j], h_score[j]
        ranks[j] += sum(
            1 for other, s in lists[h_query[j]].items() if s == score and other > doc_id
        )
    return ranks.astype(np.int64)
