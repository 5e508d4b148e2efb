"""Labelled crops from the work the teacher already does (issue 18): every answer the teacher
confirms or corrects is a crop of exactly the handwriting this gradebook has to read.

A crop gets a label when
- the teacher marks it correct (full points): the accepted answer it was judged against, the one
  the model finds most likely on that crop (source `teacher`);
- the teacher types what is written (source `typed`); the typed text also becomes the answer's
  displayed reading;
- an automatic `correct` whose reading is, character for character, one of the key's accepted
  answers (its own reading, not rescued by the key), with a margin of at least AUTO_LABEL_MARGIN
  (source `auto`).
A wrong or partly right answer without a typed text gives no label: what was written is unknown.

Each label keeps the writer (the student), the kind, the model version that read the crop and
what it read. The functions take the caller's session and neither commit nor close it; they do
not import grader.store (store calls `relabel` from its override functions).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from grader.answer_key import Question, parse_answer_key
from grader.errors import GraderError
from grader.normalize import normalize
from grader.orm import Answer, KeyVersion, Label, Submission
from grader.scoring import Rules, candidate_strings
from grader.vocab import Status, Verdict

TEACHER, TYPED, AUTO = "teacher", "typed", "auto"
SOURCES = (TEACHER, TYPED, AUTO)
# The least margin (logit distance past its deciding threshold) of an automatic `correct` whose
# reading is an accepted answer, character for character, for that answer to become an `auto`
# label. Chosen by `bench/grading.py --skip-throughput --auto-labels --per-key 12` (crnn-5): the
# least margin at which such labels are >= 99.5 % exactly what was written on the validation
# pages (generated hands, seed 100, and the real packs' held-back writers, choose side) is 0:
# 515 of 515 right; on the report side 526 of 526 (generated seed 200, other real writers).
# Before the character-for-character rule, 8 labels of 1,049 were wrong (case or a space).
AUTO_LABEL_MARGIN = 0.0
MAX_TYPED = 200  # characters: an answer box holds a short answer


@dataclass(frozen=True)
class LabelledCrop:
    """One labelled crop as adapt reads it: plain data, valid after the session closes."""

    answer_id: int
    ink_png: bytes
    text: str
    kind: str
    writer: str  # the student id, or "page-<submission id>" for a page nobody was named on
    source: str
    model_version: str | None


def question_of(session: Session, answer: Answer) -> Question | None:
    """The question of the key version the answer was graded with (None: no longer in it)."""
    version = session.get(KeyVersion, answer.submission.key_version_id)
    if version is None:
        return None
    key = parse_answer_key(version.yaml_text, f"{version.assignment_id} v{version.version}")
    try:
        return key.question(answer.question_id)
    except KeyError:
        return None


def likeliest_accepted(answer: Answer, question: Question) -> str:
    """The accepted answer (or accepted variant) the model finds most likely on this crop: what
    the student most probably wrote when the teacher says it is right."""
    candidates = candidate_strings(question)
    stored = {c: ll for c, ll in (answer.answer_lls or {}).items() if c in candidates}
    if stored:
        return max(stored, key=lambda c: stored[c])
    options = Rules.of(question.match).options()
    reading = normalize(answer.text, question.kind, options)
    same = [c for c in candidates if normalize(c, question.kind, options) == reading]
    return (same or [str(question.answers[0])])[0]


def relabel(session: Session, answer: Answer, typed: str | None = None) -> Label | None:
    """Bring the answer's label in line with its current verdict (after an override or its
    withdrawal): typed text wins, full points give the likeliest accepted answer, anything else
    (a wrong answer, a withdrawn override) removes a teacher's label. Returns the label kept."""
    question = question_of(session, answer)
    existing = session.scalars(select(Label).where(Label.answer_id == answer.id)).first()
    read_text = existing.read_text if existing is not None else answer.text
    text, source = None, None
    if typed is not None and typed.strip():
        text, source = check_typed(typed), TYPED
        if question is not None:
            answer.text = text
            answer.normalized = normalize(text, question.kind, Rules.of(question.match).options())
    elif existing is not None and existing.source == TYPED and answer.overridden:
        text, source = existing.text, TYPED  # a later click keeps what the teacher typed
    elif answer.overridden and answer.verdict == Verdict.CORRECT and question is not None:
        text, source = likeliest_accepted(answer, question), TEACHER
    if not answer.overridden and existing is not None and existing.source == TYPED:
        answer.text = existing.read_text  # withdrawn: the model's reading is shown again
    if existing is not None:
        session.delete(existing)
        session.flush()
    if text is None or question is None or not answer.ink_png:
        return None
    label = Label(answer_id=answer.id, text=text, source=source, kind=str(question.kind),
                  writer=answer.submission.student_id, model_version=answer.model_version,
                  read_text=read_text)
    session.add(label)
    session.flush()
    return label


def check_typed(text: str) -> str:
    """What the teacher typed, trimmed; refused when it cannot be an answer box's content."""
    text = " ".join(text.split())
    if len(text) > MAX_TYPED:
        raise GraderError(f"what is written: at most {MAX_TYPED} characters, got {len(text)}")
    return text


def is_sure_auto(answer: Answer, question: Question, margin: float = AUTO_LABEL_MARGIN) -> bool:
    """An automatic `correct` whose own reading is an accepted answer, by at least `margin`."""
    if answer.overridden or not answer.ink_png:
        return False
    return sure_verdict(question, answer.text, answer.verdict, answer.status, answer.margin, margin)


def sure_verdict(question: Question, text: str, verdict: str | None, status: str | None,
                 margin: float | None, least: float = AUTO_LABEL_MARGIN) -> bool:
    """The rule of `auto` labels on a verdict's figures (what bench/grading.py measures it on):
    an automatic `correct`, at least `least` past its threshold, whose reading is one of the
    key's accepted answers character for character. Equal only under the match rules is not
    enough: with case ignored, `x-2` read from a written `X-2` is marked right but would teach
    the recogniser a wrong letter (all 8 wrong auto labels of bench/grading.py --auto-labels on
    crnn-5 were such case or space differences)."""
    if status != Status.AUTO or verdict != Verdict.CORRECT or margin is None or margin < least:
        return False
    return text.strip() in {str(a).strip() for a in question.answers}


def _auto_slots(session: Session, margin: float
                ) -> Iterator[tuple[Answer, Question | None, Label | None, bool]]:
    """Every automatic answer with its question, its label (if any) and whether it is sure."""
    answers = session.scalars(
        select(Answer).join(Submission).where(Answer.status == Status.AUTO)
        .options(selectinload(Answer.submission))).all()
    labelled = {label.answer_id: label for label in session.scalars(select(Label)).all()}
    questions: dict[tuple[int | None, str], Question | None] = {}
    for answer in answers:
        slot = (answer.submission.key_version_id, answer.question_id)
        if slot not in questions:
            questions[slot] = question_of(session, answer)
        question = questions[slot]
        sure = question is not None and is_sure_auto(answer, question, margin)
        yield answer, question, labelled.get(answer.id), sure


def refresh_auto_labels(session: Session, margin: float = AUTO_LABEL_MARGIN) -> int:
    """Label every very sure automatic `correct` that has no label yet, and drop auto labels
    whose answer no longer qualifies (a regrade moved it); returns the labels added."""
    added = 0
    for answer, question, label, sure in list(_auto_slots(session, margin)):
        if label is not None and label.source == AUTO and not sure:
            session.delete(label)
        elif label is None and sure and question is not None:
            session.add(Label(answer_id=answer.id, text=answer.text, source=AUTO,
                              kind=str(question.kind), writer=answer.submission.student_id,
                              model_version=answer.model_version, read_text=answer.text))
            added += 1
    session.flush()
    return added


def label_counts(session: Session, margin: float | None = None) -> dict[str, dict[str, int]]:
    """kind -> source -> number of labelled crops. With `margin`, the `auto` counts are those
    refresh_auto_labels would leave (without writing: the app shows them on every visit)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SOURCES, 0))
    for label in session.scalars(select(Label)).all():
        if margin is None or label.source != AUTO:
            counts[label.kind][label.source] += 1
    if margin is not None:
        for _, question, held, sure in _auto_slots(session, margin):
            if sure and question is not None and (held is None or held.source == AUTO):
                counts[str(question.kind)][AUTO] += 1
    return {kind: dict(by_source) for kind, by_source in sorted(counts.items())}


def labelled_crops(session: Session) -> list[LabelledCrop]:
    """Every labelled crop with its ink, in answer order (stable for a seeded split)."""
    labels = session.scalars(select(Label).order_by(Label.answer_id)
                             .options(selectinload(Label.answer).selectinload(Answer.submission))
                             ).all()
    return [LabelledCrop(label.answer_id, label.answer.ink_png, label.text, label.kind,
                         label.writer or f"page-{label.answer.submission_id}", label.source,
                         label.model_version)
            for label in labels if label.answer.ink_png]
