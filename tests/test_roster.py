"""Roster parsing and the cautious matching of a handwritten name to a student."""

from __future__ import annotations

import pytest

from grader.errors import GraderError
from grader.roster import RosterEntry, match_name, parse_roster

ROSTER = [RosterEntry("s1", "Ana Lopez", "5A"), RosterEntry("s2", "Anna Lopes", "5A"),
          RosterEntry("s3", "Ben Carter", "5A"), RosterEntry("s4", "王小明", "5B"),
          RosterEntry("s5", "Lily Chen", "5B")]


def test_parse_roster_with_bom_class_and_chinese_headers():
    entries = parse_roster("\ufeff学号,姓名,班级\n7,李明,5A\n8,王芳,5A\n")
    assert entries == [RosterEntry("7", "李明", "5A"), RosterEntry("8", "王芳", "5A")]


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("name,class\nAna,5A\n", "'id' column"),
    ("id,name\n,Ana\n", "line 2: the student id is empty"),
    ("id,name\n1,Ana\n1,Ben\n", "line 3: student id '1' appears twice"),
    ("id,name\n", "no students"),
])
def test_parse_roster_errors(text, message):
    with pytest.raises(GraderError, match=message):
        parse_roster(text, "class.csv")


@pytest.mark.parametrize("read, expected", [
    ("Ben Carter", "s3"),
    ("ben carter", "s3"),
    ("Carter Ben", "s3"),       # surname first
    ("Ben Cartr", "s3"),        # one letter missed
    ("王小明", "s4"),
    ("Ana Lopez", None),        # too close to "Anna Lopes": never guess between two students
    ("Li", None),               # "Lily Chen" only partly: no match
    ("Zed Quinn", None),
    ("", None),
])
def test_match_name_only_when_unambiguous(read, expected):
    assert match_name(read, ROSTER).student_id == expected
