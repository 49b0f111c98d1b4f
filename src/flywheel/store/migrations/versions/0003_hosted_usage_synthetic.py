"""hosted usage per run, and rejected synthetic questions with their reasons

Revision ID: 0003_hosted_usage_synthetic
Revises: 0002_fewshot_library

Synthetic questions that pass the filters are ordinary rows of ``queries`` (source
``synthetic``) with a ``derived`` judgment on their source document in the ``train`` split;
the ones a filter rejected are kept here with the filter's name and detail, so a person can see
what was thrown away and why. ``hosted_runs`` records what every command that called a hosted
model used and paid (``flywheel status`` shows it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_hosted_usage_synthetic"
down_revision = "0002_fewshot_library"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosted_runs",
        sa.Column("run_id", sa.String, primary_key=True),
        sa.Column("command", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("cached_calls", sa.Integer, nullable=False),
        sa.Column("retries", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("search_units", sa.Float, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_table(
        "synthetic_rejections",
        sa.Column("rejection_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("doc_id", sa.String, nullable=True),
        sa.Column("generator", sa.String, nullable=False),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_synthetic_rejections_run", "synthetic_rejections", ["run_id"])


def downgrade() -> None:
    op.drop_table("synthetic_rejections")
    op.drop_table("hosted_runs")
