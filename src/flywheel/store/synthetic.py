"""Synthetic pairs in the store: their queries, judgments, and the passage each trains against.

A kept synthetic pair is a ``synthetic`` query with a ``derived`` judgment on its source
document. When its positive is not that document's text - the inverse cloze task removes the
question sentence, cropping keeps one span - the positive goes to ``synthetic_positives``
(one row per query), and :func:`read_positive_texts` hands it to whoever builds training rows
(:meth:`Store.to_dataset <flywheel.store.Store.to_dataset>` puts it in
``RetrievalDataset.positive_texts``). Training an ICT question against the whole document,
which contains it verbatim, teaches copying instead of retrieval.

These texts are deliberately not chunks: chunks are retrieval corpora (``flywheel chunk``,
``to_dataset(level="chunk")``), and a masked passage must never be searched or evaluated
against. Functions, not :class:`~flywheel.store.Store` methods, like :mod:`.hosted`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from flywheel.errors import ConfigError
from flywheel.store.importers import IngestReport, batches, import_parsed, parse_all
from flywheel.store.readers import RawRecord
from flywheel.store.records import parse_judgment, parse_query
from flywheel.store.schema import JudgmentSource, QuerySource, queries, synthetic_positives

PositiveTexts = dict[str, dict[str, str]]  # {qid: {doc_id: text}}, shaped like Qrels


def _records(rows: Sequence[Mapping[str, Any]]) -> Iterable[RawRecord]:
    return (RawRecord(n, dict(row), None, dict(row)) for n, row in enumerate(rows, start=1))


def add_synthetic_pairs(
    store: Any,
    query_rows: Sequence[Mapping[str, Any]],
    judgment_rows: Sequence[Mapping[str, Any]],
    positive_rows: Sequence[Mapping[str, Any]],
    *,
    split: str,
    source: str = "write_synthetic()",
) -> dict[str, IngestReport | int]:
    """Store synthetic queries, their judgments and positives in one transaction.

    ``positive_rows`` are dicts with ``qid``, ``doc_id``, ``generator``, ``text``; each names a
    query of ``query_rows``. The stored positives of every query in ``query_rows`` are replaced
    (running synth again replaces them, never duplicates them); a query without a positive row
    trains against its document. Returns the two ingest reports and the positives written.
    """
    qids = {str(row["qid"]) for row in query_rows}
    stray = sorted({str(row["qid"]) for row in positive_rows} - qids)
    if stray:
        raise ConfigError(
            f"{len(stray)} synthetic positives name no query being stored (e.g. '{stray[0]}'); "
            "store each positive together with its query"
        )

    def query(raw: dict) -> dict:
        return parse_query(raw, default_source=QuerySource.SYNTHETIC)

    def judgment(raw: dict) -> dict:
        return parse_judgment(raw, default_source=JudgmentSource.DERIVED, default_split=split)

    with store.engine.begin() as conn:
        query_report = import_parsed(
            conn, "queries", parse_all(_records(query_rows), query), source=source
        )
        judgment_report = import_parsed(
            conn, "judgments", parse_all(_records(judgment_rows), judgment), source=source
        )
        written = _replace_positives(conn, sorted(qids), positive_rows)
    return {"queries": query_report, "judgments": judgment_report, "positives": written}


def _replace_positives(conn: Connection, qids: list[str], rows: Sequence[Mapping[str, Any]]) -> int:
    p = synthetic_positives
    for batch in batches(qids):
        conn.execute(delete(p).where(p.c.qid.in_(batch)))
    new = [
        {
            "qid": str(row["qid"]),
            "doc_id": str(row["doc_id"]),
            "generator": str(row["generator"]),
            "text": str(row["text"]),
        }
        for row in sorted(rows, key=lambda row: str(row["qid"]))  # key order: no lock cycles
    ]
    for batch in batches(new):
        conn.execute(p.insert(), batch)
    return len(new)


def read_positive_texts(conn: Connection) -> PositiveTexts:
    """``{qid: {doc_id: text}}`` of every stored synthetic positive.

    Only queries whose source is ``synthetic`` count, so a real query never trains against
    anything but its document."""
    p, q = synthetic_positives, queries
    query = (
        select(p.c.qid, p.c.doc_id, p.c.text)
        .join(q, q.c.qid == p.c.qid)
        .where(q.c.source == str(QuerySource.SYNTHETIC))
    )
    out: PositiveTexts = {}
    for qid, doc_id, text in sorted(conn.execute(query).all()):
        out.setdefault(qid, {})[doc_id] = text
    return out


def synthetic_positive_texts(store: Any) -> PositiveTexts:
    """:func:`read_positive_texts` on a :class:`~flywheel.store.Store`."""
    with store.engine.connect() as conn:
        return read_positive_texts(conn)
