"""Store what a batch of spans became: documents (by choice), queries, events and judgments,
in one transaction, through the importer every other route uses.

Events go in exactly as :meth:`Store.log_events` writes them (``import_parsed`` over
``event_to_row``); documents and judgments through ``import_parsed`` with the store's own
parsers. So a span stored twice is ``unchanged``, and a bad span fails the batch before
anything is written.

Documents that the spans name but the store lacks are handled by :class:`MissingDocs`:
``add`` stores the ones whose content the span carried (``document.content``), ``report``
stores none. What is still missing is then an error naming the first span that needs it
(a file import), or, with ``partial=True`` (the OTLP endpoint), those spans' events are left
out and counted, so one unknown document does not cost the whole export.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from flywheel.data.events import Event
from flywheel.errors import DataFormatError
from flywheel.store import Store, schema
from flywheel.store.events import event_references, event_to_row
from flywheel.store.importers import Parsed, import_parsed, known_ids
from flywheel.store.live import store_live_queries
from flywheel.store.records import parse_document, parse_judgment
from flywheel.traces.openinference import TraceCapture
from flywheel.traces.spans import Origin


class MissingDocs(StrEnum):
    """What to do with a document a span names but the store lacks."""

    ADD = "add"
    REPORT = "report"


@dataclass
class TraceReport:
    """What one batch of spans did to the store."""

    source: str
    events_added: int = 0
    events_unchanged: int = 0
    queries_added: int = 0
    documents_added: int = 0
    judgments_added: int = 0
    judgments_unchanged: int = 0
    #: documents the spans named that the store lacks (and that were not added)
    missing_documents: list[str] = field(default_factory=list)
    #: spans or annotations left out because of those documents (``partial`` only)
    rejected: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        parts = [
            f"{self.events_added} events added",
            f"{self.events_unchanged} unchanged",
            f"{self.queries_added} new queries",
        ]
        if self.documents_added:
            parts.append(f"{self.documents_added} documents added")
        if self.judgments_added or self.judgments_unchanged:
            parts.append(
                f"{self.judgments_added} judgments added ({self.judgments_unchanged} unchanged)"
            )
        if self.rejected:
            parts.append(f"{self.rejected} refused for unknown documents")
        return f"traces from {self.source}: " + ", ".join(parts)


def _targets(item: Event | dict[str, Any]) -> set[str]:
    if isinstance(item, Event):
        return event_references(item)[1]
    return {item["doc_id"]}


def _by_source(items: list[tuple[Origin, Any]]) -> dict[str, list[tuple[int, Any]]]:
    groups: dict[str, list[tuple[int, Any]]] = {}
    for (source, line), item in items:
        groups.setdefault(source, []).append((line, item))
    return groups


def store_capture(
    store: Store,
    capture: TraceCapture,
    *,
    missing_docs: MissingDocs | str = MissingDocs.REPORT,
    partial: bool = False,
    source: str = "",
) -> TraceReport:
    """Write ``capture`` in one transaction; see the module docstring for ``missing_docs``
    and ``partial``. Raises :class:`DataFormatError` (``file:line``) before writing.
    ``source`` names the batch in the report (default: the files the items came from)."""
    missing_docs = MissingDocs(missing_docs)
    items: list[tuple[Origin, Event | dict[str, Any]]] = [*capture.events, *capture.judgments]
    sources = sorted({where for (where, _), _ in items})
    report = TraceReport(source=source or ", ".join(sources), skipped=dict(capture.skipped))
    with store.engine.begin() as conn:
        wanted = {target for _, item in items for target in _targets(item)}
        known = known_ids(conn, schema.documents.c.doc_id, wanted)
        known |= known_ids(conn, schema.chunks.c.chunk_id, wanted - known)
        missing = wanted - known
        if missing_docs is MissingDocs.ADD:
            addable = sorted(missing & set(capture.documents))
            rows = [capture.documents[doc_id] for doc_id in addable]
            for where, group in _by_source(rows).items():
                parsed = [Parsed(line, parse_document(row), None, row) for line, row in group]
                added = import_parsed(conn, "documents", parsed, source=where)
                report.documents_added += added.added
            missing -= set(addable)
        if missing:
            (where, line), first = min(
                ((origin, sorted(_targets(item) & missing)[0]) for origin, item in items
                 if _targets(item) & missing),
                key=lambda pair: pair[0],
            )  # fmt: skip
            if not partial:
                how = (
                    "its span carries no document.content to add it from"
                    if missing_docs is MissingDocs.ADD
                    else "pass --missing-docs add to store the documents the spans carry"
                )
                raise DataFormatError(
                    where,
                    line,
                    f"unknown document '{first}' ({len(missing)} documents the store lacks)",
                    f"ingest the corpus first (flywheel ingest corpus), or {how}",
                    "document.id",
                )
            report.missing_documents = sorted(missing)
            kept = [(origin, item) for origin, item in items if not _targets(item) & missing]
            report.rejected = len(items) - len(kept)
            items = kept
        events = [(origin, item) for origin, item in items if isinstance(item, Event)]
        judgments = [(origin, item) for origin, item in items if not isinstance(item, Event)]
        used = {e.qid for _, e in events} | {j["qid"] for _, j in judgments}
        queries = {qid: text for qid, text in capture.queries.items() if qid in used}
        if queries:
            added = store_live_queries(conn, queries, source=report.source)
            report.queries_added = added.added
        for where, group in _by_source(events).items():
            parsed = [Parsed(line, event_to_row(event), None, event) for line, event in group]
            done = import_parsed(conn, "events", parsed, source=where)
            report.events_added += done.added
            report.events_unchanged += done.unchanged + done.duplicates
        for where, group in _by_source(judgments).items():
            parsed = [Parsed(line, parse_judgment(row), None, row) for line, row in group]
            graded = import_parsed(conn, "judgments", parsed, source=where)
            report.judgments_added += graded.added
            report.judgments_unchanged += graded.unchanged + graded.duplicates
    return report
