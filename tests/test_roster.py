"""Roster parsing and the cautious matching of a handwritten name to a student."""

from __future__ import annotations

import pytest

from grader.errors import GraderError
from grader.roster import RosterEntry, match_name, parse_roster, read_roster

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
    ("id,name\n\n1,Ana\n2,\"Ben\n" + "3,Cy\n" * 30_000, r"line 4: not a roster CSV \(field larger"),  # was csv.Error
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


# --- files as spreadsheets save them (issue 20) ----------------------------------------------------

NAMES = "学号,姓名,班级\n1,陈静,六(2)班\n2,王小明,六(2)班\n3,欧阳喆,六(2)班\n"
EXPECTED = [RosterEntry("1", "陈静", "六(2)班"), RosterEntry("2", "王小明", "六(2)班"),
            RosterEntry("3", "欧阳喆", "六(2)班")]


@pytest.mark.parametrize("data", [
    NAMES.encode("gbk"),                                  # Excel "CSV" on Chinese Windows
    NAMES.encode("gb18030"),
    NAMES.encode("utf-8"),
    b"\xef\xbb\xbf" + NAMES.encode("utf-8"),              # Excel "CSV UTF-8"
    NAMES.encode("utf-16"),                               # with its BOM
    NAMES.encode("utf-16-le"),                            # without
    NAMES.replace(",", ";").encode("gbk"),                # where the decimal mark is a comma
    NAMES.replace(",", "\t").encode("utf-16"),            # Excel "Unicode text"
], ids=["gbk", "gb18030", "utf8", "utf8-bom", "utf16", "utf16le-no-bom", "gbk-semicolon",
        "utf16-tabs"])
def test_read_roster_finds_encoding_and_separator(data):
    assert read_roster(data, "class.csv") == EXPECTED


def test_read_roster_reads_western_excel_names():
    data = "id;name;class\n7;Frédéric Müller;5A\n8;José Núñez;5A\n".encode("cp1252")
    assert [e.name for e in read_roster(data)] == ["Frédéric Müller", "José Núñez"]


@pytest.mark.parametrize("data, message", [
    (b"id,name\n1,\x81\x30\x81\xff\xfe\xfd\xfc\n", "encoding could not be established"),
    (b"id,name\n1,\xa9\xa9\xa9\xb1\xb0\n", "encoding could not be established"),  # box drawing
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01", "not a text file"),
    (b"\xef\xbb\xbfid,name\n1,\xff\xfe\n", "broken UTF-8-SIG"),
])
def test_read_roster_refuses_what_it_cannot_read(data, message):
    with pytest.raises(GraderError, match=message):
        read_roster(data, "class.csv")


@pytest.mark.parametrize("read, expected", [
    ("陈静", "c1"), ("Chen Jing", "c1"), ("Chen Jing 陈静", "c1"), ("王小明", "c2"),
    ("陈", None),
])
def test_names_held_in_two_scripts_match_either(read, expected):
    roster = [RosterEntry("c1", "Chen Jing 陈静"), RosterEntry("c2", "Wang Xiaoming 王小明"),
              RosterEntry("c3", "Lily Chen")]
    assert match_name(read, roster).student_id == expected
