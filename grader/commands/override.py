"""`python -m grader override --assignment ID --student S --question Q
(--correct | --incorrect | --points P) [--text WHAT_IS_WRITTEN] [--reason R] [--db URL]`

Records exactly what the Review screen's buttons record (grader.store.override_answer, with the
same default reasons): the points, the verdict that follows, the reason, and, with --text, what
is written (the answer's displayed reading, and a label for `adapt`). `--answer ID` (from
`review --json`) names an answer directly, e.g. a page with no student."""

from __future__ import annotations

import argparse
import json

from sqlalchemy import select

from grader import db, store
from grader.errors import GraderError
from grader.orm import Answer, Submission
from grader.settings import Settings

# The Review screen's reasons when the teacher types none (pages/review.py).
DEFAULT_REASONS = {"correct": "marked correct", "incorrect": "marked incorrect", "points": "points set"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", required=True, help="assignment id (the answer key's id)")
    parser.add_argument("--student", help="student id (as on the roster)")
    parser.add_argument("--question", help="question id")
    parser.add_argument("--answer", type=int, metavar="ID", help="answer id from `review --json` "
                        "(instead of --student and --question)")
    verdict = parser.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--correct", action="store_true", help="full points")
    verdict.add_argument("--incorrect", action="store_true", help="no points")
    verdict.add_argument("--points", type=float, help="these points (0..max)")
    parser.add_argument("--text", metavar="WHAT_IS_WRITTEN",
                        help="what the student wrote (fixes the displayed reading)")
    parser.add_argument("--reason", default="", help="why (shown in the gradebook's history)")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $GRADER_DATABASE_URL "
                        "or data/gradebook.db)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    engine = db.open_engine(args.db)
    with db.write_session(engine) as session:
        answer = find_answer(session, args)
        points, how = ((answer.max_points, "correct") if args.correct
                       else (0.0, "incorrect") if args.incorrect else (args.points, "points"))
        change = store.override_answer(session, answer.id, points,
                                       reason=args.reason.strip() or DEFAULT_REASONS[how],
                                       text=args.text, by=_author())
        result = {"answer_id": answer.id, "student": answer.submission.student_id,
                  "question": answer.question_id, "reading": answer.text,
                  "old_points": change.old_points, "points": change.new_points,
                  "verdict": change.new_verdict, "reason": change.reason}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"{result['student'] or 'answer ' + str(result['answer_id'])} {result['question']}: "
              f"{result['old_points']:g} -> {result['points']:g} ({result['verdict']})")
    return 0


def find_answer(session, args: argparse.Namespace) -> Answer:
    """The one answer named by --answer, or by --student and --question."""
    store.load_key(session, args.assignment)  # an unknown assignment says so
    if args.answer is not None:
        answer = session.get(Answer, args.answer)
        if answer is None or answer.submission.assignment_id != args.assignment:
            raise GraderError(f"no answer {args.answer} in assignment {args.assignment!r}")
        return answer
    if not args.student or not args.question:
        raise GraderError("name the answer: --student and --question, or --answer ID")
    found = session.scalars(select(Answer).join(Submission).where(
        Submission.assignment_id == args.assignment, Submission.student_id == args.student,
        Answer.question_id == args.question)).all()
    if not found:
        raise GraderError(f"no answer of student {args.student!r} to question {args.question!r} "
                          f"in {args.assignment!r}")
    if len(found) > 1:
        ids = ", ".join(str(a.id) for a in found)
        raise GraderError(f"student {args.student!r} has {len(found)} answers to question "
                          f"{args.question!r} (answers {ids}, one per graded page); pick one "
                          "with --answer ID")
    return found[0]


def _author() -> str:
    """Who the override is recorded as made by: $GRADER_TEACHER, else "command line" (the
    settings' default, "app", names the Review screen)."""
    teacher = Settings.from_env().teacher
    return "command line" if teacher == Settings.teacher else teacher
