"""Loop building blocks: timed stages, measured dense runs from cached embeddings, re-ranking."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from flywheel.data.types import Corpus, Queries, Run
from flywheel.evaluation.cost import CostProfile, measure
from flywheel.pipeline.config import LoopConfig
from flywheel.retrieval.embedders import Embedder
from flywheel.retrieval.rerank import CrossEncoderReranker

logger = logging.getLogger(__name__)


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Timings:
    """Wall-clock seconds per stage, in the order the stages ran, and the process's peak memory
    when each ended: the peak only grows, so the stage where it jumps is the one to slim."""

    seconds: dict[str, float] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        logger.info("stage %s: start", name)
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.peak_mb[name] = round(peak_memory_mb())
            logger.info("stage %s: %.1fs", name, self.seconds[name])

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def loop_embedder(config: LoopConfig, model: str) -> Embedder:
    """An embedder with the loop's batch size, device and inference backend."""
    return Embedder(
        model,
        batch_size=config.encode_batch_size,
        device=config.device,
        backend=config.inference_backend,
    )


class Measured(NamedTuple):
    """The retriever that made a run (kept so a hybrid over it can be timed without building
    its index again), the run, and its latency and cost: what ``measure`` returns, named."""

    retriever: Any
    run: Run
    cost: CostProfile


def dense_run(
    embedder: Embedder, corpus: Corpus, queries: Queries, *, k: int, latency_queries: int
) -> Measured:
    """Exact inner-product search, measured as experiments measure a variant
    (:func:`flywheel.evaluation.cost.measure`): building the index encodes the corpus (or reads
    the embedding cache), then the batch search, then ``latency_queries`` searched one at a time
    for p50/p95 - so a loop's own models and a provider's sit in one latency and cost table."""
    from flywheel.retrieval.dense import DenseRetriever

    retriever, run, profile = measure(
        lambda: DenseRetriever(corpus, embedder),
        queries,
        k=k,
        corpus_texts=[doc.text_for_encoding for doc in corpus.values()],
        latency_queries=latency_queries,
    )
    return Measured(retriever, run, profile)


def hybrid_cost(
    dense: Measured, bm25: Measured, queries: Queries, *, k: int, rrf_k: int, latency_queries: int
) -> CostProfile | None:
    """Latency of the loop's hybrid (RRF of dense and BM25, as the loop fuses them) searched as
    one retriever over the first ``latency_queries`` queries; its index time is the sum of its
    parts' (both are already built). ``None`` when no latency sample is asked for.

    The selected pipeline is usually a hybrid, and "what does what we ship cost per query"
    is the question the quality-against-cost picture answers.
    """
    sample = dict(list(queries.items())[:latency_queries])
    if not sample:
        return None
    from flywheel.retrieval.hybrid import HybridRetriever

    hybrid = HybridRetriever([dense.retriever, bm25.retriever], depth=k, rrf_k=rrf_k)
    _, _, profile = measure(
        lambda: hybrid, sample, k=k, corpus_texts=[], latency_queries=latency_queries
    )
    return replace(profile, index_seconds=dense.cost.index_seconds + bm25.cost.index_seconds)


def rerank_runs(
    reranker: CrossEncoderReranker,
    queries: Queries,
    runs: Mapping[str, Run],
    texts: Mapping[str, str],
    *,
    depth: int,
) -> dict[str, Run]:
    """Re-rank the top ``depth`` of several runs, scoring each (query, document) pair once.

    First stages overlap heavily, so scoring the union and reordering each run costs far less
    than re-ranking each run on its own: on CPU the cross-encoder dominates the loop's time.
    """
    pairs: dict[tuple[str, str], float] = {}
    for run in runs.values():
        for qid, ranked in run.items():
            if qid not in queries:
                continue
            for doc_id in list(ranked)[:depth]:
                pairs.setdefault((qid, doc_id), 0.0)
    keys = sorted(pairs, key=lambda key: len(texts[key[1]]))  # similar lengths batch together
    logger.info("re-ranking %d unique pairs for %d runs", len(keys), len(runs))
    scores = reranker.score([(queries[q], texts[d]) for q, d in keys]) if keys else []
    for key, score in zip(keys, scores, strict=True):
        pairs[key] = float(score)
    out: dict[str, Run] = {}
    for name, run in runs.items():
        reranked: Run = {}
        for qid, ranked in run.items():
            order = list(ranked)
            head = sorted(
                order[:depth], key=lambda d: pairs.get((qid, d), float("-inf")), reverse=True
            )
            tail = order[depth:]
            n = len(head) + len(tail)
            # scores only encode the order: head above tail, each in its new order
            reranked[qid] = {d: float(n - i) for i, d in enumerate(head + tail)}
        out[name] = reranked
    return out


def restrict(run: Run, qids: Mapping[str, object] | set[str]) -> Run:
    return {qid: docs for qid, docs in run.items() if qid in qids}
