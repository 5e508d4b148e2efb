"""`python -m grader worksheet --key KEY --out sheet.pdf [--png DIR] [--roster CSV]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from grader.answer_key import load_answer_key
from grader.errors import GraderError
from grader.roster import parse_roster
from grader.worksheet import Student, render_page, unprintable_warning, worksheet_pdf_bytes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True, type=Path, help="answer key YAML file")
    parser.add_argument("--out", required=True, type=Path, help="PDF file to write")
    parser.add_argument("--png", type=Path, metavar="DIR",
                        help="also write the pages as 200 dpi PNG images (page-1.png, ...; "
                             "with --roster: <student-id>/page-1.png, ...)")
    parser.add_argument("--roster", type=Path, metavar="CSV",
                        help="class roster (columns id[,name]): one sheet per student, id in the QR code")


def run(args: argparse.Namespace) -> int:
    key = load_answer_key(args.key)
    roster = None
    if args.roster is not None:
        try:
            text = args.roster.read_text(encoding="utf-8")
        except OSError as error:
            raise GraderError(f"{args.roster}: cannot read the roster ({error.strerror or error})") from None
        roster = [Student(entry.id, entry.name) for entry in parse_roster(text, str(args.roster))]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(worksheet_pdf_bytes(key, roster))
    sheets = len(roster) if roster else 1
    print(f"wrote {args.out} ({key.pages} page(s) x {sheets} sheet(s))")
    warning = unprintable_warning(key, roster or ())
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if args.png is not None:
        sheets_of: list[Student | None] = list(roster) if roster else [None]
        for student in sheets_of:
            folder = args.png / student.id if student else args.png
            folder.mkdir(parents=True, exist_ok=True)
            for page in range(1, key.pages + 1):
                image = render_page(key, page, student.id if student else None, student.name if student else "")
                cv2.imwrite(str(folder / f"page-{page}.png"), image)
        print(f"wrote page images to {args.png}")
    return 0
