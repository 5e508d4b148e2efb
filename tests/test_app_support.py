"""The app's core helpers (grader.app_support): tables of cases for the pure functions."""

from __future__ import annotations

import numpy as np
import pytest

from grader.answer_key import parse_answer_key
from grader.app_support import (
    VERDICT_COLORS,
    answer_color_name,
    auto_box,
    common_wrong_answers,
    draw_boxes,
    key_yaml_from_form,
    split_answers,
)
from grader.errors import AnswerKeyInvalid
from grader.store import AnswerGroup
from grader.worksheet import prompt_fits


@pytest.mark.parametrize("cell, expected", [
    ("12", ["12"]),
    ("0.5 | 1/2 |  .50 ", ["0.5", "1/2", ".50"]),
    ("1,5", ["1,5"]),  # a comma belongs to the answer
    ("", []),
    (None, []),
    (float("nan"), []),
])
def test_split_answers(cell, expected):
    assert split_answers(cell) == expected


@pytest.mark.parametrize("verdict, status, colour", [
    ("correct", "auto", "correct"),
    ("incorrect", "auto", "incorrect"),
    ("review", "review", "review"),
    ("correct", "review", "review"),  # a provisional verdict still shows as review
    ("blank", "blank", "blank"),
    ("partial", "teacher", "partial"),
    ("incorrect", "teacher", "incorrect"),  # an override shows as the verdict it set
])
def test_answer_colour(verdict, status, colour):
    assert answer_color_name(verdict, status) == colour


def test_a_form_key_of_23_questions_lays_out_on_two_pages_without_overlap():
    rows = [{"id": f"q{i}", "kind": "number", "answers": str(i), "points": 1} for i in range(23)]
    key = parse_answer_key(key_yaml_from_form("long-quiz", "Long quiz", "A4", rows))
    assert key.pages == 2 and len(key.questions_on_page(2)) == 1
    assert auto_box(0) == (1, [0.22, 0.1735, 0.24, 0.056]) and auto_box(22)[0] == 2


def test_a_form_key_puts_short_prompts_in_two_columns_and_sentences_in_one():
    short = [{"id": f"q{i}", "kind": "number", "answers": "1", "prompt": f"{100 + i} + 348 ="}
             for i in range(22)]
    key = parse_answer_key(key_yaml_from_form("sums", "Sums", "A4", short))
    assert key.pages == 1 and {q.box[0] for q in key.questions} == {0.22, 0.70}
    sentence = "Translate into English: the cat sleeps on the warm windowsill"
    long = [{"id": f"t{i}", "kind": "text", "answers": "x", "prompt": sentence} for i in range(12)]
    key = parse_answer_key(key_yaml_from_form("words", "Words", "A4", long))
    assert key.pages == 2 and {q.box[0] for q in key.questions} == {0.62}
    # the sentence prints in its wide slot at readable size, as it would not in a column
    assert prompt_fits(sentence, round((0.62 - 0.05 - 0.012 - 0.045) * 1654), 131, 26)
    assert not prompt_fits(sentence, round((0.22 - 0.05 - 0.012 - 0.045) * 1654), 131, 26)
    # a page of short prompts, then a page where a long one makes it one column
    mixed = parse_answer_key(key_yaml_from_form("mixed", "Mixed", "A4", short + long[:1]))
    assert mixed.pages == 2 and mixed.questions_on_page(2)[0].box[0] == 0.62


def test_a_form_key_with_a_mistake_is_refused_naming_the_field():
    rows = [{"id": "q1", "kind": "number", "answers": "", "points": 1}]
    with pytest.raises(AnswerKeyInvalid, match="answers"):
        parse_answer_key(key_yaml_from_form("quiz", "Quiz", "A4", rows), source="the form")


def test_draw_boxes_colours_the_box_and_leaves_the_page_alone():
    page = np.full((200, 100, 3), 255, np.uint8)
    out = draw_boxes(page, [(0.1, 0.1, 0.5, 0.25)], ["incorrect"], ["1"])
    assert (page == 255).all()
    assert tuple(out[20, 30]) == VERDICT_COLORS["incorrect"]  # the border at y=0.1*200
    assert (out[150:, :] == 255).all()  # nothing outside the box


def test_common_wrong_answers_counts_only_groups_scored_wrong():
    groups = [
        AnswerGroup("q1", "41", "41", [1, 2, 3], 0, [0, 0, 0], ["incorrect"] * 3, None),
        AnswerGroup("q1", "42", "42", [4, 5], 0, [1, 1], ["correct"] * 2, None),
        AnswerGroup("q1", "40", "40", [6], 1, [0], ["review"], -0.5),
        AnswerGroup("q2", "7", "7", [7], 0, [0], ["incorrect"], None),
    ]
    wrong = common_wrong_answers(groups)
    assert [(w.question_id, w.text, w.count) for w in wrong] == [("q1", "41", 3), ("q2", "7", 1)]
