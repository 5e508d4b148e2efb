"""`python -m grader review --assignment ID [--db URL] [--all] [--json]`: the answers the Review
screen lists, in its order (to review first, the most doubtful first), so that a school can
script the review and tests can drive it without the browser. Each entry: answer id, student,
question, reading, confidence, suggestion (verdict, points of max), status, accepted answers."""

from __future__ import annotations

import argparse
import json

from grader import db, store
from grader.vocab import Status, verdict_for_points


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", required=True, help="assignment id (the answer key's id)")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRADER_DATABASE_URL "
                        "or data/gradebook.db)")
    parser.add_argument("--all", action="store_true", help="every answer, not only those to review")
    parser.add_argument("--json", action="store_true", help="print a JSON array")


def run(args: argparse.Namespace) -> int:
    engine = db.open_engine(args.db)
    with db.read_session(engine) as session:
        key, _ = store.load_key(session, args.assignment)
        answers = store.list_answers(session, args.assignment,
                                     status=None if args.all else Status.REVIEW)
        accepted = {q.id: q.answers for q in key.questions}
        entries = [entry(answer, accepted.get(answer.question_id, [])) for answer in answers]
    if args.json:
        print(json.dumps(entries, ensure_ascii=False, indent=2))
    else:
        for e in entries:
            print(f"{e['student']} {e['question']}: read {e['reading']!r} -> {e['suggestion']}")
        print(f"{len(entries)} answers" + ("" if args.all else " to review"))
    return 0


def entry(answer, accepted) -> dict:
    """One answer as the Review screen shows it."""
    submission = answer.submission
    suggested = (verdict_for_points(answer.points, answer.max_points)
                 if answer.status == Status.REVIEW else answer.verdict)
    return {"answer_id": answer.id, "student": submission.student_id,
            "who": store.who(submission), "question": answer.question_id,
            "reading": answer.text, "confidence": round(answer.confidence, 4),
            "suggestion": suggested, "points": answer.points, "max": answer.max_points,
            "status": answer.status, "accepted": [str(a) for a in accepted]}
