"""judgment_scale: the top of the scale a grade was given on

Revision ID: 0005_judgment_scale
Revises: 0004_synthetic_positives

An LLM judge grades on TREC's 0-3 scale (UMBRELA) or on 0-5, and the two rubrics do not line
up linearly: 1 is "related but does not answer" on both, 3 is the best grade on one and the
middle of the other. Training needs to know which scale a grade is on (a re-ranker's 0-5
target, the grade that makes a positive), so ``flywheel judge run`` records it here. NULL, as
on every row stored before this migration and on human and benchmark judgments, means the
source's own convention (a benchmark's qrels as given); LLM grades without a scale are read as
0-3, the scale ``flywheel judge`` used by default.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_judgment_scale"
down_revision = "0004_synthetic_positives"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("judgments", sa.Column("scale", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("judgments") as batch:
        batch.drop_column("scale")
