"""Hybrid retrieval: run several retrievers to ``depth`` and fuse their runs.

BM25 catches exact terms (names, codes, rare words), dense retrieval catches paraphrase;
fusing both is the usual strong baseline (RRF of BM25 + bge-base beats either on SciFact).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from flywheel.data.types import Queries, Run
from flywheel.errors import ConfigError
from flywheel.retrieval.base import Retriever, check_k, top_k
from flywheel.retrieval.fusion import rrf, weighted_fusion


class FusionMethod(StrEnum):
    """``rrf``: rank-based, needs no tuning; ``minmax``/``zscore``: weighted score sums."""

    RRF = "rrf"
    MINMAX = "minmax"
    ZSCORE = "zscore"


class HybridRetriever:
    """Fuse the runs of ``retrievers``: ``HybridRetriever([bm25, dense]).search(queries, k=10)``.

    Each retriever returns its top ``depth`` (at least ``k``); ``weights`` (one per retriever)
    weight RRF contributions or normalised scores.
    """

    def __init__(
        self,
        retrievers: Sequence[Retriever],
        *,
        method: str = "rrf",
        weights: Sequence[float] | None = None,
        depth: int = 100,
        rrf_k: int = 60,
    ) -> None:
        if not retrievers:
            raise ConfigError("HybridRetriever needs at least one retriever")
        try:
            self.method = FusionMethod(method)
        except ValueError:
            known = ", ".join(m.value for m in FusionMethod)
            raise ConfigError(f"unknown fusion method '{method}'; choose one of: {known}") from None
        if weights is not None and len(weights) != len(retrievers):
            raise ConfigError(f"got {len(weights)} weights for {len(retrievers)} retrievers")
        self.retrievers = list(retrievers)
        self.weights = list(weights) if weights is not None else None
        self.depth = check_k(depth)
        self.rrf_k = rrf_k

    @property
    def name(self) -> str:
        return f"hybrid-{self.method.value}({'+'.join(r.name for r in self.retrievers)})"

    def fuse(self, runs: Sequence[Run]) -> Run:
        """Fuse already computed runs (one per retriever) the way :meth:`search` does."""
        if self.method is FusionMethod.RRF:
            return rrf(runs, k=self.rrf_k, weights=self.weights)
        return weighted_fusion(runs, self.weights or [1.0] * len(runs), norm=self.method.value)

    def search(self, queries: Queries, k: int = 100) -> Run:
        """Top ``k`` documents per query of the fused run."""
        check_k(k)
        depth = max(self.depth, k)
        fused = self.fuse([retriever.search(queries, k=depth) for retriever in self.retrievers])
        return {qid: top_k(scores, k) for qid, scores in fused.items()}

    def __repr__(self) -> str:
        return f"HybridRetriever({self.name}, depth={self.depth})"
