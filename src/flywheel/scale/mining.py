"""Hard-negative mining over a large corpus, in this process or on Ray Data actors.

Both engines run :func:`flywheel.datasets.hard_negatives.mine_hard_negatives`; the Ray engine
splits the *queries* into batches and mines each batch on an actor that holds the model (to
encode its queries) and the corpus matrix (put once in Ray's object store, shared by the actors
of a node without copies). Mining a batch of queries equals mining them all at once: the rank
window, the margins and the seeded sampling are per (query, positive), and each batch searches
deep enough for its own positives. Results are Parquet shards with one row per
(query, positive); :func:`read_negatives` turns them back into :class:`MinedNegatives`, which
``build_triplets`` and the rest of the training-data code take as they are.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from flywheel.data.types import Qrels, Queries
from flywheel.datasets.hard_negatives import (
    HardNegativeConfig,
    MinedExample,
    MinedNegatives,
    MiningStats,
    mine_hard_negatives,
)
from flywheel.errors import ConfigError
from flywheel.models import DEFAULT_BASE_MODEL
from flywheel.scale.encode import EncoderSpec
from flywheel.scale.engine import Engine, RayOptions, map_to_parquet, parse_engine, ray_session
from flywheel.scale.shards import (
    ROW,
    ShardKind,
    read_manifest,
    read_table,
    staged_output,
    write_local_shards,
    write_manifest,
)

logger = logging.getLogger(__name__)


def _positives(qrels: Qrels, qid: str) -> list[str]:
    return [doc_id for doc_id, grade in qrels.get(qid, {}).items() if grade > 0]


def _rows(examples: list[MinedExample], row_of: Mapping[str, int], stats: MiningStats | None):
    """Shard rows: one per example; the batch's stats ride on its first row (or on a row with
    an empty ``qid`` when the batch found no example)."""
    import pyarrow as pa

    first = min(row_of.values()) if row_of else 0
    records = [
        {
            ROW: row_of[e.qid],
            "qid": e.qid,
            "positive_id": e.positive_id,
            "positive_score": e.positive_score,
            "negative_ids": list(e.negative_ids),
            "negative_scores": [float(s) for s in e.negative_scores],
            "negative_ranks": [int(r) for r in e.negative_ranks],
            "stats": None,
        }
        for e in examples
    ]
    if not records:
        records.append(
            {ROW: first, "qid": "", "positive_id": "", "positive_score": None,
             "negative_ids": [], "negative_scores": [], "negative_ranks": [], "stats": None}
        )  # fmt: skip
    if stats is not None:
        records[0]["stats"] = json.dumps(stats.to_dict())
    schema = pa.schema(
        [
            (ROW, pa.int64()),
            ("qid", pa.string()),
            ("positive_id", pa.string()),
            ("positive_score", pa.float64()),
            ("negative_ids", pa.list_(pa.string())),
            ("negative_scores", pa.list_(pa.float64())),
            ("negative_ranks", pa.list_(pa.int64())),
            ("stats", pa.string()),
        ]
    )
    return pa.Table.from_pylist(records, schema=schema)


class MineWorker:
    """A Ray Data actor: the model and the corpus matrix, loaded once; mines query batches."""

    def __init__(self, spec: dict, config: dict, corpus: list, texts: list | None) -> None:
        import ray

        self.embedder = EncoderSpec(**spec).embedder(use_cache=False)
        self.config = HardNegativeConfig.from_dict(config)
        self.doc_ids, self.doc_embeddings = ray.get(corpus[0])
        self.texts = ray.get(texts[0]) if texts else None
        self.scorer = None
        if self.config.use_cross_encoder:
            from flywheel.datasets.hard_negatives import _load_cross_encoder

            self.scorer = _load_cross_encoder(self.config.use_cross_encoder)

    def __call__(self, batch: Any) -> Any:
        qids = batch.column("qid").to_pylist()
        queries = dict(zip(qids, batch.column("text").to_pylist(), strict=True))
        qrels = {
            qid: dict.fromkeys(positives, 1)
            for qid, positives in zip(qids, batch.column("positives").to_pylist(), strict=True)
        }
        mined = mine_hard_negatives(
            queries, qrels, self.texts,
            query_embeddings=self.embedder.encode_queries(list(queries.values())),
            doc_embeddings=self.doc_embeddings, doc_ids=self.doc_ids, config=self.config,
            query_ids=qids, cross_encoder=self.scorer,
        )  # fmt: skip
        row_of = dict(zip(qids, batch.column(ROW).to_pylist(), strict=True))
        return _rows(mined.examples, row_of, mined.stats)


def _mine_ray(
    queries: Queries,
    qrels: Qrels,
    texts: Mapping[str, str] | None,
    doc_ids: Sequence[str],
    doc_embeddings: np.ndarray,
    config: HardNegativeConfig,
    spec: EncoderSpec,
    options: RayOptions,
    folder: Path,
) -> int:
    import pyarrow as pa

    todo = [qid for qid in queries if _positives(qrels, qid)]
    table = pa.table(
        {
            ROW: pa.array(np.arange(len(todo)), type=pa.int64()),
            "qid": todo,
            "text": [queries[q] for q in todo],
            "positives": [_positives(qrels, q) for q in todo],
        }
    )
    with ray_session(options) as ray:
        corpus_ref = ray.put((list(doc_ids), np.ascontiguousarray(doc_embeddings, np.float32)))
        texts_ref = ray.put(dict(texts)) if texts is not None and config.use_cross_encoder else None
        kwargs = {
            "spec": asdict(spec),
            "config": config.to_dict(),
            "corpus": [corpus_ref],  # in a list: the actor fetches it, Ray does not inline it
            "texts": [texts_ref] if texts_ref is not None else None,
        }
        return map_to_parquet(ray, options, table, MineWorker, kwargs, folder)


def mine_negatives(
    queries: Queries,
    qrels: Qrels,
    *,
    doc_ids: Sequence[str],
    doc_embeddings: np.ndarray,
    out: str | Path,
    config: HardNegativeConfig | None = None,
    texts: Mapping[str, str] | None = None,
    model: str = DEFAULT_BASE_MODEL,
    engine: str | Engine = Engine.LOCAL,
    ray: RayOptions | None = None,
    batch_size: int = 64,
    max_seq_length: int | None = None,
    overwrite: bool = False,
) -> MinedNegatives:
    """Encode the judged queries with ``model`` and mine negatives against ``doc_embeddings``
    (rows follow ``doc_ids``; e.g. from :func:`flywheel.scale.read_embeddings`); write the
    result as shards in ``out`` and return it. ``texts`` is needed only for a cross-encoder
    filter (``config.use_cross_encoder``)."""
    engine = parse_engine(engine)
    config = config or HardNegativeConfig()
    if len(doc_ids) != len(doc_embeddings):
        raise ConfigError(f"{len(doc_embeddings)} document embeddings for {len(doc_ids)} doc_ids")
    spec = EncoderSpec(model, batch_size, max_seq_length)
    started = time.perf_counter()
    with staged_output(out, overwrite=overwrite) as folder:
        if engine is Engine.RAY:
            workers = _mine_ray(
                queries, qrels, texts, doc_ids, doc_embeddings, config, spec,
                ray or RayOptions(), folder,
            )  # fmt: skip
        else:
            todo = [qid for qid in queries if _positives(qrels, qid)]
            embedder = spec.embedder()
            mined = mine_hard_negatives(
                {q: queries[q] for q in todo}, qrels, texts,
                query_embeddings=embedder.encode_queries([queries[q] for q in todo]),
                doc_embeddings=doc_embeddings, doc_ids=doc_ids, config=config, query_ids=todo,
            )  # fmt: skip
            row_of = {qid: i for i, qid in enumerate(todo)}
            write_local_shards(folder, _rows(mined.examples, row_of, mined.stats))
            workers = 1
        write_manifest(
            folder,
            ShardKind.NEGATIVES,
            model=model,
            source=f"dense:{model}",
            config=config.to_dict(),
            engine=str(engine),
            workers=workers,
            seconds=round(time.perf_counter() - started, 3),
        )
        result = _read(folder)
    logger.info("mined %d examples with %s", len(result.examples), engine)
    return result


def _read(folder: Path) -> MinedNegatives:
    manifest = read_manifest(folder, ShardKind.NEGATIVES)
    table = read_table(folder)
    stats = MiningStats()
    names = {f.name for f in fields(MiningStats)}
    for text in table.column("stats").to_pylist():
        if text:
            for name, value in json.loads(text).items():
                if name in names:
                    setattr(stats, name, getattr(stats, name) + value)
    examples = [
        MinedExample(
            qid=record["qid"],
            positive_id=record["positive_id"],
            positive_score=record["positive_score"],
            negative_ids=tuple(record["negative_ids"]),
            negative_scores=tuple(record["negative_scores"]),
            negative_ranks=tuple(record["negative_ranks"]),
        )
        for record in table.drop_columns([ROW, "stats"]).to_pylist()
        if record["qid"]
    ]
    config = HardNegativeConfig.from_dict(manifest["config"])
    return MinedNegatives(
        examples, config, stats, source=manifest.get("source", "dense"),
        metadata={"engine": manifest.get("engine"), "workers": manifest.get("workers")},
    )  # fmt: skip


def read_negatives(folder: str | Path) -> MinedNegatives:
    """Load what :func:`mine_negatives` wrote (either engine) as :class:`MinedNegatives`."""
    return _read(Path(folder))


__all__ = ["mine_negatives", "read_negatives"]
