"""Hard-negative mining: pick documents that look relevant to a query but are not judged so.

Hard negatives teach a retriever more than random ones, but the hardest candidates are often
unjudged positives (false negatives). Following NV-Retriever (Moreira et al., 2024), mining is
*positive-aware*: a candidate scoring too close to the query's positive is dropped
("TopK-PercPos": drop if ``score > positive - |positive| * relative_margin``, i.e. above 95% of
the positive score for the default margin 0.05 and a positive score above zero).

Two entry points share one selection routine:

- :func:`mine_hard_negatives` - dense mining from embeddings the caller already has (one exact
  FAISS inner-product search for all queries; the corpus is never encoded here, so cached
  embeddings are reused across mining runs).
- :func:`mine_from_run` - mining from any retriever's run (BM25, hybrid, a production log).

Both take ``exclude`` (``{qid: doc_ids}``): documents judged neither positive nor negative for a
query - an LLM judge's "related but does not answer" - which leave the candidate list like
positives do, so a likely false negative is never chosen.

The rank window is applied to the candidate list *after* removing known positives (and excluded
documents) and *before* the margin filters: ``range_min=10`` always skips the ten best
non-positive candidates, and the filters can only thin the window. (sentence-transformers
applies its window after filtering.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from flywheel.data.types import Qrels, Queries, Run
from flywheel.datasets._selection import (
    CandidateMatrix,
    MinedExample,
    MiningStats,
    PairScorer,
    select,
)
from flywheel.datasets.triplets import build_triplets
from flywheel.errors import ConfigError, MissingDependencyError

logger = logging.getLogger(__name__)

__all__ = [
    "HardNegativeConfig",
    "MarginReference",
    "MinedExample",
    "MinedNegatives",
    "MiningStats",
    "Sampling",
    "mine_from_run",
    "mine_hard_negatives",
]


class Sampling(StrEnum):
    """How negatives are taken from the filtered window."""

    TOP = "top"  # the highest-scoring survivors, in rank order
    RANDOM = "random"  # uniform among survivors (seeded per query and positive)
    BAND = "band"  # uniform among survivors whose score / positive score lies in ``band``


class MarginReference(StrEnum):
    """Which positive score the margins compare against when a query has several positives."""

    MIN_POSITIVE = "min_positive"  # the query's weakest positive: safest, as sentence-transformers
    EACH_POSITIVE = "each_positive"  # the positive of the row being built


@dataclass(frozen=True)
class HardNegativeConfig:
    """Every knob of a mining run; stored with the dataset so it can be reproduced.

    The defaults are the one recipe the loop and ``flywheel dataset build`` share: one negative
    drawn at random from ranks 3-30 of the base dense run, after dropping candidates above 95%
    of the positive's score. Measured on SciFact (dev carved from train) it lifted test
    nDCG@10 0.645 -> 0.738; ranks 10-100 taken from the top gave less.

    ``range_min``/``range_max`` bound the 0-based rank window in the candidate list (known
    positives removed). ``relative_margin`` drops candidates scoring above
    ``positive - |positive| * relative_margin``; ``absolute_margin`` those above
    ``positive - absolute_margin``; ``max_score`` those above a fixed score; ``band`` keeps only
    candidates with ``lo <= score / positive <= hi``. ``use_cross_encoder`` names a
    CrossEncoder that rescores the window; candidates it scores at or above
    ``cross_encoder_threshold`` are dropped as likely false negatives.
    """

    range_min: int = 3
    range_max: int = 30
    num_negatives: int = 1
    sampling: Sampling = Sampling.RANDOM
    relative_margin: float | None = 0.05
    absolute_margin: float | None = None
    max_score: float | None = None
    band: tuple[float, float] | None = None
    seed: int = 42
    use_cross_encoder: str | None = None
    cross_encoder_threshold: float = 0.5
    margin_reference: MarginReference = MarginReference.MIN_POSITIVE

    def __post_init__(self) -> None:
        object.__setattr__(self, "sampling", _enum(Sampling, self.sampling, "sampling"))
        object.__setattr__(
            self,
            "margin_reference",
            _enum(MarginReference, self.margin_reference, "margin reference"),
        )
        if self.band is not None:
            object.__setattr__(self, "band", (float(self.band[0]), float(self.band[1])))
        self.validate()

    def validate(self) -> None:
        """Fail before any work on a window or margin that cannot yield negatives."""
        if self.range_min < 0:
            raise ConfigError(f"range_min must be >= 0, got {self.range_min}")
        if self.range_max <= self.range_min:
            raise ConfigError(
                f"range_max ({self.range_max}) must be larger than range_min ({self.range_min})"
            )
        if self.num_negatives < 1:
            raise ConfigError(f"num_negatives must be >= 1, got {self.num_negatives}")
        if self.num_negatives > self.range_max - self.range_min:
            raise ConfigError(
                f"cannot take {self.num_negatives} negatives from a window of "
                f"{self.range_max - self.range_min}; raise range_max or lower num_negatives"
            )
        if self.relative_margin is not None and not 0 <= self.relative_margin < 1:
            raise ConfigError(
                f"relative_margin must be in [0, 1), got {self.relative_margin}; 0.05 drops "
                "candidates above 95% of the positive score"
            )
        if self.band is not None and not self.band[0] < self.band[1]:
            raise ConfigError(f"band must be (low, high) with low < high, got {self.band}")
        if self.sampling == Sampling.BAND and self.band is None:
            raise ConfigError("sampling 'band' needs band=(low, high), e.g. band=(0.6, 0.9)")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sampling"] = str(self.sampling)
        data["margin_reference"] = str(self.margin_reference)
        data["band"] = list(self.band) if self.band else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HardNegativeConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(
                f"unknown hard-negative settings {sorted(unknown)}; known: {sorted(known)}"
            )
        values = dict(data)
        if values.get("band") is not None:
            values["band"] = tuple(values["band"])
        return cls(**values)


def _enum(enum: type[StrEnum], value: Any, kind: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        from flywheel.errors import UnknownComponentError

        raise UnknownComponentError(kind, str(value), [str(m) for m in enum]) from None


@dataclass
class MinedNegatives:
    """Result of a mining run: per (qid, positive) negatives, the config and what was dropped."""

    examples: list[MinedExample]
    config: HardNegativeConfig
    stats: MiningStats
    source: str = "dense"
    metadata: dict[str, Any] = field(default_factory=dict)

    def rows(
        self, queries: Queries, texts: Mapping[str, str], *, num_negatives: int | None = None
    ) -> list[dict[str, str]]:
        """Triplet rows (see :func:`flywheel.datasets.triplets.build_triplets`)."""
        return build_triplets(
            self, queries, texts, num_negatives=num_negatives or self.config.num_negatives
        )

    def negatives_by_query(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for example in self.examples:
            out.setdefault(example.qid, set()).update(example.negative_ids)
        return out

    def difficulty(self) -> list[float]:
        """negative score / positive score for every chosen negative (positive score > 0)."""
        ratios = []
        for example in self.examples:
            if example.positive_score is None or example.positive_score <= 0:
                continue
            ratios.extend(s / example.positive_score for s in example.negative_scores)
        return ratios

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "config": self.config.to_dict(),
            "stats": self.stats.to_dict(),
            "metadata": self.metadata,
        }


def _positives(qrels: Qrels, qid: str) -> list[str]:
    return [doc_id for doc_id, grade in qrels.get(qid, {}).items() if grade > 0]


def _excluded(exclude: Mapping[str, Iterable[str]] | None, qid: str, positives: list[str]) -> set:
    """Documents of ``qid`` to keep out of the candidates that are not positives already."""
    if not exclude:
        return set()
    return set(exclude.get(qid, ())) - set(positives)


def _load_cross_encoder(name: str) -> PairScorer:
    try:
        from sentence_transformers import CrossEncoder
    except ImportError:  # pragma: no cover - a core dependency today
        raise MissingDependencyError("sentence-transformers", "train") from None
    from flywheel.models import resolve_model

    model = CrossEncoder(resolve_model(name))
    return lambda pairs: model.predict(pairs, show_progress_bar=False)


def _reference(pos_scores: np.ndarray, qids: list[str], config: HardNegativeConfig) -> np.ndarray:
    """Per row, the positive score the margins use: the row's own, or its query's weakest."""
    if config.margin_reference == MarginReference.EACH_POSITIVE or len(qids) == 0:
        return pos_scores.copy()
    starts = [0] + [i for i in range(1, len(qids)) if qids[i] != qids[i - 1]]
    sizes = np.diff(starts + [len(qids)])
    # NaN (unknown) positives are ignored; a query with none known stays NaN
    filled = np.where(np.isnan(pos_scores), np.inf, pos_scores)
    floor = np.minimum.reduceat(filled, starts)
    floor[np.isinf(floor)] = np.nan
    return np.repeat(floor, sizes)


def _finish(
    matrix: CandidateMatrix,
    config: HardNegativeConfig,
    stats: MiningStats,
    queries: Queries,
    texts: Mapping[str, str] | None,
    cross_encoder: PairScorer | None,
) -> list[MinedExample]:
    scorer = cross_encoder
    if scorer is None and config.use_cross_encoder:
        scorer = _load_cross_encoder(config.use_cross_encoder)
    examples = select(matrix, config, stats, scorer=scorer, queries=queries, texts=texts)
    logger.info(
        "mined negatives for %d (query, positive) pairs: %s", len(examples), stats.to_dict()
    )
    return examples


def mine_hard_negatives(
    queries: Queries,
    qrels: Qrels,
    texts: Mapping[str, str] | None,
    *,
    query_embeddings: np.ndarray,
    doc_embeddings: np.ndarray,
    doc_ids: Sequence[str],
    config: HardNegativeConfig | None = None,
    query_ids: Sequence[str] | None = None,
    cross_encoder: PairScorer | None = None,
    model_name: str = "",
    exclude: Mapping[str, Iterable[str]] | None = None,
) -> MinedNegatives:
    """Dense mining over embeddings the caller computed once (normalised, so dot = cosine).

    ``query_embeddings`` rows follow ``query_ids`` (default: ``list(queries)``);
    ``doc_embeddings`` rows follow ``doc_ids``. Only queries with at least one judged positive
    present in ``doc_ids`` are mined. ``texts`` is needed only for cross-encoder filtering.
    ``exclude`` (``{qid: doc_ids}``) names documents that must never be a query's negative.
    One exact FAISS inner-product search (``faiss.knn``, no copy of the matrix) serves all
    queries, with ``k = range_max + the most positives and excluded documents any query has``.
    Returns :class:`MinedNegatives`; rows via :func:`build_triplets`.
    """
    try:
        import faiss
    except ImportError:  # pragma: no cover - a core dependency today
        raise MissingDependencyError("faiss-cpu", "retrieval") from None
    config = config or HardNegativeConfig()
    query_ids = list(query_ids) if query_ids is not None else list(queries)
    if len(query_ids) != len(query_embeddings):
        raise ConfigError(
            f"{len(query_embeddings)} query embeddings for {len(query_ids)} queries; pass "
            "query_ids= naming the query of each row"
        )
    if len(doc_ids) != len(doc_embeddings):
        raise ConfigError(f"{len(doc_embeddings)} document embeddings for {len(doc_ids)} doc_ids")
    doc_index = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    row_of = {qid: i for i, qid in enumerate(query_ids)}
    stats = MiningStats()
    source = f"dense:{model_name}" if model_name else "dense"

    todo: list[tuple[str, list[int]]] = []
    blocked: list[list[int]] = []  # per todo query: excluded documents' rows
    for qid in queries:
        positives = _positives(qrels, qid)
        present = [doc_index[p] for p in positives if p in doc_index]
        stats.positives_missing += len(positives) - len(present)
        if not present:
            continue
        if qid not in row_of:
            raise ConfigError(f"query '{qid}' has no embedding row; include it in query_ids")
        todo.append((qid, present))
        blocked.append(
            sorted(doc_index[d] for d in _excluded(exclude, qid, positives) if d in doc_index)
        )
    if not todo:
        return MinedNegatives([], config, stats, source=source)

    docs = np.ascontiguousarray(doc_embeddings, dtype=np.float32)
    qmat = np.ascontiguousarray(query_embeddings[[row_of[q] for q, _ in todo]], dtype=np.float32)
    widest = max(len(p) + len(b) for (_, p), b in zip(todo, blocked, strict=True))
    k = min(config.range_max + widest, len(doc_ids))
    # exact inner product straight off the caller's matrix: an IndexFlatIP would copy it, per
    # call (Ray mining calls this once per batch of queries on a shared corpus matrix)
    scores, indices = faiss.knn(qmat, docs, k, metric=faiss.METRIC_INNER_PRODUCT)

    # one row per (query, positive); rows of a query are adjacent
    sizes = np.array([len(p) for _, p in todo])
    query_row = np.repeat(np.arange(len(todo)), sizes)
    pos_rows = np.concatenate([p for _, p in todo])
    cand = indices[query_row].astype(np.int64)
    n_docs = len(doc_ids)
    own = np.unique(np.repeat(np.arange(len(todo)), sizes) * n_docs + pos_rows)
    is_positive = np.isin(query_row[:, None] * n_docs + cand, own)
    is_excluded = None
    if any(blocked):
        banned = np.array([i * n_docs + d for i, b in enumerate(blocked) for d in b], np.int64)
        is_excluded = np.isin(query_row[:, None] * n_docs + cand, banned) & (cand >= 0)
    pos_scores = np.einsum("ij,ij->i", qmat[query_row], docs[pos_rows]).astype(np.float64)
    qids = [qid for qid, p in todo for _ in p]
    matrix = CandidateMatrix(
        qids=qids,
        positive_ids=[doc_ids[r] for r in pos_rows.tolist()],
        positive_scores=pos_scores,
        reference=_reference(pos_scores, qids, config),
        doc_ids=doc_ids,
        cand=cand,
        scores=scores[query_row],
        is_positive=is_positive,
        is_excluded=is_excluded,
    )
    examples = _finish(matrix, config, stats, queries, texts, cross_encoder)
    return MinedNegatives(examples, config, stats, source=source)


def mine_from_run(
    queries: Queries,
    qrels: Qrels,
    run: Run,
    *,
    config: HardNegativeConfig | None = None,
    positive_scores: Mapping[str, Mapping[str, float]] | None = None,
    texts: Mapping[str, str] | None = None,
    cross_encoder: PairScorer | None = None,
    source: str = "run",
    exclude: Mapping[str, Iterable[str]] | None = None,
) -> MinedNegatives:
    """Mine from any retriever's ranked run ``{qid: {doc_id: score}}`` (BM25, hybrid, logs).

    A positive's score comes from the run when it was retrieved, else from
    ``positive_scores[qid][doc_id]``; when neither knows it, positive-aware filters are skipped
    for that row and ``stats.positive_score_unknown`` counts it. ``exclude``
    (``{qid: doc_ids}``) names documents that must never be a query's negative.
    """
    config = config or HardNegativeConfig()
    stats = MiningStats()
    vocab: dict[str, int] = {}
    rows: list[tuple[str, str, float, list[int], list[float], set[str]]] = []
    banned: dict[str, set[str]] = {}
    for qid in queries:
        positives = _positives(qrels, qid)
        if not positives:
            continue
        if qid not in run:
            stats.queries_without_run += 1
            continue
        banned[qid] = _excluded(exclude, qid, positives)
        ranked = sorted(run[qid].items(), key=lambda item: (-item[1], item[0]))
        ranked = ranked[: config.range_max + len(positives) + len(banned[qid])]
        ids = [vocab.setdefault(doc_id, len(vocab)) for doc_id, _ in ranked]
        values = [float(score) for _, score in ranked]
        for p in positives:
            score = run[qid].get(p)
            if score is None and positive_scores is not None:
                score = positive_scores.get(qid, {}).get(p)
            stats.positive_score_unknown += score is None
            rows.append((qid, p, np.nan if score is None else float(score), ids, values,
                         set(positives)))  # fmt: skip
    if not rows:
        return MinedNegatives([], config, stats, source=source)
    width = max(len(r[3]) for r in rows)
    cand = np.full((len(rows), width), -1, dtype=np.int64)
    scores = np.full((len(rows), width), -np.inf)
    for i, (_, _, _, ids, values, _) in enumerate(rows):
        cand[i, : len(ids)] = ids
        scores[i, : len(values)] = values
    doc_ids = list(vocab)
    v = len(doc_ids)
    own = np.array(
        [i * v + vocab[p] for i, r in enumerate(rows) for p in r[5] if p in vocab], dtype=np.int64
    )
    is_positive = np.isin(np.arange(len(rows))[:, None] * v + cand, own) & (cand >= 0)
    is_excluded = None
    if any(banned.values()):
        off = [i * v + vocab[d] for i, r in enumerate(rows) for d in banned[r[0]] if d in vocab]
        is_excluded = np.isin(np.arange(len(rows))[:, None] * v + cand, np.array(off, np.int64))
        is_excluded &= cand >= 0
    qids = [r[0] for r in rows]
    pos_scores = np.array([r[2] for r in rows], dtype=np.float64)
    matrix = CandidateMatrix(
        qids=qids,
        positive_ids=[r[1] for r in rows],
        positive_scores=pos_scores,
        reference=_reference(pos_scores, qids, config),
        doc_ids=doc_ids,
        cand=cand,
        scores=scores,
        is_positive=is_positive,
        is_excluded=is_excluded,
    )
    examples = _finish(matrix, config, stats, queries, texts, cross_encoder)
    return MinedNegatives(examples, config, stats, source=source)
