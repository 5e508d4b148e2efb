"""The gradebook's own recognisers (issue 18): versions adapted from the shipped model by
`python -m grader adapt`, kept in the gradebook's data folder (never over models/), and which one
reads this gradebook's photos now. No row is current: the shipped models/ reads.

    models_dir_for(engine)        the folder `grade`, `recognize --db`, the API and the app load
    versions(session)             every adapted version, newest first, as plain views
    adopt(session, ...)           a new version becomes current
    rollback(session)             the current version's parent becomes current again
    adapt_lock(engine)            one adapt at a time per gradebook (an OS lock: a killed adapt
                                  releases it)
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from grader import db
from grader.errors import GraderError
from grader.files import FileStore
from grader.model_spec import ModelSpec
from grader.orm import ModelVersion
from grader.paths import MODELS_DIR

FOLDER = "models"  # inside the gradebook's data folder (grader.files.FileStore)


class AdaptBusy(GraderError):
    """Another adapt of the same gradebook is running."""


@dataclass(frozen=True)
class VersionView:
    version: str
    parent: str
    folder: str
    current: bool
    created_at: datetime
    report: dict | None


def data_folder(engine: Engine) -> Path:
    """Where this gradebook's adapted models live: `<db>-files/models/` beside an SQLite file."""
    return FileStore.for_engine(engine).root / FOLDER


def shipped_version() -> str:
    return ModelSpec.load(MODELS_DIR).version


def current(session: Session) -> ModelVersion | None:
    return session.scalars(select(ModelVersion).where(ModelVersion.current.is_(True))).first()


def current_version(session: Session) -> str:
    """The version that reads this gradebook now (the shipped one when none was adopted)."""
    row = current(session)
    return row.version if row is not None else shipped_version()


def folder_of(engine: Engine, version: str, session: Session) -> Path:
    """The model folder of a version: models/ for the shipped one, else its data folder."""
    row = session.scalars(select(ModelVersion).where(ModelVersion.version == version)).first()
    if row is None:
        if version != shipped_version():
            raise GraderError(f"the gradebook has no model version {version!r}")
        return MODELS_DIR
    return data_folder(engine) / row.folder


def models_dir_for(engine: Engine, explicit: str | Path | None = None) -> Path | None:
    """The recogniser folder for this gradebook: `explicit` when given (--models), else the
    current adapted version's, else None (the shipped models/). An adopted version whose folder
    is gone is an error, not a silent fall back to another model."""
    if explicit is not None:
        return Path(explicit)
    with db.read_session(engine) as session:
        row = current(session)
        if row is None:
            return None
        path = data_folder(engine) / row.folder
    if not (path / "model.json").exists():
        raise GraderError(f"the gradebook's current model {row.version} is missing ({path}); "
                          "run `python -m grader adapt --rollback` to return to its parent")
    return path


def versions(session: Session) -> list[VersionView]:
    rows = session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())).all()
    return [VersionView(r.version, r.parent, r.folder, r.current, r.created_at, r.report)
            for r in rows]


def next_version_name(session: Session) -> str:
    """`<shipped>-class-N`: N counts this gradebook's adapted versions."""
    count = len(session.scalars(select(ModelVersion.id)).all())
    return f"{shipped_version()}-class-{count + 1}"


def adopt(session: Session, version: str, parent: str, folder: str, report: dict) -> ModelVersion:
    """Record an adapted version (its files already in place) and make it current."""
    for row in session.scalars(select(ModelVersion).where(ModelVersion.current.is_(True))):
        row.current = False
    row = ModelVersion(version=version, parent=parent, folder=folder, current=True, report=report)
    session.add(row)
    session.flush()
    return row


def rollback(session: Session) -> str:
    """The current version's parent becomes current (the shipped model when it was the
    parent); returns the version now current. The rolled-back files stay on disk."""
    row = current(session)
    if row is None:
        raise GraderError(f"nothing to roll back: the gradebook reads with the shipped model "
                          f"{shipped_version()}")
    row.current = False
    parent = session.scalars(select(ModelVersion).where(ModelVersion.version == row.parent)).first()
    if parent is not None:
        parent.current = True
    session.flush()
    return row.parent


@contextmanager
def adapt_lock(engine: Engine) -> Iterator[Path]:
    """Holds an exclusive lock on the gradebook's model folder while an adapt runs. The lock is
    the kernel's (flock), so a process killed mid-adapt (SIGKILL too) leaves no stale lock."""
    folder = data_folder(engine)
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / ".adapt.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AdaptBusy("another adapt of this gradebook is running; wait for it to finish "
                            "(its progress bar says how long)") from None
        yield folder
    finally:
        os.close(handle)
