"""Loop building blocks: timed stages, dense runs from cached embeddings, shared re-ranking."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from flywheel.data.types import Corpus, Queries, Run
from flywheel.pipeline.config import LoopConfig
from flywheel.retrieval.embedders import Embedder
from flywheel.retrieval.rerank import CrossEncoderReranker

logger = logging.getLogger(__name__)


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Timings:
    """Wall-clock seconds per stage, in the order the stages ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        logger.info("stage %s: start", name)
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
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


def dense_run(
    embedder: Embedder, corpus: Corpus, queries: Queries, *, k: int
) -> tuple[Run, object]:
    """Exact inner-product search; document embeddings come from the cache."""
    from flywheel.retrieval.dense import DenseRetriever

    retriever = DenseRetriever(corpus, embedder)
    return retriever.search(queries, k=k), retriever


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
