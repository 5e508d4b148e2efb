"""Learning from the teacher (issue 18): every stored reading names the model version that read
it; labelled crops (teacher-confirmed, teacher-typed or confident automatic verdicts); the
gradebook's own model versions (adapted copies of the shipped model) and which one is current.

Revision ID: 0018
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("model_version", sa.String(100), nullable=True))
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("answer_id", sa.Integer(), sa.ForeignKey("answers.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("writer", sa.String(64), nullable=True),
        sa.Column("model_version", sa.String(100), nullable=True),
        sa.Column("read_text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_labels_writer", "labels", ["writer"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(100), nullable=False, unique=True),
        sa.Column("parent", sa.String(100), nullable=False),
        sa.Column("folder", sa.String(300), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_versions")
    op.drop_index("ix_labels_writer", "labels")
    op.drop_table("labels")
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("model_version")
