"""Gradebook data functions. Each takes a SQLAlchemy `session` the caller owns (open it with
`grader.db.write_session` / `read_session`, one per user action) and neither commits nor closes it.

Roster        upsert_students, list_students, roster_entries
Answer keys   save_answer_key (a changed key becomes a new version), load_key, list_assignments
Grading       photo_hash, find_submission, save_graded_page (idempotent on the photo hash),
              record_failed_photo, failed_submissions, assign_student, submission_result
Review        list_answers / review_queue (review first, most doubtful first), answer_groups
              (identical normalised readings), override_answer, override_group
Rescoring     regrade (new key version; teacher overrides kept; a report of what changed)
Gradebook     gradebook (one row per student), answer_rows (one row per answer), question_stats

Errors a teacher can cause (unknown assignment, points out of range) raise GraderError
subclasses with a message; database failures become StoreError in grader.db's session helpers.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from grader.answer_key import AnswerKey, parse_answer_key
from grader.errors import GraderError, StoreError
from grader.orm import Answer, Assignment, KeyVersion, Override, Student, Submission
from grader.roster import RosterEntry
from grader.normalize import normalize
from grader.scoring import DEFAULT_CONFIG, Rules, ScoringConfig, candidate_strings, score_answer

if TYPE_CHECKING:  # the pipeline imports OpenCV and the recogniser; the store does not need them
    from grader.pipeline import GradedPage

REVIEW_STATUSES = ("review",)


# --- roster ------------------------------------------------------------------------------------

def upsert_students(session: Session, entries: Iterable[RosterEntry]) -> int:
    """Add or update roster students by id (name and class overwritten when given); returns how
    many rows were added or changed."""
    changed = 0
    for entry in entries:
        student = session.get(Student, entry.id)
        if student is None:
            session.add(Student(id=entry.id, name=entry.name or entry.id,
                                class_name=entry.class_name))
            changed += 1
        elif (entry.name and student.name != entry.name) or (
                entry.class_name and student.class_name != entry.class_name):
            student.name = entry.name or student.name
            student.class_name = entry.class_name or student.class_name
            changed += 1
    session.flush()
    return changed


def list_students(session: Session) -> list[Student]:
    """Every student, by class then name."""
    return list(session.scalars(select(Student).order_by(Student.class_name, Student.name)))


def roster_entries(session: Session) -> list[RosterEntry]:
    """The roster as plain data (for name matching in the pipeline)."""
    return [RosterEntry(s.id, s.name, s.class_name) for s in list_students(session)]


def _ensure_student(session: Session, student_id: str) -> None:
    # A per-student sheet's QR names a student the roster may not hold yet; keep the page and
    # create the student with the id as name rather than drop the identification.
    if session.get(Student, student_id) is None:
        session.add(Student(id=student_id, name=student_id, class_name=""))
        session.flush()


# --- answer keys -------------------------------------------------------------------------------

def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_answer_key(session: Session, yaml_text: str, source: str = "<answer key>") -> KeyVersion:
    """Store an answer key (validated first; AnswerKeyInvalid if it is not valid).

    The assignment is created on first sight. Identical text returns the latest version; a
    changed key becomes version n+1 (older versions stay, so old grades remain explainable).
    """
    key = parse_answer_key(yaml_text, source=source)
    assignment = session.get(Assignment, key.id)
    if assignment is None:
        assignment = Assignment(id=key.id, title=key.title)
        session.add(assignment)
        session.flush()
    latest = latest_key_version(session, key.id)
    digest = _text_hash(yaml_text)
    if latest is not None and latest.sha256 == digest:
        return latest
    assignment.title = key.title
    version = KeyVersion(assignment_id=key.id, version=(latest.version + 1 if latest else 1),
                         yaml_text=yaml_text, sha256=digest)
    session.add(version)
    session.flush()
    return version


def latest_key_version(session: Session, assignment_id: str) -> KeyVersion | None:
    """The newest stored key version of an assignment (None if it has none yet)."""
    return session.scalars(select(KeyVersion).where(KeyVersion.assignment_id == assignment_id)
                           .order_by(KeyVersion.version.desc()).limit(1)).first()


def _assignment(session: Session, assignment_id: str) -> Assignment:
    assignment = session.get(Assignment, assignment_id)
    if assignment is None:
        known = ", ".join(a.id for a in list_assignments(session)) or "none yet"
        raise StoreError(f"no assignment {assignment_id!r} in the gradebook (known: {known}); "
                         "grade photos with its answer key first")
    return assignment


def load_key(session: Session, assignment_id: str,
             version: int | None = None) -> tuple[AnswerKey, KeyVersion]:
    """The stored answer key of an assignment (latest version unless one is named)."""
    _assignment(session, assignment_id)
    if version is None:
        row = latest_key_version(session, assignment_id)
    else:
        row = session.scalars(select(KeyVersion).where(KeyVersion.assignment_id == assignment_id,
                                                       KeyVersion.version == version)).first()
    if row is None:
        raise StoreError(f"assignment {assignment_id!r} has no answer key version {version}")
    return parse_answer_key(row.yaml_text, source=f"{assignment_id} (version {row.version})"), row


def list_assignments(session: Session) -> list[Assignment]:
    """Every assignment, newest first."""
    return list(session.scalars(select(Assignment).order_by(Assignment.created_at.desc(),
                                                            Assignment.id)))


# --- grading -----------------------------------------------------------------------------------

def photo_hash(data: bytes) -> str:
    """SHA-256 of a photo's bytes: the same file graded twice is recognised by it."""
    return hashlib.sha256(data).hexdigest()


def find_submission(session: Session, assignment_id: str, photo_sha256: str,
                    source_page: int = 0) -> Submission | None:
    """The stored submission of this photo (page `source_page` of a PDF), if any."""
    return session.scalars(select(Submission).where(
        Submission.assignment_id == assignment_id, Submission.photo_sha256 == photo_sha256,
        Submission.source_page == source_page)).first()


def save_graded_page(session: Session, graded: "GradedPage", key_version: KeyVersion,
                     photo_sha256: str, source_page: int = 0,
                     photo_name: str = "") -> tuple[Submission, bool]:
    """Store one graded page and all its answers; returns (submission, created).

    Idempotent: a photo already graded for this assignment (same hash and PDF page) is returned
    as stored, with created=False. A photo that failed before is replaced by its graded result.
    Call it inside one write transaction (grader.db.write_session) so a crash leaves either the
    whole page or nothing.
    """
    existing = find_submission(session, graded.assignment_id, photo_sha256, source_page)
    if existing is not None and existing.status == "ok":
        return existing, False
    if graded.student_id:
        _ensure_student(session, graded.student_id)
    submission = existing or Submission(assignment_id=graded.assignment_id,
                                        photo_sha256=photo_sha256, source_page=source_page)
    submission.key_version_id = key_version.id
    submission.photo_name = photo_name
    submission.page = graded.page
    submission.student_id = graded.student_id
    submission.student_method = graded.student_method
    submission.name_text = graded.name_text
    submission.registration_method = graded.registration_method
    submission.registration_error = graded.registration_error
    submission.status, submission.error = "ok", None
    for position, item in enumerate(graded.answers):
        result = item.result
        submission.answers.append(Answer(
            question_id=result.question_id, position=position, crop_png=item.crop_png,
            ink_png=item.ink_png, text=result.text, normalized=item.normalized,
            confidence=result.confidence, reading_ll=_finite(item.reading_ll),
            answer_lls=_finite_map(item.answer_lls), verdict=result.verdict,
            points=result.points, max_points=result.max_points, status=result.status,
            margin=result.margin, overridden=False))
    if existing is None:
        session.add(submission)
    session.flush()
    return submission, True  # new, or a failed photo now graded


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _finite_map(values: dict[str, float] | None) -> dict[str, float] | None:
    # JSON has no -inf; a candidate the charset cannot write is simply left out.
    if values is None:
        return None
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}


def record_failed_photo(session: Session, assignment_id: str, photo_sha256: str, error: str,
                        source_page: int = 0, photo_name: str = "",
                        key_version: KeyVersion | None = None) -> Submission:
    """Keep a photo that could not be graded (with the reason) so it can be retried or handled
    by hand. A photo already graded successfully is left as it is."""
    _assignment(session, assignment_id)
    existing = find_submission(session, assignment_id, photo_sha256, source_page)
    if existing is not None and existing.status == "ok":
        return existing
    submission = existing or Submission(assignment_id=assignment_id, photo_sha256=photo_sha256,
                                        source_page=source_page)
    submission.photo_name = photo_name
    submission.key_version_id = key_version.id if key_version else None
    submission.status, submission.error = "failed", error
    submission.student_method = submission.student_method or "none"
    submission.name_text = submission.name_text or ""
    if existing is None:
        session.add(submission)
    session.flush()
    return submission


def failed_submissions(session: Session, assignment_id: str) -> list[Submission]:
    """Photos of the assignment that failed, oldest first, with their error messages."""
    return list(session.scalars(select(Submission).where(
        Submission.assignment_id == assignment_id, Submission.status == "failed")
        .order_by(Submission.id)))


def list_submissions(session: Session, assignment_id: str) -> list[Submission]:
    """Graded pages of the assignment (status ok), oldest first, answers loaded."""
    return list(session.scalars(select(Submission).where(
        Submission.assignment_id == assignment_id, Submission.status == "ok")
        .options(selectinload(Submission.answers), selectinload(Submission.student))
        .order_by(Submission.id)))


def unassigned_submissions(session: Session, assignment_id: str) -> list[Submission]:
    """Graded pages no student could be matched to (the teacher picks)."""
    return [s for s in list_submissions(session, assignment_id) if s.student_id is None]


def assign_student(session: Session, submission_id: int, student_id: str | None) -> Submission:
    """The teacher says whose page this is (None: unassign)."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise StoreError(f"no submission {submission_id} in the gradebook")
    if student_id is not None and session.get(Student, student_id) is None:
        raise StoreError(f"no student {student_id!r} in the roster")
    submission.student_id = student_id
    submission.student_method = "teacher" if student_id else "none"
    session.flush()
    return submission


def submission_total(submission: Submission) -> tuple[float, float]:
    """(points, max points) of one page."""
    return (sum(a.points for a in submission.answers),
            sum(a.max_points for a in submission.answers))


def submission_result(submission: Submission, photo: str | None = None) -> dict:
    """The per-photo JSON of `grade --json` (and the API): photo, assignment, page, student,
    total, max and one entry per question (id, text, confidence, verdict, score, max, status)."""
    total, maximum = submission_total(submission)
    return {
        "photo": photo if photo is not None else submission.photo_name,
        "assignment": submission.assignment_id,
        "page": submission.page,
        "student": submission.student_id,
        "total": total,
        "max": maximum,
        "questions": [{"id": a.question_id, "text": a.text, "confidence": round(a.confidence, 4),
                       "verdict": a.verdict, "score": a.points, "max": a.max_points,
                       "status": a.status} for a in submission.answers],
    }


# --- review ------------------------------------------------------------------------------------

def _answers_query(assignment_id: str):
    return (select(Answer).join(Submission)
            .where(Submission.assignment_id == assignment_id, Submission.status == "ok")
            .options(selectinload(Answer.submission).selectinload(Submission.student)))


def _doubt_order(answer: Answer) -> tuple:
    # Review first; inside it the most negative margin (the most doubtful) first; blanks last.
    return (answer.status != "review", answer.status == "blank",
            answer.margin if answer.margin is not None else math.inf,
            answer.submission_id, answer.position)


def list_answers(session: Session, assignment_id: str, question_id: str | None = None,
                 status: str | None = None) -> list[Answer]:
    """Answers of an assignment, answers to review first and the most doubtful first."""
    _assignment(session, assignment_id)
    query = _answers_query(assignment_id)
    if question_id is not None:
        query = query.where(Answer.question_id == question_id)
    if status is not None:
        query = query.where(Answer.status == status)
    return sorted(session.scalars(query), key=_doubt_order)


def review_queue(session: Session, assignment_id: str,
                 question_id: str | None = None) -> list[Answer]:
    """The answers the teacher should look at (status review), most doubtful first."""
    return list_answers(session, assignment_id, question_id, status="review")


@dataclass
class AnswerGroup:
    """Answers to one question that read the same after normalisation (one click grades all)."""

    question_id: str
    normalized: str
    text: str  # the most common raw reading, to show
    answer_ids: list[int]
    to_review: int  # how many of them are in review
    points: list[float]
    verdicts: list[str]
    min_margin: float | None

    @property
    def count(self) -> int:
        return len(self.answer_ids)


def answer_groups(session: Session, assignment_id: str,
                  question_id: str | None = None) -> list[AnswerGroup]:
    """Groups of identical normalised readings per question: groups holding answers to review
    first (most doubtful first), then the largest groups. Blank answers are not grouped."""
    buckets: dict[tuple[str, str], list[Answer]] = defaultdict(list)
    for answer in list_answers(session, assignment_id, question_id):
        if answer.status != "blank":
            buckets[(answer.question_id, answer.normalized)].append(answer)
    groups = []
    for (qid, normalized), answers in buckets.items():
        texts = defaultdict(int)
        for a in answers:
            texts[a.text] += 1
        margins = [a.margin for a in answers if a.margin is not None]
        groups.append(AnswerGroup(
            qid, normalized, max(texts, key=texts.get), [a.id for a in answers],
            sum(a.status == "review" for a in answers), [a.points for a in answers],
            [a.verdict for a in answers], min(margins) if margins else None))
    return sorted(groups, key=lambda g: (g.to_review == 0,
                                         g.min_margin if g.to_review and g.min_margin is not None
                                         else 0.0, -g.count, g.question_id, g.normalized))


def _verdict_for(points: float, max_points: float) -> str:
    if points >= max_points:
        return "correct"
    return "incorrect" if points <= 0 else "partial"


def override_answer(session: Session, answer_id: int, points: float,
                    verdict: str | None = None, reason: str = "") -> Override:
    """The teacher sets an answer's points (0..max); the verdict follows from the points unless
    given. The old values are kept in `overrides`; the answer's status becomes `teacher`, and a
    regrade never changes it again."""
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise StoreError(f"no answer {answer_id} in the gradebook")
    if not (0 <= points <= answer.max_points):
        raise GraderError(f"points for question {answer.question_id} must be between 0 and "
                          f"{answer.max_points:g}, got {points:g}")
    verdict = verdict or _verdict_for(points, answer.max_points)
    if verdict not in ("correct", "partial", "incorrect"):
        raise GraderError(f"verdict must be correct, partial or incorrect, got {verdict!r}")
    override = Override(answer_id=answer.id, old_points=answer.points, new_points=float(points),
                        old_verdict=answer.verdict, new_verdict=verdict, reason=reason)
    session.add(override)
    answer.points, answer.verdict = float(points), verdict
    answer.status, answer.overridden = "teacher", True
    session.flush()
    return override


def override_group(session: Session, assignment_id: str, question_id: str, normalized: str,
                   points: float, verdict: str | None = None,
                   reason: str = "") -> list[Override]:
    """Override every answer to `question_id` whose normalised reading is `normalized`."""
    answers = session.scalars(_answers_query(assignment_id).where(
        Answer.question_id == question_id, Answer.normalized == normalized)).all()
    if not answers:
        raise StoreError(f"no answers {normalized!r} to question {question_id} of "
                         f"{assignment_id!r}")
    return [override_answer(session, a.id, points, verdict, reason) for a in answers]


# --- regrade -----------------------------------------------------------------------------------

@dataclass
class ScoreChange:
    submission_id: int
    student: str  # name, id, or the photo name for an unassigned page
    question_id: str
    old_points: float
    new_points: float
    old_verdict: str
    new_verdict: str


@dataclass
class RegradeReport:
    """What a regrade did: the key version applied, the changed scores, the overrides kept."""

    assignment_id: str
    key_version: int
    rescored: int = 0
    kept_overrides: int = 0
    changes: list[ScoreChange] = field(default_factory=list)

    def summary(self, limit: int = 10) -> str:
        """`7 scores change: Ana q3 0 -> 2, ...` (or `no scores change`)."""
        if not self.changes:
            head = "no scores change"
        else:
            shown = ", ".join(f"{c.student} {c.question_id} {c.old_points:g} -> {c.new_points:g}"
                              for c in self.changes[:limit])
            more = f", and {len(self.changes) - limit} more" if len(self.changes) > limit else ""
            noun = "score changes" if len(self.changes) == 1 else "scores change"
            head = f"{len(self.changes)} {noun}: {shown}{more}"
        return (f"{head} ({self.assignment_id}, key version {self.key_version}; "
                f"{self.rescored} answers rescored, {self.kept_overrides} teacher overrides kept)")


# (answer, candidate strings, question kind) -> CTC log-likelihood of each candidate, e.g. the
# recogniser on the stored ink crop (grader.pipeline.stored_ink_likelihoods)
Likelihoods = Callable[[Answer, Sequence[str], str], dict[str, float]]


def regrade(session: Session, assignment_id: str, likelihoods: Likelihoods | None = None,
            config: ScoringConfig = DEFAULT_CONFIG) -> RegradeReport:
    """Rescore every stored reading of the assignment with its latest key version.

    Teacher overrides are kept as they are, blank answers stay blank. Likelihoods stored from
    grading are reused for candidates the new key still has; for new candidates `likelihoods`
    (e.g. the recogniser on the stored ink crop) is asked, and without it the text decides.
    """
    key, version = load_key(session, assignment_id)
    report = RegradeReport(assignment_id, version.version)
    questions = {q.id: q for q in key.questions}
    for submission in list_submissions(session, assignment_id):
        submission.key_version_id = version.id
        who = _who(submission)
        for answer in submission.answers:
            question = questions.get(answer.question_id)
            if question is None:
                continue  # the question left the key; its stored score stays visible
            answer.max_points = float(question.points)
            if answer.overridden:
                report.kept_overrides += 1
                continue
            if answer.status == "blank":
                continue
            result = _rescore(answer, question, likelihoods, config)
            report.rescored += 1
            if (result.points, result.verdict) != (answer.points, answer.verdict):
                report.changes.append(ScoreChange(submission.id, who, answer.question_id,
                                                  answer.points, result.points, answer.verdict,
                                                  result.verdict))
            answer.points, answer.verdict = result.points, result.verdict
            answer.status, answer.margin = result.status, result.margin
            # the key's rules (case, spaces, width) decide which answers group together
            answer.normalized = normalize(answer.text, question.kind,
                                          Rules.of(question.match).options())
    session.flush()
    return report


def _rescore(answer: Answer, question, likelihoods: Likelihoods | None, config: ScoringConfig):
    candidates = candidate_strings(question)
    stored = dict(answer.answer_lls or {})
    lls = {c: stored[c] for c in candidates if c in stored}
    missing = [c for c in candidates if c not in stored]
    if missing and likelihoods is not None:
        fresh = likelihoods(answer, missing, question.kind) or {}
        lls.update({c: v for c, v in fresh.items() if v is not None and math.isfinite(v)})
        answer.answer_lls = {**stored, **_finite_map(fresh)}
    return score_answer(question, answer.text, answer.confidence, answer.reading_ll,
                        lls or None, config)


def _who(submission: Submission) -> str:
    if submission.student is not None:
        return submission.student.name or submission.student.id
    return f"(unassigned {submission.photo_name or submission.id})"


# --- gradebook ---------------------------------------------------------------------------------

@dataclass
class GradebookRow:
    student_id: str  # "" for a page no student is matched to yet
    name: str
    class_name: str
    scores: dict[str, float | None]  # question id -> points (None: that page not handed in)
    total: float
    max_points: float
    to_review: int
    submission_ids: list[int]

    @property
    def percent(self) -> float:
        return round(100.0 * self.total / self.max_points, 1) if self.max_points else 0.0


@dataclass
class Gradebook:
    assignment_id: str
    title: str
    key_version: int
    questions: list[tuple[str, str, float]]  # (id, label, points) in key order
    rows: list[GradebookRow]


def gradebook(session: Session, assignment_id: str) -> Gradebook:
    """One row per student (pages of a multi-page assignment combined; for a page graded twice
    from different photos the latest counts), then one row per unassigned page."""
    key, version = load_key(session, assignment_id)
    questions = [(q.id, q.label, float(q.points)) for q in key.questions]
    max_points = sum(p for _, _, p in questions)
    per_student: dict[str, list[Submission]] = defaultdict(list)
    rows: list[GradebookRow] = []
    unassigned: list[Submission] = []
    for submission in list_submissions(session, assignment_id):
        if submission.student_id is None:
            unassigned.append(submission)
        else:
            per_student[submission.student_id].append(submission)
    for student_id, submissions in per_student.items():
        student = submissions[0].student
        rows.append(_row(student_id, student.name, student.class_name, submissions, questions,
                         max_points))
    rows.sort(key=lambda r: (r.class_name, r.name, r.student_id))
    for submission in unassigned:
        rows.append(_row("", f"(unassigned: {submission.photo_name or submission.id})", "",
                         [submission], questions, max_points))
    return Gradebook(assignment_id, key.title, version.version, questions, rows)


def _row(student_id: str, name: str, class_name: str, submissions: list[Submission],
         questions: list[tuple[str, str, float]], max_points: float) -> GradebookRow:
    latest: dict[str, Answer] = {}
    for submission in submissions:  # oldest first, so a later photo of a page wins
        for answer in submission.answers:
            latest[answer.question_id] = answer
    scores = {qid: (latest[qid].points if qid in latest else None) for qid, _, _ in questions}
    return GradebookRow(student_id, name, class_name, scores,
                        sum(v for v in scores.values() if v is not None), max_points,
                        sum(1 for a in latest.values() if a.status == "review"),
                        [s.id for s in submissions])


def answer_rows(session: Session, assignment_id: str) -> list[dict]:
    """One plain row per stored answer (the long export): student, page, question, reading,
    confidence, verdict, points, max, status, margin, overridden, photo."""
    rows = []
    for submission in list_submissions(session, assignment_id):
        for answer in submission.answers:
            rows.append({
                "student_id": submission.student_id or "",
                "name": submission.student.name if submission.student else "",
                "class": submission.student.class_name if submission.student else "",
                "page": submission.page, "question": answer.question_id, "text": answer.text,
                "confidence": round(answer.confidence, 4), "verdict": answer.verdict,
                "points": answer.points, "max": answer.max_points, "status": answer.status,
                "margin": None if answer.margin is None else round(answer.margin, 4),
                "overridden": answer.overridden, "photo": submission.photo_name,
                "submission_id": submission.id, "answer_id": answer.id,
            })
    return rows


@dataclass
class QuestionStats:
    question_id: str
    answered: int
    blank: int
    to_review: int
    correct: int
    mean_points: float
    max_points: float


def question_stats(session: Session, assignment_id: str) -> list[QuestionStats]:
    """Per question: how many answered, blank, in review, correct, and the mean score."""
    key, _ = load_key(session, assignment_id)
    by_question: dict[str, list[Answer]] = defaultdict(list)
    for answer in list_answers(session, assignment_id):
        by_question[answer.question_id].append(answer)
    stats = []
    for q in key.questions:
        answers = by_question.get(q.id, [])
        stats.append(QuestionStats(
            q.id, sum(a.status != "blank" for a in answers),
            sum(a.status == "blank" for a in answers), sum(a.status == "review" for a in answers),
            sum(a.verdict == "correct" for a in answers),
            (sum(a.points for a in answers) / len(answers)) if answers else 0.0, float(q.points)))
    return stats
