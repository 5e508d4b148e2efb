"""`python -m grader grade --key KEY [--db URL] [--roster CSV] [--json] PHOTO_OR_PDF...`

Grades each photo (each page of a PDF) against the key, stores the results in the gradebook
and prints, per photo, {"photo", "assignment", "page", "student", "total", "max", "questions":
[{"id", "text", "confidence", "verdict", "score", "max", "status"}]}, or {"photo", "error"}
for one that failed; the batch goes on. Exit status 0 when every photo was graded, 2 otherwise.

The key applied is the gradebook's latest version of the assignment; the key file is stored as a
new version only with --new-version (or as the first one when the gradebook has none); see
grader.grading.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from grader import cluster, db, limits, model_versions
from grader.errors import GraderError
from grader.grading import GradeOptions, GradingContext, KeyRef, grade_photos, prepare
from grader.roster import RosterEntry, read_roster
from grader.settings import MB
from grader.vocab import Status

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".pdf"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True,
                        help="answer key: an assignment id (the gradebook's latest version, else "
                        "answer_keys/ID.yaml), or a YAML file")
    parser.add_argument("--new-version", action="store_true",
                        help="store the key file as a new version of the assignment when it "
                        "differs from the gradebook's (then regrade earlier photos)")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRADER_DATABASE_URL "
                        "or data/gradebook.db)")
    parser.add_argument("--roster", type=Path, metavar="CSV",
                        help="class roster (id, name, class) to add, and to match names against")
    parser.add_argument("--json", action="store_true", help="print the results as a JSON array")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="grade on a local Dask cluster of N single-threaded worker processes "
                        "(default: in this process)")
    parser.add_argument("--cluster", metavar="ADDRESS", default=cluster.default_address(),
                        help="grade on the Dask scheduler at ADDRESS, e.g. tcp://host:8786, whose "
                        "workers run this project (default: $GRADER_CLUSTER)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--models", metavar="DIR", help="recogniser folder (default: the "
                        "gradebook's current model, see `adapt`; else models/)")
    parser.add_argument("photos", nargs="+", metavar="PHOTO_OR_PDF",
                        help="photos or PDFs of filled-in worksheets; folders expand to them")


def expand(paths: list[str]) -> list[Path]:
    """Files as given; folders become their image and PDF files, sorted."""
    out = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(path)
    return out


def run(args: argparse.Namespace) -> int:
    roster = _roster(args.roster)
    photos = expand(args.photos)
    if not photos:
        raise GraderError("no photos to grade (the folders hold no images or PDFs)")
    engine = db.open_engine(args.db)
    context = prepare(engine, KeyRef.parse(args.key), roster, new_version=args.new_version)
    _note_key_version(context, args.key)
    progress = _progress(len(photos), disabled=args.no_progress or len(photos) < 2)
    if args.workers is not None and args.workers < 1:
        raise GraderError(f"--workers must be at least 1, not {args.workers}")
    options = GradeOptions(workers=args.workers, cluster=args.cluster,
                           models_dir=model_versions.models_dir_for(engine, args.models))
    results, tally = [], Counter[str]()
    try:
        for page in grade_photos(engine, context, photos, options=options,
                                 on_done=progress.update):
            result = page.as_json()
            tally["failed" if page.error else "already" if page.already_graded else "graded"] += 1
            results.append(result)
            if not args.json:
                print(_line(result), flush=True)
    finally:
        progress.close()
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    print(_summary(tally), file=sys.stderr)
    return 2 if tally["failed"] else 0


def _summary(tally: Counter[str]) -> str:
    """`12 pages graded, 30 already in the gradebook (not graded again), 1 failed`: what a rerun
    after a crash did."""
    pages = "page" if tally["graded"] == 1 else "pages"
    return (f"{tally['graded']} {pages} graded, {tally['already']} already in the gradebook "
            f"(not graded again), {tally['failed']} failed")


def _roster(path: Path | None) -> list[RosterEntry]:
    if path is None:
        return []
    try:
        size = path.stat().st_size
        if size > limits.MAX_ROSTER_BYTES:
            raise GraderError(f"{path}: the roster is {size / MB:.1f} MB; the limit is "
                              f"{limits.MAX_ROSTER_BYTES / MB:.0f} MB (a class list is a few KB)")
        # As the app reads it: UTF-8 (with or without BOM), UTF-16, GBK or Windows-1252, comma,
        # semicolon or tab; an encoding that cannot be told is refused with the reason.
        return read_roster(path.read_bytes(), str(path))
    except OSError as error:
        raise GraderError(f"{path}: cannot read the roster ({error.strerror or error})") from None


def _note_key_version(context: GradingContext, key: str) -> None:
    assignment = context.key.id
    if context.new_version:
        print(f"note: the key {assignment} changed; stored as version {context.key_version}."
              f" Run `python -m grader regrade --assignment {assignment}` to rescore earlier "
              "photos", file=sys.stderr)
    elif context.file_differs:
        print(f"note: {key} differs from version {context.key_version} of {assignment} in the "
              "gradebook, which was used; pass --new-version to store the file as a new "
              "version", file=sys.stderr)


def _progress(total: int, disabled: bool) -> tqdm:
    return tqdm(total=total, unit="photo", file=sys.stderr, disable=disabled,
                desc="grading")


def _line(result: dict) -> str:
    if "error" in result:
        return f"{result['photo']}: error: {result['error']}"
    review = sum(q["status"] == Status.REVIEW for q in result["questions"])
    student = result["student"] or "(student not identified)"
    note = f", {review} to review" if review else ""
    return f"{result['photo']}: {student} {result['total']:g}/{result['max']:g}{note}"
