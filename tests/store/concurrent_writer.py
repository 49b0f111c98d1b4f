"""The body of one "app server" in the concurrency test: a process that logs events at once with
others into the same store. A module of its own so that spawned processes can import it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flywheel.data.events import ClickEvent, RetrievalEvent

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
SHARED_QID = "live-shared"  # a query every writer logs first: they race to create it


def own_event_ids(worker: int, count: int) -> list[str]:
    return [f"w{worker}-e{i}" for i in range(count)]


def shared_event_ids(count: int) -> list[str]:
    """Events every writer sends (a client retrying through several servers): stored once."""
    return [f"shared-e{i}" for i in range(count)]


def _click(event_id: str, session: str, i: int) -> ClickEvent:
    return ClickEvent(
        event_id=event_id,
        session_id=session,
        qid=SHARED_QID,
        user_id=None,
        timestamp=T0 + timedelta(milliseconds=i),
        chunk_id="d1",
        rank=1 + i % 3,
    )


def write(url: str, worker: int, count: int, shared: int, start: Any, results: Any) -> None:
    """Put ``(worker, calls made, error)`` on ``results`` after logging ``count`` events of this
    writer (one at a time and in small batches) and the ``shared`` events every writer sends."""
    try:
        results.put((worker, _write(url, worker, count, shared, start), ""))
    except Exception as error:  # reported to the test, which shows it
        results.put((worker, -1, f"{type(error).__name__}: {error}"))


def _write(url: str, worker: int, count: int, shared: int, start: Any) -> int:
    from flywheel.store import Store

    store = Store(url)
    start.wait()  # all writers begin together, for the most contention
    calls = 0
    store.log_retrieval(
        f"s{worker}", SHARED_QID, [("d1", 0.9), ("d2", 0.5)], "dense",
        query="what do all servers log", timestamp=T0,
    )  # fmt: skip
    calls += 1
    ids = own_event_ids(worker, count)
    half = count // 2
    for i, event_id in enumerate(ids[:half]):
        store.log_event(_click(event_id, f"s{worker}", i))
        calls += 1
    for begin in range(half, count, 5):
        store.log_events(
            [_click(e, f"s{worker}", begin + j) for j, e in enumerate(ids[begin : begin + 5])]
        )
        calls += 1
    for i, event_id in enumerate(shared_event_ids(shared)):
        store.log_event(_click(event_id, "shared", i))
        calls += 1
    store.close()
    return calls


def retrieval_count(events: list[Any]) -> int:
    return sum(isinstance(e, RetrievalEvent) for e in events)
