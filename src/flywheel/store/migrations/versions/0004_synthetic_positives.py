"""synthetic_positives: the passage each synthetic question trains against

Revision ID: 0004_synthetic_positives
Revises: 0003_hosted_usage_synthetic

An offline synthetic pair's positive is not its source document: the inverse cloze task
removes the sentence that became the question, cropping keeps one span. Training against the
whole document (which holds an ICT question verbatim) teaches copying, so the positive is kept
here, one row per synthetic query, and training rows built from the store use it. It is not a
chunk on purpose: chunks are retrieval corpora, and these texts must never be searched or
evaluated against. Pairs stored before this migration have no row and train against their
document; running ``flywheel synth questions`` again with the same seed adds the rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_synthetic_positives"
down_revision = "0003_hosted_usage_synthetic"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "synthetic_positives",
        sa.Column(
            "qid",
            sa.String,
            sa.ForeignKey("queries.qid", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "doc_id",
            sa.String,
            sa.ForeignKey("documents.doc_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("generator", sa.String, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("synthetic_positives")
