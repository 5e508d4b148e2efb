"""Answer keys: the demo keys load; every kind of mistake is refused with file, line, question,
field and expectation in the message."""

from __future__ import annotations

import re

import pytest

from grader.answer_key import AnswerKey, Match, list_answer_keys, load_answer_key, parse_answer_key
from grader.errors import AnswerKeyInvalid

GOOD = """\
id: fractions-week3
title: Fractions, week 3
paper: A4
pages: 2
questions:
  - id: q1
    label: "1"
    page: 1
    box: [0.12, 0.20, 0.30, 0.06]
    kind: number
    answers: ["3/4", "0.75"]
    points: 2
    prompt: "1/2 + 1/4 ="
    match: {mode: auto}
  - id: q2
    label: "2"
    page: 2
    box: [0.12, 0.30, 0.30, 0.06]
    kind: text
    answers: [half]
"""


def test_good_key_fields_and_defaults():
    key = parse_answer_key(GOOD, "good.yaml")
    assert key.id == "fractions-week3" and key.pages == 2 and key.paper == "A4"
    q1, q2 = key.questions
    assert q1.box == (0.12, 0.20, 0.30, 0.06) and q1.answers == ["3/4", "0.75"] and q1.points == 2
    assert q1.match == Match()  # mode auto and the documented defaults
    assert (Match().threshold, Match().tolerance, Match().partial_credit) == (85, 0, "none")
    assert q2.points == 1 and q2.prompt == "" and q2.label == "2"
    assert [q.id for q in key.questions_on_page(2)] == ["q2"]


def test_numbers_in_yaml_become_text():
    key = parse_answer_key(GOOD.replace('answers: ["3/4", "0.75"]', "answers: [0.75, 3]"), "k.yaml")
    assert key.questions[0].answers == ["0.75", "3"]


def test_demo_keys():
    keys = {k.id: k for k in list_answer_keys()}
    assert {"arithmetic-basics", "algebra-basics", "english-vocabulary", "chinese-dictation"} <= set(keys)
    kinds = {"arithmetic-basics": "number", "algebra-basics": "math", "english-vocabulary": "text",
             "chinese-dictation": "chinese", "chinese-numerals": "chinese"}
    for key_id, kind in kinds.items():
        key = keys[key_id]
        assert 10 <= len(key.questions) <= 20
        assert {q.kind for q in key.questions} == {kind}
        for q in key.questions:  # room for handwriting, clear of the header
            assert 0.05 <= q.box[3] <= 0.07 and 0.25 <= q.box[2] <= 0.40 and q.box[1] > 0.15
    assert keys["algebra-basics"].pages == 2
    # Chinese numerals (issue 19): every answer in characters, the key allowing other numerals
    assert all(q.match.chinese_numerals for q in keys["chinese-numerals"].questions)
    answers = [a for q in keys["arithmetic-basics"].questions for a in q.answers]
    assert any(a.startswith("-") for a in answers) and any("/" in a for a in answers) and any("." in a for a in answers)


# (edit to GOOD, expected message fragments: line, question, field, expectation)
BAD_CASES = [
    ("    box: [0.12, 0.20, 0.30, 0.06]", "    box: [0.80, 0.20, 0.30, 0.06]",
     ["line 9", "question 'q1'", "field 'box'", "inside the page"]),
    ("    box: [0.12, 0.30, 0.30, 0.06]", "    box: [0.12, 0.30, 0.30]",
     ["question 'q2'", "field 'box'"]),
    ("  - id: q2", "  - id: q1", ["question 'q1'", "field 'id'", "unique"]),
    ("    page: 2\n", "    page: 3\n", ["line 17", "question 'q2'", "field 'page'", "between 1 and 2"]),
    ("    kind: text", "    kind: essay",
     ["line 19", "question 'q2'", "field 'kind'", "'number'", "'chinese'", "'essay'"]),
    ("    answers: [half]\n", "", ["question 'q2'", "field 'answers'", "required"]),
    ("    answers: [half]", "    answers: []", ["question 'q2'", "field 'answers'"]),
    ("paper: A4", "paper: A5", ["line 3", "field 'paper'", "'A4'", "'Letter'"]),
    ("    match: {mode: auto}", "    match: {mode: fuzzzy}", ["question 'q1'", "field 'match.mode'", "'fuzzy'"]),
    ("    match: {mode: auto}", "    match: {mode: auto, treshold: 80}",
     ["field 'match.treshold'", "not a known match option", "threshold"]),
    # the forms a right answer takes (issue 19): an option the grader does not know is named
    ("    match: {mode: auto}", "    match: {mode: auto, chinese_numeral: true}",
     ["line 14", "question 'q1'", "field 'match.chinese_numeral'", "not a known match option",
      "chinese_numerals", "equivalent_forms", "units"]),
    ("    match: {mode: auto}", "    match: {units: [cm, '']}",
     ["question 'q1'", "field 'match.units'", "list of units"]),
    ("    match: {mode: auto}", "    match: {leading_plus: maybe}",
     ["question 'q1'", "field 'match.leading_plus'", "'maybe'"]),
    ("    points: 2", "    points: -1", ["question 'q1'", "field 'points'", "greater than 0"]),
    ("id: fractions-week3\n", "", ["field 'id'", "required"]),
    # issue 21: layout options and working space, validated like every other field
    ("pages: 2\n", "pages: 2\nlayout: {class_line: true, colour: red}\n",
     ["field 'layout.colour'", "not a known field"]),
    ("pages: 2\n", "pages: 2\nlayout: {instructions: '" + "x" * 161 + "'}\n",
     ["field 'layout.instructions'", "160"]),
    ("    points: 2", "    points: 2\n    working: -0.1", ["question 'q1'", "field 'working'"]),
    ("    points: 2", "    points: 2\n    working: 0.8", ["question 'q1'", "field 'working'", "0.6"]),
]


@pytest.mark.parametrize("old,new,fragments", BAD_CASES, ids=[c[1].strip()[:30] or "removed" for c in BAD_CASES])
def test_bad_key_is_refused_with_a_precise_message(old, new, fragments):
    assert old in GOOD
    with pytest.raises(AnswerKeyInvalid) as caught:
        parse_answer_key(GOOD.replace(old, new, 1), "homework/bad.yaml")
    message = str(caught.value)
    assert "homework/bad.yaml" in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_overlapping_boxes_name_both_questions():
    text = (GOOD.replace("    page: 2\n", "    page: 1\n")
            .replace("[0.12, 0.30, 0.30, 0.06]", "[0.35, 0.22, 0.30, 0.06]"))
    with pytest.raises(AnswerKeyInvalid, match=r"question 'q2', field 'box': expected boxes that do not overlap.*'q1'"):
        parse_answer_key(text, "k.yaml")


def test_layout_options_and_working_space_are_read():
    text = (GOOD.replace("pages: 2\n", "pages: 2\nlayout: {class_line: true, date_line: true, "
                         "instructions: Show your working.}\n")
            .replace("    points: 2", "    points: 2\n    working: 0.1"))
    key = parse_answer_key(text, "k.yaml")
    assert (key.layout.class_line, key.layout.date_line, key.layout.instructions) == \
        (True, True, "Show your working.")
    assert key.questions[0].working_box == pytest.approx((0.12, 0.272, 0.30, 0.1))
    assert key.questions[1].working_box is None
    assert parse_answer_key(GOOD, "k.yaml").layout.class_line is False  # all off by default


@pytest.mark.parametrize("box, working, fragment", [
    ("[0.12, 0.30, 0.30, 0.06]", 0.1, "covers question 'q2'"),  # q2's box under q1's space
    ("[0.12, 0.90, 0.30, 0.06]", 0.1, "ends on the page"),  # q2 low on the page, space below it
])
def test_working_space_must_stay_clear_and_on_the_page(box, working, fragment):
    text = GOOD.replace("    page: 2\n", "    page: 1\n").replace("[0.12, 0.30, 0.30, 0.06]", box)
    worked = "q1" if "covers" in fragment else "q2"
    if worked == "q1":
        text = text.replace("    points: 2", f"    points: 2\n    working: {working}")
    else:
        text = text.replace("    answers: [half]", f"    answers: [half]\n    working: {working}")
    with pytest.raises(AnswerKeyInvalid, match=rf"question '{worked}', field 'working'.*{fragment}"):
        parse_answer_key(text, "k.yaml")


def test_boxes_on_different_pages_may_share_a_place():
    parse_answer_key(GOOD.replace("[0.12, 0.30, 0.30, 0.06]", "[0.12, 0.20, 0.30, 0.06]"), "k.yaml")


@pytest.mark.parametrize("text,fragment", [
    ("id: x\ntitle: [unclosed\n", "k.yaml, line 3: not valid YAML"),
    ("- just\n- a list\n", "expected a YAML mapping"),
    ("", "expected a YAML mapping"),
])
def test_not_a_key_at_all(text, fragment):
    with pytest.raises(AnswerKeyInvalid, match=re.escape(fragment)):
        parse_answer_key(text, "k.yaml")


def test_load_names_the_file(tmp_path):
    path = tmp_path / "week3.yaml"
    path.write_text(GOOD.replace("kind: text", "kind: txt"), encoding="utf-8")
    with pytest.raises(AnswerKeyInvalid, match=r"week3\.yaml, line 19, question 'q2', field 'kind'"):
        load_answer_key(path)
    with pytest.raises(AnswerKeyInvalid, match="not found"):
        load_answer_key(tmp_path / "missing.yaml")


def test_list_answer_keys_reads_a_folder(tmp_path):
    (tmp_path / "b.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "a.yaml").write_text(GOOD.replace("fractions-week3", "a-key"), encoding="utf-8")
    assert [k.id for k in list_answer_keys(tmp_path)] == ["a-key", "fractions-week3"]
    assert isinstance(list_answer_keys(tmp_path)[0], AnswerKey)
