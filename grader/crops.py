"""Registered page -> one AnswerCrop per question of its page.

Each crop keeps the colour image of the box (plus a margin) for the teacher's review and the
cleaned grayscale `ink` for the recogniser (see grader.preprocess). A blank answer is flagged
here and must never be sent to the recogniser.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from grader.answer_key import AnswerKey, Question
from grader.preprocess import DEFAULT_PREPROCESS, PreprocessConfig, clean_answer
from grader.registration import RegisteredPage

CROP_MARGIN_PX = 18  # around the box: registration slack and writing that spills over the border


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


def crop_question(page_bgr: np.ndarray, question: Question,
                  config: PreprocessConfig = DEFAULT_PREPROCESS) -> AnswerCrop:
    height, width = page_bgr.shape[:2]
    bx, by, bw, bh = _box_px(question, width, height)
    x0, y0 = max(0, bx - CROP_MARGIN_PX), max(0, by - CROP_MARGIN_PX)
    x1, y1 = min(width, bx + bw + CROP_MARGIN_PX), min(height, by + bh + CROP_MARGIN_PX)
    color = page_bgr[y0:y1, x0:x1].copy()
    gray = cv2.cvtColor(color, cv2.COLOR_BGR2GRAY)
    inset = config.border_inset_px
    inner = (bx - x0 + inset, by - y0 + inset, bx + bw - x0 - inset, by + bh - y0 - inset)
    cleaned = clean_answer(gray, inner, config)
    ink_box = None
    if cleaned.ink_box is not None and not cleaned.blank:
        ix, iy, iw, ih = cleaned.ink_box
        ink_box = (ix + x0, iy + y0, iw, ih)
    return AnswerCrop(question.id, color, cleaned.ink, cleaned.blank, (x0, y0, x1 - x0, y1 - y0), ink_box)


def crop_answers(registered: RegisteredPage | np.ndarray, key: AnswerKey, page: int | None = None,
                 config: PreprocessConfig = DEFAULT_PREPROCESS) -> list[AnswerCrop]:
    """The crops of every question on the registered page, in the key's order."""
    if isinstance(registered, RegisteredPage):
        image, page = registered.image, page or registered.page
    else:
        image, page = registered, page or 1
    return [crop_question(image, q, config) for q in key.questions_on_page(page)]
