"""The selection step of hard-negative mining, on matrices, shared by dense and run mining.

One row per (query, positive) example, one column per retrieved candidate in score order.
Every filter is a whole-matrix NumPy mask, applied in this order: drop known positives (and
excluded candidates: judged neither positive nor negative, an LLM judge's "related"), cut
the rank window, margins against the positive, ``max_score``, the score band, the
cross-encoder threshold; then sample. Only random sampling loops over rows. Keeping the
Python per-candidate work at zero is what makes mining cheap enough to rerun per experiment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from flywheel.datasets.hard_negatives import HardNegativeConfig

PairScorer = Callable[[list[tuple[str, str]]], Sequence[float]]


@dataclass(frozen=True, slots=True)
class MinedExample:
    """The negatives chosen for one (query, positive) pair, best first."""

    qid: str
    positive_id: str
    positive_score: float | None
    negative_ids: tuple[str, ...]
    negative_scores: tuple[float, ...]
    negative_ranks: tuple[int, ...]


@dataclass
class MiningStats:
    """What a mining run looked at and why candidates were dropped (recorded in the card).

    Candidate counts are per (query, positive) row: a query with two positives counts its
    window twice.
    """

    queries: int = 0
    examples: int = 0
    candidates_considered: int = 0
    dropped_positive: int = 0
    dropped_excluded: int = 0  # judged neither positive nor negative (an LLM's "related")
    dropped_margin: int = 0
    dropped_max_score: int = 0
    dropped_band: int = 0
    dropped_cross_encoder: int = 0
    examples_short: int = 0
    queries_without_negative: int = 0
    queries_without_run: int = 0
    positives_missing: int = 0
    positive_score_unknown: int = 0

    @property
    def dropped_false_negative(self) -> int:
        """Candidates dropped as likely false negatives (margins, max_score, cross-encoder)."""
        return self.dropped_margin + self.dropped_max_score + self.dropped_cross_encoder

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dropped_false_negative"] = self.dropped_false_negative
        return data


@dataclass
class CandidateMatrix:
    """Candidates of every example: ``cand[i, j]`` indexes ``doc_ids`` (-1 pads a short row)."""

    qids: list[str]
    positive_ids: list[str]
    positive_scores: np.ndarray  # (n,) float64, NaN where unknown
    reference: np.ndarray  # (n,) the score margins compare against, NaN where unknown
    doc_ids: Sequence[str]
    cand: np.ndarray  # (n, k) int64
    scores: np.ndarray  # (n, k) float
    is_positive: np.ndarray  # (n, k) bool: a known positive of the row's query
    is_excluded: np.ndarray | None = None  # (n, k) bool: never a negative of the row's query


def _rng(seed: int, qid: str, positive_id: str) -> np.random.Generator:
    """Seeded per (query, positive): a row's sample never depends on which other rows exist."""
    digest = hashlib.blake2b(f"{qid}\x00{positive_id}".encode(), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "little")])


def _drop(keep: np.ndarray, mask: np.ndarray) -> int:
    dropped = keep & mask
    keep &= ~dropped
    return int(dropped.sum())


def select(
    m: CandidateMatrix,
    config: HardNegativeConfig,
    stats: MiningStats,
    *,
    scorer: PairScorer | None = None,
    queries: Mapping[str, str] | None = None,
    texts: Mapping[str, str] | None = None,
) -> list[MinedExample]:
    """Filter and sample every row of ``m``; returns one :class:`MinedExample` per row."""
    n = len(m.qids)
    if n == 0:
        return []
    valid = m.cand >= 0
    stats.dropped_positive += int((valid & m.is_positive).sum())
    blocked = m.is_positive
    if m.is_excluded is not None:
        stats.dropped_excluded += int((valid & m.is_excluded & ~m.is_positive).sum())
        blocked = blocked | m.is_excluded
    others = valid & ~blocked
    rank = np.cumsum(others, axis=1) - 1
    keep = others & (rank >= config.range_min) & (rank < config.range_max)
    stats.candidates_considered += int(keep.sum())

    ref = m.reference[:, None]
    known = ~np.isnan(ref)
    with np.errstate(invalid="ignore", divide="ignore"):
        too_close = np.zeros_like(keep)
        if config.relative_margin is not None:
            # positive - |positive| * m equals (1 - m) * positive for positive scores and stays
            # below the positive for negative ones, where (1 - m) * positive would not.
            too_close |= m.scores > ref - np.abs(ref) * config.relative_margin
        if config.absolute_margin is not None:
            too_close |= m.scores > ref - config.absolute_margin
        stats.dropped_margin += _drop(keep, too_close & known)
        if config.max_score is not None:
            stats.dropped_max_score += _drop(keep, m.scores > config.max_score)
        if config.band is not None:
            ratio = m.scores / ref
            outside = (ratio < config.band[0]) | (ratio > config.band[1])
            stats.dropped_band += _drop(keep, outside & known & (ref > 0))
    if scorer is not None:
        mask = _cross_encoder_mask(m, keep, scorer, queries, texts, config.cross_encoder_threshold)
        stats.dropped_cross_encoder += _drop(keep, mask)

    want = config.num_negatives
    if config.sampling == "top":
        chosen = keep & (np.cumsum(keep, axis=1) <= want)
    else:  # random and band: uniform among the survivors of each row
        chosen = np.zeros_like(keep)
        for i in np.flatnonzero(keep.sum(axis=1) > want):
            cols = np.flatnonzero(keep[i])
            picks = _rng(config.seed, m.qids[i], m.positive_ids[i]).choice(len(cols), want, False)
            chosen[i, cols[np.sort(picks)]] = True
        small = keep.sum(axis=1) <= want
        chosen[small] = keep[small]
    counts = chosen.sum(axis=1)
    stats.examples_short += int((counts < want).sum())

    rows, cols = np.nonzero(chosen)
    doc_rows = m.cand[rows, cols]
    picked_scores = m.scores[rows, cols].astype(float).tolist()
    picked_ranks = rank[rows, cols].tolist()
    picked_ids = [m.doc_ids[d] for d in doc_rows.tolist()]
    bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
    examples = []
    for i in range(n):
        a, b = bounds[i], bounds[i + 1]
        score = m.positive_scores[i]
        examples.append(
            MinedExample(
                qid=m.qids[i],
                positive_id=m.positive_ids[i],
                positive_score=None if np.isnan(score) else float(score),
                negative_ids=tuple(picked_ids[a:b]),
                negative_scores=tuple(picked_scores[a:b]),
                negative_ranks=tuple(picked_ranks[a:b]),
            )
        )
    found = {ex.qid for ex in examples if ex.negative_ids}
    all_qids = set(m.qids)
    stats.queries += len(all_qids)
    stats.queries_without_negative += len(all_qids - found)
    stats.examples += n
    return examples


def _cross_encoder_mask(
    m: CandidateMatrix,
    keep: np.ndarray,
    scorer: PairScorer,
    queries: Mapping[str, str] | None,
    texts: Mapping[str, str] | None,
    threshold: float,
) -> np.ndarray:
    """Score each surviving (query, candidate) once; True where the score is at threshold."""
    from flywheel.errors import ConfigError

    if queries is None or texts is None:
        raise ConfigError("cross-encoder filtering needs query and document texts; pass texts=")
    rows, cols = np.nonzero(keep)
    pairs = {(m.qids[r], m.doc_ids[m.cand[r, c]]) for r, c in zip(rows, cols, strict=True)}
    keys = sorted(pairs)
    values = scorer([(queries[q], texts[d]) for q, d in keys]) if keys else []
    score_of = dict(zip(keys, map(float, values), strict=True))
    mask = np.zeros_like(keep)
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        mask[r, c] = score_of[(m.qids[r], m.doc_ids[m.cand[r, c]])] >= threshold
    return mask
