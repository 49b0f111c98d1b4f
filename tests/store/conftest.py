"""Fixtures of the store's tests. Every test that takes ``db_url`` or ``store`` runs twice: on a
SQLite file (``[sqlite]``) and on a throwaway PostgreSQL server (``[postgresql]``, one cluster
per test session, one schema per test; see ``pg_cluster.py``).

The PostgreSQL runs fail, not skip, when the server cannot start: a missing server must not
turn into a green run. A developer without PostgreSQL can opt out with
``FLYWHEEL_SKIP_POSTGRES=1``; the opt-out is ignored under CI (``CI`` set).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_cluster import ClusterError, PostgresCluster

from flywheel.store import Store

SKIP_ENV = "FLYWHEEL_SKIP_POSTGRES"
BACKENDS = ("sqlite", "postgresql")


def _opted_out() -> bool:
    in_ci = os.environ.get("CI", "").lower() not in ("", "0", "false")
    return os.environ.get(SKIP_ENV) == "1" and not in_ci


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL server for the whole session, removed afterwards."""
    if _opted_out():
        pytest.skip(f"PostgreSQL runs switched off by {SKIP_ENV}=1")
    try:
        cluster = PostgresCluster().start()
    except ClusterError as error:
        pytest.fail(
            f"cannot start a throwaway PostgreSQL server: {error}\nfix: run "
            f"scripts/ensure-postgres.sh (make test does), or set {SKIP_ENV}=1 to skip the "
            "PostgreSQL runs on a machine without it",
            pytrace=False,
        )
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL: a SQLite file, or a new schema on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'flywheel.db'}"
    return request.getfixturevalue("postgres_cluster").fresh_url()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as opened:
        yield opened


@pytest.fixture
def seeded(store: Store) -> Store:
    """Three documents, two queries, nothing else."""
    store.add_documents(
        [
            {"doc_id": "d1", "title": "Cats", "text": "Cats purr. They sleep a lot."},
            {"doc_id": "d2", "text": "Dogs bark."},
            {"doc_id": "d3", "title": "Fish only"},
        ]
    )
    store.add_queries({"q1": "why do cats purr", "q2": "do dogs bark"})
    return store


def _write_lines(path: Path, lines: list[str | dict]) -> Path:
    path.write_text(
        "".join((json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines),
        encoding="utf-8",
    )
    return path


def _snapshot(store: Store) -> tuple:
    """Everything a failed ingest must leave alone."""
    return (
        store.counts(),
        store.corpus(),
        store.query_records(),
        [(j.qid, j.doc_id, j.chunk_id, j.grade, j.source, j.split) for j in store.judgments()],
        store.events(),
    )


@pytest.fixture
def write_lines():
    """``write_lines(path, lines)``: dicts become JSON lines, strings are written as they are."""
    return _write_lines


@pytest.fixture
def snapshot():
    """``snapshot(store)``: everything a failed ingest must leave alone."""
    return _snapshot
