"""Chunk the store's corpus and store the chunks under the strategy's label."""

from __future__ import annotations

import logging

from flywheel._internal.progress import track
from flywheel.chunking.base import ChunkConfig, chunk_corpus
from flywheel.store import ChunkReport, Store

log = logging.getLogger(__name__)


def chunk_store(store: Store, config: ChunkConfig) -> ChunkReport:
    """Chunk every stored document with ``config`` and write the chunks (idempotent: the same
    config twice changes nothing). Judgments on documents carry over to the chunks when read
    with ``store.qrels(level="chunk", strategy=config.name)``."""
    corpus = store.corpus()
    pieces = chunk_corpus(dict(track(corpus.items(), "chunk", total=len(corpus))), config)
    report = store.write_chunks(config.name, pieces)
    log.info("%s", report.summary())
    return report
