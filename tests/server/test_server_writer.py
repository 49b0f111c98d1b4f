"""Group commit: requests that queue behind a running commit share the next transaction, and
a bad one among them fails alone."""

from __future__ import annotations

import threading
import time

import pytest
from capture_helpers import click

from flywheel.server.errors import ApiError
from flywheel.server.writer import EventWriter
from flywheel.store import Store


def queued_writes(store: Store, bodies: list[dict]) -> tuple[EventWriter, list]:
    """Write ``bodies`` from one thread each while the first commit is held up, so the rest
    queue behind it; returns the writer and each request's result (Stored or exception)."""
    writer = EventWriter(store)
    original = store.log_events
    release = threading.Event()

    def slow_first(*args, **kwargs):
        release.wait(5)
        return original(*args, **kwargs)

    store.log_events = slow_first  # type: ignore[method-assign]
    results: list = [None] * len(bodies)

    def send(i: int) -> None:
        try:
            results[i] = writer.write([bodies[i]], batch=False)
        except ApiError as exc:
            results[i] = exc

    first = threading.Thread(target=send, args=(0,))
    first.start()
    time.sleep(0.2)  # the first request now leads and waits inside its commit
    store.log_events = original  # type: ignore[method-assign]
    rest = [threading.Thread(target=send, args=(i,)) for i in range(1, len(bodies))]
    for thread in rest:
        thread.start()
    time.sleep(0.3)  # they all queue behind the first commit
    release.set()
    for thread in [first, *rest]:
        thread.join(10)
    return writer, results


def test_queued_requests_share_one_commit(store: Store) -> None:
    ts = "2025-03-01T10:00:00Z"
    bodies = [click("q-purr", event_id=f"e{i}", rank=i + 1, timestamp=ts) for i in range(6)]
    bodies.append(click("q-purr", event_id="e0", rank=1, timestamp=ts))  # a retry of the first
    writer, results = queued_writes(store, bodies)
    assert writer.commits == 2  # the first alone, then the six that queued behind it
    assert [(r.added, r.unchanged) for r in results] == [(1, 0)] * 6 + [(0, 1)]
    assert sorted(e.event_id for e in store.events()) == [f"e{i}" for i in range(6)]


def test_a_bad_request_in_a_group_fails_alone(store: Store) -> None:
    bodies = [click("q-purr", event_id=f"e{i}") for i in range(4)]
    bodies.insert(2, click("q-purr", event_id="bad", chunk_id="ghost"))
    writer, results = queued_writes(store, bodies)
    refused = results[2]
    assert isinstance(refused, ApiError) and refused.field == "chunk_id"
    assert all(r.added == 1 for i, r in enumerate(results) if i != 2)
    assert sorted(e.event_id for e in store.events()) == ["e0", "e1", "e2", "e3"]
    assert writer.commits == 1 + 3  # the group was rolled back, then written one by one


def test_a_lone_request_is_written_at_once(store: Store) -> None:
    writer = EventWriter(store)
    started = time.perf_counter()
    stored = writer.write([click("q-purr", event_id="solo")], batch=False)
    assert stored.added == 1 and writer.commits == 1
    assert time.perf_counter() - started < 2
    with pytest.raises(ApiError) as caught:
        writer.write([click("q-purr", event_id="solo", rank=9)], batch=False)
    assert caught.value.status == 409
