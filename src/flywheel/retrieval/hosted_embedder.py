"""Provider embeddings (``openai:text-embedding-3-small``, ``cohere:embed-v4.0``) as an Embedder.

:class:`HostedEmbedder` *is* an :class:`~flywheel.retrieval.embedders.Embedder`: dense
retrieval, hybrid search, mining and experiments take it unchanged, and documents go through the
same on-disk embedding cache, keyed by the model name (and endpoint and dimensions), so the same
chunk is never paid for twice. What the cache does not hold is sent through a
:class:`~flywheel.hosted.client.HostedClient` - batched within the provider's limits, concurrent,
retried, and itself cached per request, so a run killed mid-corpus resumes where it stopped.
Token counts stored in the embedding cache are the provider's billed tokens, spread over a
batch's texts in proportion to their length; :meth:`HostedEmbedder.index_cost` prices them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from flywheel.errors import ConfigError, ProviderError
from flywheel.hosted.client import HostedClient, Request, estimate_tokens
from flywheel.hosted.prices import Usage
from flywheel.hosted.transport import unpack_vectors
from flywheel.retrieval.embedders import Embedder, normalize_rows

#: Texts per request: OpenAI accepts 2,048 inputs (300k tokens) per call, Cohere 96.
BATCH_LIMITS = {"openai": 256, "cohere": 96}
#: Longest input each provider embeds, in tokens (longer texts are truncated or refused).
MAX_TOKENS = {"openai": 8191, "cohere": 512}


class HostedEmbedder(Embedder):
    """``HostedEmbedder("openai:text-embedding-3-small")``; keyword options as HostedClient."""

    def __init__(
        self,
        model: str,
        *,
        batch_size: int | None = None,
        cache_dir: Path | None = None,
        use_cache: bool = True,
        dimensions: int | None = None,
        client: HostedClient | None = None,
        **client_options: Any,
    ) -> None:
        self.client = client or HostedClient(model, kind="embed", **client_options)
        provider = self.client.provider
        limit = BATCH_LIMITS.get(provider, 96)
        if batch_size is not None and not 1 <= batch_size <= limit:
            raise ConfigError(f"{provider} embeds at most {limit} texts per call; got {batch_size}")
        super().__init__(
            model,
            batch_size=batch_size or limit,
            max_seq_length=MAX_TOKENS.get(provider, 512),
            cache_dir=cache_dir,
            use_cache=use_cache,
        )
        if dimensions is not None and dimensions < 1:
            raise ConfigError(f"dimensions must be >= 1, got {dimensions}")
        self.dimensions = dimensions
        self._dim: int | None = None

    @property
    def model_id(self) -> str:
        endpoint = self.client.credentials.endpoint
        parts = [self.client.name]
        if endpoint != "default":
            parts.append(re.sub(r"^https?://", "", endpoint))
        if self.dimensions:
            parts.append(f"d{self.dimensions}")
        return "@".join(parts)

    @property
    def model(self) -> Any:
        raise ConfigError(f"{self.model_name} is a hosted model; it has no local weights to load")

    @property
    def dimension(self) -> int:
        if self._dim is None:
            self._dim = int(self._encode(["dimension probe"], "query").shape[1])
        return self._dim

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Estimated tokens per text (~4 characters each); billing uses the provider's count."""
        return [estimate_tokens(t) for t in texts]

    def _payload(self, texts: list[str], kind: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"texts": texts}
        if self.client.provider == "cohere":
            payload["input_type"] = "search_query" if kind == "query" else "search_document"
        if self.dimensions:
            payload["dimensions" if self.client.provider == "openai" else "output_dimension"] = (
                self.dimensions
            )
        return payload

    def _encode_with_usage(self, texts: list[str], kind: str) -> tuple[np.ndarray, list[int]]:
        """Vectors (normalised) and billed tokens spread per text."""
        requests = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            requests.append(
                Request("embed", self._payload(batch, kind), sum(self.token_counts(batch)))
            )
        outcomes = self.client.run(requests, description=f"Embedding {len(texts)} {kind} texts")
        failed = [o for o in outcomes if not o.ok]
        if failed:
            done = sum(
                len(r.payload["texts"]) for r, o in zip(requests, outcomes, strict=True) if o.ok
            )
            raise ProviderError(
                f"{self.client.name}: {len(failed)} of {len(requests)} embedding calls failed "
                f"({failed[0].error}); {done} of {len(texts)} texts are embedded and cached, "
                "run again to resume"
            )
        vectors, tokens = [], []
        for request, outcome in zip(requests, outcomes, strict=True):
            vectors.append(unpack_vectors(outcome.result))
            tokens += _spread(self.token_counts(request.payload["texts"]), outcome.usage)
        matrix = normalize_rows(np.concatenate(vectors).astype(np.float32, copy=False))
        self._dim = int(matrix.shape[1])
        return matrix, tokens

    def _encode(self, texts: list[str], kind: str) -> np.ndarray:
        return self._encode_with_usage(texts, kind)[0]

    def _sorted_batches(
        self, texts: dict[str, str]
    ) -> Iterator[tuple[list[str], list[int], np.ndarray]]:
        """All missing texts through the client at once (concurrent calls, cached per call)."""
        keys = list(texts)
        if not keys:
            return
        matrix, tokens = self._encode_with_usage([texts[k] for k in keys], "document")
        yield keys, tokens, matrix

    def index_cost(self, texts: Sequence[str]) -> float | None:
        """Dollars to embed ``texts`` on a cold cache (billed tokens where known)."""
        from flywheel._internal.hashing import text_hash

        cache = self.cache
        cache.refresh()
        total = sum(
            cache.token_count(k) if k in cache else estimate_tokens(t)
            for t in texts
            for k in (text_hash(t),)
        )
        return self.client.cost(Usage(total))

    def __repr__(self) -> str:
        return f"HostedEmbedder({self.model_name!r})"


def _spread(estimates: list[int], usage: Usage) -> list[int]:
    """Billed tokens of one call shared over its texts in proportion to their estimates."""
    billed = usage.input_tokens
    if billed <= 0:
        return estimates
    total = sum(estimates) or 1
    shares = [int(round(billed * e / total)) for e in estimates]
    shares[-1] += billed - sum(shares)
    return [max(0, s) for s in shares]
