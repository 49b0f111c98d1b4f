"""Events from a live application: wire records in, event dataclasses and new queries out.

The HTTP API, the SDK and ``flywheel ingest events`` all speak one record format (the fields
of :mod:`flywheel.data.events` plus ``kind``); this module adds the one thing a live app needs
on top: a ``retrieval`` record may carry the ``query`` text, so the first events of a query
nobody ingested can be logged in the same call that stores the query (as a ``live`` query).

Ids make retries safe. A record without ``event_id`` gets a hash of its content (as files do),
so resending the same record stores it once; the SDK and the search page always send their own
``event_id``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from flywheel._internal.hashing import text_hash
from flywheel.data.events import Event
from flywheel.store import schema
from flywheel.store.events import checked_row, event_from_record
from flywheel.store.importers import IngestReport, Parsed, import_parsed, known_ids
from flywheel.store.records import RecordError, parse_query
from flywheel.store.schema import QuerySource

#: The extra field a ``retrieval`` record may carry: the text of its query.
QUERY_FIELD = "query"
_SPACES = re.compile(r"\s+")


def normalize_query(text: str) -> str:
    """Whitespace collapsed and trimmed: the text a live query is stored with."""
    return _SPACES.sub(" ", text).strip()


def live_qid(text: str) -> str:
    """A stable id for a query typed by a user: the same words (case and spacing aside) give
    the same id in every session, so labels from many users add up on one query."""
    return "live-" + text_hash(normalize_query(text).casefold())[:16]


def new_event_id() -> str:
    """A random event id (what the SDK attaches to each event before the first send)."""
    return uuid.uuid4().hex


class RecordsError(ValueError):
    """A record of a batch is bad: ``index`` (0-based) and the :class:`RecordError`."""

    def __init__(self, index: int, error: RecordError) -> None:
        self.index = index
        self.error = error
        super().__init__(f"event {index}: {error}")


def records_to_events(
    records: Iterable[Mapping[str, Any]], *, now: datetime | None = None
) -> tuple[list[Event], dict[str, str]]:
    """Validate wire records into events, and collect ``{qid: query text}`` from the
    ``query`` fields of retrieval records. A record without ``timestamp`` gets ``now``.

    Raises :class:`RecordsError` naming the first bad record and field.
    """
    moment = now or datetime.now(UTC)
    events: list[Event] = []
    queries: dict[str, str] = {}
    for index, raw in enumerate(records):
        record = dict(raw)
        text = record.get(QUERY_FIELD)
        try:
            if text is not None:
                if record.get("kind") != "retrieval":
                    raise RecordError(
                        "only retrieval events carry the query text",
                        "send 'query' with the retrieval event of that qid",
                        QUERY_FIELD,
                    )
                if not isinstance(text, str) or not normalize_query(text):
                    raise RecordError("empty or not text", "send the query as a string", "query")
            if record.get("timestamp") in (None, ""):
                record["timestamp"] = moment
            event = event_from_record(record, live=True)
        except RecordError as error:
            raise RecordsError(index, error) from None
        if text is not None:
            queries.setdefault(event.qid, normalize_query(text))
        events.append(event)
    return events, queries


def store_live_queries(
    conn: Connection, queries: Mapping[str, str], *, source: str
) -> IngestReport:
    """Inside the caller's transaction, store the queries whose qid is new as ``live``
    queries; a qid already stored keeps its text and source (an eval query asked live is
    still the eval query)."""
    known = known_ids(conn, schema.queries.c.qid, queries)
    parsed = []
    for number, (qid, text) in enumerate(sorted(queries.items()), start=1):
        if qid in known:
            continue
        raw = {"qid": qid, "text": text, "source": QuerySource.LIVE}
        try:
            parsed.append(Parsed(number, parse_query(raw), None, raw))
        except RecordError as error:
            parsed.append(Parsed(number, None, error, raw))
    report = import_parsed(conn, "queries", parsed, source=source)
    report.unchanged += len(known)
    return report


def _checked(number: int, event: Event) -> Parsed:
    try:
        return Parsed(number, checked_row(event), None, event)
    except RecordError as error:
        return Parsed(number, None, error, event)


def log_event_groups(
    engine: Engine, groups: Sequence[tuple[Sequence[Event], Mapping[str, str]]]
) -> list[tuple[int, int]]:
    """Several independent writes (``(events, queries)``, as :meth:`Store.log_events` takes)
    in one transaction: a group commit, so a server pays one commit for all the requests
    that arrived while the previous commit ran. Every event must carry its ``event_id``.

    Returns ``(added, unchanged)`` per group. Raises like ``log_events`` when any record of
    any group is bad, and then nothing is written: the caller writes the groups one by one
    so only the bad one fails.
    """
    ids = [[str(e.event_id) for e in events] for events, _ in groups]
    if any(e.event_id is None for events, _ in groups for e in events):
        raise ValueError("log_event_groups needs an event_id on every event")
    queries: dict[str, str] = {}
    for _, group_queries in groups:
        for qid, text in group_queries.items():
            queries.setdefault(qid, text)
    events = [event for group_events, _ in groups for event in group_events]
    with engine.begin() as conn:
        known = known_ids(conn, schema.events.c.event_id, (i for group in ids for i in group))
        if queries:
            store_live_queries(conn, queries, source="log_events(): queries")
        parsed = (_checked(n, e) for n, e in enumerate(events, start=1))
        import_parsed(conn, "events", parsed, source="log_events()")
    counts = []
    for group in ids:
        added = 0
        for event_id in group:  # a repeat, in this group or a later one, is not new
            if event_id not in known:
                known.add(event_id)
                added += 1
        counts.append((added, len(group) - added))
    return counts
