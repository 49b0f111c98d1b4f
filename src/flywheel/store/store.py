"""The :class:`Store`: the Python API behind every ``flywheel`` command that reads or writes data.

One object per database. Writers validate everything first and write in one transaction
(nothing is stored when a record is bad); readers hand back the shared data types of
:mod:`flywheel.data` so the rest of the toolkit never sees SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from flywheel.data.events import (
    AnswerFeedbackEvent,
    ClickEvent,
    DocumentFeedbackEvent,
    Event,
    EventKind,
    RetrievalEvent,
)
from flywheel.data.types import Corpus, Document, Qrels, Queries, RetrievalDataset
from flywheel.errors import ConfigError
from flywheel.settings import db_url
from flywheel.store import chunks as chunk_store
from flywheel.store import experiments, schema
from flywheel.store.engine import make_engine, migrate
from flywheel.store.events import checked_row, row_to_event, utc
from flywheel.store.importers import IngestReport, Parsed, import_parsed
from flywheel.store.ingest import IngestOptions, ingest_beir, ingest_file
from flywheel.store.live import store_live_queries
from flywheel.store.qrels import UNSPLIT, QrelsLevel, ResolvedGrade, read_qrels, read_resolved
from flywheel.store.records import (
    ExperimentRunRecord,
    JudgmentRecord,
    QueryRecord,
    RecordError,
    check_row,
    parse_document,
    parse_judgment,
    parse_query,
)
from flywheel.store.schema import JudgmentSource, QuerySource
from flywheel.store.status import StoreStatus, read_status
from flywheel.store.synthetic import read_positive_texts

log = logging.getLogger(__name__)

#: Results of a retrieval: ``{chunk_id: score}`` or ranked ``[(chunk_id, score), ...]``.
RankedResults = Mapping[str, float] | Sequence[tuple[str, float]]


def _parsed(items: Iterable[Any], parser: Any) -> Iterable[Parsed]:
    for number, item in enumerate(items, start=1):
        try:
            row = parser(item)
            check_row(row)
            yield Parsed(number, row, None, item)
        except RecordError as error:
            yield Parsed(number, None, error, item)


class Store:
    """Documents, chunks, queries, judgments, events and experiment runs in one database.

    ``url`` is any SQLAlchemy URL or a file path; ``None`` means ``--db`` / ``FLYWHEEL_DB`` /
    ``./flywheel.db`` (see :func:`flywheel.settings.db_url`). Opening migrates the schema.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = db_url(url)
        self.engine: Engine = make_engine(self.url)
        try:
            migrate(self.engine)
        except OperationalError as exc:  # a server that is down or refuses the login
            shown = self.engine.url.render_as_string(hide_password=True)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise ConfigError(
                f"cannot open the store at {shown}: {reason}; check the server is running and "
                "the URL (--db or FLYWHEEL_DB)"
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    # --- writing: files --------------------------------------------------------------------

    def ingest_file(
        self,
        kind: str,
        path: str | Path,
        *,
        skip_invalid: bool = False,
        replace: bool = False,
        source: str | None = None,
        split: str | None = None,
    ) -> IngestReport:
        """Import a ``corpus``/``queries``/``judgments``/``events`` file (.jsonl .csv .tsv
        .parquet) in one transaction; see docs/store.md for each kind's fields."""
        options = IngestOptions(
            skip_invalid=skip_invalid, replace=replace, source=source, split=split
        )
        with self.engine.begin() as conn:
            return ingest_file(conn, kind, path, options)

    def ingest_beir(self, folder: str | Path, *, replace: bool = False) -> dict[str, IngestReport]:
        """Import a BEIR folder in one transaction; reports keyed documents/queries/judgments."""
        with self.engine.begin() as conn:
            return ingest_beir(conn, folder, replace=replace)

    # --- writing: Python objects -----------------------------------------------------------

    def add_documents(
        self, docs: Iterable[Document | Mapping[str, Any]], *, replace: bool = False
    ) -> IngestReport:
        """Add documents (``Document`` or dicts with ``doc_id``, ``text``, ``title``,
        ``metadata``); same id with same content is skipped."""
        with self.engine.begin() as conn:
            return import_parsed(
                conn,
                "documents",
                _parsed(docs, parse_document),
                source="add_documents()",
                replace=replace,
            )

    def add_queries(
        self,
        queries: Mapping[str, str] | Iterable[Mapping[str, Any]],
        *,
        source: str = QuerySource.EVAL,
        replace: bool = False,
    ) -> IngestReport:
        """Add queries: a ``{qid: text}`` mapping or dicts with ``qid``, ``text`` and optional
        ``intent``, ``source``, ``reference_answer``, ``reasoning``."""
        if isinstance(queries, Mapping):
            queries = [{"qid": qid, "text": text} for qid, text in queries.items()]
        with self.engine.begin() as conn:
            return import_parsed(
                conn,
                "queries",
                _parsed(queries, lambda r: parse_query(r, default_source=source)),
                source="add_queries()",
                replace=replace,
            )

    def add_judgments(
        self,
        judgments: Qrels | Iterable[Mapping[str, Any]],
        *,
        source: str = JudgmentSource.HUMAN,
        split: str | None = None,
        replace: bool = False,
    ) -> IngestReport:
        """Add grades 0-5: a ``Qrels`` mapping or dicts with ``qid``, ``doc_id`` or
        ``chunk_id``, ``grade`` and optional ``source``/``split``. A ``chunk_id`` that names
        a document is stored as a document judgment."""
        if isinstance(judgments, Mapping):
            judgments = [
                {"qid": qid, "doc_id": doc_id, "grade": grade}
                for qid, targets in judgments.items()
                for doc_id, grade in targets.items()
            ]

        def parse(raw: Mapping[str, Any]) -> dict:
            return parse_judgment(raw, default_source=source, default_split=split)

        with self.engine.begin() as conn:
            return import_parsed(
                conn,
                "judgments",
                _parsed(judgments, parse),
                source="add_judgments()",
                replace=replace,
            )

    # --- writing: events -------------------------------------------------------------------

    def log_events(
        self, events: Iterable[Event], *, queries: Mapping[str, str] | None = None
    ) -> IngestReport:
        """Log several events in one transaction (their queries and targets must be stored).

        ``queries`` (``{qid: text}``) are stored first, in the same transaction, as ``live``
        queries when their qid is new, so a live app logs a query's first events in one
        all-or-nothing call. Retrying is safe: an event stored with the same id and content
        counts as unchanged. When two writers race to insert the same new id, the loser's
        transaction fails on the primary key; it is retried once and then finds the row.
        """
        events = list(events)
        for attempt in range(2):
            try:
                with self.engine.begin() as conn:
                    if queries:
                        store_live_queries(conn, queries, source="log_events(): queries")
                    return import_parsed(
                        conn, "events", _parsed(events, checked_row), source="log_events()"
                    )
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def log_event(self, event: Event) -> str:
        """Log one event; returns its ``event_id`` (generated when the event has none)."""
        parsed = list(_parsed([event], checked_row))
        with self.engine.begin() as conn:
            import_parsed(conn, "events", parsed, source="log_event()")
        assert parsed[0].row is not None  # a bad event raised in import_parsed
        return parsed[0].row["event_id"]

    def log_retrieval(
        self,
        session_id: str,
        qid: str,
        results: RankedResults,
        retriever: str = "",
        *,
        query: str | None = None,
        user_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Log what the app showed for a query. With ``query`` (its text) an unknown ``qid`` is
        first stored as a ``live`` query, so a live app can log without ingesting first."""
        ranked = (
            sorted(results.items(), key=lambda kv: -kv[1])
            if isinstance(results, Mapping)
            else list(results)
        )
        if query is not None:
            self.add_queries([{"qid": qid, "text": query, "source": QuerySource.LIVE}])
        extra = {"timestamp": utc(timestamp)} if timestamp else {}
        event = RetrievalEvent(
            session_id=session_id,
            qid=qid,
            user_id=user_id,
            retriever=retriever,
            results=tuple(
                (str(cid), rank, float(score)) for rank, (cid, score) in enumerate(ranked, start=1)
            ),
            **extra,
        )
        return self.log_event(event)

    def log_feedback(
        self,
        session_id: str,
        qid: str,
        positive: bool,
        *,
        chunk_id: str | None = None,
        comment: str = "",
        user_id: str | None = None,
    ) -> str:
        """Thumbs up/down: on one chunk when ``chunk_id`` is given, else on the whole answer."""
        if chunk_id is not None:
            event: Event = DocumentFeedbackEvent(
                session_id=session_id,
                qid=qid,
                user_id=user_id,
                chunk_id=chunk_id,
                positive=positive,
            )
        else:
            event = AnswerFeedbackEvent(
                session_id=session_id, qid=qid, user_id=user_id, positive=positive, comment=comment
            )
        return self.log_event(event)

    def log_click(
        self, session_id: str, qid: str, chunk_id: str, rank: int, *, user_id: str | None = None
    ) -> str:
        return self.log_event(
            ClickEvent(
                session_id=session_id, qid=qid, user_id=user_id, chunk_id=chunk_id, rank=rank
            )
        )

    # --- chunks ----------------------------------------------------------------------------

    def write_chunks(
        self, strategy: str, pieces: Iterable[tuple[str, int, str]]
    ) -> chunk_store.ChunkReport:
        """Make ``(doc_id, position, text)`` pieces the chunks of ``strategy`` (idempotent)."""
        with self.engine.begin() as conn:
            return chunk_store.write_chunks(conn, strategy, pieces)

    def chunks(self, strategy: str) -> Corpus:
        """The chunks of ``strategy`` as a ``Corpus`` keyed by ``chunk_id``."""
        with self.engine.connect() as conn:
            return chunk_store.read_chunks(conn, strategy)

    def chunk_strategies(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return chunk_store.chunk_counts(conn)

    # --- reading ---------------------------------------------------------------------------

    def corpus(self) -> Corpus:
        d = schema.documents
        with self.engine.connect() as conn:
            rows = conn.execute(select(d.c.doc_id, d.c.text, d.c.title, d.c.metadata)).all()
        rows.sort(key=lambda row: row[0])  # code-point order, whatever the database's collation
        return {
            doc_id: Document(doc_id=doc_id, text=text, title=title, metadata=meta or {})
            for doc_id, text, title, meta in rows
        }

    def query_records(self, source: str | None = None) -> list[QueryRecord]:
        q = schema.queries
        query = select(q)
        if source is not None:
            query = query.where(q.c.source == source)
        with self.engine.connect() as conn:
            records = [QueryRecord(**row) for row in conn.execute(query).mappings()]
        return sorted(records, key=lambda record: record.qid)  # code-point order everywhere

    def queries(self, source: str | None = None) -> Queries:
        """``{qid: text}``, only queries of ``source`` (eval/synthetic/live) when given."""
        return {record.qid: record.text for record in self.query_records(source)}

    def judgments(
        self, *, split: str | None = None, sources: Iterable[str] | None = None
    ) -> list[JudgmentRecord]:
        """Every stored grade, unresolved (one row per source)."""
        j = schema.judgments
        query = select(j).order_by(j.c.judgment_id)
        if split is not None:
            query = query.where(j.c.split == split)
        if sources is not None:
            query = query.where(j.c.source.in_([str(s) for s in sources]))
        with self.engine.connect() as conn:
            return [
                JudgmentRecord(
                    qid=r.qid,
                    doc_id=r.doc_id,
                    chunk_id=r.chunk_id,
                    grade=r.grade,
                    source=r.source,
                    split=r.split,
                    created_at=utc(r.created_at),
                    scale=r.scale,
                )
                for r in conn.execute(query)
            ]

    def qrels(
        self,
        split: str | None = None,
        sources: Iterable[str] | None = None,
        *,
        level: str = QrelsLevel.DOCUMENT,
        strategy: str | None = None,
    ) -> Qrels:
        """Resolved ``{qid: {doc_id or chunk_id: grade}}``: one grade per pair, from the most
        trusted source (human > benchmark > llm > derived); see :mod:`flywheel.store.qrels`."""
        with self.engine.connect() as conn:
            return read_qrels(conn, split=split, sources=sources, level=level, strategy=strategy)

    def resolved_qrels(
        self,
        split: str | None = None,
        sources: Iterable[str] | None = None,
        *,
        level: str = QrelsLevel.DOCUMENT,
        strategy: str | None = None,
    ) -> dict[str, dict[str, ResolvedGrade]]:
        """:meth:`qrels` with provenance: each pair's grade, the source it came from and the
        scale it was given on, so training can treat an LLM's 1 on 0-3 differently from a
        benchmark's 1."""
        with self.engine.connect() as conn:
            return read_resolved(conn, split=split, sources=sources, level=level, strategy=strategy)

    def splits(self) -> list[str]:
        """Stored split names; ``"unsplit"`` stands for judgments given without a split."""
        j = schema.judgments
        with self.engine.connect() as conn:
            return sorted(
                {s or UNSPLIT for s in conn.execute(select(j.c.split).distinct()).scalars()}
            )

    def events(
        self, kind: str | None = None, *, qid: str | None = None, session_id: str | None = None
    ) -> list[Event]:
        """Stored events in time order, as the dataclasses of :mod:`flywheel.data.events`."""
        e = schema.events
        query = select(e).order_by(e.c.timestamp, e.c.event_id)
        if kind is not None:
            query = query.where(e.c.kind == str(EventKind(kind)))
        if qid is not None:
            query = query.where(e.c.qid == qid)
        if session_id is not None:
            query = query.where(e.c.session_id == session_id)
        with self.engine.connect() as conn:
            events = [row_to_event(row) for row in conn.execute(query).mappings()]
        # ties in time: event_id in code-point order, whatever the database's collation
        return sorted(events, key=lambda event: (event.timestamp, event.event_id))

    def to_dataset(
        self,
        name: str = "flywheel",
        *,
        sources: Iterable[str] | None = None,
        level: str = QrelsLevel.DOCUMENT,
        strategy: str | None = None,
    ) -> RetrievalDataset:
        """Everything as a ``RetrievalDataset``: qrels per stored split (judgments without a
        split under ``"unsplit"``). At chunk level the corpus is the strategy's chunks.

        At document level ``positive_texts`` holds each synthetic question's stored positive
        (ICT: its passage without the question sentence), which the training-set builders use
        instead of the document; the corpus never contains them. At chunk level it is empty:
        those positives belong to documents, not to one strategy's chunks."""
        sources = None if sources is None else list(sources)
        chunk_level = QrelsLevel(level) is QrelsLevel.CHUNK
        with self.engine.connect() as conn:
            qrels = {
                split: read_qrels(
                    conn, split=split, sources=sources, level=level, strategy=strategy
                )
                for split in self.splits()
            }
            positives = {} if chunk_level else read_positive_texts(conn)
        corpus = self.chunks(strategy) if chunk_level and strategy else self.corpus()
        return RetrievalDataset(
            name=name,
            corpus=corpus,
            queries=self.queries(),
            qrels=qrels,
            positive_texts=positives,
        )

    def counts(self) -> dict[str, int]:
        """Rows per table: documents, chunks, queries, judgments, events, experiment_runs."""
        tables = (
            schema.documents,
            schema.chunks,
            schema.queries,
            schema.judgments,
            schema.events,
            schema.experiment_runs,
        )
        with self.engine.connect() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in tables
            }

    def status(self) -> StoreStatus:
        """Counts by kind and the flywheel stage they unlock (``flywheel status``)."""
        with self.engine.connect() as conn:
            return read_status(conn)

    # --- experiment runs -------------------------------------------------------------------

    def save_experiment_run(
        self,
        name: str,
        spec: dict[str, Any],
        results: dict[str, Any],
        *,
        git_commit: str | None = None,
        versions: dict[str, Any] | None = None,
    ) -> str:
        """Store an experiment run; returns its ``run_id``."""
        with self.engine.begin() as conn:
            return experiments.save_run(
                conn, name, spec, results, git_commit=git_commit, versions=versions
            )

    def get_experiment_run(self, run_id: str) -> ExperimentRunRecord:
        with self.engine.connect() as conn:
            return experiments.get_run(conn, run_id)

    def list_experiment_runs(self, name: str | None = None) -> list[ExperimentRunRecord]:
        with self.engine.connect() as conn:
            return experiments.list_runs(conn, name)
