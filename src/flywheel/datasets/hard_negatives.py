"""Hard-negative mining: pick documents that look relevant to a query but are not judged so.

Hard negatives teach a retriever more than random ones, but the hardest candidates are often
unjudged positives (false negatives). Following NV-Retriever (Moreira et al., 2024), mining is
*positive-aware*: a candidate scoring too close to the query's positive is dropped
("TopK-PercPos": drop if ``score > positive - |positive| * relative_margin``, i.e. above 95% of
the positive score for the default margin 0.05 and a positive score above zero).

Two entry points share one selection routine:

- :func:`mine_hard_negatives` - dense mining from embeddings the caller already has (one FAISS
  ``IndexFlatIP`` search for all queries; the corpus is never encoded here, so cached embeddings
  are reused across mining runs).
- :func:`mine_from_run` - mining from any retriever's run (BM25, hybrid, a production log).

The rank window is applied to the candidate list *after* removing known positives and *before*
the margin filters: ``range_min=10`` always skips the ten best non-positive candidates, and the
filters can only thin the window. (sentence-transformers applies its window after filtering.)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from flywheel.data.types import Qrels, Queries, Run
from flywheel.datasets._selection import Candidate, MiningStats, select_negatives
from flywheel.errors import ConfigError, MissingDependencyError

logger = logging.getLogger(__name__)

# (query, passage) pairs -> scores; a sentence-transformers CrossEncoder's ``predict`` fits.
PairScorer = Callable[[list[tuple[str, str]]], Sequence[float]]


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

    ``range_min``/``range_max`` bound the 0-based rank window in the candidate list (known
    positives removed). ``relative_margin`` drops candidates scoring above
    ``positive - |positive| * relative_margin``; ``absolute_margin`` those above
    ``positive - absolute_margin``; ``max_score`` those above a fixed score; ``band`` keeps only
    candidates with ``lo <= score / positive <= hi``. ``use_cross_encoder`` names a
    CrossEncoder that rescores the window; candidates it scores at or above
    ``cross_encoder_threshold`` are dropped as likely false negatives.
    """

    range_min: int = 10
    range_max: int = 100
    num_negatives: int = 1
    sampling: Sampling = Sampling.TOP
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


@dataclass(frozen=True, slots=True)
class MinedExample:
    """The negatives chosen for one (query, positive) pair, best first."""

    qid: str
    positive_id: str
    positive_score: float | None
    negative_ids: tuple[str, ...]
    negative_scores: tuple[float, ...]
    negative_ranks: tuple[int, ...]


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
        from flywheel.datasets.triplets import build_triplets

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


def _seed_for(seed: int, qid: str, positive_id: str) -> np.random.Generator:
    digest = hashlib.blake2b(f"{qid}\x00{positive_id}".encode(), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "little")])


def _load_cross_encoder(name: str) -> PairScorer:
    try:
        from sentence_transformers import CrossEncoder
    except ImportError:  # pragma: no cover - a core dependency today
        raise MissingDependencyError("sentence-transformers", "train") from None
    from flywheel.models import resolve_model

    model = CrossEncoder(resolve_model(name))
    return lambda pairs: model.predict(pairs, show_progress_bar=False)


def _run_selection(
    plan: list[tuple[str, list[str], list[Candidate], dict[str, float | None]]],
    queries: Queries,
    texts: Mapping[str, str] | None,
    config: HardNegativeConfig,
    stats: MiningStats,
    cross_encoder: PairScorer | None,
) -> list[MinedExample]:
    """Shared tail: optional cross-encoder rescoring, then per-positive selection."""
    ce_scores: dict[tuple[str, str], float] = {}
    scorer = cross_encoder
    if scorer is None and config.use_cross_encoder:
        scorer = _load_cross_encoder(config.use_cross_encoder)
    if scorer is not None:
        if texts is None:
            raise ConfigError("cross-encoder filtering needs document texts; pass texts=...")
        keys = [(qid, c.doc_id) for qid, _, window, _ in plan for c in window]
        if keys:
            scores = scorer([(queries[qid], texts[doc_id]) for qid, doc_id in keys])
            ce_scores = {key: float(s) for key, s in zip(keys, scores, strict=True)}

    examples: list[MinedExample] = []
    for qid, positives, window, pos_scores in plan:
        known = [s for s in pos_scores.values() if s is not None]
        floor = min(known) if known else None
        found_any = False
        for positive_id in positives:
            reference = (
                pos_scores.get(positive_id)
                if config.margin_reference == MarginReference.EACH_POSITIVE
                else floor
            )
            chosen = select_negatives(
                window,
                reference,
                config,
                stats,
                rng=_seed_for(config.seed, qid, positive_id),
                ce_scores={c.doc_id: ce_scores[(qid, c.doc_id)] for c in window}
                if ce_scores
                else None,
            )
            found_any = found_any or bool(chosen)
            examples.append(
                MinedExample(
                    qid=qid,
                    positive_id=positive_id,
                    positive_score=pos_scores.get(positive_id),
                    negative_ids=tuple(c.doc_id for c in chosen),
                    negative_scores=tuple(c.score for c in chosen),
                    negative_ranks=tuple(c.rank for c in chosen),
                )
            )
        stats.queries += 1
        if not found_any:
            stats.queries_without_negative += 1
    stats.examples = len(examples)
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
) -> MinedNegatives:
    """Dense mining over embeddings the caller computed once (normalised, so dot = cosine).

    ``query_embeddings`` rows follow ``query_ids`` (default: ``list(queries)``);
    ``doc_embeddings`` rows follow ``doc_ids``. Only queries with at least one judged positive
    present in ``doc_ids`` are mined. ``texts`` is needed only for cross-encoder filtering.
    Returns :class:`MinedNegatives`; turn it into rows with :func:`build_triplets`.
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

    todo: list[tuple[str, list[str]]] = []
    for qid in queries:
        positives = _positives(qrels, qid)
        present = [p for p in positives if p in doc_index]
        stats.positives_missing += len(positives) - len(present)
        if not present:
            continue
        if qid not in row_of:
            raise ConfigError(f"query '{qid}' has no embedding row; include it in query_ids")
        todo.append((qid, present))
    if not todo:
        return MinedNegatives([], config, stats, source=f"dense:{model_name}".rstrip(":"))

    docs = np.ascontiguousarray(doc_embeddings, dtype=np.float32)
    qmat = np.ascontiguousarray(
        query_embeddings[[row_of[qid] for qid, _ in todo]], dtype=np.float32
    )
    # Known positives are skipped, so ask for room for the most positives a query has.
    max_positives = max(len(_positives(qrels, qid)) for qid, _ in todo)
    k = min(config.range_max + max_positives, len(doc_ids))
    index = faiss.IndexFlatIP(docs.shape[1])
    index.add(docs)
    scores, indices = index.search(qmat, k)

    plan = []
    for row, (qid, positives) in enumerate(todo):
        judged = set(_positives(qrels, qid))
        pos_rows = [doc_index[p] for p in positives]
        pos_values = docs[pos_rows] @ qmat[row]
        window: list[Candidate] = []
        rank = 0
        for doc_row, score in zip(indices[row], scores[row], strict=True):
            if doc_row < 0:
                break
            doc_id = doc_ids[doc_row]
            if doc_id in judged:
                stats.dropped_positive += 1
                continue
            if rank >= config.range_min:
                window.append(Candidate(doc_id, float(score), rank))
            rank += 1
            if rank >= config.range_max:
                break
        plan.append(
            (qid, positives, window, dict(zip(positives, map(float, pos_values), strict=True)))
        )
    examples = _run_selection(plan, queries, texts, config, stats, cross_encoder)
    source = f"dense:{model_name}" if model_name else "dense"
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
) -> MinedNegatives:
    """Mine from any retriever's ranked run ``{qid: {doc_id: score}}`` (BM25, hybrid, logs).

    A positive's score comes from the run when it was retrieved, else from
    ``positive_scores[qid][doc_id]``; when neither knows it, positive-aware filters are skipped
    for that row and ``stats.positive_score_unknown`` counts it.
    """
    config = config or HardNegativeConfig()
    stats = MiningStats()
    plan = []
    for qid in queries:
        positives = _positives(qrels, qid)
        if not positives or qid not in run:
            stats.queries_without_run += bool(positives)
            continue
        judged = set(positives)
        ranked = sorted(run[qid].items(), key=lambda item: (-item[1], item[0]))
        pos_scores: dict[str, float | None] = {}
        for p in positives:
            score = run[qid].get(p)
            if score is None and positive_scores is not None:
                score = positive_scores.get(qid, {}).get(p)
            pos_scores[p] = None if score is None else float(score)
            stats.positive_score_unknown += score is None
        window: list[Candidate] = []
        rank = 0
        for doc_id, score in ranked:
            if doc_id in judged:
                stats.dropped_positive += 1
                continue
            if rank >= config.range_min:
                window.append(Candidate(doc_id, float(score), rank))
            rank += 1
            if rank >= config.range_max:
                break
        plan.append((qid, positives, window, pos_scores))
    examples = _run_selection(plan, queries, texts, config, stats, cross_encoder)
    return MinedNegatives(examples, config, stats, source=source)
