"""Provider re-rankers (``cohere:rerank-v3.5``) wherever a cross-encoder name is accepted.

:class:`HostedReranker` is a :class:`~flywheel.retrieval.rerank.CrossEncoderReranker` whose
``score`` asks the provider instead of a local model: pairs are grouped by query, each query's
documents go out in calls of at most ``documents_per_call`` (Cohere bills one search per query
and up to 100 documents), concurrently, retried, cached and metered by the
:class:`~flywheel.hosted.client.HostedClient`. Scores of one query are comparable across calls
(the provider's relevance scores are absolute), so a long list can be split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flywheel.errors import ConfigError, ProviderError
from flywheel.hosted.client import HostedClient, Request, estimate_tokens
from flywheel.retrieval.rerank import CrossEncoderReranker

DOCUMENTS_PER_SEARCH = 100


class HostedReranker(CrossEncoderReranker):
    """``HostedReranker("cohere:rerank-v3.5", depth=100)``; other options go to HostedClient."""

    def __init__(
        self,
        model: str,
        *,
        depth: int = 100,
        documents_per_call: int = DOCUMENTS_PER_SEARCH,
        client: HostedClient | None = None,
        **client_options: Any,
    ) -> None:
        super().__init__(model, depth=depth)
        if not 1 <= documents_per_call <= 1000:
            raise ConfigError(f"documents_per_call must be 1-1000, got {documents_per_call}")
        self.documents_per_call = documents_per_call
        self.client = client or HostedClient(model, kind="rerank", **client_options)

    @property
    def model(self) -> Any:
        raise ConfigError(f"{self.model_name} is a hosted model; it has no local weights to load")

    def requests(self, pairs: list[tuple[str, str]]) -> tuple[list[Request], list[list[int]]]:
        """One request per query and slice of documents, and the pair index of each document."""
        by_query: dict[str, list[int]] = {}
        for i, (query, _) in enumerate(pairs):
            by_query.setdefault(query, []).append(i)
        requests, positions = [], []
        for query, rows in by_query.items():
            for start in range(0, len(rows), self.documents_per_call):
                part = rows[start : start + self.documents_per_call]
                documents = [pairs[i][1] for i in part]
                tokens = estimate_tokens(query) * len(part) + sum(map(estimate_tokens, documents))
                requests.append(
                    Request(
                        "rerank",
                        {"query": query, "documents": documents},
                        est_input_tokens=tokens,
                        est_search_units=1.0,
                    )
                )
                positions.append(part)
        return requests, positions

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.empty(0, dtype=np.float32)
        requests, positions = self.requests(pairs)
        outcomes = self.client.run(requests, description=f"Re-ranking {len(pairs)} pairs")
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise ProviderError(
                f"{self.client.name}: {len(failed)} of {len(requests)} rerank calls failed "
                f"({failed[0].error}); answers received are cached, run again to resume"
            )
        scores = np.empty(len(pairs), dtype=np.float32)
        for part, outcome in zip(positions, outcomes, strict=True):
            scores[part] = np.asarray(outcome.result["scores"], dtype=np.float32)
        return scores

    def __repr__(self) -> str:
        return f"HostedReranker({self.model_name!r}, depth={self.depth})"
