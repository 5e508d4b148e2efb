"""Registered page -> one AnswerCrop per question of its page.

Each crop keeps the colour image of the box (plus a margin) for the teacher's review and the
cleaned grayscale `ink` for the recogniser (see grader.preprocess). A blank answer is flagged
here and must never be sent to the recogniser.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from grader.answer_key import AnswerKey, Question
from grader.preprocess import DEFAULT_PREPROCESS, CleanedAnswer, PreprocessConfig, clean_answer
from grader.registration import RegisteredPage, page_region, page_size

CROP_MARGIN_PX = 18  # around the box: registration slack and writing that spills over the border
# A comb box's cell is cleaned with this much of its neighbours on each side (less than a
# box's margin: more would take in the next cell's character).
CELL_MARGIN_PX = 6


@dataclass
class AnswerCrop:
    question_id: str
    color: np.ndarray  # BGR: the box plus a margin, as photographed (for the teacher)
    ink: np.ndarray  # uint8 grayscale, dark on white, lines removed, trimmed; not binarised, not resized
    blank: bool
    box_px: tuple[int, int, int, int]  # (x, y, w, h) of the crop on the registered page
    ink_box: tuple[int, int, int, int] | None = None  # (x, y, w, h) of the ink on the registered page


def _box_px(question: Question, width: int, height: int) -> tuple[int, int, int, int]:
    x, y, w, h = question.box
    return round(x * width), round(y * height), round(w * width), round(h * height)


def crop_question(page_bgr: np.ndarray | RegisteredPage, question: Question,
                  config: PreprocessConfig = DEFAULT_PREPROCESS) -> AnswerCrop:
    """One question's crop, from a page image or from a registered page (whose warp then makes
    only this region)."""
    width, height = page_size(page_bgr)
    bx, by, bw, bh = _box_px(question, width, height)
    x0, y0 = max(0, bx - CROP_MARGIN_PX), max(0, by - CROP_MARGIN_PX)
    x1, y1 = min(width, bx + bw + CROP_MARGIN_PX), min(height, by + bh + CROP_MARGIN_PX)
    color = page_region(page_bgr, x0, y0, x1, y1)
    gray = cv2.cvtColor(color, cv2.COLOR_BGR2GRAY)
    if question.cells:
        ink, blank, ink_box = _comb_ink(gray, question, (x0, y0), (width, height), config)
        return AnswerCrop(question.id, color, ink, blank, (x0, y0, x1 - x0, y1 - y0), ink_box)
    inset = config.border_inset_px
    inner = (bx - x0 + inset, by - y0 + inset, bx + bw - x0 - inset, by + bh - y0 - inset)
    cleaned = clean_answer(gray, inner, config)
    ink_box = None
    if cleaned.ink_box is not None and not cleaned.blank:
        ix, iy, iw, ih = cleaned.ink_box
        ink_box = (ix + x0, iy + y0, iw, ih)
    return AnswerCrop(question.id, color, cleaned.ink, cleaned.blank, (x0, y0, x1 - x0, y1 - y0), ink_box)


def cell_config(config: PreprocessConfig) -> PreprocessConfig:
    """Cleaning for one cell of a comb box. A lone `.` or `-` in its own cell is an answer's
    character, so a cell keeps smaller ink than a box does (specks are still dropped by
    min_component_px). A printed line crosses the whole narrow cell, while a character's
    stroke (十's bar) may cross half of it: only runs across nearly all of it are lines."""
    return replace(config, min_ink_px=min(config.min_ink_px, 24), min_ink_extent_px=min(config.min_ink_extent_px, 6),
                   h_line_fraction=max(config.h_line_fraction, 0.85))


def _comb_ink(gray: np.ndarray, question: Question, origin: tuple[int, int], page_size: tuple[int, int],
              config: PreprocessConfig) -> tuple[np.ndarray, bool, tuple[int, int, int, int] | None]:
    """A comb box read cell by cell: each cell cleaned on its own (its walls are its border, so
    they are removed as a box's border is), empty cells skipped, and the inked cells set side by
    side at their heights on the page, into one line for the recogniser. (ink, blank, ink box on
    the page)."""
    x0, y0 = origin
    width, height = page_size
    inset, cfg = config.border_inset_px, cell_config(config)
    pieces: list[tuple[CleanedAnswer, int, int]] = []  # cleaned cell, its left and top in the crop
    for cell in question.cells:
        cx, cy, cw, ch = (round(cell[0] * width) - x0, round(cell[1] * height) - y0,
                          round(cell[2] * width), round(cell[3] * height))
        left, right = max(0, cx - CELL_MARGIN_PX), min(gray.shape[1], cx + cw + CELL_MARGIN_PX)
        inner = (cx - left + inset, cy + inset, cx + cw - left - inset, cy + ch - inset)
        cleaned = clean_answer(gray[:, left:right], inner, cfg)
        if not cleaned.blank and cleaned.ink_box is not None:
            pieces.append((cleaned, left, max(0, cleaned.ink_box[1] - cfg.trim_margin_px)))
    if not pieces:
        return np.full((max(1, gray.shape[0] - 2 * CROP_MARGIN_PX), 1), 255, np.uint8), True, None
    top = min(t for _, _, t in pieces)
    bottom = max(t + c.ink.shape[0] for c, _, t in pieces)
    line = np.full((bottom - top, sum(c.ink.shape[1] for c, _, _ in pieces)), 255, np.uint8)
    at = 0
    for cleaned, _, t in pieces:
        h, w = cleaned.ink.shape
        line[t - top : t - top + h, at : at + w] = cleaned.ink
        at += w
    boxes = [(left + c.ink_box[0], c.ink_box[1], c.ink_box[2], c.ink_box[3]) for c, left, _ in pieces
             if c.ink_box is not None]
    ux0, uy0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    ux1, uy1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return line, False, (ux0 + x0, uy0 + y0, ux1 - ux0, uy1 - uy0)


def crop_answers(registered: RegisteredPage | np.ndarray, key: AnswerKey, page: int | None = None,
                 config: PreprocessConfig = DEFAULT_PREPROCESS) -> list[AnswerCrop]:
    """The crops of every question on the registered page, in the key's order."""
    if isinstance(registered, RegisteredPage):
        page = page or registered.page
    else:
        page = page or 1
    return [crop_question(registered, q, config) for q in key.questions_on_page(page)]
