"""Marked sheets that go back to students: per student and assignment a PDF of their page(s),
each answer box marked (a tick, a cross or the points in the margin), the accepted answer
beside a wrong one when the teacher wants it, the teacher's reason where one was given (a
numbered note under the sheet, its number under the box), and the total; the class pack is
every student's sheet in one PDF, each starting on a new page.

The page a student sees is the registered page when its thumbnail was kept (the app keeps one),
with every answer's own full-resolution crop laid over its box, else the blank template with the
crops laid in: the crops are in the gradebook, so a sheet never needs the photo again.

Text is real PDF text in embedded, subset fonts (DejaVu Sans for Latin, the project's MicroHei
GB for anything with Chinese in it), so a name prints and can be searched and read back. The
marks are vector strokes in the verdict's colour.

Answers still in review are either marked provisional (an orange "?" and a banner with their
count) or the export refuses with the count (`ReviewPending`), as the teacher chooses.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import cv2
import numpy as np
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from grader import fonts
from grader.answer_key import AnswerKey, Question
from grader.crops import CROP_MARGIN_PX
from grader.errors import GraderError
from grader.layout import DPI, page_size_px
from grader.store import SheetAnswer, SheetPage, StudentSheet
from grader.vocab import Status, Verdict

PT_PER_PX = 72.0 / DPI
HEADER_PT = 60.0  # the band above the sheet: name, assignment, total
# The band under the sheet for the teacher's reasons: a reason is a note there, referred to under
# its box ("note 1"), because under the box it would run into the next row's box on a sheet with
# rows close together or two columns. Notes beyond the band go on a page of their own.
NOTE_PT, NOTE_LINES = 10.5, 4
FOOTER_PT = NOTE_PT * NOTE_LINES + 8
GREEN, RED, ORANGE, GREY, BLUE = ((0.0, 0.55, 0.2), (0.85, 0.1, 0.1), (0.95, 0.55, 0.0),
                                  (0.5, 0.5, 0.5), (0.1, 0.3, 0.8))
NOTE_COLOR = (0.2, 0.2, 0.2)
LATIN, CJK = "GraderLatin", "GraderCJK"


class ReviewPending(GraderError):
    """Answers are still in review and the teacher asked for final marks only."""


@dataclass(frozen=True)
class FeedbackOptions:
    """provisional: answers in review are marked provisional (else the export refuses);
    show_answers: the accepted answer is written beside a wrong one."""

    provisional: bool = False
    show_answers: bool = False


Backgrounds = Callable[[SheetPage], "np.ndarray | None"]  # a kept registered page, if any


def check_reviewed(sheets: Sequence[StudentSheet], options: FeedbackOptions) -> None:
    """ReviewPending with the count (and whose) unless every answer is reviewed or the teacher
    asked for provisional marks."""
    if options.provisional:
        return
    pending = [(s.name or s.student_id, s.to_review) for s in sheets if s.to_review]
    if pending:
        count = sum(n for _, n in pending)
        whose = ", ".join(f"{name} {n}" for name, n in pending[:5]) + (", ..." if len(pending) > 5 else "")
        raise ReviewPending(f"{count} answer(s) are still in review ({whose}); review them first, "
                            "or return the sheets with those answers marked provisional")


# --- fonts ---------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _register_fonts() -> None:
    """DejaVu Sans and MicroHei GB registered with reportlab once per process; the WOFF2 face is
    unpacked to TrueType in memory (reportlab subsets it into each PDF)."""
    from fontTools.ttLib import TTFont as FontFile

    pdfmetrics.registerFont(TTFont(LATIN, fonts.require(fonts.DEJAVU_SANS, "Latin text on marked sheets")))
    face = FontFile(fonts.require(fonts.PRINT_CJK, "Chinese text on marked sheets"))
    face.flavor = None
    buffer = io.BytesIO()
    face.save(buffer)
    buffer.seek(0)
    pdfmetrics.registerFont(TTFont(CJK, buffer))


def _face(text: str) -> str:
    return CJK if any(ord(ch) >= 0x2E80 for ch in text) else LATIN


def _text(canvas: Canvas, x: float, y: float, text: str, size: float,
          color: tuple[float, float, float] = (0, 0, 0), right: bool = False) -> float:
    """Draw one line (at baseline y); returns its width."""
    face = _face(text)
    canvas.setFont(face, size)
    canvas.setFillColorRGB(*color)
    width = pdfmetrics.stringWidth(text, face, size)
    canvas.drawString(x - width if right else x, y, text)
    return width


# --- the page the student sees ----------------------------------------------------------------

def sheet_image(key: AnswerKey, page: SheetPage, template: np.ndarray,
                background: np.ndarray | None = None) -> np.ndarray:
    """The page at the template's size: the kept registered page (scaled up) or the template,
    with each answer's full-resolution crop over its box."""
    height, width = template.shape[:2]
    if background is not None:
        image = cv2.resize(background, (width, height), interpolation=cv2.INTER_CUBIC)
    else:
        image = template.copy()
    for answer in page.answers:
        crop = _decode(answer.crop_image)
        if crop is None:
            continue
        bx, by, _, _ = _box_px(key.question(answer.question_id), width, height)
        x0, y0 = max(0, bx - CROP_MARGIN_PX), max(0, by - CROP_MARGIN_PX)
        h, w = min(crop.shape[0], height - y0), min(crop.shape[1], width - x0)
        image[y0:y0 + h, x0:x0 + w] = crop[:h, :w]
    return image


def _decode(png: bytes | None) -> np.ndarray | None:
    if not png:
        return None
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return image if image is not None and image.size else None


def _box_px(question: Question, width: int, height: int) -> tuple[int, int, int, int]:
    x, y, w, h = question.box
    return round(x * width), round(y * height), round(w * width), round(h * height)


# --- marks --------------------------------------------------------------------------------------

def _mark_color(answer: SheetAnswer) -> tuple[float, float, float]:
    if answer.status == Status.REVIEW:
        return ORANGE
    colors: dict[str, tuple[float, float, float]] = {
        Verdict.CORRECT: GREEN, Verdict.PARTIAL: ORANGE, Verdict.INCORRECT: RED}
    return colors.get(answer.verdict, GREY)


def _tick(canvas: Canvas, x: float, y: float, size: float) -> None:
    path = canvas.beginPath()
    path.moveTo(x, y + size * 0.45)
    path.lineTo(x + size * 0.35, y + size * 0.1)
    path.lineTo(x + size, y + size * 0.95)
    canvas.drawPath(path, stroke=1, fill=0)


def _cross(canvas: Canvas, x: float, y: float, size: float) -> None:
    canvas.line(x, y, x + size, y + size)
    canvas.line(x, y + size, x + size, y)


def _points(value: float) -> str:
    return f"{value:g}"


def margin_free(question: Question, others: Sequence[Question]) -> bool:
    """Whether the margin right of the box is free for the mark: no other box on its row to the
    right (a two-column sheet's left column has the right column's prompt there)."""
    x, y, w, h = question.box
    for other in others:
        ox, oy, _, oh = other.box
        if other is not question and min(oy + oh, y + h) - max(oy, y) > 0 and ox >= x + w:
            return False
    return x + w < 0.8


def _draw_mark(canvas: Canvas, answer: SheetAnswer, x: float, y: float, size: float,
               color: tuple[float, float, float]) -> None:
    canvas.setStrokeColorRGB(*color)
    canvas.setLineWidth(3.0)
    if answer.status == Status.REVIEW:
        _text(canvas, x + size * 0.15, y + size * 0.1, "?", size * 1.1, color)
    elif answer.verdict == Verdict.CORRECT:
        _tick(canvas, x, y, size)
    elif answer.verdict in (Verdict.INCORRECT, Verdict.BLANK):
        _cross(canvas, x + size * 0.1, y + size * 0.1, size * 0.8)
    else:  # partial credit: a tick with a bar through it
        _tick(canvas, x, y, size)
        canvas.line(x + size * 0.3, y + size * 0.65, x + size * 0.8, y + size * 0.35)


def _mark_answer(canvas: Canvas, answer: SheetAnswer, question: Question, box: tuple[float, float, float, float],
                 in_margin: bool, options: FeedbackOptions, note: int | None) -> None:
    """Box outline in the verdict's colour, the mark and the points in the margin right of the
    box (inside its right end where the margin is taken), then under the box the accepted
    answer and the number of the teacher's note. `box` is (x, y, w, h) in PDF points, y up."""
    x, y, w, h = box
    color = _mark_color(answer)
    canvas.setStrokeColorRGB(*color)
    canvas.setLineWidth(1.6)
    canvas.rect(x, y, w, h, stroke=1, fill=0)
    provisional = answer.status == Status.REVIEW
    label = f"{_points(answer.points)}/{_points(answer.max_points)}" + (" provisional" if provisional else "")
    if in_margin:
        size = min(h * 0.8, 22.0)
        mx, my = x + w + 8, y + (h - size) / 2
        _draw_mark(canvas, answer, mx, my, size, color)
        _text(canvas, mx + size + 5, my + size * 0.3, label, 10, color)
    else:
        size = min(h * 0.6, 18.0)
        _draw_mark(canvas, answer, x + w - size - 4, y + h - size - 3, size, color)
        _text(canvas, x + w, y - 10, label, 9, color, right=True)
    left = x
    wrong = not provisional and answer.points < answer.max_points
    if options.show_answers and wrong and question.answers:
        left += _text(canvas, left, y - 10, f"Answer: {question.answers[0]}", 9, BLUE) + 6
    if note is not None:
        _text(canvas, left, y - 10, f"note {note}", 9, NOTE_COLOR)


def _note_lines(notes: Sequence[tuple[int, str, str]], width: float) -> list[str]:
    """The teacher's reasons as wrapped lines: `Note n (question label): reason`."""
    lines: list[str] = []
    for number, label, reason in notes:
        text = f"Note {number} (question {label}): {reason}"
        lines.extend(simpleSplit(text, _face(text), 9, width))
    return lines


def _draw_notes(canvas: Canvas, lines: Sequence[str], top: float) -> None:
    for i, line in enumerate(lines):
        _text(canvas, 24, top - (i + 1) * NOTE_PT, line, 9, NOTE_COLOR)


def _header(canvas: Canvas, key: AnswerKey, sheet: StudentSheet, page_no: int, pages: int,
            width: float, height: float, options: FeedbackOptions) -> None:
    top = height - 20
    who = sheet.name + (f" ({sheet.class_name})" if sheet.class_name else "")
    _text(canvas, 24, top, who, 14)
    _text(canvas, 24, top - 15, f"{key.title} · page {page_no}/{pages}", 9, GREY)
    percent = 100.0 * sheet.total / sheet.max_points if sheet.max_points else 0.0
    total = f"Total {_points(sheet.total)} / {_points(sheet.max_points)} ({percent:.0f} %)"
    _text(canvas, width - 24, top, total, 14, right=True)
    if sheet.to_review and options.provisional:
        _text(canvas, 24, top - 27, f"Provisional: {sheet.to_review} answer(s) not yet checked by "
              "the teacher; the total may change", 9, ORANGE)
    canvas.setStrokeColorRGB(*GREY)
    canvas.setLineWidth(0.5)
    canvas.line(24, height - HEADER_PT + 4, width - 24, height - HEADER_PT + 4)


def page_size_pt(key: AnswerKey) -> tuple[float, float]:
    width_px, height_px = page_size_px(key.paper)
    return width_px * PT_PER_PX, height_px * PT_PER_PX


def _sheet_placement(key: AnswerKey) -> tuple[float, float, float]:
    """(left, bottom, scale): the sheet shrinks a little between the header and the notes band,
    centred."""
    width, height = page_size_pt(key)
    scale = (height - HEADER_PT - FOOTER_PT) / height
    return (width - width * scale) / 2, FOOTER_PT, scale


def box_on_pdf(key: AnswerKey, question: Question) -> tuple[float, float, float, float]:
    """Where a question's box lies on its marked page: (x, y, w, h) in PDF points, y up."""
    width_px, height_px = page_size_px(key.paper)
    left, bottom, scale = _sheet_placement(key)
    factor = PT_PER_PX * scale
    bx, by, bw, bh = _box_px(question, width_px, height_px)
    return left + bx * factor, bottom + (height_px - by - bh) * factor, bw * factor, bh * factor


def _draw_page(canvas: Canvas, key: AnswerKey, sheet: StudentSheet, page: SheetPage, page_no: int,
               image: np.ndarray, options: FeedbackOptions, first_note: int) -> list[str]:
    """One page of a student's sheet; returns the lines of notes that did not fit its band."""
    width, height = page_size_pt(key)
    _header(canvas, key, sheet, page_no, len(sheet.pages), width, height, options)
    left, bottom, scale = _sheet_placement(key)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise GraderError(f"could not encode page {page.page} of {sheet.name}'s sheet")
    canvas.drawImage(ImageReader(io.BytesIO(jpeg.tobytes())), left, bottom, width * scale, height * scale)
    others = key.questions_on_page(page.page)
    notes: list[tuple[int, str, str]] = []
    for answer in page.answers:
        question = key.question(answer.question_id)
        note = None
        if answer.reason:
            note = first_note + len(notes)
            notes.append((note, question.label, answer.reason))
        _mark_answer(canvas, answer, question, box_on_pdf(key, question),
                     margin_free(question, others), options, note)
    lines = _note_lines(notes, width - 48)
    fits = lines if len(lines) <= NOTE_LINES else [*lines[:NOTE_LINES - 1], "Notes continue on the next page."]
    _draw_notes(canvas, fits, FOOTER_PT)
    return [] if len(lines) <= NOTE_LINES else lines[NOTE_LINES - 1:]


def _notes_page(canvas: Canvas, key: AnswerKey, sheet: StudentSheet, lines: Sequence[str],
                options: FeedbackOptions) -> None:
    """The notes that did not fit under a page, on a page of their own (long reasons are kept
    whole: nothing the teacher wrote is cut)."""
    width, height = page_size_pt(key)
    _header(canvas, key, sheet, len(sheet.pages), len(sheet.pages), width, height, options)
    per_page = int((height - HEADER_PT - 24) // NOTE_PT)
    for start in range(0, len(lines), per_page):
        if start:
            canvas.showPage()
        _draw_notes(canvas, lines[start:start + per_page], height - HEADER_PT)


def _template(key: AnswerKey, page: int, templates: Callable[[AnswerKey, int], np.ndarray]) -> np.ndarray:
    try:
        return templates(key, page)
    except GraderError:  # a teacher's own sheet whose template images are not here: plain paper
        width, height = page_size_px(key.paper)
        return np.full((height, width, 3), 255, np.uint8)


def sheets_pdf(key: AnswerKey, sheets: Sequence[StudentSheet], options: FeedbackOptions,
               templates: Callable[[AnswerKey, int], np.ndarray],
               backgrounds: Backgrounds | None = None) -> bytes:
    """One PDF of the students' marked sheets in the given order, each student starting on a
    new page (the class pack; one student's sheet when given one). ReviewPending unless every
    answer is reviewed or options.provisional. `templates(key, page)` gives the blank page
    (grader.template.template_image); `backgrounds(page)` a kept registered page, if any."""
    if not sheets:
        raise GraderError(f"no student of {key.id!r} has a graded page to return")
    check_reviewed(sheets, options)
    _register_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=page_size_pt(key), pageCompression=1)
    canvas.setTitle(f"{key.title}: marked sheets")
    canvas.setCreator("homework grader")
    for sheet in sheets:
        note = 1
        for number, page in enumerate(sheet.pages, start=1):
            background = backgrounds(page) if backgrounds else None
            image = sheet_image(key, page, _template(key, page.page, templates), background)
            rest = _draw_page(canvas, key, sheet, page, number, image, options, note)
            note += sum(1 for a in page.answers if a.reason)
            canvas.showPage()
            if rest:
                _notes_page(canvas, key, sheet, rest, options)
                canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def sheet_file_name(sheet: StudentSheet, assignment_id: str) -> str:
    """A file name for one student's sheet that every file system takes: id, then assignment."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in sheet.student_id)
    return f"{safe}-{assignment_id}.pdf"
