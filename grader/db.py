"""Opening the gradebook database: engine, migrations, sessions, and clear errors.

    engine = open_engine()                      # URL, or $GRADER_DATABASE_URL, or data/gradebook.db
    with write_session(engine) as session:      # one transaction; commits, or rolls back
        store.save_graded_photo(session, ...)
    with read_session(engine) as session:
        rows = store.gradebook_rows(session, "fractions-week3")

Create the engine once per process (it holds the connection pool); open a session per user
action. SQLite gets WAL (readers never block the writer), foreign keys, and a busy timeout;
write sessions start with BEGIN IMMEDIATE so two processes writing at once queue up instead of
failing half-way. Every database failure a user can cause comes out as StoreError with a message.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from grader import sqlite_file
from grader.errors import StoreError
from grader.paths import REPO_ROOT
from grader.settings import Settings

DEFAULT_PATH = REPO_ROOT / "data" / "gradebook.db"  # data/ is gitignored
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's transaction


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else $GRADER_DATABASE_URL, else the SQLite default file."""
    return url or Settings.from_env().database_url or f"sqlite:///{DEFAULT_PATH}"


def describe(url: str) -> str:
    """The URL for messages, password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _sqlite_pragmas(busy_timeout_s: float):
    def on_connect(dbapi_connection, _record) -> None:
        # The sqlite3 driver's own transaction handling is switched off so that BEGIN is ours
        # (SQLAlchemy's documented recipe for SQLite transactions).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        _switch_to_wal(cursor, busy_timeout_s)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL a crash loses no committed page
        cursor.close()

    return on_connect


def _switch_to_wal(cursor, busy_timeout_s: float) -> None:
    """PRAGMA journal_mode=WAL, waiting up to the busy timeout for other connections.

    Switching a new database to WAL needs an exclusive lock, and SQLite answers "database is
    locked" at once instead of calling the busy handler when another process holds the file
    (two graders opening one new gradebook together). So we wait here ourselves.
    """
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(connection) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def sqlite_path(url: URL) -> Path | None:
    """The file an SQLite URL names (`~` expanded); None for an in-memory or a server database."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser()


def open_engine(url: str | None = None, *, migrate: bool = True,
                busy_timeout_s: float | None = None) -> Engine:
    """An engine on the gradebook, its schema brought up to date (`alembic upgrade head`).

    Raises StoreError when the URL is malformed, the file cannot be opened, the database is
    locked, or its schema is newer than this program. An SQLite file is checked before anything
    writes to it (grader.sqlite_file): a damaged file or another program's database is refused
    untouched.
    """
    url = database_url(url)
    busy_timeout_s = BUSY_TIMEOUT_S if busy_timeout_s is None else busy_timeout_s
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"not a database URL: {url!r} (expected e.g. sqlite:///gradebook.db "
                         "or postgresql://user@host/db)") from None
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if parsed.drivername == "postgresql":  # the driver we ship (SQLAlchemy's default is psycopg2)
        parsed = parsed.set(drivername="postgresql+psycopg")
    path = sqlite_path(parsed)
    if path is not None:
        folder = path.resolve().parent
        if not folder.is_dir():
            if url == f"sqlite:///{DEFAULT_PATH}":
                folder.mkdir(parents=True, exist_ok=True)
            else:
                raise StoreError(f"cannot open the gradebook {describe(url)}: "
                                 f"folder {folder} does not exist")
        sqlite_file.check_gradebook_file(path, describe(url))
    try:
        engine = sa.create_engine(parsed, connect_args={"timeout": busy_timeout_s} if is_sqlite
                                  else {"connect_timeout": int(busy_timeout_s)})
    except (ArgumentError, ImportError) as error:
        raise StoreError(f"cannot open the gradebook {describe(url)}: {error}") from None
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s))
        event.listen(engine, "begin", _sqlite_begin)
    if migrate:
        migrate_to_head(engine)
    return engine


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate_to_head(engine: Engine) -> None:
    """Apply every migration the database lacks; an existing gradebook keeps its data."""
    from alembic import command
    from alembic.util import CommandError

    config = _alembic_config()
    _backup_before_upgrade(engine, config)
    try:
        with _writer(engine).begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except CommandError as error:
        raise StoreError(f"the gradebook {describe(str(engine.url))} has a schema this version "
                         f"does not know ({error}); it was written by a newer grader") from None
    except SQLAlchemyError as error:
        raise store_error(error, engine) from None


def _backup_before_upgrade(engine: Engine, config) -> None:
    """A copy of an SQLite gradebook beside it before a migration changes its schema."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    path = sqlite_path(engine.url)
    if path is None:
        return  # a server database is backed up by its administrator (pg_dump)
    try:
        current = schema_revision(engine)
    except SQLAlchemyError as error:
        raise store_error(error, engine) from None
    script = ScriptDirectory.from_config(config)
    if current is None or current == script.get_current_head():
        return
    try:
        script.get_revision(current)
    except CommandError:
        return  # a newer grader's schema: the upgrade refuses it, nothing to back up for
    sqlite_file.backup(path, sqlite_file.backup_name(path, current))


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _writer(engine: Engine) -> Engine:
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def store_error(error: Exception, engine: Engine | None = None) -> StoreError:
    """A StoreError a teacher can act on, from a database exception."""
    where = describe(str(engine.url)) if engine is not None else "the gradebook"
    text = str(getattr(error, "orig", None) or error)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return StoreError(f"the gradebook {where} is locked by another program; close the "
                          "other program (or wait for its batch to finish) and try again")
    if "not a database" in lowered or "malformed" in lowered:
        return StoreError(f"{where} is not a gradebook database (the file is damaged or "
                          "of another kind)")
    if "disk is full" in lowered or "disk i/o error" in lowered:
        # SQLITE_FULL (no space left) or SQLITE_IOERR (a write refused: over a size quota, or a
        # failing disk); the transaction was rolled back, so what was stored before stays.
        return StoreError(f"cannot write the gradebook {where}: the disk is full or failing ({text}); "
                          "nothing of this write was stored: free some space (or check the disk) and "
                          "run it again")
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError(f"the gradebook {where} is read-only ({text}); nothing was changed. Copy it "
                          "to a folder you can write to, or ask for write permission")
    if "unable to open" in lowered:
        return StoreError(f"cannot write the gradebook {where}: {text}")
    if isinstance(error, (OperationalError, DBAPIError)):
        return StoreError(f"the gradebook {where} refused the operation: {text}")
    return StoreError(f"gradebook error in {where}: {text}")


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session in one write transaction: committed at the end, rolled back on any error.

    SQLite: BEGIN IMMEDIATE takes the write lock at the start, so concurrent writers wait their
    turn (up to the busy timeout) instead of failing at commit.
    """
    session = Session(bind=_writer(engine), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except SQLAlchemyError as error:
        session.rollback()
        raise store_error(error, engine) from None
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reading (nothing is committed). Objects loaded inside stay readable after
    the block (closing detaches them without expiring what was loaded)."""
    session = Session(bind=engine, expire_on_commit=False)
    try:
        yield session
    except SQLAlchemyError as error:
        raise store_error(error, engine) from None
    finally:
        session.close()
