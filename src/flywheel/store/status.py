"""Where the flywheel stands: what the store holds and which stages that unlocks.

A stage unlocks with enough *judged queries*: queries with at least one judgment of grade 1 or
more (a query whose judgments are all 0 cannot score a retriever). The thresholds:

* 20 judged queries: evaluation is meaningful (confidence intervals narrow enough to act on);
* 30: the few-shot library (enough examples to select from per intent);
* 1,000: fine-tuning an embedder (fewer overfits the base model more often than it helps).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, distinct, func, select

from flywheel.store.chunks import chunk_counts
from flywheel.store.hosted import hosted_usage_summary
from flywheel.store.schema import documents, events, experiment_runs, judgments, queries


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    min_judged_queries: int
    unlocks: str


STAGES: tuple[Stage, ...] = (
    Stage("evaluation", 20, "evaluation is meaningful"),
    Stage("few-shot", 30, "a few-shot library can be built"),
    Stage("fine-tuning", 1000, "fine-tuning an embedder is worth trying"),
)


@dataclass
class StoreStatus:
    """Counts by kind plus the flywheel stage they reach; ``to_dict()`` is ``status --json``."""

    documents: int
    chunks: dict[str, int]
    queries: dict[str, int]
    judgments: dict[str, dict[int, int]]
    events: dict[str, int]
    experiment_runs: int
    judged_queries: int
    reached: list[str]
    next_stage: str | None
    missing: str
    hosted: list[dict[str, Any]] = field(default_factory=list)  # usage per command and model

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["judgments"] = {
            s: {str(g): n for g, n in grades.items()} for s, grades in self.judgments.items()
        }
        return data


def _grouped(conn: Connection, column: Any) -> dict[str, int]:
    return dict(conn.execute(select(column, func.count()).group_by(column).order_by(column)).all())


def judged_query_count(conn: Connection) -> int:
    query = select(func.count(distinct(judgments.c.qid))).where(judgments.c.grade >= 1)
    return int(conn.execute(query).scalar_one())


def stage_for(judged: int) -> tuple[list[str], str | None, str]:
    """Stages reached, the next one, and what is missing for it."""
    reached = [stage.name for stage in STAGES if judged >= stage.min_judged_queries]
    upcoming = [stage for stage in STAGES if judged < stage.min_judged_queries]
    if not upcoming:
        return reached, None, "nothing: every stage is unlocked"
    nxt = upcoming[0]
    gap = nxt.min_judged_queries - judged
    return (
        reached,
        nxt.name,
        (
            f"{gap} more judged queries (with a grade >= 1) until {nxt.unlocks}; add them with "
            "flywheel ingest judgments FILE, or collect feedback through the live app"
        ),
    )


def read_status(conn: Connection) -> StoreStatus:
    grades: dict[str, dict[int, int]] = {}
    query = (
        select(judgments.c.source, judgments.c.grade, func.count())
        .group_by(judgments.c.source, judgments.c.grade)
        .order_by(judgments.c.source, judgments.c.grade)
    )
    for source, grade, count in conn.execute(query):
        grades.setdefault(source, {})[grade] = count
    judged = judged_query_count(conn)
    reached, next_stage, missing = stage_for(judged)
    return StoreStatus(
        documents=int(conn.execute(select(func.count()).select_from(documents)).scalar_one()),
        chunks=chunk_counts(conn),
        queries=_grouped(conn, queries.c.source),
        judgments=grades,
        events=_grouped(conn, events.c.kind),
        experiment_runs=int(
            conn.execute(select(func.count()).select_from(experiment_runs)).scalar_one()
        ),
        judged_queries=judged,
        reached=reached,
        next_stage=next_stage,
        missing=missing,
        hosted=hosted_usage_summary(conn),
    )
