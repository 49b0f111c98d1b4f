"""Chunking strategies (fixed windows, sentence packing, markdown sections, recursive splitting)
behind one registry, and :func:`chunk_store` to write a strategy's chunks to the store."""

from flywheel.chunking import fixed, markdown, recursive, sentence  # noqa: F401  (registration)
from flywheel.chunking.apply import chunk_store
from flywheel.chunking.base import (
    CHUNKERS,
    ChunkConfig,
    Chunker,
    SizeUnit,
    chunk_corpus,
    get_chunker,
    register_chunker,
)

__all__ = [
    "CHUNKERS",
    "ChunkConfig",
    "Chunker",
    "SizeUnit",
    "chunk_corpus",
    "chunk_store",
    "get_chunker",
    "register_chunker",
]
