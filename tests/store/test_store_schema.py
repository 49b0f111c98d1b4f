from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from flywheel.store import Store
from flywheel.store.engine import current_revision, head_revision

EXPECTED = {
    "alembic_version": ["version_num"],
    "documents": ["doc_id", "title", "text", "metadata", "content_hash"],
    "chunks": ["chunk_id", "doc_id", "strategy", "position", "text", "content_hash"],
    "queries": ["qid", "text", "intent", "source", "reference_answer", "reasoning"],
    "judgments": [
        "judgment_id",
        "qid",
        "doc_id",
        "chunk_id",
        "grade",
        "source",
        "split",
        "created_at",
        "scale",
    ],
    "events": ["event_id", "kind", "session_id", "user_id", "qid", "timestamp", "payload"],
    "experiment_runs": [
        "run_id",
        "name",
        "spec",
        "created_at",
        "git_commit",
        "versions",
        "results",
    ],
    "fewshot_libraries": [
        "library_id",
        "name",
        "version",
        "parent_version",
        "created_at",
        "embedder",
        "config",
        "summary",
    ],
    "fewshot_examples": [
        "library_id",
        "qid",
        "status",
        "group_id",
        "rank",
        "reason",
        "detail",
        "question",
        "answer",
        "reasoning",
        "intent",
    ],
    "fewshot_uses": [
        "use_id",
        "library_id",
        "created_at",
        "query",
        "mode",
        "k",
        "template",
        "intent",
        "example_qids",
        "context",
    ],
    "hosted_runs": [
        "run_id",
        "command",
        "model",
        "started_at",
        "finished_at",
        "status",
        "calls",
        "cached_calls",
        "retries",
        "failures",
        "input_tokens",
        "output_tokens",
        "search_units",
        "cost_usd",
        "details",
    ],
    "synthetic_rejections": [
        "rejection_id",
        "run_id",
        "text",
        "doc_id",
        "generator",
        "reason",
        "detail",
        "created_at",
    ],
    "synthetic_positives": ["qid", "doc_id", "generator", "text"],
}


def test_schema_is_exactly_the_documented_tables_and_columns(store: Store) -> None:
    inspector = inspect(store.engine)
    actual = {
        table: [c["name"] for c in inspector.get_columns(table)]
        for table in inspector.get_table_names()
    }
    assert actual == EXPECTED


def test_a_pair_has_one_grade_per_source_enforced_by_the_database(seeded: Store) -> None:
    from datetime import UTC, datetime

    from flywheel.store.schema import judgments

    row = {
        "qid": "q1",
        "doc_id": "d1",
        "chunk_id": None,
        "grade": 1,
        "source": "human",
        "split": None,
        "created_at": datetime.now(UTC),
    }
    with seeded.engine.begin() as conn:
        conn.execute(judgments.insert(), row)
        conn.execute(judgments.insert(), {**row, "source": "llm"})
    with pytest.raises(IntegrityError), seeded.engine.begin() as conn:
        conn.execute(judgments.insert(), {**row, "grade": 3})
    with pytest.raises(IntegrityError), seeded.engine.begin() as conn:  # grade outside 0-5
        conn.execute(judgments.insert(), {**row, "source": "derived", "grade": 6})
    assert len(seeded.judgments()) == 2


def test_migrations_match_the_sqlalchemy_tables(store: Store) -> None:
    from flywheel.store import schema

    inspector = inspect(store.engine)
    for table in schema.metadata.sorted_tables:
        assert [c["name"] for c in inspector.get_columns(table.name)] == list(table.c.keys())


def test_sqlite_uses_wal_and_enforces_foreign_keys(tmp_path: Path) -> None:
    with Store(str(tmp_path / "wal.db")) as store, store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_the_database_refuses_rows_pointing_at_nothing(store: Store) -> None:
    from datetime import UTC, datetime

    from flywheel.store.schema import events

    row = {
        "event_id": "e1",
        "kind": "click",
        "session_id": "s",
        "user_id": None,
        "qid": "no-such-query",
        "timestamp": datetime.now(UTC),
        "payload": {},
    }
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(events.insert(), row)
    assert store.counts()["events"] == 0


def test_opening_from_another_folder_migrates_once(tmp_path: Path, monkeypatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("FLYWHEEL_DB", str(tmp_path / "nested" / "x.db"))
    first = Store()
    assert current_revision(first.engine) == head_revision() == "0005_judgment_scale"
    first.add_queries({"q": "kept"})
    again = Store()  # reopening must not touch existing data
    assert again.queries() == {"q": "kept"}
    assert (tmp_path / "nested" / "x.db").exists()
    assert not (elsewhere / "flywheel.db").exists()


def test_default_location_is_flywheel_db_in_the_working_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLYWHEEL_DB", raising=False)
    Store().close()
    assert os.path.exists(tmp_path / "flywheel.db")
