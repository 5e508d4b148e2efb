"""A throwaway PostgreSQL server for the tests and the scale bench: initdb in a temporary folder,
started on a free loopback port, one fresh database per test (copied from a migrated template),
stopped and removed at the end.

The server binaries are the Debian `postgresql` package's (/usr/lib/postgresql/<version>/bin),
or the folder in $GRADER_PG_BIN. initdb refuses to run as root, so as root the server runs as
the `postgres` user that package creates. Where no server can be started, `unavailable()` says
why (the tests skip with that reason; .ci/run sets GRADER_REQUIRE_POSTGRES=1 to fail instead).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import free_port

START_TIMEOUT_S = 60
# A test server: nothing it writes has to survive a crash of the machine, so no fsync.
FAST = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")


def bin_dir() -> Path | None:
    """The folder of initdb/pg_ctl: $GRADER_PG_BIN, else the newest Debian PostgreSQL."""
    if os.environ.get("GRADER_PG_BIN"):
        return Path(os.environ["GRADER_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable() -> str | None:
    """Why no server can be started here, or None when it can."""
    folder = bin_dir()
    if folder is None or not (folder / "initdb").exists() or not (folder / "pg_ctl").exists():
        return ("PostgreSQL server binaries not found (install Debian's postgresql package, or set "
                "GRADER_PG_BIN to the folder of initdb and pg_ctl)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run the server (initdb refuses root)"
        if shutil.which("runuser") is None:
            return "running as root without `runuser` to start the server as the postgres user"
    return None


@dataclass
class PostgresServer:
    """A running server; `database()` hands out a new, migrated database."""

    folder: Path
    port: int
    bin: Path
    template: str | None = None
    _names: itertools.count = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str) -> None:
        """One statement on the maintenance database (autocommit: CREATE DATABASE needs it)."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(statement)  # type: ignore[arg-type]

    def database(self, prefix: str = "t") -> str:
        """A new database at the schema's head (a copy of the migrated template): its URL."""
        if self.template is None:
            from grader import db

            self.sql("CREATE DATABASE template_gradebook")
            db.open_engine(self.url("template_gradebook")).dispose()  # alembic upgrade head
            self.template = "template_gradebook"
        name = f"{prefix}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        return self.url(name)

    def empty_database(self, prefix: str = "e") -> str:
        """A new database with no tables (to watch the migrations build it)."""
        name = f"{prefix}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        _as_owner([str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate",
                   "-w", "stop"], check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_owner(command: list[str], check: bool = True) -> subprocess.CompletedProcess:
    """Run a server command as the user who owns the server (postgres when we are root)."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=check, capture_output=True, text=True, timeout=START_TIMEOUT_S)


def start(fast: bool = True) -> PostgresServer:
    """initdb and start a server in a new temporary folder (trust authentication, loopback only).
    Raises RuntimeError with the server's log when it does not start."""
    reason = unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    binaries = bin_dir()
    assert binaries is not None
    folder = Path(tempfile.mkdtemp(prefix="grader-pg-"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    port = free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
    try:
        _as_owner([str(binaries / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
                   "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
        _as_owner([str(binaries / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"),
                   "-o", f"{options} {FAST}" if fast else options, "-w", "-t",
                   str(START_TIMEOUT_S), "start"])
    except subprocess.CalledProcessError as error:
        log = (folder / "log").read_text(errors="replace")[-2000:] if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {error.stderr or error.stdout}\n{log}") from None
    return PostgresServer(folder, port, binaries)
