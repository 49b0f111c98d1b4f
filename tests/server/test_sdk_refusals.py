"""flywheel.Logger never loses a good event for a bad neighbour (issue 18, failure 1): refused
batches are split, only the bad events are set aside (spool, callback, report), ``log()``
raises only for events it did not keep, and the counters are exact."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from capture_helpers import TOKEN

import flywheel
from flywheel.sdk import (
    BufferFullError,
    RejectedError,
    StoreTransport,
    TransientError,
    read_spool,
)
from flywheel.sdk.delivery import deliver
from flywheel.store import Store


def log_mixed(logger: flywheel.Logger, good: int, bad_every: int = 100) -> tuple[set, set]:
    """``good`` clicks on a stored document, and one on an unknown one every ``bad_every``."""
    goods, bads = set(), set()
    for n in range(good):
        goods.add(logger.log_click("s", "q-purr", "cat-1", 1 + n % 10))
        if n % bad_every == bad_every // 2:
            bads.add(logger.log_click("s", "q-purr", "ghost", 1))
    return goods, bads


def test_one_bad_event_in_a_batch_of_100_costs_only_itself(store: Store, tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    seen: list = []
    logger = flywheel.Logger(store, batch_size=100, flush_interval=None, spool=spool,
                             on_refused=seen.extend)  # fmt: skip
    goods, bads = log_mixed(logger, 99, bad_every=99)
    report = logger.close()
    assert {e.event_id for e in store.events()} == goods
    assert (report.sent, report.refused, report.pending) == (99, 1, 0)
    assert [r.record["event_id"] for r in seen] == list(bads)
    lines = read_spool(spool)
    assert [line["record"]["event_id"] for line in lines] == list(bads)
    assert "unknown document or chunk 'ghost'" in lines[0]["error"]


class Unnamed:
    """Refuses any batch holding a 'ghost' click without saying which record: forces halving."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.sends = 0

    def send(self, records) -> None:
        self.sends += 1
        if any(r.get("chunk_id") == "ghost" for r in records):
            raise RejectedError("a record is bad")
        self.inner.send(records)

    def close(self) -> None:
        self.inner.close()


def test_a_refusal_that_names_no_record_is_bisected(store: Store, tmp_path: Path) -> None:
    transport = Unnamed(StoreTransport(store))
    logger = flywheel.Logger(transport, batch_size=64, flush_interval=None,
                             spool=tmp_path / "s.jsonl")  # fmt: skip
    goods, bads = log_mixed(logger, 60, bad_every=30)
    report = logger.close()
    assert {e.event_id for e in store.events()} == goods
    assert {r.record["event_id"] for r in logger.rejected} == bads and report.refused == 2
    assert transport.sends <= 2 * 2 * 6 + 1  # halving: ~2 log2(64) per bad event, not 62


class Flaky:
    """Stores the first ``ok`` sends, then is unreachable for ``down`` sends."""

    def __init__(self, inner, ok: int, down: int) -> None:
        self.inner, self.ok, self.down = inner, ok, down

    def send(self, records) -> None:
        if self.ok == 0 and self.down > 0:
            self.down -= 1
            raise TransientError("connection refused")
        self.ok = max(0, self.ok - 1)
        self.inner.send(records)

    def close(self) -> None:
        self.inner.close()


def test_sent_is_exact_after_a_partial_failure(store: Store) -> None:
    flaky = Flaky(StoreTransport(store), ok=2, down=10**6)
    logger = flywheel.Logger(flaky, batch_size=10, flush_interval=None, max_buffer=100)
    for rank in range(1, 36):
        logger.log_click("s", "q-purr", "cat-1", rank)
    # full batches went out as they filled: two stored, then the target went down
    assert logger.sent == len(store.events()) == 20 and logger.pending == 15
    flaky.down = 0
    assert logger.flush() == 15
    assert logger.sent == len(store.events()) == 35 and logger.close().pending == 0


class Down:
    def send(self, records) -> None:
        raise TransientError("connection refused")

    def close(self) -> None:
        pass


def test_log_raises_only_for_an_event_it_did_not_keep(tmp_path: Path) -> None:
    logger = flywheel.Logger(Down(), batch_size=2, flush_interval=None, max_buffer=4,
                             spool=tmp_path / "s.jsonl")  # fmt: skip
    kept = [logger.log_click("s", "q", "c", rank) for rank in (1, 2, 3, 4)]  # no raise
    assert logger.pending == 4
    with pytest.raises(BufferFullError, match="this event was not logged"):
        logger.log_click("s", "q", "c", 5)
    assert logger.pending == 4  # the refused call added nothing, so an app retry is safe
    with pytest.raises(TransientError, match="4 events could not be delivered"):
        logger.close()
    assert [line["record"]["event_id"] for line in read_spool(tmp_path / "s.jsonl")] == kept


def test_split_delivery_keeps_event_ids_so_a_resend_stores_once(store: Store) -> None:
    batch = [
        {"kind": "click", "event_id": f"e{n}", "session_id": "s", "qid": "q-purr",
         "chunk_id": "ghost" if n == 3 else "cat-1", "rank": 1,
         "timestamp": "2025-01-01T00:00:00Z"}
        for n in range(8)
    ]  # fmt: skip
    first = deliver(StoreTransport(store), batch)
    again = deliver(StoreTransport(store), batch)
    assert len(first.stored) == len(again.stored) == 7 and len(store.events()) == 7


def test_four_threads_with_one_percent_bad_lose_no_good_event(store: Store, tmp_path: Path) -> None:
    logger = flywheel.Logger(store, batch_size=50, flush_interval=0.01, max_buffer=2000,
                             spool=tmp_path / "s.jsonl")  # fmt: skip
    results: list[tuple[set, set]] = []

    def work() -> None:
        results.append(log_mixed(logger, 300))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = logger.close()
    goods = set().union(*(g for g, _ in results))
    bads = set().union(*(b for _, b in results))
    assert {e.event_id for e in store.events()} == goods
    assert report.sent == len(goods) == 1200 and report.refused == len(bads) == 12
    assert {line["record"]["event_id"] for line in read_spool(tmp_path / "s.jsonl")} == bads


def test_over_http_only_the_bad_event_is_set_aside(server, served: Store) -> None:
    with flywheel.Logger(server.url, token=TOKEN, batch_size=100, flush_interval=None) as log:
        goods, bads = log_mixed(log, 99, bad_every=99)
    assert {e.event_id for e in served.events()} == goods
    assert {r.record["event_id"] for r in log.rejected} == bads
