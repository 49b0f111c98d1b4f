"""Synthetic candidate features made in the test: one column tells relevance, the rest are noise."""

from __future__ import annotations

import numpy as np

from flywheel.data.types import Qrels, Run
from flywheel.retrieval.features import CandidateFeatures

NAMES = ("signal", "noise_a", "noise_b")


def synthetic(
    n_queries: int = 60,
    per_query: int = 20,
    *,
    seed: int = 0,
    prefix: str = "q",
    informative: bool = True,
) -> tuple[CandidateFeatures, Qrels]:
    """Graded candidates (0-3). ``signal`` is the grade plus small noise (pure noise when not
    ``informative``); ``noise_a`` / ``noise_b`` never depend on the grade."""
    rng = np.random.default_rng(seed)
    qrels: Qrels = {}
    qids, docs, blocks = [], [], []
    for i in range(n_queries):
        qid = f"{prefix}{i}"
        grades = rng.choice([0, 0, 0, 0, 0, 1, 2, 3], size=per_query)
        grades[0] = max(grades[0], 1)  # every query has something relevant
        ids = [f"{qid}-d{j}" for j in range(per_query)]
        noise = rng.normal(0, 0.3, per_query)
        signal = grades + noise if informative else rng.normal(size=per_query)
        blocks.append(np.column_stack([signal, rng.normal(size=(per_query, 2))]))
        qrels[qid] = {d: int(g) for d, g in zip(ids, grades, strict=True) if g > 0}
        qids.append(qid)
        docs += ids
    offsets = np.arange(0, (n_queries + 1) * per_query, per_query, dtype=np.int64)
    features = CandidateFeatures(NAMES, tuple(qids), offsets, tuple(docs), np.vstack(blocks))
    return features, qrels


def noisy_run(features: CandidateFeatures, qrels: Qrels, *, noise: float, seed: int = 0) -> Run:
    """A first stage over the same candidates: the grade plus Gaussian noise of ``noise``."""
    rng = np.random.default_rng(seed)
    grades = features.labels(qrels).astype(np.float64)
    return features.to_run(grades + rng.normal(0, noise, grades.size))
