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

from flywheel._internal.hashing import text_hash
from flywheel.data.events import EVENT_CLASSES, Event, EventKind, RetrievalEvent
from flywheel.store.records import RecordError

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


def _coerce(value: Any, type_name: str, name: str) -> Any:
    if type_name == "bool":
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise RecordError(f"{value!r} is not true/false", "write true or false", name)
        return value
    if type_name == "int":
        if isinstance(value, bool) or not str(value).lstrip("-").isdigit():
            raise RecordError(f"{value!r} is not an integer", "write a whole number", name)
        return int(value)
    if type_name == "str":
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise RecordError(f"{value!r} is not text", "write a string", name)
        return str(value)
    if isinstance(value, str):  # a list carried as JSON text in a CSV cell
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise RecordError("not valid JSON", f"write {name} as a JSON list", name) from None
    if not isinstance(value, list | tuple):
        raise RecordError(f"expected a list, got {type(value).__name__}", "write a JSON list", name)
    return value


def _results(value: list) -> tuple[tuple[str, int, float], ...]:
    rows = []
    for rank, item in enumerate(value, start=1):
        if isinstance(item, Mapping):
            item = [
                item.get("chunk_id", item.get("doc_id")),
                item.get("rank", rank),
                item.get("score", 0.0),
            ]
        if not isinstance(item, list | tuple) or len(item) not in (2, 3) or item[0] is None:
            raise RecordError(
                f"result {rank} is {item!r}",
                "write results as [[chunk_id, rank, score], ...] or [{chunk_id, rank, score}]",
                "results",
            )
        chunk_id, item_rank, score = (item[0], rank, item[1]) if len(item) == 2 else item
        try:
            rows.append((str(chunk_id), int(item_rank), float(score)))
        except (TypeError, ValueError):
            raise RecordError(
                f"result {rank} has a bad rank or score: {item!r}",
                "ranks are integers, scores numbers",
                "results",
            ) from None
    return tuple(rows)


def parse_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    try:
        return utc(datetime.fromisoformat(str(value)))
    except ValueError:
        raise RecordError(
            f"{value!r} is not a time", "write ISO 8601, e.g. 2024-05-01T12:00:00Z", "timestamp"
        ) from None


def event_from_record(raw: Mapping[str, Any]) -> Event:
    """Validate a raw record (from a file) into its event dataclass.

    Without an ``event_id`` the id is a hash of the record, so ingesting the same file twice
    stores each event once.
    """
    kind = raw.get("kind")
    known = [k.value for k in EventKind]
    if kind not in known:
        raise RecordError(
            f"'{kind}' is not an event kind" if kind else "missing",
            f"use one of: {', '.join(known)}",
            "kind",
        )
    cls = EVENT_CLASSES[EventKind(kind)]
    fields = {f.name: f for f in _payload_fields(cls)}
    unknown = set(raw) - set(fields) - set(HEADER_FIELDS)
    if unknown:
        raise RecordError(
            f"unknown for kind '{kind}'",
            f"remove it; fields of '{kind}': {', '.join(fields) or '(none)'}",
            sorted(unknown)[0],
        )
    for name in ("session_id", "qid", "timestamp"):
        if raw.get(name) in (None, ""):
            raise RecordError("missing", f"every event needs '{name}'", name)
    payload: dict[str, Any] = {}
    for name, spec in fields.items():
        if raw.get(name) is None:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise RecordError("missing", f"a '{kind}' event needs '{name}'", name)
            continue
        type_name = str(spec.type).split("|")[0].strip()
        value = _coerce(raw[name], type_name, name)
        if name == "results":
            value = _results(value)
        elif isinstance(value, list | tuple):
            value = tuple(str(item) for item in value)
        payload[name] = value
    event_id = raw.get("event_id") or "ev-" + text_hash(
        json.dumps(raw, sort_keys=True, default=str, ensure_ascii=False)
    )
    return cls(
        event_id=str(event_id),
        session_id=str(raw["session_id"]),
        user_id=None if raw.get("user_id") in (None, "") else str(raw["user_id"]),
        qid=str(raw["qid"]),
        timestamp=parse_timestamp(raw["timestamp"]),
        **payload,
    )


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
