"""Experiment runs: the evaluation engine's record of what was run, on what, with what result.

The store only keeps them; ``flywheel.evaluation`` decides what ``spec`` and ``results`` hold.
Each run is immutable once saved: a new run of the same experiment is a new row.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from flywheel.errors import NotFoundError
from flywheel.store.events import utc
from flywheel.store.records import ExperimentRunRecord
from flywheel.store.schema import experiment_runs


def save_run(
    conn: Connection,
    name: str,
    spec: dict[str, Any],
    results: dict[str, Any],
    *,
    git_commit: str | None = None,
    versions: dict[str, Any] | None = None,
) -> str:
    """Store one run and return its id (time-sortable: ``YYYYmmdd-HHMMSS-<hex>``)."""
    now = datetime.now(UTC)
    run_id = f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
    conn.execute(
        experiment_runs.insert(),
        {
            "run_id": run_id,
            "name": name,
            "spec": spec,
            "results": results,
            "created_at": now,
            "git_commit": git_commit,
            "versions": versions or {},
        },
    )
    return run_id


def _record(row: Any) -> ExperimentRunRecord:
    return ExperimentRunRecord(
        run_id=row.run_id,
        name=row.name,
        spec=row.spec,
        results=row.results,
        created_at=utc(row.created_at),
        git_commit=row.git_commit,
        versions=row.versions,
    )


LATEST = "latest"


def get_run(conn: Connection, run_id: str) -> ExperimentRunRecord:
    """The run ``run_id`` names: an exact id, ``latest`` (the newest run), or a unique prefix of
    an id (``20261206-14`` is enough when one run starts so), as git takes commit prefixes."""
    table = experiment_runs
    row = conn.execute(select(table).where(table.c.run_id == run_id)).first()
    if row is None and run_id == LATEST:
        newest = select(table).order_by(table.c.created_at.desc(), table.c.run_id.desc()).limit(1)
        row = conn.execute(newest).first()
        if row is None:
            raise NotFoundError(
                "no experiment run stored yet; run one with: flywheel experiment run SPEC.toml"
            )
    if row is None and run_id:
        escaped = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = conn.execute(
            select(table).where(table.c.run_id.like(f"{escaped}%", escape="\\")).limit(6)
        ).all()
        if len(rows) > 1:
            shown = ", ".join(r.run_id for r in rows[:5])
            raise NotFoundError(
                f"'{run_id}' is the start of {len(rows) if len(rows) < 6 else 'more than 5'} "
                f"runs ({shown}); give more of the id"
            )
        row = rows[0] if rows else None
    if row is None:
        raise NotFoundError(
            f"no experiment run '{run_id}'; list the stored runs with: flywheel experiment list"
        )
    return _record(row)


def list_runs(conn: Connection, name: str | None = None) -> list[ExperimentRunRecord]:
    """Runs, oldest first; only those of experiment ``name`` when given."""
    query = select(experiment_runs).order_by(experiment_runs.c.created_at, experiment_runs.c.run_id)
    if name is not None:
        query = query.where(experiment_runs.c.name == name)
    return [_record(row) for row in conn.execute(query)]
