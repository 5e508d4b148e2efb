"""The gradebook's tables as SQLAlchemy 2.x declarative classes.

(Named `orm`, not `models`: models/ is the folder of the recogniser's weights.)

students            the roster: id (as on the school's list), name, class, e-mail (optional; what
                    Google Classroom matches grades by)
assignments         one per answer-key id; `key_versions` keep every edit of its key (YAML text)
submissions         one per graded page image: photo hash (unique per assignment and page of a
                    PDF), key version used, page, student (nullable until identified), how the
                    student and the page were identified, status ok/failed (+ error, for retries)
answers             one per question of a submission: crops, reading, confidence, likelihoods,
                    verdict, points, status auto/review/blank/teacher, margin
overrides           every teacher correction of an answer: old/new points and verdict, reason, who
                    (`by`) and when
jobs                a batch handed to the API (POST /jobs): assignment, state, progress, results
job_files           the files of a job (their bytes until the job is done), in upload order
labels              a crop's known text, from the teacher's work (issue 18): source teacher (marked
                    correct), typed (the teacher typed what is written) or auto (a very sure
                    automatic `correct`); the writer (student) and the model version that read it
model_versions      the gradebook's own adapted recognisers (folders in its data folder), which
                    one is current (none current: the shipped models/)

Schema changes go through Alembic (grader/migrations); revision 0001 creates the first
tables, 0023 the jobs, 0018 adds answers.model_version, labels and model_versions, 0021
`overrides.by` and `students.email`.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Student(Base):
    __tablename__ = "students"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    class_name: Mapped[str] = mapped_column("class", String(100), default="")
    email: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    submissions: Mapped[list["Submission"]] = relationship(back_populates="student")


class Assignment(Base):
    __tablename__ = "assignments"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # the answer key's id
    title: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    key_versions: Mapped[list["KeyVersion"]] = relationship(
        back_populates="assignment", order_by="KeyVersion.version", cascade="all, delete-orphan"
    )
    submissions: Mapped[list["Submission"]] = relationship(back_populates="assignment")


class KeyVersion(Base):
    """One saved state of an assignment's answer key; editing the key adds a version."""

    __tablename__ = "key_versions"
    __table_args__ = (UniqueConstraint("assignment_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    yaml_text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    assignment: Mapped[Assignment] = relationship(back_populates="key_versions")


class Submission(Base):
    """One graded page image (a photo, or one page of a PDF)."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("assignment_id", "photo_sha256", "source_page"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), index=True)
    key_version_id: Mapped[int | None] = mapped_column(ForeignKey("key_versions.id"),
                                                       nullable=True)
    photo_sha256: Mapped[str] = mapped_column(String(64))
    source_page: Mapped[int] = mapped_column(Integer, default=0)  # page index inside a PDF
    photo_name: Mapped[str] = mapped_column(String(500), default="")
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)  # worksheet page
    student_id: Mapped[str | None] = mapped_column(ForeignKey("students.id"), nullable=True,
                                                   index=True)
    student_method: Mapped[str] = mapped_column(String(20), default="none")  # qr|name|teacher|none
    name_text: Mapped[str] = mapped_column(String(200), default="")  # the name box as read
    registration_method: Mapped[str | None] = mapped_column(String(20), nullable=True)
    registration_error: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="ok")  # ok|failed
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    assignment: Mapped[Assignment] = relationship(back_populates="submissions")
    key_version: Mapped[KeyVersion | None] = relationship()
    student: Mapped[Student | None] = relationship(back_populates="submissions")
    answers: Mapped[list["Answer"]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="Answer.position"
    )


class Answer(Base):
    """One question of a submission: what was read and how it scored."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("submission_id", "question_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    question_id: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)  # order in the key
    # The colour crop for the teacher, as an encoded image: JPEG since 2026-12 (PNG before; every
    # reader decodes either). The column keeps its first name so no migration rewrites old rows.
    crop_image: Mapped[bytes | None] = mapped_column("crop_png", LargeBinary, nullable=True)
    ink_png: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # cleaned, model
    text: Mapped[str] = mapped_column(Text, default="")
    normalized: Mapped[str] = mapped_column(Text, default="")  # groups identical answers
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    reading_ll: Mapped[float | None] = mapped_column(Float, nullable=True)
    answer_lls: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # candidate -> CTC ll
    verdict: Mapped[str] = mapped_column(String(10))  # correct|partial|incorrect|review|blank
    points: Mapped[float] = mapped_column(Float, default=0.0)
    max_points: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(10))  # auto|review|blank|teacher
    margin: Mapped[float | None] = mapped_column(Float, nullable=True)
    # why the grader left it to the teacher (grader.vocab.ReviewReason); None when decided
    review_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    model_version: Mapped[str | None] = mapped_column(String(100), nullable=True)  # who read it

    submission: Mapped[Submission] = relationship(back_populates="answers")
    overrides: Mapped[list["Override"]] = relationship(
        back_populates="answer", cascade="all, delete-orphan", order_by="Override.id"
    )


class Override(Base):
    """A teacher's correction of one answer; the answer row holds the result."""

    __tablename__ = "overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"),
                                           index=True)
    old_points: Mapped[float] = mapped_column(Float)
    new_points: Mapped[float] = mapped_column(Float)
    old_verdict: Mapped[str] = mapped_column(String(10))
    new_verdict: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text, default="")
    by: Mapped[str] = mapped_column(String(100), default="", server_default="")  # who overrode
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    answer: Mapped[Answer] = relationship(back_populates="overrides")


class Job(Base):
    """A batch graded in the background (POST /jobs); its state lives here so that a restarted
    server finishes it (grader.jobs)."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # a random hex id
    assignment_id: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(10), default="queued")  # queued|running|done|failed
    files: Mapped[int] = mapped_column(Integer, default=0)
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[list | None] = mapped_column(JSON, nullable=True)  # when done: per page
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class JobFile(Base):
    """One uploaded file of a job (a photo or PDF; a zip's members each become one)."""

    __tablename__ = "job_files"
    __table_args__ = (UniqueConstraint("job_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(500))
    data: Mapped[bytes] = mapped_column(LargeBinary)  # emptied once the job is done


class Label(Base):
    """What a stored crop says, known from the teacher's work (one per answer at most)."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"),
                                           unique=True)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(10))  # teacher | typed | auto
    kind: Mapped[str] = mapped_column(String(10))  # the question's kind when labelled
    writer: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)  # student
    model_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    read_text: Mapped[str] = mapped_column(Text, default="")  # what that model read
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    answer: Mapped[Answer] = relationship()


class ModelVersion(Base):
    """A recogniser adapted to this gradebook; `folder` is relative to its data folder."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(100), unique=True)
    parent: Mapped[str] = mapped_column(String(100))
    folder: Mapped[str] = mapped_column(String(300))
    current: Mapped[bool] = mapped_column(Boolean, default=False)
    report: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # adapt's figures
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
