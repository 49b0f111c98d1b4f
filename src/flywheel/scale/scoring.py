"""Batch scoring: a cross-encoder labels (query, document) pairs, here or on Ray Data actors.

This is re-ranker labelling at corpus scale: score the top candidates of every query once,
keep the scores as Parquet shards, and use them as a run (``scores_to_run``), as graded labels
or as a teacher's margins. Both engines call
:meth:`flywheel.retrieval.rerank.CrossEncoderReranker.score` with the same settings, so they
agree to float rounding; the Ray engine gives each actor of the pool its own model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flywheel.data.types import Queries, Run
from flywheel.errors import ConfigError, NotFoundError
from flywheel.retrieval.base import ranked_ids
from flywheel.retrieval.rerank import CrossEncoderReranker
from flywheel.scale.engine import Engine, RayOptions, map_to_parquet, parse_engine, ray_session
from flywheel.scale.shards import (
    ROW,
    ShardKind,
    read_scores,
    staged_output,
    write_local_shards,
    write_manifest,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    """One pair to score: ids for the output, texts for the model."""

    qid: str
    doc_id: str
    query: str
    text: str


@dataclass(frozen=True)
class ScorerSpec:
    """What a scoring worker loads."""

    model: str
    batch_size: int = 32
    max_length: int | None = 256

    def reranker(self) -> CrossEncoderReranker:
        return CrossEncoderReranker(
            self.model, batch_size=self.batch_size, max_length=self.max_length
        )


@dataclass
class ScoreReport:
    out: str
    engine: str
    pairs: int
    workers: int
    seconds: float
    pairs_per_second: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pairs_from_run(
    queries: Queries, run: Run, texts: Mapping[str, str], *, depth: int = 100
) -> list[Pair]:
    """The top ``depth`` documents of every query of ``run`` as pairs to score."""
    if depth < 1:
        raise ConfigError(f"depth must be >= 1, got {depth}")
    pairs: list[Pair] = []
    for qid, scores in run.items():
        if qid not in queries:
            raise NotFoundError(f"run query '{qid}' has no text; pass the run's queries")
        for doc_id in ranked_ids(scores)[:depth]:
            if doc_id not in texts:
                raise NotFoundError(
                    f"document '{doc_id}' (query '{qid}') has no text; pass the corpus the run "
                    "was made on"
                )
            pairs.append(Pair(qid, doc_id, queries[qid], texts[doc_id]))
    return pairs


def scores_to_run(scores: Sequence[tuple[str, str, float]]) -> Run:
    """``(qid, doc_id, score)`` rows as a run ``{qid: {doc_id: score}}``."""
    run: Run = {}
    for qid, doc_id, score in scores:
        run.setdefault(qid, {})[doc_id] = float(score)
    return run


def _table(rows: Any, qids: list[str], doc_ids: list[str], scores: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            ROW: pa.array(rows, type=pa.int64()),
            "qid": pa.array(qids, type=pa.string()),
            "doc_id": pa.array(doc_ids, type=pa.string()),
            "score": pa.array(np.asarray(scores, dtype=np.float32), type=pa.float32()),
        }
    )


class ScoreWorker:
    """A Ray Data actor holding one cross-encoder."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.reranker = ScorerSpec(**spec).reranker()

    def __call__(self, batch: Any) -> Any:
        pairs = list(
            zip(batch.column("query").to_pylist(), batch.column("text").to_pylist(), strict=True)
        )
        return _table(
            batch.column(ROW).to_numpy(),
            batch.column("qid").to_pylist(),
            batch.column("doc_id").to_pylist(),
            self.reranker.score(pairs),
        )


def _score_ray(pairs: list[Pair], spec: ScorerSpec, options: RayOptions, folder: Path) -> int:
    import pyarrow as pa

    table = pa.table(
        {
            ROW: pa.array(np.arange(len(pairs)), type=pa.int64()),
            "qid": [p.qid for p in pairs],
            "doc_id": [p.doc_id for p in pairs],
            "query": [p.query for p in pairs],
            "text": [p.text for p in pairs],
        }
    )
    with ray_session(options) as ray:
        return map_to_parquet(ray, options, table, ScoreWorker, {"spec": asdict(spec)}, folder)


def score_pairs(
    pairs: Sequence[Pair],
    out: str | Path,
    *,
    model: str,
    engine: str | Engine = Engine.LOCAL,
    ray: RayOptions | None = None,
    batch_size: int = 32,
    max_length: int | None = 256,
    overwrite: bool = False,
) -> ScoreReport:
    """Score every pair with the cross-encoder ``model``; write ``(qid, doc_id, score)`` shards
    to ``out`` (read them with :func:`flywheel.scale.read_scores`)."""
    engine = parse_engine(engine)
    pairs = list(pairs)
    if not pairs:
        raise ConfigError("no pairs to score; check the run and the depth")
    spec = ScorerSpec(model, batch_size, max_length)
    started = time.perf_counter()
    with staged_output(out, overwrite=overwrite) as folder:
        if engine is Engine.RAY:
            workers = _score_ray(pairs, spec, ray or RayOptions(), folder)
        else:
            scores = spec.reranker().score([(p.query, p.text) for p in pairs])
            table = _table(
                np.arange(len(pairs)), [p.qid for p in pairs], [p.doc_id for p in pairs], scores
            )
            write_local_shards(folder, table)
            workers = 1
        seconds = time.perf_counter() - started
        write_manifest(
            folder,
            ShardKind.SCORES,
            model=model,
            max_length=max_length,
            count=len(pairs),
            engine=str(engine),
            workers=workers,
            seconds=round(seconds, 3),
        )
    logger.info("scored %d pairs with %s in %.1fs", len(pairs), engine, seconds)
    return ScoreReport(
        out=str(out),
        engine=str(engine),
        pairs=len(pairs),
        workers=workers,
        seconds=round(seconds, 3),
        pairs_per_second=round(len(pairs) / seconds, 2) if seconds > 0 else 0.0,
    )


__all__ = ["Pair", "ScoreReport", "pairs_from_run", "read_scores", "score_pairs", "scores_to_run"]
