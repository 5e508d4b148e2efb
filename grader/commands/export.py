"""`python -m grader export --assignment ID [--db URL] --out gradebook.csv [--long]`."""

from __future__ import annotations

import argparse
import sys

from grader import db, export, store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", required=True, help="assignment id (the answer key's id)")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRADER_DATABASE_URL "
                        "or data/gradebook.db)")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--long", action="store_true",
                        help="one row per answer instead of one row per student")


def run(args: argparse.Namespace) -> int:
    engine = db.open_engine(args.db)
    with db.read_session(engine) as session:
        if args.long:
            rows = store.answer_rows(session, args.assignment)
            store.load_key(session, args.assignment)  # unknown assignment -> clear error
            text, count = export.answers_csv(rows), len(rows)
        else:
            book = store.gradebook(session, args.assignment)
            text, count = export.gradebook_csv(book), len(book.rows)
    try:
        path = export.write_csv(text, args.out)
    except OSError as error:
        print(f"error: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"wrote {count} {'answer' if args.long else 'gradebook'} rows to {path}", file=sys.stderr)
    return 0
