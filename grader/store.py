"""Gradebook data functions. Each takes a SQLAlchemy `session` the caller owns (open it with
`grader.db.write_session` / `read_session`, one per user action) and neither commits nor closes it.

Roster        upsert_students, list_students, roster_entries
Answer keys   save_answer_key (a changed key becomes a new version), load_key, key_version,
              latest_key_version, has_assignment, list_assignments, assignment_summaries
Grading       photo_hash, find_submission, graded_pages, save_graded_page (idempotent on the
              photo hash), record_failed_photo, failed_submissions, failed_photos,
              assign_student, submission_result
Review        list_answers / review_queue (review first, most doubtful first), answer_views,
              answer_groups (identical normalised readings), answer_crops, override_answer,
              override_group, who
Rescoring     set_score, add_likelihoods (the rescoring itself is grader.grading.regrade)
Gradebook     gradebook (one row per roster student, `missing` without a page; unassigned pages
              apart), term_gradebook (students by assignments), answer_rows (one row per answer,
              with the override's reason, who and when), question_stats, page_views (graded
              pages with their answers), student_sheets (what goes back to each student)

Functions named `*_views` / `*_summaries` and `failed_photos` return plain dataclasses that stay
valid after the session closes (what the app's screens draw); the others return ORM rows for
callers that change them inside the session.

Errors a teacher can cause (unknown assignment, points out of range) raise GraderError
subclasses with a message; database failures become StoreError in grader.db's session helpers.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Sequence, TypeVar

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from grader.answer_key import AnswerKey, parse_answer_key
from grader.errors import GraderError, StoreError
from grader.orm import Answer, Assignment, KeyVersion, Override, Student, Submission
from grader.roster import RosterEntry
from grader.teacher_labels import relabel
from grader.vocab import TEACHER_VERDICTS, ReviewReason, Status, Verdict, verdict_for_points

if TYPE_CHECKING:  # the pipeline imports OpenCV and the recogniser; the store does not need them
    from grader.pipeline import GradedPage
    from grader.scoring import ScoredAnswer

# Submission.status: a page graded, or a photo kept with the reason it could not be.
PAGE_OK, PAGE_FAILED = "ok", "failed"


# --- roster ------------------------------------------------------------------------------------

def upsert_students(session: Session, entries: Iterable[RosterEntry]) -> int:
    """Add or update roster students by id (name, class and e-mail overwritten when given);
    returns how many rows were added or changed."""
    changed = 0
    for entry in entries:
        student = session.get(Student, entry.id)
        if student is None:
            session.add(Student(id=entry.id, name=entry.name or entry.id,
                                class_name=entry.class_name, email=entry.email))
            changed += 1
        elif (entry.name and student.name != entry.name) or (
                entry.class_name and student.class_name != entry.class_name) or (
                entry.email and student.email != entry.email):
            student.name = entry.name or student.name
            student.class_name = entry.class_name or student.class_name
            student.email = entry.email or student.email
            changed += 1
    session.flush()
    return changed


def list_students(session: Session) -> list[Student]:
    """Every student, by class then name."""
    return list(session.scalars(select(Student).order_by(Student.class_name, Student.name)))


def roster_entries(session: Session) -> list[RosterEntry]:
    """The roster as plain data (for name matching in the pipeline)."""
    return [RosterEntry(s.id, s.name, s.class_name, s.email) for s in list_students(session)]


def _ensure_student(session: Session, student_id: str) -> None:
    # A per-student sheet's QR names a student the roster may not hold yet; keep the page and
    # create the student with the id as name rather than drop the identification.
    if session.get(Student, student_id) is None:
        _insert_once(session, Student(id=student_id, name=student_id, class_name=""),
                     lambda: session.get(Student, student_id))


R = TypeVar("R")


def _insert_once(session: Session, row: R, find: Callable[[], R | None]) -> R:
    """Insert `row`, or take the twin another transaction inserted first. On a server database
    two graders can create the same assignment or student at the same moment (nothing like
    SQLite's BEGIN IMMEDIATE queues them); the unique key decides, in a savepoint so our own
    transaction goes on, and the loser reads the winner's row."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = find()
        if existing is None:
            raise
        return existing
    return row


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
        assignment = _insert_once(session, Assignment(id=key.id, title=key.title),
                                  lambda: session.get(Assignment, key.id))
    latest = latest_key_version(session, key.id)
    digest = _text_hash(yaml_text)
    if latest is not None and latest.sha256 == digest:
        return latest
    assignment.title = key.title
    version = KeyVersion(assignment_id=key.id, version=(latest.version + 1 if latest else 1),
                         yaml_text=yaml_text, sha256=digest)
    # Two graders storing the same new key at once: the second takes the first's version.
    return _insert_once(session, version, lambda: _same_latest(session, key.id, digest))


def _same_latest(session: Session, assignment_id: str, digest: str) -> KeyVersion | None:
    latest = latest_key_version(session, assignment_id)
    return latest if latest is not None and latest.sha256 == digest else None


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


def has_assignment(session: Session, assignment_id: str) -> bool:
    return session.get(Assignment, assignment_id) is not None


def key_version(session: Session, key_version_id: int) -> KeyVersion:
    """A stored key version by its row id (what a grading batch holds on to)."""
    row = session.get(KeyVersion, key_version_id)
    if row is None:
        raise StoreError(f"no answer key version {key_version_id} in the gradebook")
    return row


@dataclass(frozen=True)
class AssignmentSummary:
    """One stored assignment as listed: its latest key and how far grading has come."""

    key: AnswerKey
    key_version: int
    yaml_text: str
    graded_pages: int
    to_review: int


def assignment_summaries(session: Session) -> list[AssignmentSummary]:
    """Every stored assignment (newest first) with its latest key, pages graded and answers to
    review: the app's assignment list and the API's /assignments."""
    out = []
    for assignment in list_assignments(session):
        key, version = load_key(session, assignment.id)
        out.append(AssignmentSummary(key, version.version, version.yaml_text,
                                     len(list_submissions(session, key.id)),
                                     len(review_queue(session, key.id))))
    return out


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
    if existing is not None and existing.status == PAGE_OK:
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
    submission.status, submission.error = PAGE_OK, None
    for position, item in enumerate(graded.answers):
        result = item.result
        submission.answers.append(Answer(
            question_id=result.question_id, position=position, crop_image=item.crop_image,
            ink_png=item.ink_png, text=result.text, normalized=item.normalized,
            confidence=result.confidence, reading_ll=finite(item.reading_ll),
            answer_lls=finite_map(item.answer_lls), verdict=result.verdict,
            points=result.points, max_points=result.max_points, status=result.status,
            margin=result.margin, review_reason=result.reason, overridden=False,
            model_version=graded.model_version or None))
    if existing is None:
        session.add(submission)
    session.flush()
    return submission, True  # new, or a failed photo now graded


def finite(value: float | None) -> float | None:
    """None for a likelihood JSON and SQL cannot hold (-inf: a string the charset cannot write)."""
    return value if value is not None and math.isfinite(value) else None


def finite_map(values: dict[str, float] | None) -> dict[str, float] | None:
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
    if existing is not None and existing.status == PAGE_OK:
        return existing
    submission = existing or Submission(assignment_id=assignment_id, photo_sha256=photo_sha256,
                                        source_page=source_page)
    submission.photo_name = photo_name
    submission.key_version_id = key_version.id if key_version else None
    submission.status, submission.error = PAGE_FAILED, error
    submission.student_method = submission.student_method or "none"
    submission.name_text = submission.name_text or ""
    if existing is None:
        session.add(submission)
    session.flush()
    return submission


def failed_submissions(session: Session, assignment_id: str) -> list[Submission]:
    """Photos of the assignment that failed, oldest first, with their error messages."""
    return list(session.scalars(select(Submission).where(
        Submission.assignment_id == assignment_id, Submission.status == PAGE_FAILED)
        .order_by(Submission.id)))


def graded_pages(session: Session, assignment_id: str, photo_sha256: str) -> dict[int, Submission]:
    """The graded (status ok) submissions of one photo's bytes, by source page (of a PDF)."""
    return {s.source_page: s for s in session.scalars(select(Submission).where(
        Submission.assignment_id == assignment_id, Submission.photo_sha256 == photo_sha256,
        Submission.status == PAGE_OK))}


@dataclass(frozen=True)
class FailedPhoto:
    photo_sha256: str
    photo_name: str
    error: str


def failed_photos(session: Session, assignment_id: str) -> list[FailedPhoto]:
    """Photos (pages of PDFs) of the assignment that could not be graded, oldest first, each with
    its reason."""
    return [FailedPhoto(s.photo_sha256, s.photo_name, s.error or "")
            for s in failed_submissions(session, assignment_id)]


def list_submissions(session: Session, assignment_id: str) -> list[Submission]:
    """Graded pages of the assignment (status ok), oldest first, answers loaded."""
    return list(session.scalars(select(Submission).where(
        Submission.assignment_id == assignment_id, Submission.status == PAGE_OK)
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
    total, max and one entry per question (id, text, confidence, verdict, score, max, status,
    and for an answer in review the reason: grader.vocab.ReviewReason)."""
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
                       "status": a.status,
                       **({"reason": a.review_reason} if a.status == Status.REVIEW else {})}
                      for a in submission.answers],
    }


# --- review ------------------------------------------------------------------------------------

def _answers_query(assignment_id: str):
    return (select(Answer).join(Submission)
            .where(Submission.assignment_id == assignment_id, Submission.status == PAGE_OK)
            .options(selectinload(Answer.submission).selectinload(Submission.student)))


def _doubt_order(answer: Answer) -> tuple:
    # Review first; inside it the most negative margin (the most doubtful) first; blanks last.
    return (answer.status != Status.REVIEW, answer.status == Status.BLANK,
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
    return list_answers(session, assignment_id, question_id, status=Status.REVIEW)


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
        if answer.status != Status.BLANK:
            buckets[(answer.question_id, answer.normalized)].append(answer)
    groups = []
    for (qid, normalized), answers in buckets.items():
        texts: Counter[str] = Counter(a.text for a in answers)
        margins = [a.margin for a in answers if a.margin is not None]
        groups.append(AnswerGroup(
            qid, normalized, texts.most_common(1)[0][0], [a.id for a in answers],
            sum(a.status == Status.REVIEW for a in answers), [a.points for a in answers],
            [a.verdict for a in answers], min(margins) if margins else None))
    return sorted(groups, key=lambda g: (g.to_review == 0,
                                         g.min_margin if g.to_review and g.min_margin is not None
                                         else 0.0, -g.count, g.question_id, g.normalized))


def answer_crops(session: Session, answer_ids: Sequence[int], limit: int = 3) -> list[bytes]:
    """Colour crops of the first few of these answers (what one click on a group will grade)."""
    crops = []
    for answer_id in answer_ids[:limit]:
        answer = session.get(Answer, answer_id)
        if answer is not None and answer.crop_image:
            crops.append(answer.crop_image)
    return crops


@dataclass(frozen=True)
class AnswerView:
    """A stored answer as a screen shows it; plain data, valid after the session closes."""

    id: int
    question_id: str
    text: str
    confidence: float
    verdict: str
    status: str
    points: float
    max_points: float
    crop_image: bytes | None
    who: str  # whose page (grader.store.who)
    photo_sha256: str = ""  # the page's photo and page in it: where its kept thumbnail is
    source_page: int = 0
    review_reason: str | None = None  # why in review, in words (ReviewReason.explain)

    @classmethod
    def of(cls, answer: Answer) -> "AnswerView":
        reason = answer.review_reason if answer.status == Status.REVIEW else None
        return cls(answer.id, answer.question_id, answer.text, answer.confidence, answer.verdict,
                   answer.status, answer.points, answer.max_points, answer.crop_image,
                   who(answer.submission), answer.submission.photo_sha256,
                   answer.submission.source_page, _explain(reason))


def _explain(reason: str | None) -> str | None:
    """A stored review reason in words; an unknown code (a newer grader's) as it is."""
    if not reason:
        return None
    try:
        return ReviewReason(reason).explain()
    except ValueError:
        return reason


def answer_views(session: Session, assignment_id: str, question_id: str | None = None,
                 status: str | None = None) -> list[AnswerView]:
    """`list_answers` as plain views: answers to review first, the most doubtful first."""
    return [AnswerView.of(a) for a in list_answers(session, assignment_id, question_id, status)]


@dataclass(frozen=True)
class PageView:
    """A graded page as a screen shows it, with its answers; plain data."""

    id: int
    photo_sha256: str
    source_page: int
    photo_name: str
    page: int | None
    student_id: str | None
    student_method: str
    name_text: str
    registration_method: str | None
    total: float
    max_points: float
    answers: list[AnswerView]


def page_views(session: Session, assignment_id: str, limit: int | None = None) -> list[PageView]:
    """The graded pages of the assignment, newest first (at most `limit`), as plain views."""
    pages = list_submissions(session, assignment_id)[::-1][:limit]
    return [PageView(s.id, s.photo_sha256, s.source_page, s.photo_name, s.page, s.student_id,
                     s.student_method, s.name_text, s.registration_method, *submission_total(s),
                     [AnswerView.of(a) for a in s.answers]) for s in pages]


def override_answer(session: Session, answer_id: int, points: float,
                    verdict: str | None = None, reason: str = "", by: str = "",
                    text: str | None = None) -> Override:
    """The teacher sets an answer's points (0..max); the verdict follows from the points unless
    given. The old values are kept in `overrides` with the reason, who (`by`) and when; the
    answer's status becomes `teacher`, and a regrade never changes it again. `text`: what the
    teacher says is written (it becomes the displayed reading). The crop's label follows
    (grader.teacher_labels.relabel)."""
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise StoreError(f"no answer {answer_id} in the gradebook")
    if not (0 <= points <= answer.max_points):
        raise GraderError(f"points for question {answer.question_id} must be between 0 and "
                          f"{answer.max_points:g}, got {points:g}")
    verdict = verdict or verdict_for_points(points, answer.max_points)
    if verdict not in TEACHER_VERDICTS:
        raise GraderError(f"verdict must be correct, partial or incorrect, got {verdict!r}")
    override = Override(answer_id=answer.id, old_points=answer.points, new_points=float(points),
                        old_verdict=answer.verdict, new_verdict=verdict, reason=reason,
                        by=by[:100])
    session.add(override)
    answer.points, answer.verdict = float(points), verdict
    answer.status, answer.overridden = Status.TEACHER, True
    session.flush()
    relabel(session, answer, text)
    return override


def override_group(session: Session, assignment_id: str, question_id: str, normalized: str,
                   points: float, verdict: str | None = None,
                   reason: str = "", by: str = "") -> list[Override]:
    """Override every answer to `question_id` whose normalised reading is `normalized`."""
    answers = session.scalars(_answers_query(assignment_id).where(
        Answer.question_id == question_id, Answer.normalized == normalized)).all()
    if not answers:
        raise StoreError(f"no answers {normalized!r} to question {question_id} of "
                         f"{assignment_id!r}")
    return [override_answer(session, a.id, points, verdict, reason, by) for a in answers]


# --- rescoring (the loop that decides is grader.grading.regrade) ------------------------------

def set_score(answer: Answer, result: "ScoredAnswer", normalized: str) -> None:
    """Store a new score of a stored reading (points, verdict, status, margin) and its reading
    normalised under the key's rules (which answers group together)."""
    answer.points, answer.verdict = result.points, result.verdict
    answer.status, answer.margin = result.status, result.margin
    answer.review_reason = result.reason
    answer.normalized = normalized


def add_likelihoods(answer: Answer, fresh: dict[str, float]) -> None:
    """Keep likelihoods of candidate answers measured after grading (a regrade's new answers)."""
    answer.answer_lls = {**(answer.answer_lls or {}), **(finite_map(fresh) or {})}


def who(submission: Submission) -> str:
    """Whose page this is, for people: the student's name (or id), else the photo it came from."""
    if submission.student is not None:
        return submission.student.name or submission.student.id
    return f"(unassigned: {submission.photo_name or submission.id})"


# --- gradebook ---------------------------------------------------------------------------------

# GradebookRow.status: what a teacher (and a school's admin) needs to know about a row.
MISSING, INCOMPLETE, IN_REVIEW, GRADED = "missing", "incomplete", "in review", "graded"


@dataclass
class GradebookRow:
    student_id: str
    name: str
    class_name: str
    scores: dict[str, float | None]  # question id -> points (None: that page not handed in)
    total: float
    max_points: float
    to_review: int
    submission_ids: list[int]
    status: str = GRADED  # missing (no page) | incomplete (a page missing) | in review | graded
    email: str = ""

    @property
    def percent(self) -> float:
        return round(100.0 * self.total / self.max_points, 1) if self.max_points else 0.0

    @property
    def missing(self) -> bool:
        return self.status == MISSING


@dataclass(frozen=True)
class UnassignedPage:
    """A graded page no student is matched to: listed apart, never in a student's row."""

    submission_id: int
    photo_name: str
    page: int | None
    name_text: str  # the name box as read, to help the teacher pick the student
    total: float
    max_points: float
    to_review: int


@dataclass
class Gradebook:
    assignment_id: str
    title: str
    key_version: int
    questions: list[tuple[str, str, float]]  # (id, label, points) in key order
    rows: list[GradebookRow]  # every roster student of the assignment's classes, handed in or not
    unassigned: list[UnassignedPage] = field(default_factory=list)
    pages: int = 1  # pages of the worksheet

    @property
    def max_points(self) -> float:
        return sum(points for _, _, points in self.questions)


def gradebook(session: Session, assignment_id: str) -> Gradebook:
    """One row per roster student (pages of a multi-page assignment combined; for a page graded
    twice from different photos the latest counts), `missing` for a student with no page; pages
    matched to no student in `unassigned`, apart from the rows and their counts.

    Which students: the roster's students of every class that has a page in this assignment
    (a teacher with two classes does not see the other class as missing); the whole roster
    while no page is matched to a student yet."""
    key, version = load_key(session, assignment_id)
    questions = [(q.id, q.label, float(q.points)) for q in key.questions]
    max_points = sum(p for _, _, p in questions)
    per_student: dict[str, list[Submission]] = defaultdict(list)
    unassigned: list[UnassignedPage] = []
    for submission in list_submissions(session, assignment_id):
        if submission.student_id is None:
            total, page_max = submission_total(submission)
            unassigned.append(UnassignedPage(
                submission.id, submission.photo_name, submission.page, submission.name_text, total,
                page_max, sum(a.status == Status.REVIEW for a in submission.answers)))
        else:
            per_student[submission.student_id].append(submission)
    rows = [_row(student, per_student.get(student.id, []), questions, max_points, key.pages)
            for student in _students_in_scope(session, per_student)]
    return Gradebook(assignment_id, key.title, version.version, questions, rows, unassigned,
                     key.pages)


def _students_in_scope(session: Session, per_student: dict[str, list[Submission]]) -> list[Student]:
    students = list_students(session)
    classes = {s.class_name for s in students if s.id in per_student}
    if not classes:
        return students
    return [s for s in students if s.class_name in classes or s.id in per_student]


def _row(student: Student, submissions: list[Submission], questions: list[tuple[str, str, float]],
         max_points: float, pages: int) -> GradebookRow:
    latest: dict[str, Answer] = {}
    for submission in submissions:  # oldest first, so a later photo of a page wins
        for answer in submission.answers:
            latest[answer.question_id] = answer
    scores = {qid: (latest[qid].points if qid in latest else None) for qid, _, _ in questions}
    to_review = sum(1 for a in latest.values() if a.status == Status.REVIEW)
    handed_in = {s.page for s in submissions}
    status = (MISSING if not submissions else INCOMPLETE if len(handed_in) < pages
              else IN_REVIEW if to_review else GRADED)
    return GradebookRow(student.id, student.name, student.class_name, scores,
                        sum(v for v in scores.values() if v is not None), max_points, to_review,
                        [s.id for s in submissions], status, student.email)


@dataclass(frozen=True)
class TermCell:
    points: float | None  # None: missing, or not this student's class's assignment
    max_points: float
    status: str  # a GradebookRow status, or "" where the assignment is not the student's class's

    @property
    def percent(self) -> float | None:
        if self.points is None or not self.max_points:
            return None
        return round(100.0 * self.points / self.max_points, 1)


@dataclass
class TermRow:
    student_id: str
    name: str
    class_name: str
    email: str
    cells: dict[str, TermCell]  # assignment id -> cell

    @property
    def total(self) -> float:
        """Points over the student's assignments; a missing one counts 0 of its maximum."""
        return sum(c.points or 0.0 for c in self.cells.values() if c.status)

    @property
    def max_points(self) -> float:
        return sum(c.max_points for c in self.cells.values() if c.status)

    @property
    def percent(self) -> float:
        return round(100.0 * self.total / self.max_points, 1) if self.max_points else 0.0

    @property
    def missing(self) -> int:
        return sum(c.status == MISSING for c in self.cells.values())


@dataclass
class TermGradebook:
    assignments: list[tuple[str, str, float]]  # (id, title, max points), oldest first
    rows: list[TermRow]
    unassigned: int  # pages matched to no student, over all these assignments


def term_gradebook(session: Session, assignment_ids: Sequence[str] | None = None) -> TermGradebook:
    """One row per student (every roster student any assignment counts), a cell per assignment
    (as named, else every assignment with a graded page, oldest first): the term's gradebook.
    An assignment nobody's page was graded for yet is left out unless named, so a key written
    ahead does not make the whole class `missing`."""
    if assignment_ids:
        books = [gradebook(session, assignment_id) for assignment_id in assignment_ids]
    else:
        books = [book for book in (gradebook(session, a.id) for a in list_assignments(session)[::-1])
                 if book.unassigned or any(row.submission_ids for row in book.rows)]
    students = {s.id: s for s in list_students(session)}
    in_scope = {row.student_id for book in books for row in book.rows}
    rows = []
    for student_id in (s for s in students if s in in_scope):
        student = students[student_id]
        cells = {}
        for book in books:
            row = next((r for r in book.rows if r.student_id == student_id), None)
            cells[book.assignment_id] = (
                TermCell(None, book.max_points, "") if row is None
                else TermCell(None if row.missing else row.total, book.max_points, row.status))
        rows.append(TermRow(student.id, student.name, student.class_name, student.email, cells))
    return TermGradebook([(b.assignment_id, b.title, b.max_points) for b in books], rows,
                         sum(len(b.unassigned) for b in books))


def _last_override(answer: Answer) -> Override | None:
    """The override that set the answer's points now (None when not overridden)."""
    return answer.overrides[-1] if answer.overridden and answer.overrides else None


def answer_rows(session: Session, assignment_id: str) -> list[dict]:
    """One plain row per stored answer (the long export): student, page, question, reading,
    confidence, verdict, points, max, status, margin, whether the teacher overrode it, the
    grader's own points before, the teacher's reason, who and when (UTC), and the photo."""
    rows = []
    for submission in session.scalars(select(Submission).where(
            Submission.assignment_id == assignment_id, Submission.status == PAGE_OK)
            .options(selectinload(Submission.answers).selectinload(Answer.overrides),
                     selectinload(Submission.student)).order_by(Submission.id)):
        for answer in submission.answers:
            last = _last_override(answer)
            rows.append({
                "student_id": submission.student_id or "",
                "name": submission.student.name if submission.student else "",
                "class": submission.student.class_name if submission.student else "",
                "page": submission.page, "question": answer.question_id, "text": answer.text,
                "confidence": round(answer.confidence, 4), "verdict": answer.verdict,
                "points": answer.points, "max": answer.max_points, "status": answer.status,
                "margin": None if answer.margin is None else round(answer.margin, 4),
                "overridden": answer.overridden, "photo": submission.photo_name,
                "grader_points": answer.overrides[0].old_points if last else None,
                "reason": last.reason if last else "", "by": last.by if last else "",
                "when": last.created_at.strftime("%Y-%m-%d %H:%M:%S UTC") if last else "",
                "submission_id": submission.id, "answer_id": answer.id,
            })
    return rows


@dataclass(frozen=True)
class SheetAnswer:
    """One marked answer on a student's returned sheet."""

    question_id: str
    text: str
    verdict: str
    status: str
    points: float
    max_points: float
    crop_image: bytes | None
    reason: str  # the teacher's reason for an override ("" when none)


@dataclass(frozen=True)
class SheetPage:
    page: int
    photo_sha256: str
    source_page: int
    answers: list[SheetAnswer]


@dataclass(frozen=True)
class StudentSheet:
    """What goes back to one student for one assignment: their pages and the total."""

    student_id: str
    name: str
    class_name: str
    pages: list[SheetPage]
    total: float
    max_points: float  # of the whole assignment

    @property
    def to_review(self) -> int:
        return sum(a.status == Status.REVIEW for p in self.pages for a in p.answers)


def student_sheets(session: Session, assignment_id: str,
                   student_id: str | None = None) -> list[StudentSheet]:
    """The marked sheets to return: one per roster student with a page (in the roster's order:
    class, then name), or only `student_id`'s; for a page graded twice, the latest photo."""
    key, _ = load_key(session, assignment_id)
    query = (select(Submission).where(Submission.assignment_id == assignment_id,
                                      Submission.status == PAGE_OK,
                                      Submission.student_id.is_not(None))
             .options(selectinload(Submission.answers).selectinload(Answer.overrides))
             .order_by(Submission.id))
    if student_id is not None:
        query = query.where(Submission.student_id == student_id)
    latest: dict[str, dict[int, Submission]] = defaultdict(dict)
    for submission in session.scalars(query):
        assert submission.student_id is not None
        latest[submission.student_id][submission.page or 1] = submission  # later photo wins
    sheets = []
    for student in list_students(session):
        if student.id not in latest:
            continue
        pages = [_sheet_page(s) for _, s in sorted(latest[student.id].items())]
        total = sum(a.points for p in pages for a in p.answers)
        sheets.append(StudentSheet(student.id, student.name, student.class_name, pages, total,
                                   float(sum(q.points for q in key.questions))))
    return sheets


def _sheet_page(submission: Submission) -> SheetPage:
    answers = []
    for answer in submission.answers:
        last = _last_override(answer)
        answers.append(SheetAnswer(answer.question_id, answer.text, answer.verdict, answer.status,
                                   answer.points, answer.max_points, answer.crop_image,
                                   last.reason if last else ""))
    return SheetPage(submission.page or 1, submission.photo_sha256, submission.source_page, answers)


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
            q.id, sum(a.status != Status.BLANK for a in answers),
            sum(a.status == Status.BLANK for a in answers),
            sum(a.status == Status.REVIEW for a in answers),
            sum(a.verdict == Verdict.CORRECT for a in answers),
            (sum(a.points for a in answers) / len(answers)) if answers else 0.0, float(q.points)))
    return stats


# --- deleting, with the means to undo ------------------------------------------------------------

@dataclass(frozen=True)
class Removed:
    """What a delete took out of the gradebook, enough for `restore` to put it back as it was
    (same ids, so overrides and links still point at their rows). `relinked` are the pages a
    deleted student owned: (submission id, student id, how it was identified)."""

    summary: str
    rows: tuple[tuple[type, dict], ...]
    relinked: tuple[tuple[int, str, str], ...] = ()


def _columns(row: object) -> dict:
    return {a.key: getattr(row, a.key) for a in inspect(row).mapper.column_attrs}


def delete_submission(session: Session, submission_id: int) -> Removed:
    """Delete a graded page or a failed photo with its answers and their override history."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise StoreError(f"no page {submission_id} in the gradebook (already deleted?)")
    rows: list[tuple[type, dict]] = [(Submission, _columns(submission))]
    for answer in submission.answers:
        rows.append((Answer, _columns(answer)))
        rows.extend((Override, _columns(o)) for o in answer.overrides)
    what = "failed photo" if submission.status == "failed" else "page"
    summary = f"{what} {submission.photo_name or submission.id} ({who(submission)})"
    session.delete(submission)
    session.flush()
    return Removed(summary, tuple(rows))


def delete_student(session: Session, student_id: str) -> Removed:
    """Take a student off the roster; their pages stay in the gradebook, unassigned."""
    student = session.get(Student, student_id)
    if student is None:
        raise StoreError(f"no student {student_id!r} on the roster (already deleted?)")
    relinked = tuple((s.id, student_id, s.student_method) for s in student.submissions)
    for submission in student.submissions:
        submission.student_id, submission.student_method = None, "none"
    summary = f"student {student.name or student.id} ({student.id}); {len(relinked)} page(s) kept"
    rows: tuple[tuple[type, dict], ...] = ((Student, _columns(student)),)
    session.flush()
    session.delete(student)
    session.flush()
    return Removed(summary, rows, relinked)


def restore(session: Session, removed: Removed) -> str:
    """Undo a delete: the rows come back with their ids, a student's pages are theirs again."""
    for table, values in removed.rows:
        if session.get(table, values["id"]) is not None:
            raise StoreError(f"cannot undo: {removed.summary} is back already")
        session.add(table(**values))
        session.flush()
    for submission_id, student_id, method in removed.relinked:
        submission = session.get(Submission, submission_id)
        if submission is not None and submission.student_id is None:
            submission.student_id, submission.student_method = student_id, method
    session.flush()
    return removed.summary


WITHDRAWN = "override withdrawn"


def withdraw_override(session: Session, answer_id: int, by: str = "") -> Override:
    """Give an answer back its grader's score (the one before the teacher's first override).
    The history is kept: the withdrawal is one more row in `overrides`, so it can be undone by
    overriding again."""
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise StoreError(f"no answer {answer_id} in the gradebook")
    if not answer.overridden:
        raise GraderError(f"question {answer.question_id}: there is no override to withdraw")
    first = answer.overrides[0]
    row = Override(answer_id=answer.id, old_points=answer.points, new_points=first.old_points,
                   old_verdict=answer.verdict, new_verdict=first.old_verdict, reason=WITHDRAWN,
                   by=by[:100])
    session.add(row)
    answer.points, answer.verdict, answer.overridden = first.old_points, first.old_verdict, False
    answer.status = (first.old_verdict if first.old_verdict in (Verdict.REVIEW, Verdict.BLANK)
                     else Status.AUTO)
    session.flush()
    relabel(session, answer)
    return row
