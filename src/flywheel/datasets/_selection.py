"""The per-row selection step of hard-negative mining, shared by dense and run-based mining.

Kept apart from :mod:`flywheel.datasets.hard_negatives` so the filters read as one list, in
the order they are applied: margins against the positive, ``max_score``, the score band, the
cross-encoder threshold; then sampling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from flywheel.datasets.hard_negatives import HardNegativeConfig


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate negative: its id, retrieval score and 0-based rank among non-positives."""

    doc_id: str
    score: float
    rank: int


@dataclass
class MiningStats:
    """What a mining run looked at and why candidates were dropped (recorded in the card)."""

    queries: int = 0
    examples: int = 0
    candidates_considered: int = 0
    dropped_positive: int = 0
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


def _margin_ok(score: float, positive: float, config: HardNegativeConfig) -> bool:
    if config.relative_margin is not None:
        # positive - |positive| * m equals (1 - m) * positive for positive scores and stays
        # below the positive for negative ones (where (1 - m) * positive would not).
        if score > positive - abs(positive) * config.relative_margin:
            return False
    if config.absolute_margin is not None and score > positive - config.absolute_margin:
        return False
    return True


def select_negatives(
    window: list[Candidate],
    positive_score: float | None,
    config: HardNegativeConfig,
    stats: MiningStats,
    *,
    rng: np.random.Generator,
    ce_scores: Mapping[str, float] | None = None,
) -> list[Candidate]:
    """Filter ``window`` (already restricted to the rank window) and sample negatives from it.

    ``positive_score`` of ``None`` means the positive's score is unknown: positive-aware
    filters (margins, band) are skipped. Returns candidates in rank order.
    """
    stats.candidates_considered += len(window)
    survivors: list[Candidate] = []
    for candidate in window:
        if positive_score is not None and not _margin_ok(candidate.score, positive_score, config):
            stats.dropped_margin += 1
            continue
        if config.max_score is not None and candidate.score > config.max_score:
            stats.dropped_max_score += 1
            continue
        if config.band is not None and positive_score is not None and positive_score > 0:
            ratio = candidate.score / positive_score
            if not config.band[0] <= ratio <= config.band[1]:
                stats.dropped_band += 1
                continue
        if ce_scores is not None and ce_scores[candidate.doc_id] >= config.cross_encoder_threshold:
            stats.dropped_cross_encoder += 1
            continue
        survivors.append(candidate)

    n = config.num_negatives
    if config.sampling == "top" or len(survivors) <= n:
        chosen = survivors[:n]
    else:  # random and band: uniform among survivors (band already filtered them)
        picks = sorted(rng.choice(len(survivors), size=n, replace=False).tolist())
        chosen = [survivors[i] for i in picks]
    if len(chosen) < n:
        stats.examples_short += 1
    return chosen
