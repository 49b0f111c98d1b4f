"""initial schema: documents, chunks, queries, judgments, events, experiment_runs

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("doc_id", sa.String, primary_key=True),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
    )
    op.create_table(
        "chunks",
        sa.Column("chunk_id", sa.String, primary_key=True),
        sa.Column(
            "doc_id",
            sa.String,
            sa.ForeignKey("documents.doc_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("strategy", sa.String, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
    )
    op.create_index("ix_chunks_strategy_doc", "chunks", ["strategy", "doc_id"])
    op.create_table(
        "queries",
        sa.Column("qid", sa.String, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("intent", sa.String, nullable=True),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("reference_answer", sa.Text, nullable=True),
        sa.Column("reasoning", sa.Text, nullable=True),
    )
    op.create_table(
        "judgments",
        sa.Column("judgment_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "qid", sa.String, sa.ForeignKey("queries.qid", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "doc_id",
            sa.String,
            sa.ForeignKey("documents.doc_id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column(
            "chunk_id",
            sa.String,
            sa.ForeignKey("chunks.chunk_id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("grade", sa.Integer, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("split", sa.String, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("grade BETWEEN 0 AND 5", name="ck_judgments_grade"),
        sa.CheckConstraint(
            "(doc_id IS NULL) <> (chunk_id IS NULL)", name="ck_judgments_one_target"
        ),
    )
    op.create_index(
        "uq_judgments_qid_target_source",
        "judgments",
        ["qid", sa.text("coalesce(doc_id, chunk_id)"), "source"],
        unique=True,
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.String, primary_key=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("session_id", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=True),
        sa.Column(
            "qid", sa.String, sa.ForeignKey("queries.qid", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_index("ix_events_kind", "events", ["kind"])
    op.create_index("ix_events_qid", "events", ["qid"])
    op.create_table(
        "experiment_runs",
        sa.Column("run_id", sa.String, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("git_commit", sa.String, nullable=True),
        sa.Column("versions", sa.JSON, nullable=False),
        sa.Column("results", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("experiment_runs", "events", "judgments", "queries", "chunks", "documents"):
        op.drop_table(table)
