"""The SQLite gradebook file at the door: checked before anything writes to it, and backed up.

`check_gradebook_file(path)` runs before SQLAlchemy opens the file (whose first connection
switches it to WAL, a write): on a read-only connection it refuses a file that is not a
database, a damaged one (`PRAGMA quick_check`, O(N) in the file's size: 0.1 s for a 205 MB file
in the page cache), and another program's SQLite database (tables, but not the gradebook's), so the grader never
adds its tables to it. `backup(path, out)` copies a live gradebook with SQLite's online backup
API (consistent even while another process writes); `db.migrate_to_head` keeps one before each
schema upgrade.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from grader.errors import StoreError

# Tables every gradebook has had since its first migration (grader/migrations/versions/0001).
GRADEBOOK_TABLES = frozenset({"alembic_version", "assignments", "submissions"})
RESTORE_ADVICE = ("restore the last good backup (`python -m grader backup` makes one; the grader "
                  "keeps one beside the file before each upgrade, named <file>.backup-*.db)")


class GradebookDamaged(StoreError):
    """The gradebook file fails SQLite's integrity check: nothing is written to it."""


class NotAGradebook(StoreError):
    """The file is not a database, or another program's SQLite database."""


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)


def check_gradebook_file(path: Path, name: str) -> None:
    """Refuse (NotAGradebook, GradebookDamaged) a file that must not be opened for writing.
    A missing or empty file is a new gradebook and passes. `name` is the file as messages say it."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        connection = _read_only(path)
        try:
            tables = {row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            problems = [row[0] for row in connection.execute("PRAGMA quick_check(5)")]
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        text = str(error).lower()
        if "not a database" in text or "file is encrypted" in text:
            raise NotAGradebook(f"{name} is not a gradebook database (it is not an SQLite file); "
                                "choose another file, or a new name for a new gradebook") from None
        if "malformed" in text or "corrupt" in text:
            raise GradebookDamaged(f"the gradebook {name} is damaged ({error}); nothing was written "
                                   f"to it. {RESTORE_ADVICE}") from None
        if "locked" in text or "busy" in text:
            return  # another grader holds it; the engine's busy timeout deals with that
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            # SQLite in WAL mode writes beside the file (-wal, -shm) even to read it.
            raise StoreError(f"the gradebook {name} is read-only (the file or its folder cannot be "
                             f"written: {error}); nothing was changed. Copy it to a folder you can "
                             "write to, or ask for write permission") from None
        raise StoreError(f"cannot read the gradebook {name}: {error}") from None
    if problems != ["ok"]:
        shown = "; ".join(problems[:3])
        raise GradebookDamaged(f"the gradebook {name} is damaged (SQLite's integrity check: {shown}); "
                               f"nothing was written to it. {RESTORE_ADVICE}")
    ours = {t for t in tables if not t.startswith("sqlite_")}
    if ours and not GRADEBOOK_TABLES <= ours:
        listed = ", ".join(sorted(ours)[:5]) + (", ..." if len(ours) > 5 else "")
        raise NotAGradebook(f"{name} is another program's SQLite database (tables: {listed}), not a "
                            "gradebook; the grader adds nothing to it. Choose a new file name for "
                            "a new gradebook")


def backup(path: Path, out: Path) -> int:
    """Copy the gradebook at `path` to `out` with SQLite's online backup API (a consistent copy
    even while another process writes); the copy is checked. Returns its size in bytes.
    Refuses to overwrite an existing `out`."""
    if not path.is_file():
        raise StoreError(f"no gradebook at {path}")
    if out.exists():
        raise StoreError(f"{out} exists already; name a new backup file (nothing was overwritten)")
    if not out.parent.is_dir():
        raise StoreError(f"cannot write the backup: folder {out.parent} does not exist")
    check_gradebook_file(path, str(path))
    try:
        source, target = _read_only(path), sqlite3.connect(out)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        check_gradebook_file(out, str(out))
    except sqlite3.Error as error:
        out.unlink(missing_ok=True)
        raise StoreError(f"the backup of {path} failed: {error}") from None
    return out.stat().st_size


def backup_name(path: Path, revision: str) -> Path:
    """`<file>.backup-<revision>-<UTC time>.db` beside the gradebook."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return path.with_name(f"{path.name}.backup-{revision}-{stamp}.db")
