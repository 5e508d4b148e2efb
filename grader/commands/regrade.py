"""`python -m grader regrade --assignment ID [--db URL] [--reread]`: rescore stored readings with
the assignment's latest answer key (teacher overrides kept) and print what changed. With
`--reread` the stored ink crops are first read again with the gradebook's current model (after
`adapt`; grader.reread), and the readings that changed are printed too."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from grader import db, model_versions
from grader.errors import GraderError, ModelUnavailable
from grader.grading import KeyRef, Likelihoods, regrade, resolve_key
from grader.pipeline import stored_ink_likelihoods
from grader.reader import load_reader
from grader.reread import reread


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", required=True, help="assignment id (the answer key's id)")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRADER_DATABASE_URL "
                        "or data/gradebook.db)")
    parser.add_argument("--key", help="answer key YAML to store as the new version first")
    parser.add_argument("--no-model", action="store_true",
                        help="do not ask the recogniser about new accepted answers (text only)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--models", metavar="DIR", help="recogniser folder (default: the "
                        "gradebook's current model, see `adapt`; else models/)")
    parser.add_argument("--reread", action="store_true",
                        help="read the stored ink again with the current model first")


def run(args: argparse.Namespace) -> int:
    engine = db.open_engine(args.db)
    models_dir = model_versions.models_dir_for(engine, args.models)
    if args.reread and args.no_model:
        raise GraderError("--reread reads with the model; it cannot go with --no-model")
    reader = load_reader(models_dir) if args.reread else None  # ModelUnavailable says why
    likelihoods = None if args.no_model else _model_likelihoods(models_dir)
    with db.write_session(engine) as session:
        if args.key:  # asked for: the file becomes the assignment's new version
            version, _, _ = resolve_key(session, KeyRef.parse(args.key), new_version=True)
            if version.assignment_id != args.assignment:
                raise GraderError(f"{args.key} is the key of {version.assignment_id!r}, "
                                  f"not {args.assignment!r}")
        reading = reread(session, args.assignment, reader) if reader is not None else None
        report = regrade(session, args.assignment, likelihoods)
    if args.json:
        out = asdict(report)
        if reading is not None:
            out["reread"] = asdict(reading)
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        if reading is not None:
            print(reading.summary(limit=50))
        print(report.summary(limit=50))
    return 0


def _model_likelihoods(models_dir: str | Path | None = None) -> Likelihoods | None:
    """Likelihoods of new candidates from the stored ink crops, when the model is there."""
    try:
        recognizer = load_reader(models_dir)
    except (ModelUnavailable, ImportError, AttributeError) as error:
        print(f"note: no recogniser ({error}); new accepted answers are judged by the text",
              file=sys.stderr)
        return None
    return stored_ink_likelihoods(recognizer)
