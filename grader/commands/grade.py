"""`python -m grader grade --key KEY [--db URL] [--roster CSV] [--json] PHOTO_OR_PDF...`

Grades each photo (each page of a PDF) against the key, stores the results in the gradebook
and prints, per photo, {"photo", "assignment", "page", "student", "total", "max", "questions":
[{"id", "text", "confidence", "verdict", "score", "max", "status"}]}, or {"photo", "error"}
for one that failed; the batch goes on. Exit status 0 when every photo was graded, 2 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grader import db
from grader.batch import grade_files, prepare_grading
from grader.errors import AnswerKeyInvalid, GraderError
from grader.paths import ANSWER_KEYS_DIR
from grader.roster import parse_roster

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".pdf"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True,
                        help="answer key: a YAML file, or the id of a key in answer_keys/")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRADER_DATABASE_URL "
                        "or data/gradebook.db)")
    parser.add_argument("--roster", type=Path, metavar="CSV",
                        help="class roster (id, name, class) to add, and to match names against")
    parser.add_argument("--json", action="store_true", help="print the results as a JSON array")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes grading in parallel (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--models", metavar="DIR", help="recogniser folder (default: models/)")
    parser.add_argument("photos", nargs="+", metavar="PHOTO_OR_PDF",
                        help="photos or PDFs of filled-in worksheets; folders expand to them")


def read_key_text(key: str) -> tuple[str, str]:
    """(YAML text, source name) of a key given as a path or as an id in answer_keys/."""
    path = Path(key)
    if not path.exists() and not key.endswith((".yaml", ".yml")):
        path = ANSWER_KEYS_DIR / f"{key}.yaml"
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise AnswerKeyInvalid(f"{key}: no such answer key file (nor a key with that id in "
                               f"{ANSWER_KEYS_DIR})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AnswerKeyInvalid(f"{path}: cannot read the answer key ({error})") from None


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
    key_text, source = read_key_text(args.key)
    roster = []
    if args.roster is not None:
        try:
            roster = parse_roster(args.roster.read_text(encoding="utf-8-sig"), str(args.roster))
        except OSError as error:
            raise GraderError(f"{args.roster}: cannot read the roster "
                              f"({error.strerror or error})") from None
    photos = expand(args.photos)
    if not photos:
        raise GraderError("no photos to grade (the folders hold no images or PDFs)")
    engine = db.open_engine(args.db)
    context = prepare_grading(engine, key_text, source, roster)
    if context.new_version:
        print(f"note: the key {context.key.id} changed; stored as version {context.key_version}."
              f" Run `python -m grader regrade --assignment {context.key.id}` to rescore earlier "
              "photos", file=sys.stderr)
    progress = _progress(len(photos), disabled=args.no_progress or len(photos) < 2)
    results, failed = [], 0
    try:
        for result in grade_files(engine, context, photos, workers=args.workers,
                                  models_dir=args.models, on_done=progress.update):
            failed += "error" in result
            results.append(result)
            if not args.json:
                print(_line(result), flush=True)
    finally:
        progress.close()
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    return 2 if failed else 0


def _progress(total: int, disabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="photo", file=sys.stderr, disable=disabled,
                desc="grading")


def _line(result: dict) -> str:
    if "error" in result:
        return f"{result['photo']}: error: {result['error']}"
    review = sum(q["status"] == "review" for q in result["questions"])
    student = result["student"] or "(student not identified)"
    note = f", {review} to review" if review else ""
    return f"{result['photo']}: {student} {result['total']:g}/{result['max']:g}{note}"
