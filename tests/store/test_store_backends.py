"""What must hold on SQLite and PostgreSQL alike: the same order, the same idempotency under
several writers at once, and the URL forms people paste."""

from __future__ import annotations

import dataclasses
import multiprocessing

import pytest
from concurrent_writer import (
    SHARED_QID,
    own_event_ids,
    retrieval_count,
    shared_event_ids,
    write,
)

from flywheel.data.events import ClickEvent
from flywheel.errors import DataFormatError
from flywheel.store import Store, importers
from flywheel.store.engine import make_engine

# Ids whose order differs between byte order and a natural-language collation (en-US puts
# "_a" after "a", "B" after "b"); the test server's database uses ICU en-US on purpose.
AWKWARD_IDS = ["b", "B", "_a", "a-1", "a1", "A", "é", "z"]


def test_ids_come_back_in_code_point_order_on_every_backend(store: Store) -> None:
    store.add_documents([{"doc_id": i, "text": f"text {i}"} for i in AWKWARD_IDS])
    store.add_queries({i: f"query {i}" for i in AWKWARD_IDS})
    assert list(store.corpus()) == sorted(AWKWARD_IDS)
    assert list(store.queries()) == sorted(AWKWARD_IDS)
    store.write_chunks("w", [(i, 0, f"text {i}") for i in AWKWARD_IDS])
    assert [c.metadata["doc_id"] for c in store.chunks("w").values()] == sorted(AWKWARD_IDS)


@pytest.fixture
def blind_first_check(monkeypatch):
    """Make the next import miss the stored rows in its first check, as if another writer
    stored them between that check and the insert: the race, made deterministic."""

    def blind(kind: str) -> None:
        spec = importers.KINDS[kind]
        calls = {"n": 0}

        def existing(conn, rows):
            calls["n"] += 1
            return {} if calls["n"] == 1 else spec.existing(conn, rows)

        monkeypatch.setitem(importers.KINDS, kind, dataclasses.replace(spec, existing=existing))

    return blind


def test_a_row_stored_by_another_writer_meanwhile_is_judged_like_a_stored_row(
    store: Store, blind_first_check
) -> None:
    store.add_queries({"q1": "first", "q2": "second"})
    blind_first_check("queries")
    report = store.add_queries({"q1": "first", "q3": "third"})
    assert (report.added, report.unchanged) == (1, 1)
    blind_first_check("queries")
    with pytest.raises(DataFormatError, match="'q2' was just stored by another writer"):
        store.add_queries({"q2": "changed", "q4": "fourth"})
    assert store.queries() == {"q1": "first", "q2": "second", "q3": "third"}  # all or nothing
    blind_first_check("queries")
    assert store.add_queries({"q2": "changed"}, replace=True).updated == 1
    assert store.queries()["q2"] == "changed"


WRITERS, OWN, SHARED = 4, 20, 6


def test_several_processes_logging_at_once_lose_nothing_and_store_nothing_twice(
    db_url: str,
) -> None:
    with Store(db_url) as store:  # migrated before the writers start, as a deployment would
        store.add_documents([{"doc_id": "d1", "text": "one"}, {"doc_id": "d2", "text": "two"}])
    context = multiprocessing.get_context("spawn")  # separate interpreters, like app servers
    start, results = context.Event(), context.Queue()
    writers = [
        context.Process(target=write, args=(db_url, worker, OWN, SHARED, start, results))
        for worker in range(WRITERS)
    ]
    for process in writers:
        process.start()
    start.set()
    calls = sorted(results.get(timeout=120) for _ in writers)
    for process in writers:
        process.join(timeout=30)
    assert [p.exitcode for p in writers] == [0] * WRITERS
    assert calls == [(w, 1 + OWN // 2 + OWN // 10 + SHARED, "") for w in range(WRITERS)]
    with Store(db_url) as store:
        events = store.events()
        ids = [e.event_id for e in events]
        expected = {i for w in range(WRITERS) for i in own_event_ids(w, OWN)}
        expected |= set(shared_event_ids(SHARED))
        assert len(ids) == len(set(ids))  # nothing stored twice
        clicks = {e.event_id for e in events if isinstance(e, ClickEvent)}
        assert clicks == expected  # nothing lost
        assert retrieval_count(events) == WRITERS  # one retrieval per writer, random ids
        assert store.queries() == {SHARED_QID: "what do all servers log"}  # created once
        assert store.counts()["events"] == len(expected) + WRITERS


@pytest.mark.parametrize(
    "url",
    ["postgresql://u@localhost/db", "postgres://u@localhost/db", "postgresql+psycopg://u@h/d"],
)
def test_a_plain_postgresql_url_uses_psycopg(url: str) -> None:
    engine = make_engine(url)  # no connection is made until the first query
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
