"""`python -m grader regrade --assignment ID [--db URL]`: rescore stored readings with the
assignment's latest answer key (teacher overrides kept) and print what changed."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from grader import db
from grader.errors import GraderError, ModelUnavailable
from grader.grading import KeyRef, Likelihoods, regrade, resolve_key
from grader.pipeline import stored_ink_likelihoods
from grader.reader import load_reader


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", required=True, help="assignment id (the answer key's id)")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRADER_DATABASE_URL "
                        "or data/gradebook.db)")
    parser.add_argument("--key", help="answer key YAML to store as the new version first")
    parser.add_argument("--no-model", action="store_true",
                        help="do not ask the recogniser about new accepted answers (text only)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--models", metavar="DIR", help="recogniser folder (default: models/)")


def run(args: argparse.Namespace) -> int:
    engine = db.open_engine(args.db)
    likelihoods = None if args.no_model else _model_likelihoods(args.models)
    with db.write_session(engine) as session:
        if args.key:  # asked for: the file becomes the assignment's new version
            version, _, _ = resolve_key(session, KeyRef.parse(args.key), new_version=True)
            if version.assignment_id != args.assignment:
                raise GraderError(f"{args.key} is the key of {version.assignment_id!r}, "
                                  f"not {args.assignment!r}")
        report = regrade(session, args.assignment, likelihoods)
    if args.json:
        print(json.dumps(asdict(report), ensure_ascii=False, indent=2))
    else:
        print(report.summary(limit=50))
    return 0


def _model_likelihoods(models_dir: str | None = None) -> Likelihoods | None:
    """Likelihoods of new candidates from the stored ink crops, when the model is there."""
    try:
        recognizer = load_reader(models_dir)
    except (ModelUnavailable, ImportError, AttributeError) as error:
        print(f"note: no recogniser ({error}); new accepted answers are judged by the text",
              file=sys.stderr)
        return None
    return stored_ink_likelihoods(recognizer)
