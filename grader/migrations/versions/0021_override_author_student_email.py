"""Who made each override (`overrides.by`), and a student's e-mail address (`students.email`),
which Google Classroom matches grades by.

Revision ID: 0021
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a column in place; server_default fills existing rows.
    with op.batch_alter_table("overrides") as batch:
        batch.add_column(sa.Column("by", sa.String(100), nullable=False, server_default=""))
    with op.batch_alter_table("students") as batch:
        batch.add_column(sa.Column("email", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("students") as batch:
        batch.drop_column("email")
    with op.batch_alter_table("overrides") as batch:
        batch.drop_column("by")
