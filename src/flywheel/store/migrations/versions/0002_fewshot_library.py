"""few-shot library: fewshot_libraries (versions), fewshot_examples, fewshot_uses

Revision ID: 0002_fewshot_library
Revises: 0001_initial

The queries table already holds intent, reference_answer and reasoning (0001), so the library
reads its examples from there; these tables keep each built version, every example's decision
(representative, candidate or excluded, with the reason) and which version each prompt came from.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_fewshot_library"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fewshot_libraries",
        sa.Column("library_id", sa.String, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("parent_version", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("embedder", sa.String, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_index(
        "uq_fewshot_libraries_name_version",
        "fewshot_libraries",
        ["name", "version"],
        unique=True,
    )
    op.create_table(
        "fewshot_examples",
        sa.Column(
            "library_id",
            sa.String,
            sa.ForeignKey("fewshot_libraries.library_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("qid", sa.String, primary_key=True),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("group_id", sa.String, nullable=True),
        sa.Column("rank", sa.Integer, nullable=True),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=True),
        sa.Column("reasoning", sa.Text, nullable=True),
        sa.Column("intent", sa.String, nullable=True),
    )
    op.create_table(
        "fewshot_uses",
        sa.Column("use_id", sa.String, primary_key=True),
        sa.Column(
            "library_id",
            sa.String,
            sa.ForeignKey("fewshot_libraries.library_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("mode", sa.String, nullable=False),
        sa.Column("k", sa.Integer, nullable=False),
        sa.Column("template", sa.String, nullable=False),
        sa.Column("intent", sa.String, nullable=True),
        sa.Column("example_qids", sa.JSON, nullable=False),
        sa.Column("context", sa.String, nullable=False, server_default=""),
    )
    op.create_index("ix_fewshot_uses_library", "fewshot_uses", ["library_id"])


def downgrade() -> None:
    op.drop_index("ix_fewshot_uses_library", table_name="fewshot_uses")
    op.drop_table("fewshot_uses")
    op.drop_table("fewshot_examples")
    op.drop_index("uq_fewshot_libraries_name_version", table_name="fewshot_libraries")
    op.drop_table("fewshot_libraries")
