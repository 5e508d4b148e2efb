"""Comb boxes (issue 21): a question's box printed as cells, one character per cell, cleaned cell
by cell so that the walls never reach the recogniser, and graded through the whole pipeline with
the shipped model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from grader.answer_key import parse_answer_key
from grader.crops import crop_question
from grader.errors import AnswerKeyInvalid
from grader.pipeline import grade_photo
from grader.reader import load_reader
from grader.scoring import Verdict
from grader.simulate import fill_answers, photograph
from grader.worksheet import BOX_GREY, render_page

COMB_KEY = """id: comb-sheet
title: Comb boxes
questions:
  - {id: q1, page: 1, box: [.45,0.25,.4,.06], kind: number, answers: ['350'], comb: 6, prompt: 'three hundred fifty'}
  - {id: q2, page: 1, box: [.45,0.35,.4,.06], kind: number, answers: ['12.5'], comb: 6, prompt: 'twelve and a half'}
  - {id: q3, page: 1, box: [.45,0.45,.4,.06], kind: number, answers: ['-48'], comb: 6, prompt: 'minus forty-eight'}
  - {id: q4, page: 1, box: [.45,0.55,.4,.06], kind: text, answers: ['cat'], comb: 5, prompt: 'a pet'}
  - {id: q5, page: 1, box: [.45,0.65,.4,.06], kind: chinese, answers: ['三百五十'], comb: 5, prompt: '350'}
  - {id: q6, page: 1, box: [.45,0.75,.4,.06], kind: number, answers: ['7'], comb: 4, prompt: 'seven'}
"""


def comb_key(question: str):
    return parse_answer_key(f"id: k\ntitle: K\nquestions:\n  - {question}\n")


BOX = "id: q1, page: 1, box: [0.5, 0.3, 0.3, 0.05]"


@pytest.mark.parametrize("rest,message", [
    ("kind: number, answers: ['3'], comb: 1", "at least 2 cells, got 1"),
    ("kind: math, answers: ['1/2'], comb: 4", "no comb for kind 'math'"),
    ("kind: number, answers: ['12'], comb: 16", "at least 0.02 of the page wide"),
    ("kind: number, answers: ['12 345'], comb: 4", "one cell per character"),
    ("kind: number, answers: ['12'], comb: 41", "comb"),
])
def test_comb_boxes_a_child_could_not_answer_in_are_refused_by_name(rest, message):
    with pytest.raises(AnswerKeyInvalid) as error:
        comb_key(f"{{{BOX}, {rest}}}")
    assert "question 'q1', field 'comb'" in str(error.value) and message in str(error.value)


def test_cells_divide_the_box_left_to_right():
    q = comb_key(f"{{{BOX}, kind: number, answers: ['12 345'], comb: 5}}").questions[0]
    assert len(q.cells) == 5 and q.cells[0][0] == 0.5 and q.cells[-1][0] + q.cells[-1][2] == pytest.approx(0.8)
    assert all(c[1] == 0.3 and c[3] == 0.05 and c[2] == pytest.approx(0.06) for c in q.cells)
    assert [c[0] for c in q.cells] == pytest.approx([0.5, 0.56, 0.62, 0.68, 0.74])
    open_box = comb_key(f"{{{BOX}, kind: number, answers: ['3']}}").questions[0]
    assert open_box.cells == []


def test_the_worksheet_prints_the_walls_between_cells():
    key = parse_answer_key(COMB_KEY)
    page = cv2.cvtColor(render_page(key, 1), cv2.COLOR_BGR2GRAY)
    height, width = page.shape
    q = key.question("q1")
    y_mid = round((q.box[1] + q.box[3] / 2) * height)
    for cx, _, cw, _ in q.cells[1:]:
        wall = round(cx * width)
        assert page[y_mid, wall - 1 : wall + 2].min() <= BOX_GREY + 10  # a wall at each inner cell edge
        middle = round((cx + cw / 2) * width)
        assert page[y_mid, middle] == 255  # and none inside a cell


def _write_in_cells(page: np.ndarray, question, texts: dict[int, str]) -> np.ndarray:
    """Print characters into the given cells (index -> text), in ink darker than the walls."""
    out = page.copy()
    height, width = out.shape[:2]
    for index, text in texts.items():
        cx, cy, cw, ch = question.cells[index]
        x, y = round((cx + cw * 0.3) * width), round((cy + ch * 0.75) * height)
        cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (30, 30, 30), 4)
    return out


def _components(ink: np.ndarray) -> list[tuple[int, int, int, int]]:
    count, _, stats, _ = cv2.connectedComponentsWithStats((ink < 128).astype(np.uint8))
    return sorted(tuple(int(v) for v in stats[i, :4]) for i in range(1, count))


def test_cells_are_cleaned_one_by_one_and_empty_cells_skipped():
    key = parse_answer_key(COMB_KEY)
    q = key.question("q1")
    page = _write_in_cells(render_page(key, 1), q, {0: "3", 2: "5", 3: "0"})  # cell 1 left empty
    crop = crop_question(page, q)
    assert not crop.blank
    parts = _components(crop.ink)
    assert len(parts) == 3  # the three digits, no wall between or beside them
    inked_height = max(y + h for _, y, _, h in parts) - min(y for _, y, _, _ in parts)
    assert all(h < 0.9 * crop.ink.shape[0] and w < 60 for _, _, w, h in parts)
    assert inked_height < crop.ink.shape[0]
    # The empty cell leaves no gap wider than the gaps between written cells.
    gaps = [b[0] - (a[0] + a[2]) for a, b in zip(parts, parts[1:])]
    assert max(gaps) - min(gaps) < 8
    # The crop's ink box spans the written cells on the page.
    height, width = page.shape[:2]
    x, _, w, _ = crop.ink_box
    assert x >= round(q.cells[0][0] * width) and x + w <= round((q.cells[3][0] + q.cells[3][2]) * width)


def test_a_lone_decimal_point_keeps_its_cell_and_an_empty_comb_is_blank():
    key = parse_answer_key(COMB_KEY)
    q = key.question("q2")
    page = _write_in_cells(render_page(key, 1), q, {0: "1", 1: "2", 2: ".", 3: "5"})
    crop = crop_question(page, q)
    parts = _components(crop.ink)
    assert len(parts) == 4
    point = parts[2]
    assert point[3] < 15 and point[1] > parts[1][1] + parts[1][3] / 2  # small, and low on the line
    empty = crop_question(render_page(key, 1), q)
    assert empty.blank


@pytest.fixture(scope="module")
def reader():
    return load_reader()


@pytest.mark.parametrize("seed", [0, 1])
def test_comb_answers_are_graded_through_the_whole_pipeline(seed, reader):
    """Handwritten one character per cell, photographed, registered, cropped cell by cell and
    read by the shipped model: every answer right, and read exactly."""
    key = parse_answer_key(COMB_KEY)
    rng = np.random.default_rng(seed)
    written = {q.id: q.answers[0] for q in key.questions}
    photo = photograph(fill_answers(render_page(key, 1), key, 1, written, rng), rng)
    graded = grade_photo(photo, key, reader)
    readings = {a.result.question_id: a.result.text for a in graded.answers}
    assert readings == written
    assert all(a.result.verdict is Verdict.CORRECT for a in graded.answers)
