"""Printable worksheets: markers, QR, title, name box, prompts and answer boxes, at 200 dpi.

`render_page` draws one page as a BGR raster; `worksheet_pdf_bytes` wraps the same rasters in a
PDF at 200 dpi, so a printed sheet has exactly the geometry the registration expects.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import qrcode
from PIL import Image, ImageDraw, ImageFont

from grader import fonts
from grader.answer_key import AnswerKey, Question
from grader.errors import GraderError
from grader.layout import (
    DPI,
    HEADER_BOTTOM_PX,
    MARKER_MARGIN_PX,
    MARKER_PX,
    marker_origins_px,
    name_box_px,
    page_size_px,
    qr_payload,
    qr_rect_px,
)

BOX_BORDER_PX = 3
CELL_WALL_PX = 2  # a comb box's walls between cells
BOX_GREY = 70  # dark enough to photograph, lighter than ink so the crops can tell them apart
TEXT_GREY = 25
WORKING_GREY = 170  # a working space's frame: visibly not an answer box


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""


# --- fonts --------------------------------------------------------------------------------------


def _font_path(cjk: bool = False, bold: bool = False) -> str | None:
    """The print face: the project's CJK face for text with Chinese in it, DejaVu for the rest
    (the project's CJK face, which has Latin too, where DejaVu is missing)."""
    if cjk:
        # A missing CJK face would print every character as a box: say so instead.
        return fonts.require(fonts.PRINT_CJK, "Chinese text on worksheets")
    candidates = ((fonts.DEJAVU_SANS_BOLD,) if bold else ()) + (fonts.DEJAVU_SANS, fonts.PRINT_CJK)
    return next((path for path in candidates if Path(path).is_file()), None)


@lru_cache(maxsize=64)
def _font(size: int, cjk: bool = False, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A printed-text font (Pillow's own Latin font where no Latin face is installed)."""
    path = _font_path(cjk, bold)
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)


def _needs_cjk(text: str) -> bool:
    return any(ord(ch) >= 0x2E80 for ch in text)


def _text_font(text: str, size: int, bold: bool = False):
    return _font(size, _needs_cjk(text), bold)


def unprintable_characters(key: AnswerKey, students: Sequence[Student] = ()) -> str:
    """Characters of the sheet's own text (title, labels, prompts, names) that the face they are
    printed in has no glyph for, so they would print as boxes; each once, "" when all print."""
    texts = [(key.title, False), *((f"{q.label}.", True) for q in key.questions),
             *((q.prompt, False) for q in key.questions if q.prompt), *((s.name, False) for s in students)]
    missing: dict[str, None] = {}
    for text, bold in texts:
        path = _font_path(_needs_cjk(text) and not bold, bold)
        if path is not None:
            missing.update(dict.fromkeys(fonts.missing_characters(text, path)))
    return "".join(missing)


def unprintable_warning(key: AnswerKey, students: Sequence[Student] = ()) -> str:
    """A sentence for the teacher when some characters of the sheet would print as boxes, else ""."""
    try:
        chars = unprintable_characters(key, students)
    except fonts.FontMissing as error:
        return str(error)
    if not chars:
        return ""
    return (f"These characters have no glyph in the worksheet's print fonts and would print as empty "
            f"boxes: {' '.join(chars)}. The Chinese print face holds the 6,763 GB2312 characters; write "
            f"the others by hand on the printed sheet, or add them as grader/fonts/README.md describes.")


# A word that belongs to a written expression: numbers, operators, brackets, one-letter
# variables and their products ("125", "+", "=", "3(2x+3)", "x²", "-4", "1/2", "25%").
_MATH_WORD = re.compile(r"^[0-9a-zA-Z.,%()\[\]+\-−×÷*/=<>≤≥^²³√πx?_]+$")
_OPERATOR_OR_DIGIT = re.compile(r"[0-9+\-−×÷*/=<>≤≥^²³√]")


def _is_math(word: str) -> bool:
    """A word of an expression: made of expression characters, with a digit or an operator in
    it (so that plain words like "as" or "a" stay words), or a single-letter variable."""
    return bool(_MATH_WORD.match(word)) and (bool(_OPERATOR_OR_DIGIT.search(word)) or len(word) == 1
                                             and word.isalpha() and word not in "aAI")


def unbreakable_chunks(text: str) -> list[str]:
    """The text's words with every run of expression words glued into one chunk, so a prompt
    wraps between words but never inside `125 + 348 =` (a line break there reads as two
    things). CJK text without spaces wraps between characters, expressions in it kept whole."""
    if _needs_cjk(text) and " " not in text.strip():
        return [m.group(0) for m in re.finditer(r"[0-9a-zA-Z.,%()+\-−×÷*/=<>^]+|.", text)]
    chunks: list[str] = []
    glued = False
    for word in text.split():
        math = _is_math(word)
        if math and glued and chunks:
            chunks[-1] += " " + word
        else:
            chunks.append(word)
        glued = math
    return chunks


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Greedy wrap between unbreakable chunks: words, whole expressions, or (CJK text, which
    has no spaces) characters."""
    chunks = unbreakable_chunks(text)
    joiner = "" if _needs_cjk(text) and " " not in text.strip() else " "
    lines: list[str] = []
    current = ""
    for token in chunks:
        trial = token if not current else current + joiner + token
        if draw.textlength(trial, font=font) <= width or not current:
            current = trial
        else:
            lines.append(current)
            current = token
    if current:
        lines.append(current)
    return lines


def prompt_fits(prompt: str, width_px: int, height_px: int, size: int) -> bool:
    """Whether a prompt prints in a slot of this size (200 dpi pixels) at `size` px or larger,
    wrapped as `_wrap` wraps it: what a layout asks before it puts the prompt there."""
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    font = _text_font(prompt, size)
    lines = _wrap(draw, prompt, font, width_px)
    return len(lines) * round(size * 1.2) <= height_px and all(draw.textlength(line, font=font) <= width_px
                                                              for line in lines)


def _draw_fitted(draw, text: str, rect: tuple[int, int, int, int], size: int, min_size: int = 18) -> None:
    """Draw `text` wrapped inside rect (x, y, w, h), shrinking the font until it fits."""
    x, y, w, h = rect
    for s in range(size, min_size - 1, -2):
        font = _text_font(text, s)
        lines = _wrap(draw, text, font, w)
        line_h = round(s * 1.2)
        if len(lines) * line_h <= h and all(draw.textlength(line, font=font) <= w for line in lines):
            break
    top = y + (h - len(lines) * line_h) // 2
    for i, line in enumerate(lines):
        draw.text((x, top + i * line_h), line, fill=TEXT_GREY, font=font)


# --- page parts ---------------------------------------------------------------------------------


def _draw_markers(canvas: np.ndarray, paper: str) -> None:
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    for marker_id, (x, y) in marker_origins_px(paper).items():
        marker = cv2.aruco.generateImageMarker(dictionary, marker_id, MARKER_PX, borderBits=1)
        canvas[y : y + MARKER_PX, x : x + MARKER_PX] = marker


def _qr_image(payload: str, side: int) -> np.ndarray:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=0)
    code.add_data(payload)
    code.make(fit=True)
    modules = np.array(code.get_matrix(), dtype=bool)
    quiet = 2
    module_px = max(1, side // (len(modules) + 2 * quiet))
    image = np.where(modules, 0, 255).astype(np.uint8)
    image = np.kron(image, np.ones((module_px, module_px), np.uint8))
    out = np.full((side, side), 255, np.uint8)
    offset = (side - image.shape[0]) // 2
    out[offset : offset + image.shape[0], offset : offset + image.shape[1]] = image
    return out


def _draw_header(draw, key: AnswerKey, page: int, student: Student | None, width: int) -> None:
    left = MARKER_MARGIN_PX + MARKER_PX + 36
    qr_x = qr_rect_px(key.paper)[0]
    title_w = qr_x - left - 30
    _draw_fitted(draw, key.title, (left, MARKER_MARGIN_PX - 10, title_w, 96), 46, 24)
    # The name box: pre-filled on per-student sheets, otherwise for the student to write in.
    box_left, box_top, box_w, box_h = name_box_px(key.paper)
    box_bottom = box_top + box_h
    draw.rectangle((box_left, box_top, box_left + box_w, box_bottom), outline=BOX_GREY, width=BOX_BORDER_PX)
    draw.text((left + 10, box_top + 6), "Name", fill=TEXT_GREY, font=_font(22))
    if student is not None:
        label = student.name or student.id
        draw.text((left + 100, box_top + 24), label, fill=TEXT_GREY, font=_text_font(label, 40))
    pages = f"page {page} of {key.pages}" if key.pages > 1 else ""
    info = "   ".join(x for x in (key.id, pages, f"student {student.id}" if student else "") if x)
    draw.text((left, box_bottom + 14), info, fill=TEXT_GREY, font=_font(24))
    _draw_layout_lines(draw, key, box_left + box_w, box_bottom + 14)


def _draw_layout_lines(draw, key: AnswerKey, right: int, top: int) -> None:
    """The key's `layout` extras: Class and Date lines right-aligned under the name box, the
    instructions on one line across the page above the questions (left of the QR code)."""
    fields = [name for name, wanted in (("Class", key.layout.class_line), ("Date", key.layout.date_line))
              if wanted]
    font, line_w = _font(24), 190
    x = right
    for name in reversed(fields):
        x -= line_w
        draw.line((x, top + 26, x + line_w - 20, top + 26), fill=BOX_GREY, width=2)
        x -= round(draw.textlength(name, font=font)) + 8
        draw.text((x, top), name, fill=TEXT_GREY, font=font)
        x -= 30
    if key.layout.instructions:
        left = MARKER_MARGIN_PX
        _draw_fitted(draw, key.layout.instructions,
                     (left, HEADER_BOTTOM_PX - 36, qr_rect_px(key.paper)[0] - 20 - left, 34), 26, 18)


def _prompt_rect(question: Question, others: Sequence[Question], width: int, height: int) -> tuple[int, int, int, int]:
    """The free space left of a box on its row, where its label and prompt go."""
    x, y, w, h = question.box
    left = 0.05
    for other in others:
        ox, oy, ow, oh = other.box
        same_row = min(oy + oh, y + h) - max(oy, y) > 0
        if other is not question and same_row and ox + ow <= x:
            left = max(left, ox + ow + 0.02)
    return round(left * width), round(y * height), round((x - left - 0.012) * width), round(h * height)


def _draw_question(draw, question: Question, others: Sequence[Question], width: int, height: int) -> None:
    x, y, w, h = question.box
    x0, y0 = round(x * width), round(y * height)
    x1, y1 = round((x + w) * width) - 1, round((y + h) * height) - 1
    draw.rectangle((x0, y0, x1, y1), outline=BOX_GREY, width=BOX_BORDER_PX)
    for cx, _, _, _ in question.cells[1:]:  # a comb box's inner walls
        wall = round(cx * width)
        draw.line((wall, y0, wall, y1), fill=BOX_GREY, width=CELL_WALL_PX)
    if question.working_box is not None:
        wx, wy, ww, wh = question.working_box
        draw.rectangle((round(wx * width), round(wy * height), round((wx + ww) * width) - 1,
                        round((wy + wh) * height) - 1), outline=WORKING_GREY, width=2)
        draw.text((round(wx * width) + 8, round(wy * height) + 4), "working", fill=WORKING_GREY,
                  font=_font(20))
    px, py, pw, ph = _prompt_rect(question, others, width, height)
    label = f"{question.label}."
    label_font = _font(34, bold=True)
    label_w = round(draw.textlength(label, font=label_font)) + 14
    if pw < label_w + 40:
        # Too little room for a prompt: the label alone, just left of the box.
        draw.text((max(0, x0 - label_w), py + ph // 2 - 20), label, fill=TEXT_GREY, font=label_font)
        return
    draw.text((px, py + ph // 2 - 20), label, fill=TEXT_GREY, font=label_font)
    if question.prompt:
        _draw_fitted(draw, question.prompt, (px + label_w, py, pw - label_w, ph), 34)


def render_page(key: AnswerKey, page: int, student_id: str | None = None, student_name: str = "") -> np.ndarray:
    """One worksheet page as a BGR uint8 image at 200 dpi (page_size_px(key.paper))."""
    if not 1 <= page <= key.pages:
        raise GraderError(f"{key.id} has pages 1 to {key.pages}; there is no page {page}")
    width, height = page_size_px(key.paper)
    student = Student(student_id, student_name) if student_id else None
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    _draw_header(draw, key, page, student, width)
    questions = key.questions_on_page(page)
    for question in questions:
        _draw_question(draw, question, questions, width, height)
    footer = f"{key.id} · page {page}/{key.pages}"
    draw.text((width // 2 - round(draw.textlength(footer, font=_font(22))) // 2, height - MARKER_MARGIN_PX - 30),
              footer, fill=120, font=_font(22))
    canvas = np.asarray(image).copy()
    _draw_markers(canvas, key.paper)
    qx, qy, qw, qh = qr_rect_px(key.paper)
    canvas[qy : qy + qh, qx : qx + qw] = _qr_image(qr_payload(key.id, page, student_id), qw)
    return cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)


def render_pages(key: AnswerKey, student_id: str | None = None, student_name: str = "") -> list[np.ndarray]:
    return [render_page(key, p, student_id, student_name) for p in range(1, key.pages + 1)]


def _roster_entries(roster: Sequence[str | Student] | None) -> list[Student | None]:
    if not roster:
        return [None]
    return [r if isinstance(r, Student) else Student(str(r)) for r in roster]


def worksheet_pdf_bytes(key: AnswerKey, roster: Sequence[str | Student] | None = None) -> bytes:
    """All pages (one set per student when a roster is given) as a PDF at 200 dpi."""
    images: list[Image.Image] = []
    for student in _roster_entries(roster):
        for page in range(1, key.pages + 1):
            bgr = render_page(key, page, student.id if student else None, student.name if student else "")
            # Grayscale keeps the PDF small; markers and QR are pure black and white.
            images.append(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)))
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", resolution=float(DPI), save_all=True, append_images=images[1:],
                   title=key.title, quality=92)
    return buffer.getvalue()
