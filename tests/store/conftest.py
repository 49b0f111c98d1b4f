from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(str(tmp_path / "flywheel.db")) as opened:
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
