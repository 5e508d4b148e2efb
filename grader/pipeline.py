"""Grading one photo: photo -> registered page -> crops -> readings -> scores.

`grade_photo` is a pure function of (photo, answer key, reader, roster, config): no database,
no files. The grading service (grader.grading) runs it for the `grade` command, the app and the
API, and stores its result with `grader.store.save_graded_page`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from grader.answer_key import AnswerKey, Question
from grader.config import DEFAULT_GRADING, GradingConfig
from grader.crops import AnswerCrop, crop_answers
from grader.errors import ImageUnreadable
from grader.imageio import load_images
from grader.layout import name_box_px as name_box_border
from grader.normalize import normalize
from grader.preprocess import DEFAULT_PREPROCESS, PreprocessConfig, clean_answer
from grader.reader import Reader
from grader.registration import RegisteredPage, page_region, register
from grader.roster import NameMatchConfig, RosterEntry, match_name
from grader.scoring import (
    DEFAULT_CONFIG,
    Rules,
    ScoredAnswer,
    ScoringConfig,
    blank_answer,
    candidate_strings,
    score_answer,
)
from grader.stacked_fractions import STACKABLE_KINDS, find_fraction_bar
from grader.vocab import Kind


@dataclass
class GradedAnswer:
    """One question of a graded page: the score plus what the gradebook keeps of the crop."""

    result: ScoredAnswer
    normalized: str  # the reading normalised under the question's rules (groups answers)
    crop_image: bytes | None  # colour crop for the teacher
    ink_png: bytes | None  # cleaned crop the model read (for re-reading at regrade)
    reading_ll: float | None  # CTC log-likelihood of the reading
    answer_lls: dict[str, float] | None  # candidate answer -> CTC log-likelihood


@dataclass
class GradedPage:
    """Everything grading one page produced; `grader.store.save_graded_page` stores it."""

    assignment_id: str
    page: int
    student_id: str | None
    student_method: str  # "qr" | "name" | "none"
    name_text: str
    registration_method: str
    registration_error: float
    answers: list[GradedAnswer]
    # The registered page, kept only when the caller asks (the app's thumbnails); batches and
    # worker processes leave it out so no page-sized image travels with every result.
    page_image: np.ndarray | None = None
    model_version: str = ""  # the recogniser that read the answers (every reading records it)

    @property
    def total(self) -> float:
        return sum(a.result.points for a in self.answers)

    @property
    def max_points(self) -> float:
        return sum(a.result.max_points for a in self.answers)


def grade_photo(photo: bytes | np.ndarray, key: AnswerKey, reader: Reader,
                roster: Sequence[RosterEntry] = (), config: GradingConfig = DEFAULT_GRADING,
                keep_page: bool = False) -> GradedPage:
    """Register, crop, read and score one photo of a worksheet page.

    Raises ImageUnreadable, AlignmentFailed or WrongAssignment (the photo is never guessed at).
    """
    image = photo if isinstance(photo, np.ndarray) else decode_single(photo)
    registered = register(image, key, config=config.registration)
    crops = crop_answers(registered, key, config=config.preprocess)
    questions = {q.id: q for q in key.questions_on_page(registered.page)}
    answers = read_and_score(crops, questions, reader, config.scoring)
    student_id, method, name_text = identify_student(registered, key, reader, roster,
                                                     config.names, config.preprocess)
    return GradedPage(key.id, registered.page, student_id, method, name_text, registered.method,
                      float(registered.reprojection_error), answers,
                      registered.image if keep_page else None, reader.version)


def decode_single(data: bytes, name: str = "") -> np.ndarray:
    """The one image in `data`; a multi-page PDF is split by the caller (batch.grade_pages)."""
    images = load_images(data, name)
    if len(images) != 1:
        raise ImageUnreadable(f"{name or 'the file'} holds {len(images)} pages; grade each page "
                              "separately")
    return images[0]


def read_and_score(crops: Sequence[AnswerCrop], questions: dict[str, Question],
                   recognizer: Reader, config: ScoringConfig = DEFAULT_CONFIG
                   ) -> list[GradedAnswer]:
    """Read the non-blank crops in one batch (each with its question's kind), ask the model how
    likely each accepted answer is, and score. Blank crops never reach the recogniser."""
    inked = [c for c in crops if not c.blank and c.question_id in questions]
    # One pass of the model per crop: the reading and the key's likelihoods share its output.
    kinds = [questions[c.question_id].kind for c in inked]
    log_probs = recognizer.log_probs([c.ink for c in inked], kinds) if inked else []
    scored: dict[str, GradedAnswer] = {}
    for crop, lp in zip(inked, log_probs):
        question = questions[crop.question_id]
        # Letter by letter, without the word list (grader.words): it would turn a misspelling
        # next to the key (`grezn`) into the key itself. The key's own likelihood already gives
        # the key the benefit of the doubt, by margins measured for that (ScoringConfig).
        reading = recognizer.decode(lp, question.kind, use_words=False)
        candidates = candidate_strings(question)
        # Same alphabet mask as the reading, so the likelihoods are comparable with it.
        lls = recognizer.string_log_likelihoods(lp, [reading.text] + candidates, question.kind)
        reading_ll, answer_lls = float(lls[0]), dict(zip(candidates, map(float, lls[1:])))
        result = score_answer(question, reading.text, reading.confidence, reading_ll,
                              answer_lls, config, written_stacked=_refused_stack(crop, question))
        scored[crop.question_id] = GradedAnswer(
            result, normalize(reading.text, question.kind, Rules.of(question.match).options()),
            _jpeg(crop.color), _png(crop.ink), reading_ll, answer_lls)
    out = []
    for crop in crops:
        if crop.question_id not in questions:
            continue
        if crop.question_id not in scored:  # blank
            scored[crop.question_id] = GradedAnswer(blank_answer(questions[crop.question_id]),
                                                    "", _jpeg(crop.color), None, None, None)
        out.append(scored[crop.question_id])
    return out


def _refused_stack(crop: AnswerCrop, question: Question) -> bool:
    """Whether the crop holds a stacked fraction the question's key does not accept (looked for
    only then: the recogniser reads stacked fractions as a/b whatever the key says)."""
    if Rules.of(question.match).stacked_fractions or question.kind not in STACKABLE_KINDS:
        return False
    return find_fraction_bar(crop.ink) is not None


# The cleaned ink the model reads: lossless PNG (it is read again at regrade and by adapt), a fast
# zlib level with one fixed row filter (SUB). OpenCV 5 tries every filter per row once a level is
# given (2.3 ms a colour crop against 0.8 ms with SUB alone, files 25 % larger).
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
# The colour crop is a piece of a phone's JPEG photo, shown to the teacher: JPEG again, at a
# quality whose loss is invisible at the crop's size. Against PNG it costs 0.18 instead of 1.38 ms
# a crop and 7.6 instead of 48 KB (a 20-question page: 0.15 instead of 1 MB in the gradebook).
JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 90]


def _encoded(image: np.ndarray | None, extension: str, params: list[int]) -> bytes | None:
    if image is None or image.size == 0:
        return None
    ok, buffer = cv2.imencode(extension, image, params)
    if not ok:
        raise ImageUnreadable(f"could not encode an answer crop as {extension[1:].upper()}")
    return buffer.tobytes()


def _jpeg(image: np.ndarray | None) -> bytes | None:
    return _encoded(image, ".jpg", JPEG_PARAMS)


def _png(image: np.ndarray | None) -> bytes | None:
    return _encoded(image, ".png", PNG_PARAMS)


# --- who wrote it -------------------------------------------------------------------------------

def identify_student(registered: RegisteredPage, key: AnswerKey, recognizer: Reader,
                     roster: Sequence[RosterEntry],
                     config: NameMatchConfig = NameMatchConfig(),
                     preprocess: PreprocessConfig = DEFAULT_PREPROCESS
                     ) -> tuple[str | None, str, str]:
    """(student id or None, method, name as read): the QR of a per-student sheet first, else
    the name box read and matched to the roster only when unambiguous, else nobody."""
    if registered.qr is not None and registered.qr.student:
        return registered.qr.student, "qr", ""
    if not roster:
        return None, "none", ""
    ink = name_box_ink(registered, key.paper, preprocess)
    if ink is None:
        return None, "none", ""
    # Latin names read with the letters' alphabet; a class with Chinese names needs all of it.
    cjk = any("\u4e00" <= ch <= "\u9fff" for entry in roster for ch in entry.name)
    # Names are read letter by letter: the word list would pull them towards words.
    reading = recognizer.read([ink], kind=None if cjk else Kind.TEXT, use_words=False)[0]
    match = match_name(reading.text, roster, config)
    return match.student_id, ("name" if match.student_id else "none"), reading.text


def name_box_px(paper: str) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the handwriting area of the name box on a template page: inside its
    border (grader.layout.name_box_px) and right of the printed word "Name"."""
    x, y, w, h = name_box_border(paper)
    label, inset = 95, 8  # the printed "Name" label; the box border
    return x + label, y + inset, w - label - inset, h - 2 * inset


def name_box_ink(page_bgr: np.ndarray | RegisteredPage, paper: str,
                 config: PreprocessConfig = DEFAULT_PREPROCESS) -> np.ndarray | None:
    """The name box cleaned like an answer (grader.preprocess); None when nothing is written."""
    x, y, w, h = name_box_px(paper)
    margin = 10
    x0, y0 = max(0, x - margin), max(0, y - margin)
    gray = cv2.cvtColor(page_region(page_bgr, x0, y0, x + w + margin, y + h + margin), cv2.COLOR_BGR2GRAY)
    cleaned = clean_answer(gray, (x - x0, y - y0, x - x0 + w, y - y0 + h), config)
    return None if cleaned.blank else cleaned.ink


def stored_ink_likelihoods(recognizer: Reader):
    """A `grader.grading.regrade` likelihoods function: the model reads the stored ink PNG again and gives
    the CTC log-likelihood of each new candidate answer (a regrade never needs the photo)."""

    def likelihoods(answer, candidates: Sequence[str], kind: str | None) -> dict[str, float]:
        if not answer.ink_png:
            return {}
        ink = cv2.imdecode(np.frombuffer(answer.ink_png, np.uint8), cv2.IMREAD_GRAYSCALE)
        if ink is None:
            return {}
        [log_probs] = recognizer.log_probs([ink], kind)
        return dict(zip(candidates, recognizer.string_log_likelihoods(log_probs, candidates, kind)))

    return likelihoods
