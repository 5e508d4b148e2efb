"""Read stored answers again with another model (issue 18: `regrade --reread` after `adapt`).

The stored ink crops are read by the given recogniser exactly as grading reads them (the
question's kind, letter by letter, the key's candidates' likelihoods under the same mask); each
answer keeps its new reading, likelihoods and the model version. Teacher overrides and blank
answers are left alone. Scoring the new readings is grader.grading.regrade's job; the caller runs
it in the same session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from sqlalchemy.orm import Session

from grader import store
from grader.orm import Answer
from grader.reader import Reader
from grader.scoring import candidate_strings
from grader.vocab import Status


@dataclass
class ReadingChange:
    student: str
    question_id: str
    old_text: str
    new_text: str


@dataclass
class RereadReport:
    assignment_id: str
    model_version: str
    reread: int = 0
    kept_overrides: int = 0
    changes: list[ReadingChange] = field(default_factory=list)

    def summary(self, limit: int = 10) -> str:
        shown = ", ".join(f"{c.student} {c.question_id} {c.old_text!r} -> {c.new_text!r}"
                          for c in self.changes[:limit])
        more = f", and {len(self.changes) - limit} more" if len(self.changes) > limit else ""
        head = f"{len(self.changes)} readings change: {shown}{more}" if self.changes else "no reading changes"
        return (f"{head} ({self.reread} answers read again with {self.model_version}; "
                f"{self.kept_overrides} teacher overrides kept)")


def reread(session: Session, assignment_id: str, reader: Reader) -> RereadReport:
    """Read every stored, non-blank, not overridden answer of the assignment again."""
    key, _ = store.load_key(session, assignment_id)
    questions = {q.id: q for q in key.questions}
    report = RereadReport(assignment_id, reader.version)
    todo: list[tuple[Answer, np.ndarray]] = []
    for submission in store.list_submissions(session, assignment_id):
        for answer in submission.answers:
            if answer.overridden:
                report.kept_overrides += 1
            elif answer.status != Status.BLANK and answer.ink_png and answer.question_id in questions:
                ink = cv2.imdecode(np.frombuffer(answer.ink_png, np.uint8), cv2.IMREAD_GRAYSCALE)
                if ink is not None:
                    todo.append((answer, ink))
    kinds = [questions[a.question_id].kind for a, _ in todo]
    log_probs = reader.log_probs([ink for _, ink in todo], kinds) if todo else []
    for (answer, _), kind, lp in zip(todo, kinds, log_probs):
        question = questions[answer.question_id]
        reading = reader.decode(lp, kind, use_words=False)
        candidates = candidate_strings(question)
        lls = reader.string_log_likelihoods(lp, [reading.text] + candidates, kind)
        if reading.text != answer.text:
            report.changes.append(ReadingChange(store.who(answer.submission), answer.question_id,
                                                answer.text, reading.text))
        answer.text, answer.confidence = reading.text, float(reading.confidence)
        answer.reading_ll = store.finite(float(lls[0]))
        answer.answer_lls = store.finite_map(dict(zip(candidates, map(float, lls[1:]))))
        answer.model_version = reader.version
        report.reread += 1
    session.flush()
    return report
