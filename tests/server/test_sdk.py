"""flywheel.Logger: straight to a store, and over HTTP to a real `flywheel serve` (uvicorn on a
free loopback port): every log_* method, batching, retries that never duplicate, refusals."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from capture_helpers import TOKEN

import flywheel
from flywheel.data.events import (
    AnswerFeedbackEvent,
    CitationEvent,
    ClickEvent,
    DocumentFeedbackEvent,
    DwellEvent,
    MoreLikeThisEvent,
    PreferenceEvent,
    ReformulationEvent,
    RetrievalEvent,
)
from flywheel.sdk import HTTPTransport, StoreTransport, TransientError
from flywheel.server.process import free_port
from flywheel.store import Store

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def log_one_of_each(logger: flywheel.Logger) -> list[str]:
    """One event of every kind, as a live app would log a session."""
    return [
        logger.log_retrieval("s1", "app-1", [("cat-1", 9.5), ("cat-2", 4.0)], "my-bm25",
                             query="why do cats purr", timestamp=T0, user_id="u1"),
        logger.log_citations("s1", "app-1", ["cat-1"], timestamp=T0),
        logger.log_feedback("s1", "app-1", True, comment="good", timestamp=T0),
        logger.log_feedback("s1", "app-1", False, chunk_id="cat-2", timestamp=T0),
        logger.log_click("s1", "app-1", "cat-1", 1, timestamp=T0),
        logger.log_dwell("s1", "app-1", "cat-1", 45_000, timestamp=T0),
        logger.log_retrieval("s1", "app-2", {"cat-2": 2.0}, "my-bm25", query="cat naps",
                             timestamp=T0),
        logger.log_reformulation("s1", "app-2", "app-1", timestamp=T0),
        logger.log_more_like_this("s1", "app-2", "cat-2", timestamp=T0),
        logger.log_preference("s1", "app-2", "cat-2", "dog-2", timestamp=T0),
    ]  # fmt: skip


def expected_events(ids: list[str]) -> list:
    head = {"session_id": "s1", "timestamp": T0}
    return [
        RetrievalEvent(event_id=ids[0], qid="app-1", user_id="u1", **head, retriever="my-bm25",
                       results=(("cat-1", 1, 9.5), ("cat-2", 2, 4.0))),
        CitationEvent(event_id=ids[1], qid="app-1", **head, chunk_ids=("cat-1",)),
        AnswerFeedbackEvent(event_id=ids[2], qid="app-1", **head, positive=True, comment="good"),
        DocumentFeedbackEvent(event_id=ids[3], qid="app-1", **head, chunk_id="cat-2",
                              positive=False),
        ClickEvent(event_id=ids[4], qid="app-1", **head, chunk_id="cat-1", rank=1),
        DwellEvent(event_id=ids[5], qid="app-1", **head, chunk_id="cat-1", dwell_ms=45_000),
        RetrievalEvent(event_id=ids[6], qid="app-2", **head, retriever="my-bm25",
                       results=(("cat-2", 1, 2.0),)),
        ReformulationEvent(event_id=ids[7], qid="app-2", **head, previous_qid="app-1"),
        MoreLikeThisEvent(event_id=ids[8], qid="app-2", **head, chunk_id="cat-2"),
        PreferenceEvent(event_id=ids[9], qid="app-2", **head, winner="cat-2", loser="dog-2"),
    ]  # fmt: skip


def by_id(events: list) -> dict:
    return {e.event_id: e for e in events}


def test_logger_writes_every_kind_straight_to_a_store(store: Store) -> None:
    with flywheel.Logger(store, flush_interval=None) as logger:
        ids = log_one_of_each(logger)
        assert logger.pending == len(ids) and store.events() == []
    assert by_id(store.events()) == by_id(expected_events(ids))
    assert store.queries(source="live") == {"app-1": "why do cats purr", "app-2": "cat naps"}


def test_logger_opens_a_store_from_a_path(db_path: Path, store: Store) -> None:
    with flywheel.Logger(str(db_path), flush_interval=None) as logger:
        event_id = logger.log_click("s", "q-purr", "cat-1", 2)
    assert store.events()[0].event_id == event_id
    with pytest.raises(flywheel.ConfigError, match="token: only for logging to a server URL"):
        flywheel.Logger(str(db_path), token="t")
    with pytest.raises(flywheel.ConfigError, match="cannot log to 42"):
        flywheel.Logger(42)  # type: ignore[arg-type]


class Recording:
    """A transport that records batches and can lose the response of the next send."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.batches: list[int] = []
        self.lose_next = 0

    def send(self, records) -> None:
        self.batches.append(len(records))
        self.inner.send(records)
        if self.lose_next:
            self.lose_next -= 1
            raise TransientError("response lost after the store committed")

    def close(self) -> None:
        self.inner.close()


def test_batches_go_out_at_batch_size_and_on_flush(store: Store) -> None:
    recording = Recording(StoreTransport(store))
    logger = flywheel.Logger(recording, batch_size=3, flush_interval=None)
    for rank in range(1, 8):
        logger.log_click("s", "q-purr", "cat-1", rank)
    assert recording.batches == [3, 3] and logger.pending == 1
    assert logger.flush() == 1
    assert recording.batches == [3, 3, 1] and len(store.events()) == 7
    logger.close()


def test_a_resend_after_a_lost_response_stores_nothing_twice(store: Store) -> None:
    recording = Recording(StoreTransport(store))
    logger = flywheel.Logger(recording, flush_interval=None)
    ids = [logger.log_click("s", "q-purr", "cat-1", rank) for rank in (1, 2, 3)]
    recording.lose_next = 1
    with pytest.raises(TransientError):
        logger.flush()
    assert logger.pending == 3  # kept for the next try, though the store has them
    assert logger.flush() == 3
    assert sorted(e.event_id for e in store.events()) == sorted(ids)
    logger.close()


def test_the_background_thread_flushes(store: Store) -> None:
    with flywheel.Logger(store, flush_interval=0.05) as logger:
        logger.log_click("s", "q-purr", "cat-1", 1)
        deadline = time.monotonic() + 5
        while logger.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        assert logger.pending == 0 and len(store.events()) == 1


def test_a_refused_batch_is_kept_aside_and_the_rest_still_sent(
    store: Store, tmp_path: Path
) -> None:
    logger = flywheel.Logger(store, batch_size=1, flush_interval=None, max_buffer=10,
                             spool=tmp_path / "spool.jsonl")  # fmt: skip
    logger.log_click("s", "q-purr", "ghost", 1)  # refused, but log() does not raise
    logger.log_click("s", "q-purr", "cat-1", 1)
    assert len(logger.rejected) == 1 and logger.rejected[0].record["chunk_id"] == "ghost"
    assert "unknown document or chunk 'ghost'" in logger.rejected[0].reason
    assert [e.chunk_id for e in store.events()] == ["cat-1"]
    assert logger.close().refused == 1


def test_import_flywheel_stays_light() -> None:
    code = (
        "import sys, flywheel; flywheel.Logger; "
        "print(sorted(m for m in ('torch', 'sqlalchemy', 'httpx', 'fastapi') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- over HTTP, against a real server --------------------------------------------------------


def test_logger_over_http_stores_every_kind(server, served: Store) -> None:
    with flywheel.Logger(server.url, token=TOKEN, flush_interval=None) as logger:
        ids = log_one_of_each(logger)
    assert by_id(served.events()) == by_id(expected_events(ids))


class LoseFirstResponse(httpx.HTTPTransport):
    """Delivers the request to the server, then drops its response, once."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        response = super().handle_request(request)
        if self.calls == 1:
            response.read()
            raise httpx.ReadError("connection reset after the server answered", request=request)
        return response


def test_http_retry_after_a_lost_response_never_duplicates(server, served: Store) -> None:
    lossy = LoseFirstResponse()
    transport = HTTPTransport(
        server.url, token=TOKEN, client=httpx.Client(transport=lossy), sleep=lambda _: None
    )
    with flywheel.Logger(transport, flush_interval=None) as logger:
        ids = [logger.log_click("s", "q-purr", "cat-1", rank) for rank in range(1, 6)]
    assert lossy.calls == 2  # the first send was stored, its answer lost, and it was resent
    assert sorted(e.event_id for e in served.events()) == sorted(ids)


def test_http_refusals_are_not_retried(server, served: Store, tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    logger = flywheel.Logger(server.url, token="wrong", flush_interval=None, spool=spool)
    logger.log_click("s", "q-purr", "cat-1", 1)
    logger.log_click("s", "q-purr", "cat-1", 2)
    assert logger.flush() == 0
    assert [r.reason.count("HTTP 401") for r in logger.rejected] == [1, 1]  # not split
    assert logger.close().refused == 2 and len(flywheel.sdk.read_spool(spool)) == 2
    with flywheel.Logger(server.url, token=TOKEN, flush_interval=None, spool=spool) as logger:
        good = logger.log_click("s", "q-purr", "cat-1", 1)
        logger.log(kind="click", session_id="s", qid="q-purr", chunk_id="cat-1", rank="2")
        assert logger.flush() == 1
        assert len(logger.rejected) == 1 and "events[1].rank" in logger.rejected[0].reason
    assert [e.event_id for e in served.events()] == [good]  # the good neighbour is stored


def test_an_unreachable_server_keeps_the_events(served: Store, _spool_in_tmp: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    logger = flywheel.Logger(url, token=TOKEN, flush_interval=None, max_retries=2,
                             backoff=0.01, timeout=1)  # fmt: skip
    logger.log_click("s", "q-purr", "cat-1", 1)
    with pytest.raises(TransientError, match="after 3 tries"):
        logger.flush()
    assert logger.pending == 1
    with pytest.raises(TransientError, match="kept in .*refused.jsonl"):
        logger.close()
    assert [line["record"]["chunk_id"] for line in flywheel.sdk.read_spool(_spool_in_tmp)] == [
        "cat-1"
    ]  # the unsent event survives the process
