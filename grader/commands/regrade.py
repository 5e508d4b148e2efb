"""`python -m grader regrade --assignment ID [--db URL]`: rescore stored readings with the
assignment's latest answer key (teacher overrides kept) and print what changed."""

from __future__ import annotations

import argparse
import sys

from grader import db, store
from grader.errors import ModelUnavailable
from grader.pipeline import stored_ink_likelihoods


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
    from grader.commands.grade import read_key_text

    engine = db.open_engine(args.db)
    likelihoods = None if args.no_model else _model_likelihoods(args.models)
    with db.write_session(engine) as session:
        if args.key:
            text, source = read_key_text(args.key)
            version = store.save_answer_key(session, text, source)
            if version.assignment_id != args.assignment:
                from grader.errors import GraderError

                raise GraderError(f"{source} is the key of {version.assignment_id!r}, "
                                  f"not {args.assignment!r}")
        report = store.regrade(session, args.assignment, likelihoods)
    if args.json:
        import json
        from dataclasses import asdict

        print(json.dumps(asdict(report), ensure_ascii=False, indent=2))
    else:
        print(report.summary(limit=50))
    return 0


def _model_likelihoods(models_dir: str | None = None):
    """Likelihoods of new candidates from the stored ink crops, when the model is there."""
    try:
        from grader.recognizer import Recognizer

        recognizer = Recognizer.load(models_dir) if models_dir else Recognizer.load()
    except (ModelUnavailable, ImportError, AttributeError) as error:
        print(f"note: no recogniser ({error}); new accepted answers are judged by the text",
              file=sys.stderr)
        return None
    return stored_ink_likelihoods(recognizer)
