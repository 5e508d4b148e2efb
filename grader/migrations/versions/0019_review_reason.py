"""Answers keep why they are in review (issue 19): one character off the key, low confidence,
two answers nearly as likely, a small mark missing, a refused stacked fraction.

Revision ID: 0019
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: answers graded before this revision have no stored reason (the screen then
    # shows none), and decided answers never have one.
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("review_reason", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("review_reason")
