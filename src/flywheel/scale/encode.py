"""Encode a corpus into Parquet shards, in this process or on Ray Data actors.

Both engines encode with the same :class:`~flywheel.retrieval.embedders.Embedder` code (same
normalisation, prompts and truncation), so their vectors agree to float rounding; the Ray
engine only moves the work: a Ray Data pipeline whose ``map_batches`` step runs on an actor
pool, one model per actor. :func:`fill_cache` then hands the vectors to the embedder's on-disk
cache, so ``flywheel run``, ``flywheel dataset build`` and ``DenseRetriever`` find the corpus
already encoded and never encode it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flywheel._internal.hashing import text_hash
from flywheel.data.types import Document
from flywheel.errors import ConfigError
from flywheel.models import DEFAULT_BASE_MODEL
from flywheel.retrieval.embedders import Embedder
from flywheel.scale.engine import Engine, RayOptions, map_to_parquet, parse_engine, ray_session
from flywheel.scale.shards import (
    ROW,
    ShardKind,
    read_embeddings,
    staged_output,
    vectors_column,
    write_local_shards,
    write_manifest,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderSpec:
    """What an encoding worker loads: everything that changes the vectors."""

    model: str = DEFAULT_BASE_MODEL
    batch_size: int = 64
    max_seq_length: int | None = None
    precision: str | None = None

    def embedder(self, *, cache_dir: Path | None = None, use_cache: bool = False) -> Embedder:
        return Embedder(
            self.model,
            batch_size=self.batch_size,
            max_seq_length=self.max_seq_length,
            precision=self.precision,
            cache_dir=cache_dir,
            use_cache=use_cache,
        )


@dataclass
class EncodeReport:
    """What an encoding job did; ``seconds`` is the whole job, Ray start-up included."""

    out: str
    engine: str
    documents: int
    dim: int
    workers: int
    seconds: float
    docs_per_second: float
    truncation_rate: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _texts(corpus: Mapping[str, Document] | Mapping[str, str]) -> tuple[list[str], list[str]]:
    ids = list(corpus)
    texts = [
        value.text_for_encoding if isinstance(value, Document) else str(value)
        for value in corpus.values()
    ]
    return ids, texts


def _table(rows: np.ndarray, ids: list[str], texts: list[str], vectors: np.ndarray, tokens: list):
    import pyarrow as pa

    return pa.table(
        {
            ROW: pa.array(rows, type=pa.int64()),
            "doc_id": pa.array(ids, type=pa.string()),
            "content_hash": pa.array([text_hash(t) for t in texts], type=pa.string()),
            "tokens": pa.array(tokens, type=pa.int32()),
            "embedding": vectors_column(vectors),
        }
    )


class EncodeWorker:
    """A Ray Data actor: loads the model once, then encodes batch after batch."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.embedder = EncoderSpec(**spec).embedder(use_cache=False)

    def __call__(self, batch: Any) -> Any:
        ids = batch.column("doc_id").to_pylist()
        texts = batch.column("text").to_pylist()
        vectors = self.embedder.encode_documents(ids, texts)
        tokens = self.embedder.token_counts(texts)
        return _table(batch.column(ROW).to_numpy(), ids, texts, vectors, tokens)


def _input_table(ids: list[str], texts: list[str]) -> Any:
    import pyarrow as pa

    return pa.table(
        {ROW: pa.array(np.arange(len(ids)), type=pa.int64()), "doc_id": ids, "text": texts}
    )


def _encode_ray(
    ids: list[str], texts: list[str], spec: EncoderSpec, options: RayOptions, folder: Path
) -> int:
    with ray_session(options) as ray:
        table = _input_table(ids, texts)
        return map_to_parquet(ray, options, table, EncodeWorker, {"spec": asdict(spec)}, folder)


def encode_corpus(
    corpus: Mapping[str, Document] | Mapping[str, str],
    out: str | Path,
    *,
    model: str = DEFAULT_BASE_MODEL,
    engine: str | Engine = Engine.LOCAL,
    ray: RayOptions | None = None,
    batch_size: int = 64,
    max_seq_length: int | None = None,
    precision: str | None = None,
    overwrite: bool = False,
) -> EncodeReport:
    """Encode every document (title + text, as retrieval encodes it) into shards in ``out``.

    ``engine="local"`` encodes here with the embedding cache (a second run encodes nothing);
    ``engine="ray"`` runs a Ray Data job (see :class:`RayOptions`). Rows keep ``corpus``
    order; read them with :func:`flywheel.scale.read_embeddings`.
    """
    engine = parse_engine(engine)
    if not corpus:
        raise ConfigError("the corpus is empty; load documents before encoding")
    spec = EncoderSpec(model, batch_size, max_seq_length, precision)
    ids, texts = _texts(corpus)
    started = time.perf_counter()
    with staged_output(out, overwrite=overwrite) as folder:
        if engine is Engine.RAY:
            options = ray or RayOptions()
            workers = _encode_ray(ids, texts, spec, options, folder)
        else:
            embedder = spec.embedder(use_cache=True)
            vectors = embedder.encode_documents(ids, texts)
            tokens = [embedder.cache.token_count(text_hash(text)) for text in texts]
            table = _table(np.arange(len(ids)), ids, texts, vectors, tokens)
            write_local_shards(folder, table)
            workers = 1
        seconds = time.perf_counter() - started
        shards = read_embeddings_unchecked(folder)
        limit = spec.embedder().max_seq_length
        truncation = sum(t > limit for t in shards["tokens"]) / len(ids)
        report = EncodeReport(
            out=str(out),
            engine=str(engine),
            documents=len(ids),
            dim=int(shards["dim"]),
            workers=workers,
            seconds=round(seconds, 3),
            docs_per_second=round(len(ids) / seconds, 2) if seconds > 0 else 0.0,
            truncation_rate=truncation,
        )
        write_manifest(
            folder,
            ShardKind.EMBEDDINGS,
            model=model,
            model_id=spec.embedder().model_id,
            max_seq_length=limit,
            precision=precision,
            count=len(ids),
            dim=report.dim,
            engine=str(engine),
            workers=workers,
            seconds=report.seconds,
            ray=(ray or RayOptions()).to_dict() if engine is Engine.RAY else None,
        )
    logger.info("encoded %d documents with %s in %.1fs", len(ids), engine, report.seconds)
    return report


def corpus_encoder(
    model: str = DEFAULT_BASE_MODEL,
    *,
    engine: str | Engine = Engine.RAY,
    ray: RayOptions | None = None,
) -> Any:
    """An ``EncodeFn`` for :func:`flywheel.datasets.build.build_dataset` whose corpus encoding
    runs on ``engine`` (queries, few and cheap, are encoded here). The shards go to a temporary
    folder and their vectors into the embedding cache, so later runs reuse them."""
    import tempfile

    def encode(
        query_texts: list[str], doc_ids: list[str], doc_texts: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        embedder = EncoderSpec(model).embedder(use_cache=True)
        with tempfile.TemporaryDirectory(prefix="flywheel-encode-") as tmp:
            folder = Path(tmp) / "shards"
            encode_corpus(dict(zip(doc_ids, doc_texts, strict=True)), folder, model=model,
                          engine=engine, ray=ray)  # fmt: skip
            fill_cache(folder, embedder)
            docs = read_embeddings(folder).embeddings
        return embedder.encode_queries(query_texts), docs

    return encode


def read_embeddings_unchecked(folder: Path) -> dict[str, Any]:
    """Token counts and width of freshly written shards (before the manifest exists)."""
    from flywheel.scale.shards import column_matrix, read_table

    table = read_table(folder, ["tokens", "embedding"])
    return {
        "tokens": table.column("tokens").to_pylist(),
        "dim": column_matrix(table.column("embedding")).shape[1] if table.num_rows else 0,
    }


def fill_cache(folder: str | Path, embedder: Embedder) -> int:
    """Add the shards' vectors to ``embedder``'s on-disk cache; returns how many were new.

    The shards must come from the same model identity (name, weights, ``max_seq_length``,
    precision) as ``embedder``: vectors of another model would poison the cache.
    """
    shards = read_embeddings(folder)
    manifest = shards.manifest
    expected = (embedder.model_id, embedder.max_seq_length)
    found = (manifest.get("model_id"), manifest.get("max_seq_length"))
    same_precision = manifest.get("precision") == (
        embedder.precision.value if embedder.precision else None
    )
    if found != expected or not same_precision:
        raise ConfigError(
            f"{folder} was encoded by {found[0]} (max_seq_length {found[1]}, precision "
            f"{manifest.get('precision')}); the embedder is {expected[0]} (max_seq_length "
            f"{expected[1]}): encode with the same model settings, or do not fill this cache"
        )
    cache = embedder.cache
    cache.refresh()
    before = len(cache)
    cache.add(shards.content_hashes, shards.embeddings, shards.tokens)
    return len(cache) - before


__all__ = [
    "EncodeReport",
    "EncoderSpec",
    "corpus_encoder",
    "encode_corpus",
    "fill_cache",
    "read_embeddings",
]
