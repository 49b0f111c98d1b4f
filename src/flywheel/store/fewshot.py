"""Few-shot library versions, their examples and prompt uses: rows in, rows out.

The store only keeps them; :mod:`flywheel.fewshot.library` decides what a library holds.
A version is immutable once saved: a rebuild is a new version (``name@v<n+1>``), so every
logged prompt use can name exactly the examples it was offered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from flywheel.errors import NotFoundError
from flywheel.store.events import utc
from flywheel.store.schema import fewshot_examples, fewshot_libraries, fewshot_uses

BATCH = 500


def library_id(name: str, version: int) -> str:
    return f"{name}@v{version}"


def next_version(conn: Connection, name: str) -> int:
    """1 for a new library name, else one more than its newest version."""
    newest = conn.execute(
        select(func.max(fewshot_libraries.c.version)).where(fewshot_libraries.c.name == name)
    ).scalar()
    return int(newest or 0) + 1


def save_library(
    conn: Connection,
    *,
    name: str,
    embedder: str,
    config: Mapping[str, Any],
    summary: Mapping[str, Any],
    examples: Iterable[Mapping[str, Any]],
    parent_version: int | None = None,
) -> tuple[int, datetime]:
    """Store a new version of library ``name`` with its example rows; returns (version, time)."""
    version = next_version(conn, name)
    now = datetime.now(UTC)
    lid = library_id(name, version)
    conn.execute(
        fewshot_libraries.insert(),
        {
            "library_id": lid,
            "name": name,
            "version": version,
            "parent_version": parent_version,
            "created_at": now,
            "embedder": embedder,
            "config": dict(config),
            "summary": dict(summary),
        },
    )
    rows = [{**row, "library_id": lid} for row in examples]
    for start in range(0, len(rows), BATCH):
        conn.execute(fewshot_examples.insert(), rows[start : start + BATCH])
    return version, now


def _known(conn: Connection) -> str:
    rows = conn.execute(
        select(fewshot_libraries.c.name, func.max(fewshot_libraries.c.version)).group_by(
            fewshot_libraries.c.name
        )
    ).all()
    return ", ".join(f"{name} (v1-v{newest})" for name, newest in rows) or "(none)"


def load_library(
    conn: Connection, name: str, version: int | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The library row and its example rows (newest version when ``version`` is None)."""
    query = select(fewshot_libraries).where(fewshot_libraries.c.name == name)
    if version is not None:
        query = query.where(fewshot_libraries.c.version == version)
    row = (
        conn.execute(query.order_by(fewshot_libraries.c.version.desc()).limit(1)).mappings().first()
    )
    if row is None:
        wanted = f"'{name}'" + (f" version {version}" if version is not None else "")
        raise NotFoundError(
            f"no few-shot library {wanted}; stored: {_known(conn)}. "
            "Build one with: flywheel fewshot build"
        )
    library = dict(row)
    library["created_at"] = utc(library["created_at"])
    examples = conn.execute(
        select(fewshot_examples)
        .where(fewshot_examples.c.library_id == library["library_id"])
        .order_by(fewshot_examples.c.qid)
    ).mappings()
    return library, [dict(e) for e in examples]


def list_libraries(conn: Connection, name: str | None = None) -> list[dict[str, Any]]:
    """Every stored version (oldest first) with its number of logged prompt uses."""
    uses = (
        select(fewshot_uses.c.library_id, func.count().label("uses"))
        .group_by(fewshot_uses.c.library_id)
        .subquery()
    )
    query = select(
        fewshot_libraries.c.library_id,
        fewshot_libraries.c.name,
        fewshot_libraries.c.version,
        fewshot_libraries.c.parent_version,
        fewshot_libraries.c.created_at,
        fewshot_libraries.c.embedder,
        fewshot_libraries.c.summary,
        func.coalesce(uses.c.uses, 0).label("uses"),
    ).outerjoin(uses, uses.c.library_id == fewshot_libraries.c.library_id)
    if name is not None:
        query = query.where(fewshot_libraries.c.name == name)
    query = query.order_by(fewshot_libraries.c.name, fewshot_libraries.c.version)
    return [
        {**dict(row), "created_at": utc(row.created_at)} for row in conn.execute(query).mappings()
    ]


def save_uses(conn: Connection, uses: Iterable[Mapping[str, Any]]) -> list[str]:
    """Log prompt uses (``library_id``, ``query``, ``mode``, ``k``, ``template``, ``intent``,
    ``example_qids``, ``context``); returns their ids."""
    now = datetime.now(UTC)
    rows = [
        {"use_id": uuid.uuid4().hex, "created_at": now, "context": "", **dict(use)} for use in uses
    ]
    for start in range(0, len(rows), BATCH):
        conn.execute(fewshot_uses.insert(), rows[start : start + BATCH])
    return [row["use_id"] for row in rows]


def list_uses(conn: Connection, library: str | None = None) -> list[dict[str, Any]]:
    """Logged prompt uses, oldest first; of one ``library_id`` when given."""
    query = select(fewshot_uses).order_by(fewshot_uses.c.created_at, fewshot_uses.c.use_id)
    if library is not None:
        query = query.where(fewshot_uses.c.library_id == library)
    return [
        {**dict(row), "created_at": utc(row.created_at)} for row in conn.execute(query).mappings()
    ]
