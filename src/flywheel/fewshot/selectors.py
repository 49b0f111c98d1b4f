"""Choosing examples: representatives at build time, then per query at prompt time.

* :func:`mmr` is maximal marginal relevance (Carbonell and Goldstein, 1998): repeatedly take the
  candidate with the best ``lambda * relevance - (1 - lambda) * redundancy``, where redundancy is
  the highest similarity to anything already chosen (plus ``group_penalty`` when it is of the
  same group), so the set stays relevant without saying the same thing twice.
* :func:`representatives` picks each group's most central examples (nearest its centre) with MMR.
* :class:`LibrarySelector` serves a live query: its likely intent first (a similarity-weighted
  vote of its nearest examples), that intent's representatives, then nearest neighbours with
  MMR. :class:`StaticSelector` gives every query the same prompt.
* The two baselines the library must beat: :class:`RandomSelector` and
  :class:`NearestNeighbourSelector` (what LangChain's ``SemanticSimilarityExampleSelector`` does:
  the ``k`` most similar examples).

Every selector works on normalised embeddings (cosine = dot product) and explains each choice.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from flywheel.errors import ConfigError
from flywheel.fewshot.examples import Example


@dataclass(frozen=True)
class Selected:
    """One chosen example: its index in the pool, its similarity to the query, and why."""

    index: int
    score: float
    why: str


@dataclass(frozen=True)
class Selection:
    """What a selector chose for one query; ``intent`` is the group it routed the query to."""

    items: list[Selected]
    intent: str | None = None

    @property
    def indices(self) -> list[int]:
        return [item.index for item in self.items]


@dataclass
class ExamplePool:
    """The examples a selector may choose from, their embeddings and group ids."""

    examples: list[Example]
    embeddings: np.ndarray
    groups: list[str]

    def __post_init__(self) -> None:
        if not (len(self.examples) == self.embeddings.shape[0] == len(self.groups)):
            raise ConfigError(
                f"pool of {len(self.examples)} examples, {self.embeddings.shape[0]} embeddings "
                f"and {len(self.groups)} group ids; give one of each per example"
            )
        if not self.examples:
            raise ConfigError("the example pool is empty; build the library from some examples")

    def __len__(self) -> int:
        return len(self.examples)


class Selector(Protocol):
    name: str

    def select(self, query: str, vector: np.ndarray, k: int) -> Selection: ...


def mmr(
    relevance: np.ndarray,
    vectors: np.ndarray,
    k: int,
    *,
    lambda_: float = 0.5,
    selected: Sequence[np.ndarray] = (),
    groups: Sequence[str] | None = None,
    selected_groups: Sequence[str] = (),
    group_penalty: float = 0.0,
) -> list[int]:
    """Indices (into ``vectors``) of ``k`` candidates by maximal marginal relevance.

    ``relevance[i]`` is candidate ``i``'s relevance; ``selected`` are vectors already chosen
    (with ``selected_groups``), which count towards redundancy from the start.
    """
    if not 0.0 <= lambda_ <= 1.0:
        raise ConfigError(f"MMR lambda must be between 0 and 1, got {lambda_}")
    n = len(relevance)
    k = min(k, n)
    if k <= 0:
        return []
    redundancy = np.full(n, -np.inf if not len(selected) else 0.0, dtype=np.float64)
    if len(selected):
        chosen_vectors = np.vstack(list(selected))
        sims = vectors @ chosen_vectors.T
        if groups is not None and group_penalty:
            same = np.array([[g == h for h in selected_groups] for g in groups], dtype=np.float64)
            sims = sims + group_penalty * same
        redundancy = sims.max(axis=1)
    picked: list[int] = []
    available = np.ones(n, dtype=bool)
    for _ in range(k):
        penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
        scores = lambda_ * relevance - (1.0 - lambda_) * penalty
        scores = np.where(available, scores, -np.inf)
        best = int(np.argmax(scores))
        picked.append(best)
        available[best] = False
        added = vectors @ vectors[best]
        if groups is not None and group_penalty:
            added = added + group_penalty * np.array([g == groups[best] for g in groups])
        redundancy = np.maximum(redundancy, added)
    return picked


def centroid(vectors: np.ndarray) -> np.ndarray:
    """The normalised mean of (normalised) vectors: the group's centre on the sphere."""
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


def representatives(
    vectors: np.ndarray, per_group: int, *, lambda_: float = 0.7
) -> list[tuple[int, float]]:
    """``per_group`` members nearest the centre, kept diverse by MMR: ``(row, cosine)`` pairs."""
    centre = centroid(vectors)
    closeness = vectors @ centre
    order = mmr(closeness, vectors, per_group, lambda_=lambda_)
    return [(row, float(closeness[row])) for row in order]


def _query_rng(seed: int, query: str) -> np.random.Generator:
    digest = hashlib.blake2b(f"{seed}|{query}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


class RandomSelector:
    """Baseline: ``k`` examples drawn at random (reproducible per query and seed)."""

    name = "random"

    def __init__(self, pool: ExamplePool, *, seed: int = 0, per_query: bool = True) -> None:
        self.pool = pool
        self.seed = seed
        self.per_query = per_query  # False: one random draw shared by every query (static)
        if not per_query:
            self.name = "random-static"

    def select(self, query: str, vector: np.ndarray, k: int) -> Selection:
        rng = _query_rng(self.seed, query if self.per_query else "")
        rows = rng.choice(len(self.pool), size=min(k, len(self.pool)), replace=False)
        sims = self.pool.embeddings[rows] @ vector
        return Selection(
            [Selected(int(r), float(s), "drawn at random") for r, s in zip(rows, sims, strict=True)]
        )


class NearestNeighbourSelector:
    """Baseline: the ``k`` most similar examples (LangChain's SemanticSimilarityExampleSelector)."""

    name = "nearest"

    def __init__(self, pool: ExamplePool) -> None:
        self.pool = pool

    def select(self, query: str, vector: np.ndarray, k: int) -> Selection:
        sims = self.pool.embeddings @ vector
        k = min(k, len(sims))
        top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        top = top[np.lexsort((top, -sims[top]))]
        return Selection(
            [
                Selected(int(r), float(sims[r]), f"nearest neighbour, cosine {sims[r]:.3f}")
                for r in top
            ]
        )


@dataclass(frozen=True)
class DynamicConfig:
    """How a live query is served. ``intent_examples``: representatives of the likely intent
    put first; ``vote_neighbours``: nearest examples that vote on the intent; ``candidates``:
    nearest examples MMR chooses the rest from; ``group_penalty``: extra redundancy for a second
    example of a group already shown (0 = plain MMR); ``max_gap``: MMR only considers examples
    at most this much less similar than the nearest one, so diversity never brings in an
    unrelated example (None: no limit; fewer such examples than slots: the nearest fill in)."""

    # Defaults chosen on a dev split of banking77 *train* (benchmarks/fewshot_tune_dev.py):
    # the best mean coverage over labelled and automatic grouping with the intent put first.
    intent_examples: int = 1
    vote_neighbours: int = 10
    candidates: int = 50
    mmr_lambda: float = 0.7
    group_penalty: float = 0.5
    max_gap: float | None = 0.25

    def __post_init__(self) -> None:
        if self.intent_examples < 0 or self.vote_neighbours < 1 or self.candidates < 1:
            raise ConfigError(
                "intent_examples must be >= 0 and vote_neighbours, candidates >= 1; "
                f"got {self.intent_examples}, {self.vote_neighbours}, {self.candidates}"
            )
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise ConfigError(f"mmr_lambda must be between 0 and 1, got {self.mmr_lambda}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LibrarySelector:
    """Per-query selection: likely intent's representatives first, then MMR neighbours.

    ``representatives`` maps a group id to its representative pool rows, best first.
    """

    name = "library"

    def __init__(
        self,
        pool: ExamplePool,
        representatives: dict[str, list[int]],
        config: DynamicConfig | None = None,
        *,
        group_names: dict[str, str] | None = None,
    ) -> None:
        self.pool = pool
        self.reps = representatives
        self.config = config or DynamicConfig()
        self.group_names = group_names or {}

    def likely_intent(self, sims: np.ndarray) -> tuple[str, float]:
        """The group with the largest similarity-weighted vote among the nearest examples."""
        m = min(self.config.vote_neighbours, len(sims))
        top = np.argpartition(-sims, m - 1)[:m] if m < len(sims) else np.arange(len(sims))
        votes: dict[str, float] = defaultdict(float)
        for row in top:
            votes[self.pool.groups[row]] += max(float(sims[row]), 0.0) + 1e-6
        best = max(sorted(votes), key=lambda g: votes[g])
        return best, votes[best] / sum(votes.values())

    def select(self, query: str, vector: np.ndarray, k: int) -> Selection:
        cfg = self.config
        sims = self.pool.embeddings @ vector
        intent, share = self.likely_intent(sims)
        label = self.group_names.get(intent, intent)
        items: list[Selected] = []
        reps = sorted(self.reps.get(intent, []), key=lambda r: -sims[r])
        for rank, row in enumerate(reps[: min(cfg.intent_examples, k)], start=1):
            items.append(
                Selected(
                    row,
                    float(sims[row]),
                    f"representative {rank} of likely intent '{label}' ({share:.0%} of the vote)",
                )
            )
        remaining = k - len(items)
        if remaining > 0:
            chosen = {item.index for item in items}
            m = min(cfg.candidates + len(chosen), len(sims))
            near = np.argpartition(-sims, m - 1)[:m] if m < len(sims) else np.arange(len(sims))
            near = np.array([r for r in near if r not in chosen], dtype=np.int64)
            near = near[np.argsort(-sims[near], kind="stable")]
            if cfg.max_gap is not None and len(near):
                close = near[sims[near] >= sims[near[0]] - cfg.max_gap]
                near = close if len(close) >= remaining else near[:remaining]
            if len(near):
                order = mmr(
                    sims[near],
                    self.pool.embeddings[near],
                    remaining,
                    lambda_=cfg.mmr_lambda,
                    selected=[self.pool.embeddings[i.index] for i in items],
                    groups=[self.pool.groups[r] for r in near],
                    selected_groups=[self.pool.groups[i.index] for i in items],
                    group_penalty=cfg.group_penalty,
                )
                for position in order:
                    row = int(near[position])
                    group = self.group_names.get(self.pool.groups[row], self.pool.groups[row])
                    items.append(
                        Selected(
                            row,
                            float(sims[row]),
                            f"neighbour by MMR, cosine {sims[row]:.3f}, group '{group}'",
                        )
                    )
        return Selection(items, intent)


class StaticSelector:
    """One fixed prompt: the first ``k`` of ``order`` (the library's static sequence)."""

    name = "static"

    def __init__(self, pool: ExamplePool, order: list[int], reasons: list[str]) -> None:
        self.pool = pool
        self.order = order
        self.reasons = reasons

    def select(self, query: str, vector: np.ndarray, k: int) -> Selection:
        sims = self.pool.embeddings[self.order[:k]] @ vector if len(vector) else None
        return Selection(
            [
                Selected(row, float(sims[i]) if sims is not None else 0.0, self.reasons[i])
                for i, row in enumerate(self.order[:k])
            ]
        )
