"""Ingest files: one kind per file, or a whole BEIR folder, each in the caller's transaction.

The record kinds and their parsers form a registry, so ``flywheel ingest KIND FILE`` and
``Store.ingest_file(KIND, FILE)`` accept exactly the kinds listed in :data:`PARSERS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Connection

from flywheel.errors import DataFormatError, UnknownComponentError
from flywheel.store.importers import IngestReport, import_parsed, parse_all, parse_event_row
from flywheel.store.readers import read_records
from flywheel.store.records import parse_document, parse_judgment, parse_query
from flywheel.store.schema import JudgmentSource, QuerySource

log = logging.getLogger(__name__)


class RecordKind(StrEnum):
    CORPUS = "corpus"
    QUERIES = "queries"
    JUDGMENTS = "judgments"
    EVENTS = "events"


@dataclass(frozen=True)
class IngestOptions:
    """Knobs of one file import. ``source``/``split`` fill records that do not name their own."""

    skip_invalid: bool = False
    replace: bool = False
    source: str | None = None
    split: str | None = None


def _corpus(options: IngestOptions) -> Callable[[dict], dict]:
    return parse_document


def _queries(options: IngestOptions) -> Callable[[dict], dict]:
    source = options.source or QuerySource.EVAL
    return lambda raw: parse_query(raw, default_source=source)


def _judgments(options: IngestOptions) -> Callable[[dict], dict]:
    source = options.source or JudgmentSource.HUMAN
    return lambda raw: parse_judgment(raw, default_source=source, default_split=options.split)


def _events(options: IngestOptions) -> Callable[[dict], dict]:
    return parse_event_row


#: kind -> (table kind, parser factory)
PARSERS: dict[str, tuple[str, Callable[[IngestOptions], Callable[[dict], dict]]]] = {
    RecordKind.CORPUS: ("documents", _corpus),
    RecordKind.QUERIES: ("queries", _queries),
    RecordKind.JUDGMENTS: ("judgments", _judgments),
    RecordKind.EVENTS: ("events", _events),
}


def ingest_file(
    conn: Connection, kind: str, path: str | Path, options: IngestOptions | None = None
) -> IngestReport:
    """Import one JSONL/CSV/TSV/Parquet file of ``kind`` records (all or nothing by default)."""
    if kind not in PARSERS:
        raise UnknownComponentError("record kind", kind, PARSERS)
    options = options or IngestOptions()
    table_kind, factory = PARSERS[kind]
    parsed = parse_all(read_records(path), factory(options))
    report = import_parsed(
        conn,
        table_kind,
        parsed,
        source=str(path),
        skip_invalid=options.skip_invalid,
        replace=options.replace,
    )
    if not report.rejected:  # a rejects file from an earlier run would describe old errors
        Path(f"{path}.rejects.jsonl").unlink(missing_ok=True)
    return report


def ingest_beir(
    conn: Connection, folder: str | Path, *, replace: bool = False
) -> dict[str, IngestReport]:
    """Import a BEIR folder: corpus.jsonl, queries.jsonl (source ``eval``) and every
    ``qrels/<split>.tsv`` (source ``benchmark``, split = the file's stem).

    Benchmarks ship a few documents with neither title nor text (Cranfield has two); they are
    stored anyway, because their judgments belong to the benchmark, and counted in the
    report's warnings.
    """
    root = Path(folder)
    if not (root / "corpus.jsonl").is_file() or not (root / "queries.jsonl").is_file():
        raise DataFormatError(
            root,
            None,
            "not a BEIR folder",
            "pass a folder with corpus.jsonl, queries.jsonl and qrels/*.tsv",
        )
    qrels_files = sorted((root / "qrels").glob("*.tsv"))
    if not qrels_files:
        raise DataFormatError(
            root / "qrels",
            None,
            "no judgments found",
            "add qrels/<split>.tsv files (query-id, corpus-id, score)",
        )
    empty = 0

    def parse_benchmark_document(raw: dict) -> dict:
        nonlocal empty
        row = parse_document(raw, allow_empty=True)
        empty += not row["text"].strip() and not row["title"].strip()
        return row

    corpus = root / "corpus.jsonl"
    reports = {
        "documents": import_parsed(
            conn,
            "documents",
            parse_all(read_records(corpus), parse_benchmark_document),
            source=str(corpus),
            replace=replace,
        )
    }
    if empty:
        reports["documents"].warnings.append(f"{empty} documents have no title and no text")
        log.info("%s: %d documents have no title and no text", root, empty)
    reports["queries"] = ingest_file(
        conn,
        RecordKind.QUERIES,
        root / "queries.jsonl",
        IngestOptions(replace=replace, source=QuerySource.EVAL),
    )
    total = IngestReport(kind="judgments", source=str(root / "qrels"))
    for path in qrels_files:
        options = IngestOptions(replace=replace, source=JudgmentSource.BENCHMARK, split=path.stem)
        one = ingest_file(conn, RecordKind.JUDGMENTS, path, options)
        total.added += one.added
        total.updated += one.updated
        total.unchanged += one.unchanged
        total.duplicates += one.duplicates
    reports["judgments"] = total
    return reports
