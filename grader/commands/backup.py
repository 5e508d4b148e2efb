"""`python -m grader backup [--db URL] --out FILE`: a consistent copy of an SQLite gradebook.

SQLite's online backup API copies the file page by page while other graders may keep writing;
the copy is integrity-checked. A damaged gradebook or another program's database is refused (the
last good backup is what to restore then). A server database (PostgreSQL) is backed up with its
own tools (`pg_dump`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from grader import db, sqlite_file
from grader.errors import StoreError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRADER_DATABASE_URL "
                        "or data/gradebook.db)")
    parser.add_argument("--out", required=True, type=Path, help="backup file to write (must not exist)")


def run(args: argparse.Namespace) -> int:
    url = db.database_url(args.db)
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - sqlalchemy's ArgumentError and friends
        raise StoreError(f"not a database URL: {url!r}") from None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        raise StoreError(f"{db.describe(url)} is not an SQLite file; back up a server database with "
                         "its own tools (PostgreSQL: pg_dump)")
    size = sqlite_file.backup(Path(parsed.database).expanduser(), args.out)
    print(f"backed up {parsed.database} to {args.out} ({size / 1e6:.1f} MB, integrity checked)",
          file=sys.stderr)
    return 0
