"""The first gradebook schema: students, assignments, key versions, submissions, answers,
overrides.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "students",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("class", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "key_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("assignment_id", sa.String(100),
                  sa.ForeignKey("assignments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("assignment_id", "version"),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("assignment_id", sa.String(100), sa.ForeignKey("assignments.id"),
                  nullable=False),
        sa.Column("key_version_id", sa.Integer(), sa.ForeignKey("key_versions.id"),
                  nullable=True),
        sa.Column("photo_sha256", sa.String(64), nullable=False),
        sa.Column("source_page", sa.Integer(), nullable=False),
        sa.Column("photo_name", sa.String(500), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("student_id", sa.String(64), sa.ForeignKey("students.id"), nullable=True),
        sa.Column("student_method", sa.String(20), nullable=False),
        sa.Column("name_text", sa.String(200), nullable=False),
        sa.Column("registration_method", sa.String(20), nullable=True),
        sa.Column("registration_error", sa.Float(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("assignment_id", "photo_sha256", "source_page"),
    )
    op.create_index("ix_submissions_assignment_id", "submissions", ["assignment_id"])
    op.create_index("ix_submissions_student_id", "submissions", ["student_id"])
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("submission_id", sa.Integer(),
                  sa.ForeignKey("submissions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("question_id", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("crop_png", sa.LargeBinary(), nullable=True),
        sa.Column("ink_png", sa.LargeBinary(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("normalized", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("reading_ll", sa.Float(), nullable=True),
        sa.Column("answer_lls", sa.JSON(), nullable=True),
        sa.Column("verdict", sa.String(10), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("max_points", sa.Float(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("overridden", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("submission_id", "question_id"),
    )
    op.create_index("ix_answers_submission_id", "answers", ["submission_id"])
    op.create_table(
        "overrides",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("answer_id", sa.Integer(), sa.ForeignKey("answers.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("old_points", sa.Float(), nullable=False),
        sa.Column("new_points", sa.Float(), nullable=False),
        sa.Column("old_verdict", sa.String(10), nullable=False),
        sa.Column("new_verdict", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_overrides_answer_id", "overrides", ["answer_id"])


def downgrade() -> None:
    for table in ("overrides", "answers", "submissions", "key_versions", "assignments",
                  "students"):
        op.drop_table(table)
