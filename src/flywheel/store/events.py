"""Map the event dataclasses of :mod:`flywheel.data.events` to ``events`` rows and back.

A row keeps the shared header (kind, session, user, query, time) in columns, so the store can
count and filter without decoding JSON, and every kind-specific field in ``payload``.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from flywheel._internal.hashing import text_hash
from flywheel.data.events import EVENT_CLASSES, Event, EventKind, RetrievalEvent
from flywheel.data.validation import EVENT_MODELS, decode_cells, event_to_record, to_event
from flywheel.store.records import RecordError, TextCells

HEADER_FIELDS = ("event_id", "kind", "session_id", "user_id", "qid", "timestamp")
#: Payload fields that name a document or chunk, checked against the store on ingest.
_TARGET_FIELDS = ("chunk_id", "chunk_ids", "winner", "loser")


def utc(moment: datetime) -> datetime:
    """Timezone-aware UTC; naive times (SQLite hands them back so) are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _payload_fields(cls: type[Event]) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.name not in HEADER_FIELDS]


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    return value


def _tupled(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tupled(item) for item in value)
    return value


def event_to_row(event: Event) -> dict[str, Any]:
    """The row for ``event``; an event without an id gets a random one."""
    payload = {f.name: _jsonable(getattr(event, f.name)) for f in _payload_fields(type(event))}
    return {
        "event_id": event.event_id or uuid.uuid4().hex,
        "kind": str(event.kind),
        "session_id": event.session_id,
        "user_id": event.user_id,
        "qid": event.qid,
        "timestamp": utc(event.timestamp),
        "payload": payload,
    }


def row_to_event(row: Mapping[str, Any]) -> Event:
    """The dataclass for a stored row (timestamps come back timezone-aware, in UTC)."""
    cls = EVENT_CLASSES[EventKind(row["kind"])]
    payload = {key: _tupled(value) for key, value in row["payload"].items()}
    return cls(
        event_id=row["event_id"],
        session_id=row["session_id"],
        user_id=row["user_id"],
        qid=row["qid"],
        timestamp=utc(row["timestamp"]),
        **payload,
    )


def _field(loc: tuple, error_type: str) -> str:
    """Pydantic's location as the field a user wrote: ``("results", 0, "list", 1)`` ->
    ``results[0]``; union tags (``list``, ``object``) and indexes inside a result drop out."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            if parts and "[" not in parts[-1]:
                parts[-1] += f"[{item}]"
        elif item not in ("list", "object"):
            parts.append(str(item))
    return ".".join(parts) or ("kind" if error_type.startswith("union_tag") else "event")


def _record_error(exc: ValidationError, kind: str, fields: list[str]) -> RecordError:
    """The first problem Pydantic found, as a :class:`RecordError` with a fix."""
    first = exc.errors(include_url=False)[0]
    where = _field(tuple(first.get("loc", ())), first.get("type", ""))
    error_type = first.get("type", "")
    if error_type == "missing":
        return RecordError("missing", f"a '{kind}' event needs '{where}'", where)
    if error_type == "extra_forbidden":
        return RecordError(
            f"unknown for kind '{kind}'",
            f"remove it; fields of '{kind}': {', '.join(fields) or '(none)'}",
            where,
        )
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    value = first.get("input")
    shown = repr(value) if isinstance(value, str | int | float | bool) else type(value).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return RecordError(
        f"{shown}: {message}",
        "see the event fields in docs/capture.md",
        None if where == "event" else where,
    )


def event_from_record(raw: Mapping[str, Any], *, live: bool = False) -> Event:
    """Validate a raw record (a file's line, an API body, an SDK call) into its event
    dataclass with the one model of :mod:`flywheel.data.validation`.

    A CSV/TSV row (:class:`~flywheel.store.records.TextCells`) is decoded from text first.
    Without an ``event_id`` the id is a hash of the record, so ingesting the same file twice
    stores each event once. ``live`` (the API and the SDK) lets a retrieval carry its
    ``query`` text; files ingest queries on their own.
    """
    if isinstance(raw, TextCells):
        raw = decode_cells(raw)
    kind = raw.get("kind")
    known = [k.value for k in EventKind]
    if kind not in known:
        shown = kind if isinstance(kind, str) else type(kind).__name__
        raise RecordError(
            f"'{shown}' is not an event kind" if kind else "missing",
            f"use one of: {', '.join(known)}",
            "kind",
        )
    model_cls = EVENT_MODELS[EventKind(kind)]
    fields = [name for name in model_cls.model_fields if name not in HEADER_FIELDS]
    if "query" in raw and kind == "retrieval" and not live:
        raise RecordError(
            "query text is only taken by the live API (POST /events, flywheel.Logger)",
            "ingest the queries first (flywheel ingest queries) and drop 'query'",
            "query",
        )
    record = {key: value for key, value in raw.items() if value is not None}
    if "timestamp" not in record or record["timestamp"] == "":
        raise RecordError("missing", "every event needs 'timestamp'", "timestamp")
    try:
        model = model_cls.model_validate(record)
    except ValidationError as exc:
        raise _record_error(exc, kind, fields) from None
    event_id = model.event_id or "ev-" + text_hash(
        json.dumps(raw, sort_keys=True, default=str, ensure_ascii=False)
    )
    return to_event(model, event_id=event_id)


def checked_row(event: Event) -> dict[str, Any]:
    """The row for an event built in Python (the store's API, the search route), after the
    same validation a file or API record gets."""
    record = event_to_record(event)
    record.pop("event_id", None)  # an id is checked where it is made, not re-derived here
    event_from_record(record, live=True)
    return event_to_row(event)


def event_references(event: Event) -> tuple[set[str], set[str]]:
    """The query ids and document/chunk ids an event points at."""
    qids = {event.qid}
    if hasattr(event, "previous_qid"):
        qids.add(event.previous_qid)
    targets: set[str] = set()
    if isinstance(event, RetrievalEvent):
        targets.update(chunk_id for chunk_id, _, _ in event.results)
    for name in _TARGET_FIELDS:
        value = getattr(event, name, None)
        if isinstance(value, str):
            targets.add(value)
        elif isinstance(value, tuple):
            targets.update(value)
    return qids, targets
