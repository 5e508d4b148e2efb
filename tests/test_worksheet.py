"""Printed worksheets: geometry at 200 dpi, markers and QR readable where the layout says,
boxes drawn exactly where the key puts them, PDF pages identical to the rasters."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from grader.answer_key import AnswerKey
from grader.errors import GraderError
from grader.imageio import load_images
from grader.layout import (
    HEADER_BOTTOM_PX,
    QrInfo,
    marker_corners_px,
    name_box_px,
    page_size_px,
    parse_qr_payload,
    qr_payload,
    qr_rect_px,
)
from grader.worksheet import Student, render_page, unbreakable_chunks, worksheet_pdf_bytes
from tests.paper_data import blank_page, key


@pytest.mark.parametrize("paper,size", [("A4", (1654, 2339)), ("Letter", (1700, 2200))])
def test_page_size_at_200_dpi(paper, size):
    assert page_size_px(paper) == size


def test_markers_found_exactly_where_the_layout_puts_them():
    page = blank_page("arithmetic-basics", 1)
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50))
    corners, ids, _ = detector.detectMarkers(cv2.cvtColor(page, cv2.COLOR_BGR2GRAY))
    assert sorted(ids.ravel().tolist()) == [0, 1, 2, 3]
    expected = marker_corners_px("A4")
    for quad, marker_id in zip(corners, ids.ravel()):
        assert np.abs(quad.reshape(4, 2) - expected[int(marker_id)]).max() <= 1.0


def test_qr_names_assignment_page_and_student():
    k = key("algebra-basics")
    page = render_page(k, 2, student_id="2024-017 Ana")
    x, y, w, h = qr_rect_px(k.paper)
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(page[y - 20 : y + h + 20, x - 20 : x + w + 20])
    assert parse_qr_payload(text) == QrInfo("algebra-basics", 2, "2024-017 Ana")


@pytest.mark.parametrize("assignment,page,student", [
    ("fractions-week3", 1, None), ("a;b=c", 12, "id;with=odd%chars"), ("x", 3, "Zoë Lee"),
])
def test_qr_payload_round_trip(assignment, page, student):
    payload = qr_payload(assignment, page, student)
    assert payload.startswith("grader:v1;a=")
    assert parse_qr_payload(payload) == QrInfo(assignment, page, student)


@pytest.mark.parametrize("text", ["https://example.org", "grader:v2;a=x;p=1", "grader:v1;a=x", ""])
def test_foreign_qr_is_not_ours(text):
    assert parse_qr_payload(text) is None


@pytest.mark.parametrize("key_id", ["arithmetic-basics", "english-vocabulary", "chinese-dictation"])
def test_boxes_drawn_where_the_key_says(key_id):
    k = key(key_id)
    page = cv2.cvtColor(blank_page(key_id, 1), cv2.COLOR_BGR2GRAY)
    height, width = page.shape
    for q in k.questions_on_page(1):
        x, y, w, h = q.box
        x0, y0, x1, y1 = round(x * width), round(y * height), round((x + w) * width) - 1, round((y + h) * height) - 1
        # The border is dark on its outermost pixels, the box inside and the paper outside are white.
        assert page[y0, x0 + 10 : x1 - 10].max() < 128 and page[y1, x0 + 10 : x1 - 10].max() < 128
        assert page[y0 + 10 : y1 - 10, x0].max() < 128 and page[y0 + 10 : y1 - 10, x1].max() < 128
        assert page[y0 + 6 : y1 - 5, x0 + 6 : x1 - 5].min() == 255
        assert page[y0 - 3, x0 : x1].min() == 255


def test_prompts_and_labels_are_printed_left_of_the_boxes():
    k = key("arithmetic-basics")
    page = cv2.cvtColor(blank_page("arithmetic-basics", 1), cv2.COLOR_BGR2GRAY)
    height, width = page.shape
    for q in k.questions_on_page(1):
        x, y, w, h = q.box
        rows = slice(round(y * height), round((y + h) * height))
        left_strip = page[rows, round((x - 0.15) * width) : round((x - 0.015) * width)]
        assert (left_strip < 128).sum() > 100, q.id


def test_pdf_has_the_rasters_geometry():
    k = key("algebra-basics")
    pages = load_images(worksheet_pdf_bytes(k), "sheet.pdf")
    assert len(pages) == 2
    for number, image in enumerate(pages, start=1):
        reference = render_page(k, number)
        assert image.shape == reference.shape
        assert np.abs(image.astype(int) - reference.astype(int)).mean() < 2.0


def test_roster_makes_one_sheet_per_student():
    k = key("chinese-dictation")
    pdf = worksheet_pdf_bytes(k, [Student("s1", "Ann Lee"), "s2"])
    pages = load_images(pdf, "sheets.pdf")
    assert len(pages) == 2
    x, y, w, h = qr_rect_px(k.paper)
    around_qr = (slice(y - 20, y + h + 20), slice(x - 20, x + w + 20))
    students = [parse_qr_payload(cv2.QRCodeDetector().detectAndDecode(p[around_qr])[0]).student for p in pages]
    assert students == ["s1", "s2"]


def test_page_out_of_range():
    with pytest.raises(GraderError, match="no page 3"):
        render_page(key("algebra-basics"), 3)


@pytest.mark.parametrize("text, chunks", [
    ("125 + 348 =", ["125 + 348 ="]),
    ("0.5 + 0.25 =", ["0.5 + 0.25 ="]),
    ("Write 25% as a decimal", ["Write", "25%", "as", "a", "decimal"]),
    ("Solve 2x + 3 = 7 for x", ["Solve", "2x + 3 = 7", "for", "x"]),
    ("-12 ÷ -4 =", ["-12 ÷ -4 ="]),
    ("Expand 3(2x+3)", ["Expand", "3(2x+3)"]),
    ("计算 12 + 5 =", ["计算", "12 + 5 ="]),
    ("写出12+5=的答案", ["写", "出", "12+5=", "的", "答", "案"]),
])
def test_prompts_wrap_between_words_never_inside_an_expression(text, chunks):
    assert unbreakable_chunks(text) == chunks


def ink_bands(strip: np.ndarray) -> int:
    """Lines of text in a strip of the page: runs of rows with ink in them."""
    inked = (strip < 128).any(axis=1)
    return int(np.count_nonzero(inked[1:] & ~inked[:-1]) + inked[0])


def test_an_expression_prompt_is_printed_on_one_line():
    """q10's `0.5 + 0.25 =` sits in a narrow two-column slot: it used to break before the `=`."""
    k = key("arithmetic-basics")
    page = cv2.cvtColor(render_page(k, 1), cv2.COLOR_BGR2GRAY)
    height, width = page.shape
    q = k.question("q10")
    x, y, w, h = q.box
    # the prompt's strip: right of the label "10." (bold, about 60 px) up to the box
    strip = page[round(y * height) + 4: round((y + h) * height) - 4,
                 round(0.05 * width) + 70: round(x * width) - 8]
    assert ink_bands(strip) == 1


def test_layout_lines_instructions_and_working_space_are_printed():
    """Class and Date lines under the name box, the instructions above the questions and a
    framed working space under a box, each only when the key asks for it."""
    plain = key("arithmetic-basics")
    data = plain.model_dump()
    data["layout"] = {"class_line": True, "date_line": True, "instructions": "Show your working."}
    data["questions"][9]["working"] = 0.05  # q10, at the bottom of the left column
    laid = AnswerKey.model_validate(data)
    before = cv2.cvtColor(render_page(plain, 1), cv2.COLOR_BGR2GRAY)
    after = cv2.cvtColor(render_page(laid, 1), cv2.COLOR_BGR2GRAY)
    height, width = after.shape
    box_left, box_top, box_w, box_h = name_box_px(plain.paper)
    lines_strip = (slice(box_top + box_h + 10, box_top + box_h + 45), slice(box_left + box_w - 480, box_left + box_w))
    assert (before[lines_strip] < 128).sum() == 0 and (after[lines_strip] < 200).sum() > 300
    instructions = (slice(HEADER_BOTTOM_PX - 36, HEADER_BOTTOM_PX), slice(64, 900))
    assert (before[instructions] < 128).sum() == 0 and (after[instructions] < 128).sum() > 100
    wx, wy, ww, wh = laid.question("q10").working_box
    frame = (slice(round(wy * height), round((wy + wh) * height)), slice(round(wx * width), round((wx + ww) * width)))
    assert (before[frame] < 250).sum() == 0 and (after[frame] < 250).sum() > 500
