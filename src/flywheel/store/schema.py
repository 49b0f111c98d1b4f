"""The store's tables, as SQLAlchemy Core objects.

Core (not the ORM) because ingestion is bulk work: ``executemany`` inserts of thousands of rows
are what keep ``flywheel ingest beir scifact`` at a few seconds. The migrations under
``migrations/versions/`` create exactly these tables; ``tests/store/test_store_schema.py``
asserts the two agree column by column.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)


class QuerySource(StrEnum):
    """Where a query came from."""

    EVAL = "eval"
    SYNTHETIC = "synthetic"
    LIVE = "live"


class JudgmentSource(StrEnum):
    """Who judged a pair, in order of trust (see :data:`SOURCE_PRECEDENCE`)."""

    HUMAN = "human"
    BENCHMARK = "benchmark"
    LLM = "llm"
    DERIVED = "derived"


#: When several sources judge the same pair, the first in this list wins.
SOURCE_PRECEDENCE: tuple[JudgmentSource, ...] = (
    JudgmentSource.HUMAN,
    JudgmentSource.BENCHMARK,
    JudgmentSource.LLM,
    JudgmentSource.DERIVED,
)

MIN_GRADE = 0
MAX_GRADE = 5

metadata = MetaData()

documents = Table(
    "documents",
    metadata,
    Column("doc_id", String, primary_key=True),
    Column("title", Text, nullable=False, server_default=""),
    Column("text", Text, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("content_hash", String(32), nullable=False),
)

chunks = Table(
    "chunks",
    metadata,
    Column("chunk_id", String, primary_key=True),
    Column("doc_id", String, ForeignKey("documents.doc_id", ondelete="CASCADE"), nullable=False),
    Column("strategy", String, nullable=False),
    Column("position", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("content_hash", String(32), nullable=False),
    Index("ix_chunks_strategy_doc", "strategy", "doc_id"),
)

queries = Table(
    "queries",
    metadata,
    Column("qid", String, primary_key=True),
    Column("text", Text, nullable=False),
    Column("intent", String, nullable=True),
    Column("source", String, nullable=False),
    Column("reference_answer", Text, nullable=True),
    Column("reasoning", Text, nullable=True),
)

judgments = Table(
    "judgments",
    metadata,
    Column("judgment_id", Integer, primary_key=True, autoincrement=True),
    Column("qid", String, ForeignKey("queries.qid", ondelete="CASCADE"), nullable=False),
    Column("doc_id", String, ForeignKey("documents.doc_id", ondelete="CASCADE"), nullable=True),
    Column("chunk_id", String, ForeignKey("chunks.chunk_id", ondelete="CASCADE"), nullable=True),
    Column("grade", Integer, nullable=False),
    Column("source", String, nullable=False),
    Column("split", String, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the top of the scale the grade was given on (3 or 5 for LLM grades); NULL: the source's
    # own convention (migration 0005)
    Column("scale", Integer, nullable=True),
    CheckConstraint(f"grade BETWEEN {MIN_GRADE} AND {MAX_GRADE}", name="ck_judgments_grade"),
    CheckConstraint("(doc_id IS NULL) <> (chunk_id IS NULL)", name="ck_judgments_one_target"),
)
# A pair (query, document-or-chunk) has at most one grade per source.
Index(
    "uq_judgments_qid_target_source",
    judgments.c.qid,
    func.coalesce(judgments.c.doc_id, judgments.c.chunk_id),
    judgments.c.source,
    unique=True,
)

events = Table(
    "events",
    metadata,
    Column("event_id", String, primary_key=True),
    Column("kind", String, nullable=False),
    Column("session_id", String, nullable=False),
    Column("user_id", String, nullable=True),
    Column("qid", String, ForeignKey("queries.qid", ondelete="CASCADE"), nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("payload", JSON, nullable=False),
    Index("ix_events_kind", "kind"),
    Index("ix_events_qid", "qid"),
)

experiment_runs = Table(
    "experiment_runs",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("git_commit", String, nullable=True),
    Column("versions", JSON, nullable=False),
    Column("results", JSON, nullable=False),
)

# --- the few-shot library (migration 0002): versions, their examples, and every prompt use ---
fewshot_libraries = Table(
    "fewshot_libraries",
    metadata,
    Column("library_id", String, primary_key=True),  # "<name>@v<version>"
    Column("name", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("parent_version", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("embedder", String, nullable=False),
    Column("config", JSON, nullable=False),
    Column("summary", JSON, nullable=False),
    Index("uq_fewshot_libraries_name_version", "name", "version", unique=True),
)

fewshot_examples = Table(
    "fewshot_examples",
    metadata,
    Column(
        "library_id",
        String,
        ForeignKey("fewshot_libraries.library_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("qid", String, primary_key=True),
    Column("status", String, nullable=False),  # representative / candidate / excluded
    Column("group_id", String, nullable=True),
    Column("rank", Integer, nullable=True),  # position among the group's representatives
    Column("reason", String, nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=True),
    Column("reasoning", Text, nullable=True),
    Column("intent", String, nullable=True),
)

fewshot_uses = Table(
    "fewshot_uses",
    metadata,
    Column("use_id", String, primary_key=True),
    Column(
        "library_id",
        String,
        ForeignKey("fewshot_libraries.library_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("query", Text, nullable=False),
    Column("mode", String, nullable=False),  # dynamic / static
    Column("k", Integer, nullable=False),
    Column("template", String, nullable=False),
    Column("intent", String, nullable=True),  # the group the query was routed to
    Column("example_qids", JSON, nullable=False),
    Column("context", String, nullable=False, server_default=""),
    Index("ix_fewshot_uses_library", "library_id"),
)


# --- hosted usage and rejected synthetic questions (migration 0003) ---------------------------
hosted_runs = Table(
    "hosted_runs",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("command", String, nullable=False),  # judge / synth questions / experiment ...
    Column("model", String, nullable=False),  # provider:model
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status", String, nullable=False),  # completed / budget reached / failed
    Column("calls", Integer, nullable=False),
    Column("cached_calls", Integer, nullable=False),
    Column("retries", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("search_units", Float, nullable=False),
    Column("cost_usd", Float, nullable=True),  # None: a model without a price
    Column("details", JSON, nullable=False),
)

synthetic_rejections = Table(
    "synthetic_rejections",
    metadata,
    Column("rejection_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String, nullable=False),
    Column("text", Text, nullable=False),
    Column("doc_id", String, nullable=True),
    Column("generator", String, nullable=False),
    Column("reason", String, nullable=False),  # the filter that rejected it
    Column("detail", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_synthetic_rejections_run", "run_id"),
)


# --- the passage each synthetic question trains against (migration 0004) ---------------------
# Not a chunk: chunks are retrieval corpora, and a masked passage must never be searched.
synthetic_positives = Table(
    "synthetic_positives",
    metadata,
    Column("qid", String, ForeignKey("queries.qid", ondelete="CASCADE"), primary_key=True),
    Column("doc_id", String, ForeignKey("documents.doc_id", ondelete="CASCADE"), nullable=False),
    Column("generator", String, nullable=False),  # ict / crop
    Column("text", Text, nullable=False),  # e.g. the passage without the question sentence
)
