"""`python -m grader feedback --assignment ID --out DIR [--one-pdf] [--show-answers]
[--provisional] [--student ID]`: the students' marked sheets, one PDF each (`<id>-<assignment>.pdf`)
or the class pack (`<assignment>-feedback.pdf`, roster order, each student on a new page).

Answers still in review stop the export with their count unless --provisional marks them so."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import db, export, feedback, store
from grader.files import FileStore
from grader.template import template_image


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", required=True, help="assignment id (the answer key's id)")
    parser.add_argument("--out", required=True, help="folder to write the PDF(s) into")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRADER_DATABASE_URL "
                        "or data/gradebook.db)")
    parser.add_argument("--one-pdf", action="store_true",
                        help="the class pack: every student's sheet in one PDF, for printing")
    parser.add_argument("--show-answers", action="store_true",
                        help="write the accepted answer beside each wrong one")
    parser.add_argument("--provisional", action="store_true",
                        help="mark answers still in review as provisional (default: refuse)")
    parser.add_argument("--student", help="only this student's sheet (their roster id)")


def run(args: argparse.Namespace) -> int:
    engine = db.open_engine(args.db)
    files = FileStore.for_engine(engine)
    options = feedback.FeedbackOptions(provisional=args.provisional, show_answers=args.show_answers)
    with db.read_session(engine) as session:
        key, _ = store.load_key(session, args.assignment)
        sheets = store.student_sheets(session, args.assignment, args.student)
        book = store.gradebook(session, args.assignment)
    if args.student and not sheets:
        print(f"error: no graded page of student {args.student!r} for {args.assignment!r}",
              file=sys.stderr)
        return 1
    if not sheets:
        print(f"error: no student of {args.assignment!r} has a graded page to return", file=sys.stderr)
        return 1
    try:
        feedback.check_reviewed(sheets, options)  # before writing anything
    except feedback.ReviewPending as error:
        print(f"error: {error} (--provisional)", file=sys.stderr)
        return 1

    def backgrounds(page: store.SheetPage):
        return files.thumbnail(page.photo_sha256, page.source_page)

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if args.one_pdf:
            pdf = feedback.sheets_pdf(key, sheets, options, template_image, backgrounds)
            written = [export.write_bytes(pdf, out / f"{args.assignment}-feedback.pdf")]
        else:
            written = [export.write_bytes(feedback.sheets_pdf(key, [sheet], options, template_image,
                                                              backgrounds),
                                          out / feedback.sheet_file_name(sheet, args.assignment))
                       for sheet in sheets]
    except OSError as error:
        print(f"error: cannot write into {out}: {error.strerror or error}", file=sys.stderr)
        return 1
    missing = [r.name for r in book.rows if r.missing]
    print(f"wrote {len(written)} PDF(s) with {len(sheets)} student(s) to {out}"
          + (f"; no page from {len(missing)}: {', '.join(missing)}" if missing and not args.student else ""),
          file=sys.stderr)
    return 0
