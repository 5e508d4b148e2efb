"""The demo gradebook `make run` opens on: the demo assignments from answer_keys/, a small class
and a handful of generated phone photos (grader.simulate) graded and stored, plus one photo that
fails, so every screen of the app has something to show.

    report = seed_demo(engine)      # does nothing when the gradebook already has assignments

Seeding happens once: the keys and the roster are written in the same transaction that checks
the gradebook is empty, so a second start (or a second process) finds them and stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
from sqlalchemy.engine import Engine

from grader import db, store
from grader.answer_key import AnswerKey
from grader.errors import GraderError
from grader.files import FileStore
from grader.grading import GradeOptions, GradingContext, KeyRef, Photo, grade_photos, prepare
from grader.paths import ANSWER_KEYS_DIR
from grader.reader import Reader, load_reader
from grader.roster import RosterEntry
from grader.simulate import PhotoParams, fill_answers, sample_answers, simulate_photo
from grader.vocab import Kind
from grader.worksheet import render_page

DEMO_ROSTER = (
    RosterEntry("s01", "Ana Silva", "5A"),
    RosterEntry("s02", "Ben Okafor", "5A"),
    RosterEntry("s03", "Chen Jing 陈静", "5A"),
    RosterEntry("s04", "Dara Novak", "5A"),
)
# (assignment, student) of each generated photo: a full class on one sheet, one of each other.
DEMO_PHOTOS: tuple[tuple[str, str], ...] = (
    ("arithmetic-basics", "s01"), ("arithmetic-basics", "s02"), ("arithmetic-basics", "s03"),
    ("arithmetic-basics", "s04"), ("english-vocabulary", "s01"), ("chinese-dictation", "s03"),
)
FAILED_PHOTO = ("arithmetic-basics", "desk-without-sheet.jpg")


@dataclass
class DemoReport:
    seeded: bool  # False: the gradebook already had assignments, nothing was done
    assignments: int = 0
    graded: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.seeded:
            return "the gradebook already has assignments; no demo added"
        text = (f"demo: {self.assignments} assignments, {len(DEMO_ROSTER)} students, "
                f"{self.graded} photos graded, {self.failed} failed (kept for retry)")
        return text + "".join(f"; {p}" for p in self.problems)


def demo_key_texts(folder: Path = ANSWER_KEYS_DIR) -> list[tuple[str, str]]:
    """(YAML text, source) of every demo answer key."""
    return [(p.read_text(encoding="utf-8"), str(p)) for p in sorted(folder.glob("*.yaml"))]


def _store_demo(session, texts: list[tuple[str, str]]) -> None:
    # The arithmetic sheet, which most demo photos are of, is stored last: the app lists the
    # newest assignment first, so that is what a teacher sees on opening.
    for text, source in sorted(texts, key=lambda item: "arithmetic" in Path(item[1]).name):
        store.save_answer_key(session, text, source)
    store.upsert_students(session, DEMO_ROSTER)


def load_demo_keys(engine: Engine, folder: Path = ANSWER_KEYS_DIR) -> int:
    """Store the demo answer keys and the demo roster (unchanged keys are not re-versioned);
    returns how many keys there are."""
    texts = demo_key_texts(folder)
    with db.write_session(engine) as session:
        _store_demo(session, texts)
    return len(texts)


def _claim_empty(engine: Engine, folder: Path) -> int | None:
    """Keys and roster stored if the gradebook had no assignment (one transaction), else None."""
    texts = demo_key_texts(folder)
    with db.write_session(engine) as session:
        if store.list_assignments(session):
            return None
        _store_demo(session, texts)
    return len(texts)


def demo_photo(key: AnswerKey, student: RosterEntry, rng: np.random.Generator) -> bytes:
    """A JPEG phone photo of the student's own sheet (QR names the student), filled in with
    mostly right, some wrong and a few blank answers; on a number sheet every other fraction
    is written stacked (3 over 4), as children write them."""
    page = render_page(key, 1, student.id, student.name)
    answers = sample_answers(key, 1, rng)
    filled = fill_answers(page, key, 1, answers, rng, stacked=stacked_questions(key, answers))
    params = PhotoParams.random(rng, severity=0.4, frame=(1600, 1200))
    return simulate_photo(filled, rng, params).jpeg


def stacked_questions(key: AnswerKey, answers: dict[str, str]) -> set[str]:
    """Every other number question (in key order) whose written answer is a fraction `a/b`:
    the ones the demo writes stacked."""
    fractions = [q.id for q in key.questions if q.kind == Kind.NUMBER and answers.get(q.id, "").count("/") == 1]
    return set(fractions[::2])


def desk_photo(rng: np.random.Generator) -> bytes:
    """A photo with no worksheet in it (the failure the Grade screen lists)."""
    paper = np.full((900, 1200, 3), (70, 110, 150), np.uint8)
    desk = cv2.add(paper, rng.integers(0, 25, paper.shape, dtype=np.uint8))
    return cv2.imencode(".jpg", cv2.GaussianBlur(desk, (0, 0), 3))[1].tobytes()


def seed_demo(engine: Engine, load_recognizer: Callable[[], Reader] = load_reader,
              photos: Sequence[tuple[str, str]] = DEMO_PHOTOS, seed: int = 2026,
              folder: Path = ANSWER_KEYS_DIR) -> DemoReport:
    """Fill an empty gradebook with the demo; a gradebook with assignments is left alone.

    `load_recognizer` gives the model (default: models/); when the model is missing the keys and
    roster are still stored and the report says why no photo was graded.
    """
    count = _claim_empty(engine, folder)
    if count is None:
        return DemoReport(seeded=False)
    report = DemoReport(seeded=True, assignments=count)
    try:
        recognizer = load_recognizer()
    except GraderError as error:
        report.problems.append(f"no photos graded: {error}")
        return report
    _grade_demo_photos(engine, recognizer, photos, np.random.default_rng(seed), report)
    return report


def _grade_demo_photos(engine: Engine, reader: Reader, photos: Sequence[tuple[str, str]],
                       rng: np.random.Generator, report: DemoReport) -> None:
    """One generated photo per (assignment, student), then the photo that fails, graded as the
    app grades uploads (a failed one kept for a retry, each page with its thumbnail)."""
    files = FileStore.for_engine(engine)
    students = {s.id: s for s in DEMO_ROSTER}
    contexts: dict[str, GradingContext] = {
        a: prepare(engine, KeyRef(a)) for a in dict.fromkeys([a for a, _ in photos] + [FAILED_PHOTO[0]])}
    options = GradeOptions(keep_photo=True, keep_page=True)
    desk = desk_photo(rng)  # drawn first: the demo photos stay the ones earlier versions made

    def grade(assignment_id: str, photo: Photo) -> None:
        for result in grade_photos(engine, contexts[assignment_id], [photo], reader, options,
                                   files):
            report.graded += result.error is None
            report.failed += result.error is not None

    for assignment_id, student_id in photos:
        try:
            data = demo_photo(contexts[assignment_id].key, students[student_id], rng)
        except GraderError as error:  # e.g. a font gone from grader/fonts: say so, make the rest
            report.problems.append(f"no demo photo of {assignment_id} for {student_id}: {error}")
            continue
        grade(assignment_id, Photo(f"{assignment_id}-{student_id}.jpg", data))
    grade(FAILED_PHOTO[0], Photo(FAILED_PHOTO[1], desk))


@dataclass(frozen=True)
class DemoState:
    """How much of the demo the gradebook holds now (None from demo_state when it holds none):
    a first start stopped halfway (the app closed while grading) shows here, never silently."""

    assignments: int
    students: int
    photos: tuple[str, ...]  # the demo photos graded (names)
    missing: tuple[str, ...]  # the demo photos that should be there and are not
    failed_example: bool  # the photo that fails, kept with its reason

    @property
    def complete(self) -> bool:
        return not self.missing and self.failed_example

    def summary(self) -> str:
        text = (f"The demo gradebook holds {self.assignments} assignments, {self.students} "
                f"students and {len(self.photos)} graded photos"
                + (", plus one photo that failed (see Grade)" if self.failed_example else ""))
        if self.complete:
            return text + "."
        lacking = [*self.missing, *([] if self.failed_example else [FAILED_PHOTO[1]])]
        return text + f"; not there yet: {', '.join(lacking)}."


def demo_photo_names(photos: Sequence[tuple[str, str]] = DEMO_PHOTOS) -> list[tuple[str, str]]:
    """(assignment, photo name) of every demo photo, as seed_demo names them."""
    return [(a, f"{a}-{s}.jpg") for a, s in photos]


def demo_state(session) -> DemoState | None:
    """What of the demo the gradebook holds; None when it holds none of the demo keys."""
    ids = {a for a, _ in DEMO_PHOTOS} | {FAILED_PHOTO[0]}
    present = [a for a in ids if store.has_assignment(session, a)]
    if not present:
        return None
    graded = {(a, s.photo_name) for a in present for s in store.list_submissions(session, a)}
    wanted = demo_photo_names()
    failed = FAILED_PHOTO[0] in present and any(
        f.photo_name == FAILED_PHOTO[1] for f in store.failed_photos(session, FAILED_PHOTO[0]))
    demo_ids = {r.id for r in DEMO_ROSTER}
    return DemoState(
        assignments=len(store.list_assignments(session)),
        students=sum(e.id in demo_ids for e in store.roster_entries(session)),
        photos=tuple(name for a, name in wanted if (a, name) in graded),
        missing=tuple(name for a, name in wanted if (a, name) not in graded),
        failed_example=failed)


def finish_demo(engine: Engine, load_recognizer: Callable[[], Reader] = load_reader,
                seed: int = 2026) -> DemoReport:
    """Grade the demo photos a stopped first start left out. The photos are generated again
    from the same seed, so those already stored are recognised by their hash and kept once."""
    load_demo_keys(engine)
    report = DemoReport(seeded=True, assignments=len(demo_key_texts()))
    _grade_demo_photos(engine, load_recognizer(), DEMO_PHOTOS, np.random.default_rng(seed),
                       report)
    return report
