"""Simulated users: click, dwell, thumbs and citation logs over your own corpus, with the truth.

Label models, propensity estimators and the loop that trains on logs can only be checked against
logs whose truth is known. :func:`simulate_sessions` writes such logs through the public
:class:`flywheel.Logger`, exactly as a live app would, and returns a :class:`SimulationTruth`
(the true examination probability per rank, every shown pair and whether it is relevant) to
score the labels against::

    from flywheel import Logger
    from flywheel.store import Store
    from flywheel.testing import SimulationConfig, simulate_sessions

    store = Store("sim.db")                     # holding your corpus and queries
    config = SimulationConfig(sessions_per_query=20, bias=1.0, shuffled_share=0.2, seed=7)
    with Logger(store, flush_interval=None, batch_size=1000) as log:
        truth = simulate_sessions(log, queries, qrels, run, config=config)
    truth.examination[3]                        # 1/3: the propensity an estimator should find

The user model is the position-based click model (Craswell et al., 2008) with noise on every
signal, one session at a time:

1. **The list.** The ranker's top ``depth`` for the query (``run``), or, in a share of
   sessions, a random permutation of it (``shuffled_share``) or the top ``depth`` of a second
   ranker (``second_ranker_share``, ``second_run``, e.g. BM25). Several rankings of one query
   are what make examination and relevance separable (intervention harvesting, Agarwal et al.,
   2019); with one fixed ranking only an EM click model can tell them apart, and weakly.
2. **Examination.** Rank ``r`` is examined with ``theta_r = (1 / r) ** bias``, independently of
   the other ranks (``bias`` = 0: every result is read; 1: rank 2 half as often as rank 1).
3. **Clicks.** An examined document is clicked with ``click_relevant`` when its true grade is
   at least ``min_relevant_grade``, else with ``click_nonrelevant`` (the noise).
4. **Dwell.** Each click is followed by a dwell drawn from a log-normal: ``dwell_relevant``
   (long) or ``dwell_nonrelevant`` (short). In a ``noisy_dwell_share`` of clicks the dwell is
   drawn from the other document class's distribution (a relevant page left fast, a useless
   one left open).
5. **Thumbs.** In a ``thumbs_share`` of sessions the user leaves a thumbs up or down on every
   clicked document, telling the truth except in a ``wrong_thumbs`` share.
6. **Citations** (off by default). In a ``citation_share`` of sessions a generated answer cites
   each of the top ``context_depth`` documents with ``cite_relevant`` / ``cite_nonrelevant``,
   whether or not the user read them; answers that cite nothing log no citation event.

Events carry a simulated clock (``start``, sessions ten minutes apart, clicks in rank order
with their dwell), so the log reads in the order a user made it. Sessions are named
``{session_prefix}-{qid}-{n}``; the same seed gives the same log, event ids aside.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from flywheel.data.types import Qrels, Queries, Run
from flywheel.errors import ConfigError

if TYPE_CHECKING:
    from flywheel.sdk.logger import Logger

SESSION_GAP = timedelta(minutes=10)
READ_ANSWER = timedelta(seconds=5)  # from the answer to the first click, and between clicks
VOTE = timedelta(seconds=1)  # from leaving a document to its thumbs


class ListSource(StrEnum):
    """Where a session's list came from; logged as the retrieval event's ``retriever``."""

    BASE = "base"
    SHUFFLED = "shuffled"
    SECOND = "second"


@dataclass(frozen=True)
class DwellDistribution:
    """Log-normal dwell time: ``median_ms * exp(sigma * N(0, 1))``, at least 1 ms."""

    median_ms: float
    sigma: float = 0.75

    def __post_init__(self) -> None:
        if self.median_ms <= 0 or self.sigma < 0:
            raise ConfigError(
                f"dwell median_ms must be > 0 and sigma >= 0, got {self.median_ms}, {self.sigma}"
            )

    def sample(self, rng: np.random.Generator) -> int:
        return max(1, round(self.median_ms * math.exp(self.sigma * rng.standard_normal())))


def _probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be a probability in [0, 1], got {value}")


@dataclass(frozen=True)
class SimulationConfig:
    """The simulated users; see the module docstring for what each knob does.

    Defaults are one plausible population, not a benchmark: change them to test a label model
    against users it was not tuned on.
    """

    sessions_per_query: int = 5
    depth: int = 10
    shuffled_share: float = 0.0
    second_ranker_share: float = 0.0
    bias: float = 1.0
    click_relevant: float = 0.8
    click_nonrelevant: float = 0.1
    min_relevant_grade: int = 1
    dwell_relevant: DwellDistribution = field(
        default_factory=lambda: DwellDistribution(60_000, 0.75)
    )
    dwell_nonrelevant: DwellDistribution = field(
        default_factory=lambda: DwellDistribution(6_000, 0.75)
    )
    noisy_dwell_share: float = 0.0
    thumbs_share: float = 0.0
    wrong_thumbs: float = 0.1
    citation_share: float = 0.0
    cite_relevant: float = 0.7
    cite_nonrelevant: float = 0.05
    context_depth: int = 5
    log_query_text: bool = True
    session_prefix: str = "sim"
    start: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sessions_per_query < 1 or self.depth < 1 or self.context_depth < 1:
            raise ConfigError("sessions_per_query, depth and context_depth must be >= 1")
        if self.bias < 0:
            raise ConfigError(f"bias must be >= 0 (0: no position bias), got {self.bias}")
        for name in (
            "shuffled_share",
            "second_ranker_share",
            "click_relevant",
            "click_nonrelevant",
            "noisy_dwell_share",
            "thumbs_share",
            "wrong_thumbs",
            "citation_share",
            "cite_relevant",
            "cite_nonrelevant",
        ):
            _probability(name, getattr(self, name))
        if self.shuffled_share + self.second_ranker_share > 1.0:
            raise ConfigError("shuffled_share + second_ranker_share must be <= 1")

    def examination(self, rank: int) -> float:
        """``theta_r = (1 / r) ** bias``: the probability that rank ``rank`` is read."""
        return (1.0 / rank) ** self.bias

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        return data


@dataclass
class SimulationTruth:
    """What really happened: score labels and propensity estimates against it.

    ``impressions``, ``clicks`` and ``best_rank`` are keyed by ``(qid, doc_id)`` for every
    shown pair; ``relevant`` holds each simulated query's truly relevant documents (shown or
    not). ``events`` counts the logged events by kind, ``lists`` the sessions by list source.
    """

    config: SimulationConfig
    examination: dict[int, float]
    relevant: dict[str, set[str]]
    impressions: Counter[tuple[str, str]] = field(default_factory=Counter)
    clicks: Counter[tuple[str, str]] = field(default_factory=Counter)
    best_rank: dict[tuple[str, str], int] = field(default_factory=dict)
    sessions: int = 0
    lists: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)

    def is_relevant(self, qid: str, doc_id: str) -> bool:
        return doc_id in self.relevant.get(qid, ())

    @property
    def shown_pairs(self) -> list[tuple[str, str]]:
        """Every (qid, doc_id) shown at least once, sorted."""
        return sorted(self.impressions)

    def to_dict(self) -> dict[str, Any]:
        shown = self.shown_pairs
        return {
            "config": self.config.to_dict(),
            "examination": {str(r): p for r, p in self.examination.items()},
            "sessions": self.sessions,
            "lists": dict(sorted(self.lists.items())),
            "events": dict(sorted(self.events.items())),
            "shown_pairs": len(shown),
            "shown_relevant_pairs": sum(self.is_relevant(q, d) for q, d in shown),
            "clicks": sum(self.clicks.values()),
        }


def _top(ranking: Mapping[str, float], depth: int) -> list[tuple[str, float]]:
    return sorted(ranking.items(), key=lambda kv: (-kv[1], kv[0]))[:depth]


def _check_runs(
    qids: list[str], run: Run, second_run: Run | None, config: SimulationConfig
) -> None:
    missing = [qid for qid in qids if qid not in run]
    if missing:
        raise ConfigError(
            f"{len(missing)} queries have no ranked list in run (first: {missing[0]!r}); "
            "pass a run with every query, or only the queries that have one"
        )
    if config.second_ranker_share > 0:
        if second_run is None:
            raise ConfigError("second_ranker_share > 0 needs second_run (e.g. a BM25 run)")
        missing = [qid for qid in qids if qid not in second_run]
        if missing:
            raise ConfigError(
                f"{len(missing)} queries have no list in second_run (first: {missing[0]!r})"
            )


def simulate_sessions(
    log: Logger,
    queries: Queries,
    qrels: Qrels,
    run: Run,
    *,
    config: SimulationConfig | None = None,
    second_run: Run | None = None,
) -> SimulationTruth:
    """Simulate ``config.sessions_per_query`` sessions per query and log them through ``log``.

    ``queries`` (``{qid: text}``) are the queries users ask; ``qrels`` their true grades
    (missing pairs are not relevant); ``run`` the ranker whose top ``depth`` users see, and
    ``second_run`` the other ranker for ``second_ranker_share``. The store behind ``log`` must
    hold the documents; a query it does not hold is stored as a live query when
    ``log_query_text`` is on. Flushes ``log`` before returning, so the events are stored.
    Inputs are not modified.
    """
    config = config or SimulationConfig()
    qids = sorted(queries)
    _check_runs(qids, run, second_run, config)
    rng = np.random.default_rng(config.seed)
    theta = np.array([config.examination(r) for r in range(1, config.depth + 1)])
    truth = SimulationTruth(
        config=config,
        examination={r: float(theta[r - 1]) for r in range(1, config.depth + 1)},
        relevant={
            qid: {d for d, g in qrels.get(qid, {}).items() if g >= config.min_relevant_grade}
            for qid in qids
        },
    )
    for qid in qids:
        base = _top(run[qid], config.depth)
        second = _top(second_run[qid], config.depth) if second_run is not None else []
        for n in range(config.sessions_per_query):
            source, shown = _choose_list(rng, config, base, second)
            _session(log, rng, config, truth, qid, queries[qid], n, source, shown, theta)
    log.flush()
    return truth


def _choose_list(
    rng: np.random.Generator,
    config: SimulationConfig,
    base: list[tuple[str, float]],
    second: list[tuple[str, float]],
) -> tuple[ListSource, list[tuple[str, float]]]:
    draw = rng.random()
    if draw < config.shuffled_share:
        order = rng.permutation(len(base))
        # scores follow the shown order, so a consumer sorting by score sees the same list
        shuffled = [(base[i][0], float(len(base) - r)) for r, i in enumerate(order)]
        return ListSource.SHUFFLED, shuffled
    if draw < config.shuffled_share + config.second_ranker_share:
        return ListSource.SECOND, second
    return ListSource.BASE, base


def _session(
    log: Logger,
    rng: np.random.Generator,
    config: SimulationConfig,
    truth: SimulationTruth,
    qid: str,
    text: str,
    n: int,
    source: ListSource,
    shown: list[tuple[str, float]],
    theta: np.ndarray,
) -> None:
    session = f"{config.session_prefix}-{qid}-{n}"
    clock = config.start + SESSION_GAP * truth.sessions
    truth.sessions += 1
    truth.lists[str(source)] += 1
    docs = [doc for doc, _ in shown]
    relevant = np.array([truth.is_relevant(qid, d) for d in docs], dtype=bool)

    def emit(kind: str, call: Any, *args: Any, **kwargs: Any) -> None:
        call(session, qid, *args, timestamp=clock, **kwargs)
        truth.events[kind] += 1

    emit(
        "retrieval",
        log.log_retrieval,
        shown,
        str(source),
        query=text if config.log_query_text else None,
    )
    for rank, doc in enumerate(docs, 1):
        key = (qid, doc)
        truth.impressions[key] += 1
        truth.best_rank[key] = min(rank, truth.best_rank.get(key, rank))
    if config.citation_share and rng.random() < config.citation_share:
        top = min(config.context_depth, len(docs))
        p_cite = np.where(relevant[:top], config.cite_relevant, config.cite_nonrelevant)
        cited = [docs[i] for i in np.flatnonzero(rng.random(top) < p_cite)]
        if cited:
            clock += READ_ANSWER
            emit("citation", log.log_citations, cited)
    thumbs = bool(config.thumbs_share) and rng.random() < config.thumbs_share
    examined = rng.random(len(docs)) < theta[: len(docs)]
    p_click = np.where(relevant, config.click_relevant, config.click_nonrelevant)
    clicked = examined & (rng.random(len(docs)) < p_click)
    for i in np.flatnonzero(clicked):
        doc, rank, is_rel = docs[i], int(i) + 1, bool(relevant[i])
        clock += READ_ANSWER
        emit("click", log.log_click, doc, rank)
        truth.clicks[(qid, doc)] += 1
        looks_relevant = is_rel != (rng.random() < config.noisy_dwell_share)
        dist = config.dwell_relevant if looks_relevant else config.dwell_nonrelevant
        dwell = dist.sample(rng)
        clock += timedelta(milliseconds=dwell)
        emit("dwell", log.log_dwell, doc, dwell)
        if thumbs:
            clock += VOTE
            positive = is_rel != (rng.random() < config.wrong_thumbs)
            emit("document_feedback", log.log_feedback, positive, chunk_id=doc)
