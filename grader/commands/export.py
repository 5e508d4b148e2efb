"""`python -m grader export --assignment ID --out FILE [--long] [--format F]` and
`python -m grader export --term --out FILE [--mode percent|points] [--format F]`.

Formats: csv (ours), canvas (Canvas gradebook import), classroom (Google Classroom grade import),
xlsx. An assignment's pages matched to no student never enter its students' rows: they are
written to a second CSV beside the first (`<name>.unassigned.csv`), and the command says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import db, export, store
from grader.errors import GraderError

FORMATS = ("csv", "canvas", "classroom", "xlsx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--assignment", help="assignment id (the answer key's id)")
    which.add_argument("--term", action="store_true",
                       help="the term gradebook: a row per student, a column per assignment")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRADER_DATABASE_URL "
                        "or data/gradebook.db)")
    parser.add_argument("--out", required=True, help="file to write (CSV, or XLSX with --format xlsx)")
    parser.add_argument("--long", action="store_true",
                        help="one row per answer (with overrides: reason, who, when) instead of "
                        "one row per student")
    parser.add_argument("--format", choices=FORMATS, default="csv",
                        help="csv (default), canvas or classroom (their grade import CSVs), xlsx")
    parser.add_argument("--mode", choices=export.TERM_MODES, default="percent",
                        help="--term: each assignment as percent (default) or points")
    parser.add_argument("--assignments", nargs="+", metavar="ID",
                        help="--term: these assignments, in this order (default: every assignment "
                        "with a graded page, oldest first)")


def _term_file(session, args: argparse.Namespace) -> tuple[bytes, str]:
    term = store.term_gradebook(session, args.assignments)
    if args.format == "xlsx":
        data = export.term_xlsx(term, args.mode)
    elif args.format == "canvas":
        data = export.canvas_csv(term).encode("utf-8")
    elif args.format == "classroom":
        data = export.classroom_csv(term).encode("utf-8")
        lacking = export.without_email(term)
        if lacking:
            print(f"warning: {len(lacking)} student(s) have no e-mail on the roster (e.g. "
                  f"{lacking[0]}); Google Classroom matches grades by e-mail, so add an 'email' "
                  "column to the roster", file=sys.stderr)
    else:
        data = export.term_csv(term, args.mode).encode("utf-8")
    return data, f"{len(term.rows)} students x {len(term.assignments)} assignments"


def _assignment_file(session, args: argparse.Namespace) -> tuple[bytes, str, store.Gradebook | None]:
    if args.long:
        if args.format != "csv":
            raise GraderError("--long writes CSV only (leave out --format)")
        store.load_key(session, args.assignment)  # unknown assignment -> clear error
        rows = store.answer_rows(session, args.assignment)
        return export.answers_csv(rows).encode("utf-8"), f"{len(rows)} answer rows", None
    if args.format in ("canvas", "classroom"):
        args.assignments = [args.assignment]
        data, what = _term_file(session, args)
        return data, what, store.gradebook(session, args.assignment)
    book = store.gradebook(session, args.assignment)
    data = (export.gradebook_xlsx(book) if args.format == "xlsx"
            else export.gradebook_csv(book).encode("utf-8"))
    missing = sum(r.missing for r in book.rows)
    return data, f"{len(book.rows)} student rows ({missing} missing)", book


def run(args: argparse.Namespace) -> int:
    if args.term and args.long:
        raise GraderError("--long is one assignment's answers; leave it out with --term")
    engine = db.open_engine(args.db)
    book = None
    with db.read_session(engine) as session:
        if args.term:
            data, what = _term_file(session, args)
        else:
            data, what, book = _assignment_file(session, args)
    stray_note = ""
    try:
        path = export.write_bytes(data, args.out)
        if book is not None and book.unassigned:
            stray = Path(args.out).with_suffix(".unassigned.csv")
            export.write_csv(export.unassigned_csv(book), stray)
            stray_note = f"; {len(book.unassigned)} page(s) matched to no student listed in {stray}"
    except OSError as error:
        print(f"error: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"wrote {what} to {path}{stray_note}", file=sys.stderr)
    return 0
