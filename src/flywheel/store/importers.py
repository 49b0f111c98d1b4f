"""Bulk, all-or-nothing import of records into one table, inside the caller's transaction.

The rules every ingest path shares (files, BEIR folders and the Python API):

* a record whose id is stored with the same content is skipped, so re-ingesting is a no-op;
* the same id with different content is an error (within the file and against the store),
  unless ``replace`` is set, which updates the stored row;
* judgments and events must point at stored queries, documents or chunks;
* by default the first bad record fails the whole file and nothing is written; with
  ``skip_invalid`` the good records are stored and the bad ones go to ``<file>.rejects.jsonl``.

Rows are written with ``executemany`` in batches, never one ORM object at a time.

Several writers may import at once (app servers logging events into one PostgreSQL, or
processes sharing a SQLite file). Between the check for stored ids and the insert another
writer may store the same id; new rows are therefore inserted with ``ON CONFLICT DO NOTHING
RETURNING`` (SQLite and PostgreSQL alike), and a row another writer stored first is judged
like any stored row: same content is ``unchanged``, different content an error (or an update
with ``replace``). Rows go in key order, so two writers never wait on each other in a cycle.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from flywheel._internal.io import write_jsonl
from flywheel.errors import DataFormatError
from flywheel.store import schema
from flywheel.store.events import event_from_record, event_references, event_to_row, row_to_event
from flywheel.store.readers import RawRecord
from flywheel.store.records import RecordError, check_row

log = logging.getLogger(__name__)

BATCH = 900  # stays under SQLite's default limit of bound parameters per IN (...)


@dataclass
class IngestReport:
    """What one import did. ``rejected`` lines went to ``rejects_path`` (``--skip-invalid``)."""

    kind: str
    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        parts = [f"{self.added} added", f"{self.unchanged} unchanged"]
        if self.updated:
            parts.append(f"{self.updated} updated")
        if self.duplicates:
            parts.append(f"{self.duplicates} repeated in the file")
        if self.rejected:
            parts.append(f"{self.rejected} rejected -> {self.rejects_path}")
        return f"{self.kind} from {self.source}: " + ", ".join(parts)


@dataclass(frozen=True)
class Parsed:
    """A record after parsing: its row, or why it was refused."""

    line: int
    row: dict[str, Any] | None
    error: RecordError | None
    raw: Any


def parse_all(records: Iterable[RawRecord], parser: Callable[[dict], dict]) -> Iterator[Parsed]:
    for record in records:
        if record.error is not None:
            yield Parsed(record.line, None, record.error, record.raw)
            continue
        try:
            row = parser(record.fields or {})
            check_row(row)
            yield Parsed(record.line, row, None, record.raw)
        except RecordError as error:
            yield Parsed(record.line, None, error, record.raw)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            # a value no parser foresaw must still be a file:line error, never a traceback
            error = RecordError(
                f"cannot read this record ({type(exc).__name__}: {str(exc)[:200]})",
                "check its values against docs/store.md",
            )
            yield Parsed(record.line, None, error, record.raw)


def batches(items: list, size: int = BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def known_ids(conn: Connection, column: Any, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` exist in ``column``."""
    wanted = sorted(set(ids))
    found: set[str] = set()
    for batch in batches(wanted):
        found.update(conn.execute(select(column).where(column.in_(batch))).scalars())
    return found


# --- per-table behaviour: key, compared content, existing rows, references -------------------


@dataclass(frozen=True)
class _Kind:
    table: Table
    key: Callable[[dict], Hashable]
    content: Callable[[dict], tuple]
    existing: Callable[[Connection, list[dict]], dict[Hashable, tuple]]
    key_columns: tuple[str, ...]  # the columns ``key`` reads


def _by_pk(table: Table, pk: str, columns: tuple[str, ...]) -> Callable:
    def existing(conn: Connection, rows: list[dict]) -> dict[Hashable, tuple]:
        found: dict[Hashable, tuple] = {}
        cols = [table.c[pk], *(table.c[c] for c in columns)]
        for batch in batches(sorted({row[pk] for row in rows})):
            for stored in conn.execute(select(*cols).where(table.c[pk].in_(batch))):
                found[stored[0]] = tuple(stored[1:])
        return found

    return existing


def _judgment_key(row: dict) -> Hashable:
    return (row["qid"], row["doc_id"] or row["chunk_id"], row["source"])


def _existing_judgments(conn: Connection, rows: list[dict]) -> dict[Hashable, tuple]:
    j = schema.judgments
    found: dict[Hashable, tuple] = {}
    for batch in batches(sorted({row["qid"] for row in rows})):
        query = select(
            j.c.qid, j.c.doc_id, j.c.chunk_id, j.c.source, j.c.grade, j.c.split, j.c.scale
        )
        for qid, doc_id, chunk_id, source, grade, split, scale in conn.execute(
            query.where(j.c.qid.in_(batch))
        ):
            found[(qid, doc_id or chunk_id, source)] = (grade, split, scale)
    return found


def _event_content(row: dict) -> tuple:
    return (
        row["kind"],
        row["session_id"],
        row["user_id"],
        row["qid"],
        row["timestamp"].replace(tzinfo=None),
        row["payload"],
    )


def _existing_events(conn: Connection, rows: list[dict]) -> dict[Hashable, tuple]:
    e = schema.events
    found: dict[Hashable, tuple] = {}
    for batch in batches(sorted({row["event_id"] for row in rows})):
        for stored in conn.execute(select(e).where(e.c.event_id.in_(batch))).mappings():
            found[stored["event_id"]] = _event_content(event_to_row(row_to_event(stored)))
    return found


_QUERY_COLUMNS = ("text", "intent", "source", "reference_answer", "reasoning")

KINDS: dict[str, _Kind] = {
    "documents": _Kind(
        schema.documents,
        lambda r: r["doc_id"],
        lambda r: (r["content_hash"],),
        _by_pk(schema.documents, "doc_id", ("content_hash",)),
        ("doc_id",),
    ),
    "queries": _Kind(
        schema.queries,
        lambda r: r["qid"],
        lambda r: tuple(r[c] for c in _QUERY_COLUMNS),
        _by_pk(schema.queries, "qid", _QUERY_COLUMNS),
        ("qid",),
    ),
    "judgments": _Kind(
        schema.judgments,
        _judgment_key,
        lambda r: (r["grade"], r["split"], r["scale"]),
        _existing_judgments,
        ("qid", "doc_id", "chunk_id", "source"),
    ),
    "events": _Kind(
        schema.events, lambda r: r["event_id"], _event_content, _existing_events, ("event_id",)
    ),
}


def _check_judgment_refs(conn: Connection, rows: list[Parsed]) -> dict[int, RecordError]:
    """Unknown queries/targets are errors; a ``chunk_id`` naming a document becomes ``doc_id``."""
    qids = known_ids(conn, schema.queries.c.qid, (p.row["qid"] for p in rows))
    docs = known_ids(
        conn, schema.documents.c.doc_id, (p.row["doc_id"] or p.row["chunk_id"] for p in rows)
    )
    chunks = known_ids(
        conn, schema.chunks.c.chunk_id, (p.row["chunk_id"] for p in rows if p.row["chunk_id"])
    )
    errors: dict[int, RecordError] = {}
    for index, parsed in enumerate(rows):
        row = parsed.row
        if row["qid"] not in qids:
            errors[index] = RecordError(
                f"unknown query '{row['qid']}'",
                "ingest the queries first (flywheel ingest queries)",
                "qid",
            )
        elif row["doc_id"] is not None and row["doc_id"] not in docs:
            errors[index] = RecordError(
                f"unknown document '{row['doc_id']}'",
                "ingest the corpus first (flywheel ingest corpus)",
                "doc_id",
            )
        elif row["chunk_id"] is not None and row["chunk_id"] not in chunks:
            if row["chunk_id"] in docs:  # documents are their own chunk until chunked
                row["doc_id"], row["chunk_id"] = row["chunk_id"], None
            else:
                errors[index] = RecordError(
                    f"unknown chunk '{row['chunk_id']}'",
                    "run flywheel chunk first, or judge the document",
                    "chunk_id",
                )
    return errors


def _check_event_refs(conn: Connection, rows: list[Parsed]) -> dict[int, RecordError]:
    refs = [event_references(row_to_event(p.row)) for p in rows]
    qids = known_ids(conn, schema.queries.c.qid, (q for qs, _ in refs for q in qs))
    targets = {t for _, ts in refs for t in ts}
    found = known_ids(conn, schema.documents.c.doc_id, targets)
    found |= known_ids(conn, schema.chunks.c.chunk_id, targets - found)
    errors: dict[int, RecordError] = {}
    for index, (event_qids, event_targets) in enumerate(refs):
        if missing := sorted(event_qids - qids):
            errors[index] = RecordError(
                f"unknown query '{missing[0]}'", "ingest or log the query before its events", "qid"
            )
        elif missing := sorted(event_targets - found):
            errors[index] = RecordError(
                f"unknown document or chunk '{missing[0]}'",
                "ingest the corpus before events that point at it",
                "chunk_id",
            )
    return errors


_REFERENCE_CHECKS: dict[str, Callable[[Connection, list[Parsed]], dict[int, RecordError]]] = {
    "judgments": _check_judgment_refs,
    "events": _check_event_refs,
}


def parse_event_row(raw: dict) -> dict:
    return event_to_row(event_from_record(raw))


# --- writing -----------------------------------------------------------------------------------

_UPSERT_INSERTS = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}


def _insert_new(conn: Connection, spec: _Kind, rows: list[dict]) -> list[dict]:
    """Insert ``rows`` (in key order); return the ones another writer stored meanwhile."""
    if not rows:
        return []
    rows = sorted(rows, key=lambda row: str(spec.key(row)))
    dialect_insert = _UPSERT_INSERTS.get(conn.dialect.name)
    if dialect_insert is None:  # another backend: a concurrent duplicate fails the transaction
        for batch in batches(rows):
            conn.execute(spec.table.insert(), batch)
        return []
    stmt = (
        dialect_insert(spec.table)
        .on_conflict_do_nothing()
        .returning(*(spec.table.c[name] for name in spec.key_columns))
    )
    inserted: set[Hashable] = set()
    for batch in batches(rows):
        inserted.update(spec.key(dict(row)) for row in conn.execute(stmt, batch).mappings())
    return [row for row in rows if spec.key(row) not in inserted]


def _update_rows(conn: Connection, kind: str, rows: list[dict]) -> None:
    table = KINDS[kind].table
    if kind == "judgments":
        j = table
        stmt = (
            update(j)
            .where(
                j.c.qid == bindparam("k_qid"),
                j.c.source == bindparam("k_source"),
                func.coalesce(j.c.doc_id, j.c.chunk_id) == bindparam("k_target"),
            )
            .values(
                grade=bindparam("k_grade"), split=bindparam("k_split"), scale=bindparam("k_scale")
            )
        )
        params = [
            {
                "k_qid": r["qid"],
                "k_source": r["source"],
                "k_target": r["doc_id"] or r["chunk_id"],
                "k_grade": r["grade"],
                "k_split": r["split"],
                "k_scale": r["scale"],
            }
            for r in rows
        ]
    else:
        pk = table.primary_key.columns.values()[0].name
        columns = [c.name for c in table.columns if c.name != pk]
        stmt = (
            update(table)
            .where(table.c[pk] == bindparam(f"k_{pk}"))
            .values({c: bindparam(f"k_{c}") for c in columns})
        )
        params = [{f"k_{k}": v for k, v in row.items()} for row in rows]
        if kind == "documents":  # chunks of a changed document are stale
            changed = [row["doc_id"] for row in rows]
            for batch in batches(changed):
                conn.execute(delete(schema.chunks).where(schema.chunks.c.doc_id.in_(batch)))
    for batch in batches(params):
        conn.execute(stmt, batch)


def import_parsed(
    conn: Connection,
    kind: str,
    parsed: Iterable[Parsed],
    *,
    source: str,
    skip_invalid: bool = False,
    replace: bool = False,
) -> IngestReport:
    """Validate every record, then write the new and changed ones; raise before writing if any
    record is bad (unless ``skip_invalid``). ``source`` names the file for messages."""
    spec = KINDS[kind]
    report = IngestReport(kind=kind, source=source)
    errors: list[tuple[int, RecordError, Any]] = []
    seen: dict[Hashable, tuple[int, tuple]] = {}
    good: list[Parsed] = []
    for item in parsed:
        if item.error is not None:
            errors.append((item.line, item.error, item.raw))
            continue
        key, content = spec.key(item.row), spec.content(item.row)
        if key in seen:
            first_line, first_content = seen[key]
            if first_content == content:
                report.duplicates += 1
            else:
                errors.append(
                    (
                        item.line,
                        RecordError(
                            f"id {_show(key)} already appears at line {first_line} "
                            "with different content",
                            "give each record its own id, or keep one of the two",
                        ),
                        item.raw,
                    )
                )
            continue
        seen[key] = (item.line, content)
        good.append(item)

    if check := _REFERENCE_CHECKS.get(kind):
        bad = check(conn, good)
        errors.extend((good[i].line, error, good[i].raw) for i, error in bad.items())
        good = [item for i, item in enumerate(good) if i not in bad]

    stored = spec.existing(conn, [item.row for item in good])
    new: list[dict] = []
    changed: list[dict] = []
    for item in good:
        key = spec.key(item.row)
        if key not in stored:
            new.append(item.row)
        elif stored[key] == spec.content(item.row):
            report.unchanged += 1
        elif replace:
            changed.append(item.row)
        else:
            errors.append(
                (
                    item.line,
                    RecordError(
                        f"id {_show(key)} is already stored with different content",
                        "pass --replace (replace=True) to overwrite it, or use a new id",
                    ),
                    item.raw,
                )
            )

    if errors and not skip_invalid:
        errors.sort(key=lambda e: e[0])
        line, error, _ = errors[0]
        more = (
            f" ({len(errors) - 1} more bad records; --skip-invalid stores the good ones)"
            if len(errors) > 1
            else ""
        )
        raise DataFormatError(source, line, error.problem, error.fix + more, error.field)

    raced = _insert_new(conn, spec, new)
    if raced:  # stored by another writer between our check and our insert: judge them now
        lines = {spec.key(item.row): item for item in good}
        stored = spec.existing(conn, raced)
        late: list[tuple[int, RecordError, Any]] = []
        for row in raced:
            key = spec.key(row)
            if stored.get(key) == spec.content(row):
                report.unchanged += 1
            elif replace:
                changed.append(row)
            else:
                late.append(
                    (
                        lines[key].line,
                        RecordError(
                            f"id {_show(key)} was just stored by another writer with "
                            "different content",
                            "pass --replace (replace=True) to overwrite it, or use a new id",
                        ),
                        lines[key].raw,
                    )
                )
        if late and not skip_invalid:
            line, error, _ = late[0]
            raise DataFormatError(source, line, error.problem, error.fix, error.field)
        errors.extend(late)
        log.info("%s: %d rows were stored by another writer meanwhile", source, len(raced))
    if changed:
        _update_rows(conn, kind, changed)
    report.added, report.updated = len(new) - len(raced), len(changed)
    if errors:
        report.rejected = len(errors)
        report.rejects_path = f"{source}.rejects.jsonl"
        write_jsonl(
            report.rejects_path,
            (
                {"line": line, "error": str(error), "record": _showable(raw)}
                for line, error, raw in sorted(errors, key=lambda e: e[0])
            ),
        )
        log.info("%s: %d bad records written to %s", source, len(errors), report.rejects_path)
    return report


def _showable(raw: Any, depth: int = 0) -> Any:
    """A rejected record as plain JSON: bytes (Parquet binary columns) as text, lone
    surrogates replaced, odd objects as their repr, very deep values cut off."""
    if depth > 32:
        return "..."
    if isinstance(raw, str):
        return raw.encode("utf-8", "replace").decode("utf-8")
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    if isinstance(raw, dict):
        return {str(_showable(k, depth + 1)): _showable(v, depth + 1) for k, v in raw.items()}
    if isinstance(raw, list | tuple):
        return [_showable(item, depth + 1) for item in raw]
    if isinstance(raw, int) and raw.bit_length() > 4000:  # str() refuses past 4300 digits
        return f"<an integer of {raw.bit_length()} bits>"
    if raw is None or isinstance(raw, bool | int | float):
        return raw if not isinstance(raw, float) or math.isfinite(raw) else repr(raw)
    return repr(raw)


def _show(key: Hashable) -> str:
    return "/".join(map(str, key)) if isinstance(key, tuple) else f"'{key}'"
