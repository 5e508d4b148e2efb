"""Answer crops from the generated photos: blank detection is right for every box, the crop
holds the whole answer, and the cleaning gives dark ink on white without box borders."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from grader.crops import CROP_MARGIN_PX, crop_answers, crop_question
from grader.preprocess import DEFAULT_PREPROCESS, clean_answer, flatten_illumination
from grader.registration import register
from tests.paper_data import PHOTO_TABLE, blank_page, key, photo_case, written_region

# Strokes lying on the printed border are removed with it (they cannot be told apart), so the
# ink box may miss a few pixels where the writing touches the border; nothing more.
BORDER_SLACK_PX = 6


@pytest.fixture(scope="module")
def cropped():
    results = []
    for index in range(len(PHOTO_TABLE)):
        case = photo_case(index)
        registered = register(case.photo.image, case.key)
        results.append((case, registered, crop_answers(registered, case.key)))
    return results


def test_one_crop_per_question_in_key_order(cropped):
    for case, _, crops in cropped:
        assert [c.question_id for c in crops] == [q.id for q in case.key.questions_on_page(case.page)]


def test_blank_detection_is_right_on_every_box(cropped):
    wrong = []
    for case, _, crops in cropped:
        for crop in crops:
            written = bool(case.answers.get(crop.question_id, "").strip())
            if crop.blank == written:
                wrong.append((case.name, crop.question_id, case.answers.get(crop.question_id)))
    assert wrong == []
    total_blank = sum(c.blank for _, _, crops in cropped for c in crops)
    assert 0 < total_blank < sum(len(crops) for _, _, crops in cropped)  # both kinds were tested


def test_crops_hold_the_whole_answer(cropped):
    cut = []
    for case, _, crops in cropped:
        for crop in crops:
            truth = written_region(case, crop.question_id)
            if truth is None or crop.blank:
                continue
            x, y, w, h = crop.ink_box
            tx0, ty0, tx1, ty1 = truth
            s = BORDER_SLACK_PX
            if not (x <= tx0 + s and y <= ty0 + s and x + w - 1 >= tx1 - s and y + h - 1 >= ty1 - s):
                cut.append((case.name, crop.question_id, truth, crop.ink_box))
            cx, cy, cw, ch = crop.box_px  # and the colour crop contains the ink
            assert cx <= tx0 and cy <= ty0 and cx + cw > tx1 and cy + ch > ty1
    assert cut == []


def test_ink_is_grayscale_dark_on_white_and_trimmed(cropped):
    for _case, _, crops in cropped[:4]:
        for crop in crops:
            assert crop.ink.dtype == np.uint8 and crop.ink.ndim == 2
            assert crop.color.ndim == 3 and crop.color.shape[2] == 3
            if crop.blank:
                assert crop.ink.min() == 255
                continue
            assert crop.ink.min() < 80 and np.median(crop.ink) == 255
            # Not binarised: anti-aliased stroke edges keep intermediate grey levels.
            assert ((crop.ink > 30) & (crop.ink < 225)).sum() > 20
            # Trimmed: the ink reaches within the trim margin of every side, no border left.
            ys, xs = np.nonzero(crop.ink < 255)
            margin = DEFAULT_PREPROCESS.trim_margin_px + 1
            assert xs.min() <= margin and ys.min() <= margin
            assert crop.ink.shape[1] - 1 - xs.max() <= margin and crop.ink.shape[0] - 1 - ys.max() <= margin


def _page_with(box_pixels: dict[str, callable]):
    k = key("arithmetic-basics")
    page = blank_page("arithmetic-basics", 1).copy()
    height, width = page.shape[:2]
    for qid, draw in box_pixels.items():
        x, y, w, h = k.question(qid).box
        draw(page, (round(x * width), round(y * height), round(w * width), round(h * height)))
    return k, page


def _shadow(page, box):
    x, y, w, h = box
    region = page[y - 30 : y + h + 30, x - 30 : x + w + 30].astype(np.float32)
    ramp = np.linspace(0.45, 1.0, region.shape[1])[None, :, None]
    page[y - 30 : y + h + 30, x - 30 : x + w + 30] = (region * ramp).astype(np.uint8)


def _hard_shadow(page, box):
    x, y, w, h = box
    shade = (slice(y - 30, y + h // 2), slice(x - 30, x + w + 30))
    page[shade] = (page[shade] * 0.55).astype(np.uint8)


def _noise(page, box):
    x, y, w, h = box
    rng = np.random.default_rng(1)
    region = page[y : y + h, x : x + w].astype(np.int16) + rng.normal(0, 12, (h, w, 1)).astype(np.int16)
    page[y : y + h, x : x + w] = np.clip(region, 0, 255).astype(np.uint8)


def _shifted_border(page, box):
    # The registration a few pixels off: a second border line just inside the box.
    x, y, w, h = box
    cv2.rectangle(page, (x + 5, y + 4), (x + w - 6, y + h - 5), (70, 70, 70), 3)


def _speck(page, box):
    x, y, w, h = box
    cv2.circle(page, (x + w // 2, y + h // 2), 2, (90, 90, 90), -1)


def _decimal_point_only(page, box):
    x, y, w, h = box
    cv2.putText(page, "0.5", (x + 40, y + h - 30), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (30, 30, 30), 4)


def _digit_one(page, box):
    x, y, w, h = box
    cv2.line(page, (x + 60, y + 30), (x + 62, y + h - 30), (40, 40, 40), 5)


@pytest.mark.parametrize("draw,blank", [
    (_shadow, True), (_hard_shadow, True), (_noise, True), (_shifted_border, True), (_speck, True),
    (_decimal_point_only, False), (_digit_one, False),
], ids=["soft-shadow", "hard-shadow", "noise", "shifted-border", "speck", "0.5", "a-single-1"])
def test_blank_detection_cases(draw, blank):
    k, page = _page_with({"q1": draw})
    crop = crop_question(page, k.question("q1"))
    assert crop.blank is blank


def test_decimal_point_is_kept():
    k, page = _page_with({"q1": _decimal_point_only})
    crop = crop_question(page, k.question("q1"))
    dark = (crop.ink < 128).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(dark)
    assert count - 1 == 3  # "0", ".", "5"


def test_writing_over_the_border_is_kept_and_the_border_removed():
    def overflow(page, box):
        x, y, w, h = box
        cv2.putText(page, "123", (x + w - 80, y + h - 25), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (30, 30, 30), 5)

    k, page = _page_with({"q1": overflow})
    crop = crop_question(page, k.question("q1"))
    x, y, w, h = crop.ink_box
    box_right = round((k.question("q1").box[0] + k.question("q1").box[2]) * page.shape[1])
    assert not crop.blank and x + w >= box_right + CROP_MARGIN_PX - 2  # the "3" beyond the border is kept
    assert crop.ink.shape[0] < 110  # trimmed to the writing, not the 131 px box with borders


def test_flatten_illumination_evens_out_a_gradient():
    gray = np.tile(np.linspace(90, 240, 400, dtype=np.float32), (120, 1)).astype(np.uint8)
    flat = flatten_illumination(gray)
    assert flat.min() > 235


def test_clean_answer_of_an_empty_white_crop():
    cleaned = clean_answer(np.full((160, 480), 250, np.uint8), (27, 27, 453, 133))
    assert cleaned.blank and cleaned.ink.min() == 255 and cleaned.ink_box is None


def test_crop_margin_is_applied():
    k = key("arithmetic-basics")
    page = blank_page("arithmetic-basics", 1)
    crop = crop_question(page, k.question("q1"))
    x, y, w, h = k.question("q1").box
    assert crop.box_px[2] == round(w * page.shape[1]) + 2 * CROP_MARGIN_PX


def test_crops_warped_region_by_region_are_the_whole_pages_pixels(cropped):
    # Grading warps only the answer boxes, the QR code and the name box of a photo (under half
    # of the page); the crops must be those of the whole warped page, up to the rounding of the
    # shifted homography (a few pixels at sharp edges, by a few grey levels).
    for case, registered, crops in cropped:
        assert registered.warp._full is None, case.name  # registration and cropping warped no whole page
        whole = crop_answers(registered.image, case.key, registered.page)
        differing = total = 0
        for lazy, full in zip(crops, whole, strict=True):
            assert lazy.box_px == full.box_px and lazy.blank == full.blank, (case.name, lazy.question_id)
            assert lazy.ink.shape == full.ink.shape, (case.name, lazy.question_id)
            diff = np.abs(lazy.color.astype(int) - full.color.astype(int))
            differing, total = differing + int((diff > 2).sum()), total + diff.size
        assert differing / total < 1e-3, case.name
